// The journal's on-disk format: segment headers, frames, records. The byte
// layout is specified in docs/journal-format.md; this file is its only encoder
// and decoder. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "domain/status.h"

namespace hutong::journal {

inline constexpr std::string_view kSegmentMagic{"HTJLSEG\0", 8};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kFrameHeaderSize = 8;      // u32 body length, u32 masked CRC-32C
inline constexpr size_t kFrameFixedBodySize = 28;  // see FrameView
inline constexpr uint32_t kMaxFrameBodySize = 256u << 20;

// Reason codes.
inline constexpr std::string_view kJournalCorrupt = "journal.corrupt";
inline constexpr std::string_view kJournalVersion = "journal.version";
inline constexpr std::string_view kJournalIo = "journal.io";
inline constexpr std::string_view kJournalDiskFull = "journal.disk_full";
inline constexpr std::string_view kJournalLocked = "journal.locked";
inline constexpr std::string_view kJournalContinuity = "journal.continuity";
inline constexpr std::string_view kJournalClosed = "journal.closed";
inline constexpr std::string_view kJournalFailed = "journal.failed";
inline constexpr std::string_view kJournalTooLarge = "journal.too_large";

enum class Op : uint8_t { kUpsert = 1, kDelete = 2 };

// Frame attribute bits.
inline constexpr uint32_t kAttributeSeal =
    1;  // a segment's last frame: no records, base_offset = next offset

// A record handed to Journal::append. The views must stay valid for the call.
struct RecordIn {
  Op op = Op::kUpsert;
  std::string_view topic;
  std::string_view key;
  std::string_view value;
};

// A record read back. The views point into the reader's buffer and stay valid
// until the reader's next call.
struct RecordView {
  uint64_t offset = 0;
  Op op = Op::kUpsert;
  int64_t append_time_us = 0;  // when its frame was appended (microseconds since the epoch)
  std::string_view topic;
  std::string_view key;
  std::string_view value;
};

struct SegmentHeader {
  uint32_t version = 0;
  uint64_t base_offset = 0;
};

std::string encode_segment_header(uint64_t base_offset);
// `file` only serves the message.
Result<SegmentHeader> decode_segment_header(std::string_view bytes, std::string_view file);

// The fixed part of a frame body, and its records.
struct FrameView {
  uint64_t base_offset = 0;        // offset of the first record (the next offset, for a seal)
  uint32_t last_offset_delta = 0;  // last record's offset - base_offset
  uint32_t record_count = 0;
  int64_t append_time_us = 0;
  uint32_t attributes = 0;
  std::string_view records;  // the encoded records

  bool is_seal() const { return (attributes & kAttributeSeal) != 0; }
  uint64_t end_offset() const {  // one past the last record's offset
    return record_count == 0 ? base_offset : base_offset + last_offset_delta + 1;
  }
};

// A finished frame (header + body in one buffer) and the CRC of its records
// region, from which the frame CRC is completed cheaply once the base offset is
// known (the CRC covers the records first, then the fixed fields).
struct BuiltFrame {
  std::string bytes;
  uint32_t records_crc = 0;
};

// Builds one frame in a single buffer, so the writer can patch the base offset
// and the CRC in place and write it with one call.
class FrameBuilder {
 public:
  // `expected_bytes`: the records' topic, key and value sizes summed, if known.
  explicit FrameBuilder(size_t expected_bytes = 0);
  // Appends a record at `offset_delta` from the frame's (future) base offset.
  void add(uint32_t offset_delta, Op op, std::string_view topic, std::string_view key,
           std::string_view value);
  uint32_t record_count() const { return count_; }
  // Completes the frame; `base_offset` may be patched later with patch_frame().
  BuiltFrame finish(uint64_t base_offset, int64_t append_time_us, uint32_t attributes = 0) &&;

 private:
  std::string buffer_;
  uint32_t count_ = 0;
  uint32_t last_delta_ = 0;
};

// Sets the base offset of a finished frame and completes its CRC.
void patch_frame(BuiltFrame& frame, uint64_t base_offset);
// A finished frame with no records that seals a segment at `next_offset`.
std::string seal_frame(uint64_t next_offset, int64_t append_time_us);
// The frame CRC of a body: CRC-32C of body[28..] followed by body[0..28].
uint32_t frame_crc(std::string_view body);

// Reads the frame header at the start of `bytes`: the body length, or an error
// when the length is impossible.
struct FrameHeader {
  uint32_t body_length = 0;
  uint32_t masked_crc = 0;
};
FrameHeader read_frame_header(const char* bytes);
bool frame_crc_matches(const FrameHeader& header, std::string_view body);
// Parses a body whose CRC has been checked.
Result<FrameView> parse_frame_body(std::string_view body);

// Walks the records of a frame.
class RecordCursor {
 public:
  explicit RecordCursor(const FrameView& frame) : frame_(frame), rest_(frame.records) {}
  // False at the end; a malformed record gives an error status in `status`.
  bool next(RecordView& record, Status& status);

 private:
  FrameView frame_;
  std::string_view rest_;
  uint32_t seen_ = 0;
};

// "topic\0key": one string naming a key within its topic (keys are per topic).
std::string composite_key(std::string_view topic, std::string_view key);

// Microseconds since the Unix epoch (the clock of append times).
int64_t now_micros();

// Varints as protobuf writes them (inline: the feed's policies call them per field).
inline void put_varint(std::string& out, uint64_t value) {
  char bytes[10];
  size_t n = 0;
  while (value >= 0x80) {
    bytes[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  bytes[n++] = static_cast<char>(value);
  out.append(bytes, n);
}
// Reads a varint from the front of `in`, consuming it; false when malformed.
inline bool get_varint(std::string_view& in, uint64_t& value) {
  if (!in.empty() && static_cast<unsigned char>(in.front()) < 0x80) {  // one byte: most
    value = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    return true;
  }
  value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace hutong::journal
