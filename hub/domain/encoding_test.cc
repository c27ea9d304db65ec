#include "encoding.h"

#include <gtest/gtest.h>
#include <iconv.h>

#include <random>

#include "text.h"

namespace hutong::domain {
namespace {

std::string gb(std::string_view utf8) {
  return *utf8_to_gb18030(utf8);
}

TEST(Encoding, Gb18030LinesDecode) {
  TextDecoder decoder(gb("身份证件号,姓名"));
  Result<DecodedLine> header = decoder.decode(gb("身份证件号,姓名"), 1, 0);
  ASSERT_TRUE(header) << header.status().to_string();
  EXPECT_EQ(header->text, "身份证件号,姓名");
  EXPECT_EQ(header->encoding, Encoding::kGb18030);
  EXPECT_FALSE(header->stray);
  EXPECT_EQ(decoder.file_encoding(), Encoding::kGb18030);
  // Characters beyond the BMP use GB18030's four-byte form.
  EXPECT_EQ(decoder.decode(gb("𠀀,阿依古丽·买买提"), 2, 20)->text, "𠀀,阿依古丽·买买提");
}

TEST(Encoding, StrayUtf8RowInAGb18030FileIsRecoveredAndCounted) {
  TextDecoder decoder("");
  ASSERT_TRUE(decoder.decode(gb("姓名,学校"), 1, 0));
  ASSERT_TRUE(decoder.decode("610523201510081231,123", 2, 10));  // ASCII: neither
  Result<DecodedLine> stray = decoder.decode("王小明,大荔县城关小学", 3, 40);
  ASSERT_TRUE(stray);
  EXPECT_EQ(stray->text, "王小明,大荔县城关小学");
  EXPECT_EQ(stray->encoding, Encoding::kUtf8);
  EXPECT_TRUE(stray->stray);
  EXPECT_EQ(decoder.stray_lines(), 1u);
}

TEST(Encoding, BomMeansUtf8Throughout) {
  std::string file = std::string(kUtf8Bom) + "教师工号,教师姓名";
  TextDecoder decoder(file);
  EXPECT_TRUE(decoder.has_bom());
  EXPECT_EQ(decoder.bom_size(), 3u);
  EXPECT_EQ(decoder.decode("教师工号,教师姓名", 1, 3)->text, "教师工号,教师姓名");
  Result<DecodedLine> gb_line = decoder.decode(gb("张三"), 2, 30);
  EXPECT_EQ(gb_line.code(), kRowEncoding);
  EXPECT_NE(gb_line.status().message().find("row 2"), std::string::npos);
  EXPECT_NE(gb_line.status().message().find("file offset 30"), std::string::npos);
}

TEST(Encoding, BytesValidInNeitherAreReportedWithRowAndOffset) {
  TextDecoder decoder("");
  std::string line = gb("张三") + ",\xFF\xFF,x";
  Result<DecodedLine> bad = decoder.decode(line, 7, 1000);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.code(), kRowEncoding);
  // "张三," is 5 bytes in GB18030, so the bad bytes are at 1000 + 5.
  EXPECT_NE(bad.status().message().find("row 7"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("0xFF 0xFF"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("file offset 1005"), std::string::npos)
      << bad.status().message();
  // The decoder carries on with the next line.
  EXPECT_EQ(decoder.decode(gb("李四"), 8, 1020)->text, "李四");
}

TEST(Encoding, TruncatedCharacterAtLineEnd) {
  TextDecoder decoder("");
  std::string line = gb("张三");
  line.pop_back();
  EXPECT_EQ(decoder.decode(line, 1, 0).code(), kRowEncoding);
}

TEST(Encoding, RoundTripsThroughGb18030) {
  std::string text = "大荔县城关街道中心幼儿园·Ｘ€𠀀";
  TextDecoder decoder("");
  EXPECT_EQ(decoder.decode(gb(text), 1, 0)->text, text);
  EXPECT_FALSE(utf8_to_gb18030("\xFF"));
}

// The decoder's fast path for two-byte sequences must give exactly what iconv
// gives, for every lead/trail pair, valid or not.
TEST(Encoding, AgreesWithIconvOnEveryTwoByteSequence) {
  iconv_t cd = iconv_open("UTF-8", "GB18030");
  ASSERT_NE(cd, reinterpret_cast<iconv_t>(-1));
  TextDecoder decoder("");
  int compared = 0;
  for (int lead = 0x80; lead <= 0xFF; ++lead) {
    for (int trail = 0x00; trail <= 0xFF; ++trail) {
      std::string line = "a";
      line += static_cast<char>(lead);
      line += static_cast<char>(trail);
      line += "b";
      if (is_valid_utf8(line)) continue;  // rule 7 reads such a line as UTF-8
      char out[32];
      char* in = line.data();
      size_t in_left = line.size();
      char* dst = out;
      size_t out_left = sizeof out;
      bool iconv_ok = iconv(cd, &in, &in_left, &dst, &out_left) != static_cast<size_t>(-1);
      iconv(cd, nullptr, nullptr, nullptr, nullptr);
      Result<DecodedLine> decoded = decoder.decode(line, 1, 0);
      ASSERT_EQ(decoded.is_ok(), iconv_ok) << std::hex << lead << " " << trail;
      if (iconv_ok) {
        ASSERT_EQ(decoded->text, std::string(out, sizeof out - out_left))
            << std::hex << lead << " " << trail;
      }
      ++compared;
    }
  }
  iconv_close(cd);
  EXPECT_GT(compared, 20000);
}

TEST(Encoding, RandomTextRoundTripsIncludingFourByteForms) {
  std::mt19937 rng(18030);
  // Plane ranges: CJK, Latin-1 supplement (four-byte in GB18030), CJK extension B.
  const std::pair<char32_t, char32_t> ranges[] = {
      {0x4E00, 0x9FFF}, {0x0080, 0x00FF}, {0x20000, 0x2A6DF}, {0x3000, 0x303F}, {0x20, 0x7E}};
  TextDecoder decoder("");
  for (int line = 0; line < 2000; ++line) {
    std::string text;
    for (int k = 0; k < 40; ++k) {
      auto [lo, hi] = ranges[rng() % 5];
      append_utf8(text, lo + rng() % (hi - lo + 1));
    }
    Result<std::string> encoded = utf8_to_gb18030(text);
    ASSERT_TRUE(encoded);
    if (is_valid_utf8(*encoded)) continue;
    Result<DecodedLine> decoded = decoder.decode(*encoded, line + 1, 0);
    ASSERT_TRUE(decoded) << decoded.status().to_string();
    ASSERT_EQ(decoded->text, text);
  }
}

}  // namespace
}  // namespace hutong::domain
