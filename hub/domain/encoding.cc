#include "encoding.h"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "text.h"

namespace hutong::domain {
namespace {

const iconv_t kNoIconv = reinterpret_cast<iconv_t>(-1);

bool all_ascii(std::string_view bytes) {
  for (char c : bytes) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string hex_bytes(std::string_view bytes, size_t at, size_t count) {
  std::string out;
  for (size_t k = at; k < bytes.size() && k < at + count; ++k) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s0x%02X", out.empty() ? "" : " ",
                  static_cast<unsigned char>(bytes[k]));
    out += buf;
  }
  return out;
}

Status encoding_error(uint64_t row, uint64_t file_offset, std::string_view bytes, size_t at,
                      std::string_view why) {
  return Status(kRowEncoding, "row " + std::to_string(row) + ": bytes " + hex_bytes(bytes, at, 4) +
                                  " at file offset " + std::to_string(file_offset + at) + " " +
                                  std::string(why));
}

}  // namespace

std::string_view encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::kAscii:
      return "ASCII";
    case Encoding::kUtf8:
      return "UTF-8";
    case Encoding::kGb18030:
      return "GB18030";
  }
  return "?";
}

TextDecoder::TextDecoder(std::string_view file_head) : bom_(file_head.starts_with(kUtf8Bom)) {
  if (bom_) file_encoding_ = Encoding::kUtf8;
}

TextDecoder::~TextDecoder() {
  if (iconv_ != nullptr) iconv_close(static_cast<iconv_t>(iconv_));
}

TextDecoder::TextDecoder(TextDecoder&& other) noexcept
    : iconv_(other.iconv_),
      scratch_(std::move(other.scratch_)),
      scratch_size_(other.scratch_size_),
      bom_(other.bom_),
      file_encoding_(other.file_encoding_),
      stray_lines_(other.stray_lines_) {
  other.iconv_ = nullptr;
}

Status TextDecoder::decode_into(std::string_view bytes, uint64_t row, uint64_t file_offset,
                                std::string& out, Encoding* used, bool* stray) {
  Encoding encoding;
  size_t valid = valid_utf8_prefix(bytes);
  if (valid == bytes.size()) {
    encoding = all_ascii(bytes) ? Encoding::kAscii : Encoding::kUtf8;
    out.assign(bytes);
  } else if (bom_) {
    return encoding_error(row, file_offset, bytes, valid,
                          "are not UTF-8, and the file starts with a UTF-8 byte-order mark, so "
                          "all of it must be UTF-8");
  } else {
    Status status = gb18030_into(bytes, row, file_offset, out);
    if (!status) return status;
    encoding = Encoding::kGb18030;
  }
  bool is_stray = false;
  if (encoding != Encoding::kAscii) {
    if (file_encoding_ == Encoding::kAscii) {
      file_encoding_ = encoding;
    } else if (encoding != file_encoding_) {
      is_stray = true;
      ++stray_lines_;
    }
  }
  if (used) *used = encoding;
  if (stray) *stray = is_stray;
  return Status::ok();
}

Result<DecodedLine> TextDecoder::decode(std::string_view bytes, uint64_t row,
                                        uint64_t file_offset) {
  DecodedLine line;
  Status status = decode_into(bytes, row, file_offset, line.text, &line.encoding, &line.stray);
  if (!status) return status;
  return line;
}

// The UTF-8 form of every two-byte GB18030 sequence, asked of iconv once per
// process: lead 0x81..0xFE, trail 0x40..0x7E or 0x80..0xFE. Decoding the common
// case through this table gives iconv's own answers without one iconv() call per
// line, whose fixed cost otherwise dominates short CSV rows. Four-byte sequences
// and anything the table lacks go to iconv itself.
class TwoByteTable {
 public:
  static const TwoByteTable& instance() {
    static const TwoByteTable table;
    return table;
  }
  // Packed UTF-8 (up to 3 bytes, low byte first) and its length in the top byte;
  // 0 when the pair is not a mapped two-byte character.
  uint32_t lookup(unsigned char lead, unsigned char trail) const {
    return entries_[(lead - 0x81) * 256 + trail];
  }

