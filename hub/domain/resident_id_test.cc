#include "resident_id.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace hutong::domain {
namespace {

constexpr CivilDate kReference{2025, 11, 15};

std::string normalized(std::string_view text) {
  Result<ResidentId> id = normalize_resident_id(text, kReference);
  return id ? std::string(id->number()) : std::string(id.code());
}

TEST(ResidentId, StandardExamplesAreValid) {
  // The examples printed in GB 11643-1999 itself.
  Result<ResidentId> beijing = normalize_resident_id("11010519491231002X", kReference);
  ASSERT_TRUE(beijing) << beijing.status().to_string();
  EXPECT_EQ(beijing->number(), "11010519491231002X");
  EXPECT_EQ(beijing->birth_date, (CivilDate{1949, 12, 31}));
  EXPECT_EQ(beijing->sex, Sex::kFemale);
  EXPECT_EQ(beijing->area_code(), "110105");
  EXPECT_FALSE(beijing->repaired);

  Result<ResidentId> guangdong = normalize_resident_id("440524188001010014", kReference);
  ASSERT_TRUE(guangdong) << guangdong.status().to_string();
  EXPECT_EQ(guangdong->birth_date, (CivilDate{1880, 1, 1}));
  EXPECT_EQ(guangdong->sex, Sex::kMale);
}

TEST(ResidentId, CheckCharacter) {
  EXPECT_EQ(resident_id_check_char("11010519491231002"), 'X');
  EXPECT_EQ(resident_id_check_char("44052418800101001"), '4');
  EXPECT_EQ(resident_id_check_char("61052320151008123"), '1');
}

struct Case {
  const char* name;
  std::string input;
  std::string expected;  // the normalized number, or the reason code
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class ResidentIdTable : public testing::TestWithParam<Case> {};

TEST_P(ResidentIdTable, Normalizes) {
  const Case& c = GetParam();
  EXPECT_EQ(normalized(c.input), c.expected) << "input: \"" << c.input << "\"";
}

// One row per defect of the spec's "Defects seen in real deliveries" that concerns
// a single ID value, plus the edges of each rule.
INSTANTIATE_TEST_SUITE_P(
    Defects, ResidentIdTable,
    testing::Values(Case{"valid", "610523201510081231", "610523201510081231"},
                    Case{"wrong_check_character", "610523201510081232", "id.checksum"},
                    Case{"lower_case_x", "11010519491231002x", "11010519491231002X"},
                    Case{"full_width_digits", "６１０５２３２０１５１００８１２３１",
                         "610523201510081231"},
                    Case{"full_width_upper_x", "11010519491231002Ｘ", "11010519491231002X"},
                    Case{"full_width_lower_x", "11010519491231002ｘ", "11010519491231002X"},
                    Case{"legacy_15_digits", "610523650101123", "610523196501011238"},
                    Case{"legacy_15_digits_even", "130503670401001", "130503196704010016"},
                    Case{"leading_trailing_spaces", "  610523201510081231  ", "610523201510081231"},
                    Case{"tabs", "\t610523201510081231\t", "610523201510081231"},
                    Case{"nbsp",
                         "\xC2\xA0"
                         "610523201510081231\xC2\xA0",
                         "610523201510081231"},
                    Case{"ideographic_space",
                         "\xE3\x80\x80"
                         "610523201510081231\xE3\x80\x80",
                         "610523201510081231"},
                    Case{"excel_scientific", "6.10523E+17", "id.scientific"},
                    Case{"excel_scientific_lower", "6.10523201510081e+17", "id.scientific"},
                    Case{"excel_scientific_no_sign", "6.1E17", "id.scientific"},
                    Case{"empty", "", "id.missing"}, Case{"blank", " \xE3\x80\x80 ", "id.missing"},
                    Case{"too_short", "61052320151008123", "id.malformed"},
                    Case{"too_long", "6105232015100812311", "id.malformed"},
                    Case{"letter_inside", "6105232015A0081231", "id.malformed"},
                    Case{"x_not_last", "61052320151008X231", "id.malformed"},
                    Case{"inner_space", "610523 201510081231", "id.malformed"},
                    Case{"legacy_with_x", "61052365010112X", "id.malformed"},
                    Case{"unknown_province", "001234202501011234", "id.malformed"},
                    Case{"birth_not_a_date", "610523201513081234", "id.birth_date"},
                    Case{"birth_feb_29_common_year", "610523201502290015", "id.birth_date"},
                    Case{"birth_feb_29_leap_year", "610523201202290015", "610523201202290015"},
                    Case{"birth_before_1880", "610523187912310012", "id.birth_date"},
                    Case{"birth_after_reference", "61052320251201001X", "id.birth_date"},
                    Case{"birth_on_reference", "610523202511150010", "610523202511150010"}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ResidentId, FixupsAreMarkedAsRepairs) {
  EXPECT_FALSE(normalize_resident_id("610523201510081231", kReference)->repaired);
  EXPECT_TRUE(normalize_resident_id(" 610523201510081231", kReference)->repaired);
  EXPECT_TRUE(normalize_resident_id("11010519491231002x", kReference)->repaired);
  Result<ResidentId> legacy = normalize_resident_id("610523650101123", kReference);
  EXPECT_TRUE(legacy->repaired);
  EXPECT_TRUE(legacy->from_legacy_15);
  EXPECT_EQ(legacy->sex, Sex::kMale);
}

TEST(ResidentId, MessagesSayWhatWasFound) {
  Result<ResidentId> bad = normalize_resident_id("610523201510081232", kReference);
  EXPECT_EQ(bad.code(), kIdChecksum);
  EXPECT_NE(bad.status().message().find("610523201510081232"), std::string::npos);
  EXPECT_NE(bad.status().message().find("check character is 1"), std::string::npos);

  Result<ResidentId> future = normalize_resident_id("61052320251201001X", kReference);
  EXPECT_NE(future.status().message().find("2025-11-15"), std::string::npos);

  Result<ResidentId> sci = normalize_resident_id("6.10523E+17", kReference);
  EXPECT_NE(sci.status().message().find("cannot be recovered"), std::string::npos);
}

TEST(ResidentId, WithoutReferenceDateAnyPastOrFutureDateIsAccepted) {
  EXPECT_TRUE(normalize_resident_id("61052320251201001X", CivilDate{}));
}

TEST(ResidentId, NumericSpreadsheetCellIsScientific) {
  EXPECT_EQ(numeric_cell_id_status("610523201510081000").code(), kIdScientific);
}

TEST(ResidentId, ResidencePermitsOfHongKongMacaoTaiwanValidateTheSameWay) {
  std::string permit17 = "81000019900101001";
  std::string permit = permit17 + resident_id_check_char(permit17);
  EXPECT_EQ(normalized(permit), permit);
}

// Random valid IDs: every one validates, and every single-character corruption of
// one is rejected (MOD 11-2 detects all single substitutions).
std::string random_valid_id(std::mt19937_64& rng) {
  static const char* kAreas[] = {"610523", "110105", "440524", "310115", "652101", "810000"};
  std::uniform_int_distribution<int> area(0, 5), year(1900, 2024), month(1, 12), seq(0, 999);
  CivilDate birth;
  do {
    birth = {year(rng), month(rng), 1 + static_cast<int>(rng() % 31)};
  } while (!is_valid_date(birth.year, birth.month, birth.day));
  char buf[19];
  std::snprintf(buf, sizeof buf, "%s%04d%02d%02d%03d", kAreas[area(rng)], birth.year, birth.month,
                birth.day, seq(rng));
  std::string id(buf, 17);
  id += resident_id_check_char(id);
  return id;
}

TEST(ResidentIdProperty, RandomValidIdsValidate) {
  std::mt19937_64 rng(20251115);
  for (int i = 0; i < 20000; ++i) {
    std::string id = random_valid_id(rng);
    Result<ResidentId> parsed = normalize_resident_id(id, kReference);
    ASSERT_TRUE(parsed) << id << ": " << parsed.status().to_string();
    ASSERT_EQ(parsed->number(), id);
  }
}

TEST(ResidentIdProperty, AnySingleCharacterCorruptionIsRejected) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789X";
  for (int i = 0; i < 2000; ++i) {
    std::string id = random_valid_id(rng);
    for (size_t pos = 0; pos < id.size(); ++pos) {
      for (char c : alphabet) {
        if (c == id[pos]) continue;
        std::string corrupted = id;
        corrupted[pos] = c;
        ASSERT_FALSE(normalize_resident_id(corrupted, kReference))
            << id << " corrupted at " << pos << " to " << corrupted;
      }
    }
  }
}

TEST(ResidentIdProperty, LegacyFifteenRoundTrip) {
  // 18 -> 15 (drop "19" and the check character) -> 18 gives the same number, for
  // every ID of someone born in the 1900s.
  std::mt19937_64 rng(15);
  int tried = 0;
  while (tried < 5000) {
    std::string id = random_valid_id(rng);
    if (id.compare(6, 2, "19") != 0) continue;
    ++tried;
    std::string legacy = id.substr(0, 6) + id.substr(8, 9);
    ASSERT_EQ(legacy.size(), 15u);
    Result<ResidentId> parsed = normalize_resident_id(legacy, kReference);
    ASSERT_TRUE(parsed) << legacy << ": " << parsed.status().to_string();
    ASSERT_EQ(parsed->number(), id);
    ASSERT_TRUE(parsed->from_legacy_15);
  }
}

}  // namespace
}  // namespace hutong::domain
