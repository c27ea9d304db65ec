#include "text.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Text, ValidatesUtf8) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("大荔县·𠀀"));
  EXPECT_EQ(valid_utf8_prefix("ab\xC0\xAF"), 2u);           // overlong
  EXPECT_EQ(valid_utf8_prefix("ab\xED\xA0\x80"), 2u);       // surrogate
  EXPECT_EQ(valid_utf8_prefix("ab\xF4\x90\x80\x80"), 2u);   // above U+10FFFF
  EXPECT_EQ(valid_utf8_prefix("abcdefghij\xE5\xA4"), 10u);  // truncated
  EXPECT_EQ(valid_utf8_prefix("\xB4\xF3\xC0\xF3"), 0u);     // GB18030 "大荔"
}

TEST(Text, TrimsEveryBlankTheExportsCarry) {
  EXPECT_EQ(trim_spaces(" \t\xC2\xA0\xE3\x80\x80x y\xEF\xBB\xBF\r\n"), "x y");
  EXPECT_EQ(trim_spaces("   "), "");
  EXPECT_EQ(trim_spaces("大荔"), "大荔");
}

TEST(Text, FoldsFullWidthForms) {
  EXPECT_EQ(fold_full_width("６１０ＡＢ，ｘ\xE3\x80\x80"), "610AB,x ");
  EXPECT_EQ(fold_full_width("大荔"), "大荔");
}

TEST(Text, InvalidBytesDecodeAsReplacementOneByOne) {
  std::string_view bad =
      "\xFF"
      "a";
  size_t pos = 0;
  EXPECT_EQ(next_code_point(bad, pos), U'\uFFFD');
  EXPECT_EQ(pos, 1u);
  EXPECT_EQ(next_code_point(bad, pos), U'a');
}

TEST(Text, RepairsInvalidUtf8ByteByByte) {
  EXPECT_EQ(repair_utf8("大荔 ok"), "大荔 ok");
  EXPECT_EQ(repair_utf8("ab\xB4\xF3x"), "ab\uFFFD\uFFFDx");  // GB18030 "大" in UTF-8 text
  EXPECT_EQ(repair_utf8("\xE5\xA4"), "\uFFFD\uFFFD");        // truncated at the end
  EXPECT_TRUE(is_valid_utf8(repair_utf8("\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80")));
}

}  // namespace
}  // namespace hutong::domain
