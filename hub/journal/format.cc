#include "format.h"

#include <bit>
#include <chrono>
#include <cstring>

#include "crc32c.h"

namespace hutong::journal {
namespace {

void put_u32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}  // little-endian hosts only
void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

static_assert(std::endian::native == std::endian::little, "the journal format is little-endian");

// Body layout offsets (after the 8-byte frame header).
constexpr size_t kBaseOffsetAt = 0;
constexpr size_t kLastDeltaAt = 8;
constexpr size_t kCountAt = 12;
constexpr size_t kTimeAt = 16;
constexpr size_t kAttributesAt = 24;

}  // namespace

std::string encode_segment_header(uint64_t base_offset) {
  std::string header(kSegmentHeaderSize, '\0');
  std::memcpy(header.data(), kSegmentMagic.data(), 8);
  put_u32(header.data() + 8, kFormatVersion);
  put_u32(header.data() + 12, 0);  // flags
  put_u64(header.data() + 16, base_offset);
  put_u32(header.data() + 24, 0);  // reserved
  put_u32(header.data() + 28, mask_crc(crc32c(std::string_view(header.data(), 28))));
  return header;
}

Result<SegmentHeader> decode_segment_header(std::string_view bytes, std::string_view file) {
  std::string where(file);
  if (bytes.size() < kSegmentHeaderSize) {
    return Status(kJournalCorrupt, where + ": the segment header is truncated (" +
                                       std::to_string(bytes.size()) + " of 32 bytes)");
  }
  if (bytes.substr(0, 8) != kSegmentMagic) {
    return Status(kJournalCorrupt, where + ": not a Hutong journal segment (bad magic)");
  }
  if (unmask_crc(get_u32(bytes.data() + 28)) != crc32c(bytes.substr(0, 28))) {
    return Status(kJournalCorrupt, where + ": the segment header's checksum does not match");
  }
  SegmentHeader header;
  header.version = get_u32(bytes.data() + 8);
  header.base_offset = get_u64(bytes.data() + 16);
  if (header.version != kFormatVersion) {
    return Status(kJournalVersion,
                  where + ": segment format version " + std::to_string(header.version) +
                      ", but this build reads version " + std::to_string(kFormatVersion) +
                      "; run the Hutong release that wrote it (or a newer one)");
  }
  return header;
}

std::string composite_key(std::string_view topic, std::string_view key) {
  std::string out(topic);
  out += '\0';
  out += key;
  return out;
}

int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

FrameBuilder::FrameBuilder(size_t expected_bytes) {
  buffer_.reserve(kFrameHeaderSize + kFrameFixedBodySize + expected_bytes);
  buffer_.assign(kFrameHeaderSize + kFrameFixedBodySize, '\0');
}

void FrameBuilder::add(uint32_t offset_delta, Op op, std::string_view topic, std::string_view key,
                       std::string_view value) {
  put_varint(buffer_, offset_delta);
  buffer_ += static_cast<char>(op);
  put_varint(buffer_, topic.size());
  buffer_.append(topic);
  put_varint(buffer_, key.size());
  buffer_.append(key);
  put_varint(buffer_, value.size());
  buffer_.append(value);
  ++count_;
  last_delta_ = offset_delta;
}

BuiltFrame FrameBuilder::finish(uint64_t base_offset, int64_t append_time_us,
                                uint32_t attributes) && {
  char* body = buffer_.data() + kFrameHeaderSize;
  put_u32(body + kLastDeltaAt, last_delta_);
  put_u32(body + kCountAt, count_);
  put_u64(body + kTimeAt, static_cast<uint64_t>(append_time_us));
  put_u32(body + kAttributesAt, attributes);
  BuiltFrame frame;
  frame.records_crc = crc32c_extend(0, body + kFrameFixedBodySize,
                                    buffer_.size() - kFrameHeaderSize - kFrameFixedBodySize);
  frame.bytes = std::move(buffer_);
  patch_frame(frame, base_offset);
  return frame;
}