 private:
  TwoByteTable() : entries_(126 * 256, 0) {
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == kNoIconv) return;  // every lookup misses; iconv reports the problem
    for (int lead = 0x81; lead <= 0xFE; ++lead) {
      for (int trail = 0x40; trail <= 0xFE; ++trail) {
        if (trail == 0x7F) continue;
        char in_bytes[2] = {static_cast<char>(lead), static_cast<char>(trail)};
        char out_bytes[8];
        char* in = in_bytes;
        size_t in_left = 2;
        char* dst = out_bytes;
        size_t out_left = sizeof out_bytes;
        if (iconv(cd, &in, &in_left, &dst, &out_left) == static_cast<size_t>(-1) || in_left != 0) {
          iconv(cd, nullptr, nullptr, nullptr, nullptr);
          continue;
        }
        size_t len = sizeof out_bytes - out_left;
        if (len < 2 || len > 3) continue;  // keep the table to 2- and 3-byte UTF-8
        uint32_t packed = static_cast<uint32_t>(len) << 24;
        for (size_t k = 0; k < len; ++k) {
          packed |= static_cast<uint32_t>(static_cast<unsigned char>(out_bytes[k])) << (8 * k);
        }
        entries_[(lead - 0x81) * 256 + trail] = packed;
      }
    }
    iconv_close(cd);
  }
  std::vector<uint32_t> entries_;
};

Status TextDecoder::gb18030_into(std::string_view bytes, uint64_t row, uint64_t file_offset,
                                 std::string& out) {
  // GB18030 needs at most 1.5 UTF-8 bytes per input byte (2-byte GB -> 3-byte UTF-8);
  // the scratch buffer is reused, so nothing is zero-filled per line.
  size_t need = bytes.size() * 2 + 8;
  if (scratch_size_ < need) {
    scratch_size_ = std::max(need, scratch_size_ * 2);
    scratch_ = std::make_unique<char[]>(scratch_size_);
  }
  const TwoByteTable& table = TwoByteTable::instance();
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  char* dst = scratch_.get();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      *dst++ = static_cast<char>(c);
      ++i;
      continue;
    }
    uint32_t packed = (c >= 0x81 && c <= 0xFE && i + 1 < n) ? table.lookup(c, s[i + 1]) : 0;
    if (packed == 0) break;  // four-byte form, or invalid: iconv decides from here
    dst[0] = static_cast<char>(packed);
    dst[1] = static_cast<char>(packed >> 8);
    dst[2] = static_cast<char>(packed >> 16);
    dst += packed >> 24;
    i += 2;
  }
  if (i < n) {
    if (iconv_ == nullptr) {
      iconv_t cd = iconv_open("UTF-8", "GB18030");
      if (cd == kNoIconv) {
        return Status(kRowEncoding, "row " + std::to_string(row) +
                                        ": this system's iconv cannot convert GB18030");
      }
      iconv_ = cd;
    }
    auto cd = static_cast<iconv_t>(iconv_);
    char* in = const_cast<char*>(bytes.data()) + i;
    size_t in_left = n - i;
    size_t out_left = scratch_size_ - static_cast<size_t>(dst - scratch_.get());
    size_t rc = iconv(cd, &in, &in_left, &dst, &out_left);
    if (rc == static_cast<size_t>(-1)) {
      int err = errno;
      size_t at = n - in_left;
      iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state for the next line
      return encoding_error(row, file_offset, bytes, at,
                            err == EINVAL
                                ? "end in the middle of a character, in UTF-8 and GB18030 alike"
                                : "are valid neither as UTF-8 nor as GB18030");
    }
  }
  out.assign(scratch_.get(), static_cast<size_t>(dst - scratch_.get()));
  return Status::ok();
}

Result<std::string> utf8_to_gb18030(std::string_view utf8) {
  size_t valid = valid_utf8_prefix(utf8);
  if (valid != utf8.size()) {
    return Status(kRowEncoding, "bytes " + hex_bytes(utf8, valid, 4) + " at offset " +
                                    std::to_string(valid) + " are not UTF-8");
  }
  iconv_t cd = iconv_open("GB18030", "UTF-8");
  if (cd == kNoIconv) return Status(kRowEncoding, "this system's iconv cannot write GB18030");
  std::string out(utf8.size() * 2 + 8, '\0');
  char* in = const_cast<char*>(utf8.data());
  size_t in_left = utf8.size();
  char* dst = out.data();
  size_t out_left = out.size();
  size_t rc = iconv(cd, &in, &in_left, &dst, &out_left);
  iconv_close(cd);
  if (rc == static_cast<size_t>(-1)) {
    return Status(kRowEncoding,
                  "cannot convert to GB18030 at offset " + std::to_string(utf8.size() - in_left));
  }
  out.resize(out.size() - out_left);
  return out;
}

}  // namespace hutong::domain
