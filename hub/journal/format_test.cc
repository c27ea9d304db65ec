#include "format.h"

#include <gtest/gtest.h>

namespace hutong::journal {
namespace {

TEST(Format, SegmentHeaderRoundTrips) {
  std::string header = encode_segment_header(1234567);
  ASSERT_EQ(header.size(), kSegmentHeaderSize);
  Result<SegmentHeader> decoded = decode_segment_header(header, "x.log");
  ASSERT_TRUE(decoded) << decoded.status().to_string();
  EXPECT_EQ(decoded->base_offset, 1234567u);
  EXPECT_EQ(decoded->version, kFormatVersion);
}

TEST(Format, SegmentHeaderOfAFutureVersionIsRefused) {
  std::string header = encode_segment_header(0);
  header[8] = 2;  // version field; the checksum then no longer matches either
  Result<SegmentHeader> decoded = decode_segment_header(header, "x.log");
  EXPECT_EQ(decoded.code(), kJournalCorrupt);
}

TEST(Format, FrameRoundTrips) {
  FrameBuilder builder;
  builder.add(0, Op::kUpsert, "education.enrollment", "610523201510081231", "payload-1");
  builder.add(1, Op::kDelete, "civil_affairs.dibao_member", "DB1|x", "");
  builder.add(2, Op::kUpsert, "t", "", std::string(1000, 'v'));
  BuiltFrame built = std::move(builder).finish(0, 42);
  patch_frame(built, 100);
  std::string& frame = built.bytes;
  FrameHeader header = read_frame_header(frame.data());
  std::string_view body = std::string_view(frame).substr(kFrameHeaderSize);
  ASSERT_EQ(header.body_length, body.size());
  ASSERT_TRUE(frame_crc_matches(header, body));
  Result<FrameView> view = parse_frame_body(body);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->base_offset, 100u);
  EXPECT_EQ(view->record_count, 3u);
  EXPECT_EQ(view->end_offset(), 103u);
  EXPECT_EQ(view->append_time_us, 42);
  RecordCursor cursor(*view);
  RecordView r;
  Status status;
  ASSERT_TRUE(cursor.next(r, status));
  EXPECT_EQ(r.offset, 100u);
  EXPECT_EQ(r.topic, "education.enrollment");
  EXPECT_EQ(r.key, "610523201510081231");
  EXPECT_EQ(r.value, "payload-1");
  ASSERT_TRUE(cursor.next(r, status));
  EXPECT_EQ(r.op, Op::kDelete);
  ASSERT_TRUE(cursor.next(r, status));
  EXPECT_EQ(r.offset, 102u);
  EXPECT_EQ(r.value.size(), 1000u);
  EXPECT_FALSE(cursor.next(r, status));
  EXPECT_TRUE(status.is_ok());
}

TEST(Format, AnyFlippedByteFailsTheChecksum) {
  FrameBuilder builder;
  builder.add(0, Op::kUpsert, "topic", "key", "value");
  std::string frame = std::move(builder).finish(7, 1).bytes;
  for (size_t i = kFrameHeaderSize; i < frame.size(); ++i) {
    std::string damaged = frame;
    damaged[i] ^= 0x10;
    ASSERT_FALSE(frame_crc_matches(read_frame_header(damaged.data()),
                                   std::string_view(damaged).substr(kFrameHeaderSize)))
        << i;
  }
}

TEST(Format, SealFrames) {
  std::string seal = seal_frame(500, 1);
  Result<FrameView> view = parse_frame_body(std::string_view(seal).substr(kFrameHeaderSize));
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->is_seal());
  EXPECT_EQ(view->end_offset(), 500u);
}

TEST(Format, Varints) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 1ull << 35, ~0ull}) {
    std::string out;
    put_varint(out, v);
    std::string_view in = out;
    uint64_t back;
    ASSERT_TRUE(get_varint(in, back));
    EXPECT_EQ(back, v);
    EXPECT_TRUE(in.empty());
  }
  std::string_view truncated("\x80\x80", 2);
  uint64_t v;
  EXPECT_FALSE(get_varint(truncated, v));
}

}  // namespace
}  // namespace hutong::journal
