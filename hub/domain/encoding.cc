#include "encoding.h"

#include <errno.h>
#include <iconv.h>

#include <cstdio>

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

Status TextDecoder::gb18030_into(std::string_view bytes, uint64_t row, uint64_t file_offset,
                                 std::string& out) {
  if (iconv_ == nullptr) {
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == kNoIconv) {
      return Status(kRowEncoding,
                    "row " + std::to_string(row) + ": this system's iconv cannot convert GB18030");
    }
    iconv_ = cd;
  }
  auto cd = static_cast<iconv_t>(iconv_);
  // GB18030 needs at most 2 bytes per UTF-8 byte (2-byte GB -> 3-byte UTF-8 is the
  // worst ratio, 1.5); leave slack for iconv's own bookkeeping.
  out.resize(bytes.size() * 2 + 8);
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char* dst = out.data();
  size_t out_left = out.size();
  size_t rc = iconv(cd, &in, &in_left, &dst, &out_left);
  if (rc == static_cast<size_t>(-1)) {
    int err = errno;
    size_t at = bytes.size() - in_left;
    iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state for the next line
    return encoding_error(row, file_offset, bytes, at,
                          err == EINVAL
                              ? "end in the middle of a character, in UTF-8 and GB18030 alike"
                              : "are valid neither as UTF-8 nor as GB18030");
  }
  out.resize(out.size() - out_left);
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