void patch_frame(BuiltFrame& frame, uint64_t base_offset) {
  char* body = frame.bytes.data() + kFrameHeaderSize;
  size_t body_length = frame.bytes.size() - kFrameHeaderSize;
  put_u64(body + kBaseOffsetAt, base_offset);
  put_u32(frame.bytes.data(), static_cast<uint32_t>(body_length));
  put_u32(frame.bytes.data() + 4,
          mask_crc(crc32c_extend(frame.records_crc, body, kFrameFixedBodySize)));
}

std::string seal_frame(uint64_t next_offset, int64_t append_time_us) {
  return FrameBuilder().finish(next_offset, append_time_us, kAttributeSeal).bytes;
}

uint32_t frame_crc(std::string_view body) {
  uint32_t records =
      crc32c_extend(0, body.data() + kFrameFixedBodySize, body.size() - kFrameFixedBodySize);
  return crc32c_extend(records, body.data(), kFrameFixedBodySize);
}

FrameHeader read_frame_header(const char* bytes) {
  return FrameHeader{get_u32(bytes), get_u32(bytes + 4)};
}

bool frame_crc_matches(const FrameHeader& header, std::string_view body) {
  return body.size() >= kFrameFixedBodySize && unmask_crc(header.masked_crc) == frame_crc(body);
}

Result<FrameView> parse_frame_body(std::string_view body) {
  if (body.size() < kFrameFixedBodySize) {
    return Status(kJournalCorrupt, "a frame body of " + std::to_string(body.size()) +
                                       " bytes is shorter than its fixed part");
  }
  FrameView frame;
  frame.base_offset = get_u64(body.data() + kBaseOffsetAt);
  frame.last_offset_delta = get_u32(body.data() + kLastDeltaAt);
  frame.record_count = get_u32(body.data() + kCountAt);
  frame.append_time_us = static_cast<int64_t>(get_u64(body.data() + kTimeAt));
  frame.attributes = get_u32(body.data() + kAttributesAt);
  frame.records = body.substr(kFrameFixedBodySize);
  if (frame.is_seal() && frame.record_count != 0) {
    return Status(kJournalCorrupt, "a seal frame carries records");
  }
  return frame;
}

bool RecordCursor::next(RecordView& record, Status& status) {
  if (seen_ == frame_.record_count) {
    if (!rest_.empty()) {
      status = Status(kJournalCorrupt, "frame at offset " + std::to_string(frame_.base_offset) +
                                           " has bytes after its last record");
    }
    return false;
  }
  uint64_t delta, op, topic_len, key_len, value_len;
  auto fail = [&] {
    status =
        Status(kJournalCorrupt, "record " + std::to_string(seen_) + " of the frame at offset " +
                                    std::to_string(frame_.base_offset) + " is malformed");
    return false;
  };
  if (!get_varint(rest_, delta) || rest_.empty()) return fail();
  op = static_cast<unsigned char>(rest_.front());
  rest_.remove_prefix(1);
  if (op != static_cast<uint64_t>(Op::kUpsert) && op != static_cast<uint64_t>(Op::kDelete)) {
    return fail();
  }
  if (!get_varint(rest_, topic_len) || topic_len > rest_.size()) return fail();
  record.topic = rest_.substr(0, topic_len);
  rest_.remove_prefix(topic_len);
  if (!get_varint(rest_, key_len) || key_len > rest_.size()) return fail();
  record.key = rest_.substr(0, key_len);
  rest_.remove_prefix(key_len);
  if (!get_varint(rest_, value_len) || value_len > rest_.size()) return fail();
  record.value = rest_.substr(0, value_len);
  rest_.remove_prefix(value_len);
  if (delta > frame_.last_offset_delta) return fail();
  record.offset = frame_.base_offset + delta;
  record.op = static_cast<Op>(op);
  record.append_time_us = frame_.append_time_us;
  ++seen_;
  return true;
}

}  // namespace hutong::journal
