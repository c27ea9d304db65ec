#include "date.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Date, ReadsEveryFormTheSpecLists) {
  EXPECT_EQ(*parse_date("2025-09-01"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("20250901"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("2025/9/1"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("2025/09/01"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("2025-9-1"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date(" 2025-09-01 "), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("2025-09-01 14:46:18"), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(*parse_date("2025/9/1 8:05"), (CivilDate{2025, 9, 1}));
}

TEST(Date, RejectsWhatIsNotADate) {
  for (const char* bad : {"", "2025-13-01", "2025-02-29", "2025/9", "25-09-01", "2025.09.01",
                          "2025-09-01x", "2025-09-01 25:00:00", "20250931", "2025-9/1", "九月"}) {
    Result<CivilDate> date = parse_date(bad);
    EXPECT_FALSE(date) << bad;
    EXPECT_EQ(date.code(), kValueDate) << bad;
  }
}

TEST(Date, Timestamps) {
  Result<LocalTimestamp> ts = parse_timestamp("2025-01-28 14:46:18");
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->to_string(), "2025-01-28 14:46:18");
  EXPECT_EQ(parse_timestamp("2025/1/8 9:05:07")->to_string(), "2025-01-08 09:05:07");
  EXPECT_EQ(parse_timestamp("2025-01-08")->to_string(), "2025-01-08 00:00:00");
  EXPECT_EQ(parse_timestamp("2025-01-08T09:05:07")->to_string(), "2025-01-08 09:05:07");
  EXPECT_EQ(parse_timestamp("2025-01-08 09:05:07.123456")->to_string(), "2025-01-08 09:05:07");
  EXPECT_FALSE(parse_timestamp("2025-01-08 9:5"));
  EXPECT_FALSE(parse_timestamp("2025-01-08 09:60:00"));
}

TEST(Date, ExcelSerials) {
  EXPECT_EQ(*date_from_excel_serial(1), (CivilDate{1900, 1, 1}));
  EXPECT_EQ(*date_from_excel_serial(59), (CivilDate{1900, 2, 28}));
  EXPECT_FALSE(date_from_excel_serial(60));  // Excel's phantom 1900-02-29
  EXPECT_EQ(*date_from_excel_serial(61), (CivilDate{1900, 3, 1}));
  EXPECT_EQ(*date_from_excel_serial(45901), (CivilDate{2025, 9, 1}));
  EXPECT_EQ(timestamp_from_excel_serial(45901.5)->to_string(), "2025-09-01 12:00:00");
  EXPECT_FALSE(date_from_excel_serial(0));
  EXPECT_FALSE(date_from_excel_serial(-3));
}

TEST(Date, EpochDaysRoundTrip) {
  for (int64_t d = -600000; d < 2900000; d += 97) {
    CivilDate date = CivilDate::from_days_since_epoch(d);
    ASSERT_TRUE(is_valid_date(date.year, date.month, date.day));
    ASSERT_EQ(date.days_since_epoch(), d);
  }
  EXPECT_EQ((CivilDate{1970, 1, 1}).days_since_epoch(), 0);
}

TEST(Date, AgeInWholeYears) {
  EXPECT_EQ(age_in_years({2010, 11, 15}, {2025, 11, 15}), 15);  // birthday counts
  EXPECT_EQ(age_in_years({2010, 11, 16}, {2025, 11, 15}), 14);
  // 29 February birthdays fall on 1 March in common years.
  EXPECT_EQ(age_in_years({2012, 2, 29}, {2025, 2, 28}), 12);
  EXPECT_EQ(age_in_years({2012, 2, 29}, {2025, 3, 1}), 13);
  EXPECT_EQ(age_in_years({2012, 2, 29}, {2024, 2, 29}), 12);
}

TEST(Date, SchoolTerms) {
  EXPECT_EQ(term_of({2025, 11, 15}), (SchoolTerm{2025, TermSeason::kAutumn}));
  EXPECT_EQ(term_of({2025, 9, 1}), (SchoolTerm{2025, TermSeason::kAutumn}));
  EXPECT_EQ(term_of({2026, 1, 31}), (SchoolTerm{2025, TermSeason::kAutumn}));
  EXPECT_EQ(term_of({2026, 2, 1}), (SchoolTerm{2025, TermSeason::kSpring}));
  EXPECT_EQ(term_of({2026, 8, 31}), (SchoolTerm{2025, TermSeason::kSpring}));
  EXPECT_EQ(term_of({2025, 11, 15}).to_string(), "2025-2026 秋季学期");
}

}  // namespace
}  // namespace hutong::domain
