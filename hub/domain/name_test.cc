#include "name.h"

#include <opencc/opencc.h>

#include "text.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Name, TrimsAndFoldsBlanks) {
  EXPECT_EQ(*normalize_name("  张三 "), "张三");
  EXPECT_EQ(*normalize_name("\xC2\xA0张三\xE3\x80\x80"), "张三");
  EXPECT_EQ(*normalize_name("张 三"), "张三");
  EXPECT_EQ(*normalize_name("张\xE3\x80\x80三"), "张三");
  EXPECT_EQ(*normalize_name("Ｌｉ  Ｍｉｎｇ"), "Li Ming");
  EXPECT_EQ(normalize_name(" \xE3\x80\x80").code(), kNameMissing);
}

TEST(Name, MiddleDotLookAlikesBecomeU00B7) {
  const std::string expected = "阿依古丽\xC2\xB7买买提";
  for (const char* dot : {"·", "•", "・", "‧", "﹒", "･", "．", "∙", "⋅", ".", "·"}) {
    std::string name = std::string("阿依古丽") + dot + "买买提";
    EXPECT_EQ(*normalize_name(name), expected) << dot;
  }
  EXPECT_EQ(*normalize_name("阿依古丽 • 买买提"), expected);
}

TEST(Name, MatchKeyFoldsTraditionalToSimplified) {
  Result<std::string> key = name_match_key("劉偉");
  ASSERT_TRUE(key) << key.status().to_string();
  EXPECT_EQ(*key, "刘伟");
  EXPECT_EQ(*name_match_key("劉 偉 "), *name_match_key("刘伟"));
  EXPECT_EQ(*name_match_key("陳曉東"), "陈晓东");
  // The stored name is never altered.
  EXPECT_EQ(*normalize_name("劉偉"), "劉偉");
}

TEST(Name, FoldingIsAvailable) {
  EXPECT_TRUE(name_folding_status());
}

TEST(Name, BatchedMatchKeysEqualOneByOne) {
  // Names whose characters take part in phrase conversions too (乾, 後, 髮, 裡).
  std::vector<std::string> names = {"劉偉", "陳曉東", "乾隆",   "張三", "阿依古丽·买买提",
                                    "於後", "髮",     "裡",     "李四", "歐陽娜娜",
                                    "乾",   "坤",     "Li Ming"};
  std::vector<std::string_view> views(names.begin(), names.end());
  Result<std::vector<std::string>> keys = name_match_keys(views);
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ((*keys)[i], *name_match_key(names[i])) << names[i];
  EXPECT_TRUE(name_match_keys({})->empty());
}

// The shortcut that skips OpenCC for text it cannot change is exact: every CJK
// character (and every pair with a common one) converts exactly as OpenCC does.
TEST(Name, SkippingOpenccChangesNothing) {
  opencc_t raw = opencc_open(OPENCC_DEFAULT_CONFIG_TRAD_TO_SIMP);
  ASSERT_NE(raw, reinterpret_cast<opencc_t>(-1));
  auto direct = [&](const std::string& text) {
    char* out = opencc_convert_utf8(raw, text.data(), text.size());
    std::string result(out);
    opencc_convert_utf8_free(out);
    return result;
  };
  std::vector<std::string> texts;
  for (char32_t cp = 0x4E00; cp <= 0x9FFF; ++cp) {
    std::string one;
    append_utf8(one, cp);
    texts.push_back(one);
    if (cp % 7 == 0) {
      texts.push_back("王" + one);
      texts.push_back(one + "明");
    }
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  Result<std::vector<std::string>> keys = name_match_keys(views);
  ASSERT_TRUE(keys);
  size_t differences = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if ((*keys)[i] != direct(texts[i])) ++differences;
  }
  EXPECT_EQ(differences, 0u);
  opencc_close(raw);
}

}  // namespace
}  // namespace hutong::domain
