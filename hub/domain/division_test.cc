#include "division.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Division, LevelsAndPrefixes) {
  Result<DivisionCode> village = parse_division_code("610523001002");
  ASSERT_TRUE(village);
  EXPECT_EQ(village->level(), DivisionLevel::kVillage);
  EXPECT_EQ(village->county(), "610523");
  EXPECT_EQ(village->township(), "610523001");
  EXPECT_EQ(village->village(), "610523001002");
  EXPECT_EQ(village->prefixes().size(), 3u);
  EXPECT_TRUE(village->within("610523"));
  EXPECT_TRUE(village->within("610523001"));
  EXPECT_FALSE(village->within("610523002"));

  Result<DivisionCode> township = parse_division_code("610523001");
  ASSERT_TRUE(township);
  EXPECT_EQ(township->level(), DivisionLevel::kTownship);
  EXPECT_EQ(township->village(), "");
  EXPECT_FALSE(township->within("610523001002"));

  EXPECT_EQ(parse_division_code("610523")->level(), DivisionLevel::kCounty);
}

TEST(Division, TrailingZeroGroupsNameTheTownshipOrCountyItself) {
  EXPECT_EQ(parse_division_code("610523001000")->level(), DivisionLevel::kTownship);
  EXPECT_EQ(parse_division_code("610523000000")->level(), DivisionLevel::kCounty);
  EXPECT_EQ(parse_division_code("610523000")->level(), DivisionLevel::kCounty);
}

TEST(Division, CleansAndRejects) {
  EXPECT_EQ(parse_division_code(" ６１０５２３００１ ")->code(), "610523001");
  EXPECT_EQ(parse_division_code("").code(), kDivisionMissing);
  for (const char* bad :
       {"61052", "6105230010", "61052300100A", "001234", "610000", "610500", "6105230010021"}) {
    EXPECT_EQ(parse_division_code(bad).code(), kDivisionMalformed) << bad;
  }
}

}  // namespace
}  // namespace hutong::domain
