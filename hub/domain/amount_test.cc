#include "amount.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Amount, YuanTextToFen) {
  EXPECT_EQ(*parse_yuan_to_fen("1250.00"), 125000);
  EXPECT_EQ(*parse_yuan_to_fen("1,250.00"), 125000);
  EXPECT_EQ(*parse_yuan_to_fen("1,234,567.89"), 123456789);
  EXPECT_EQ(*parse_yuan_to_fen("625"), 62500);
  EXPECT_EQ(*parse_yuan_to_fen("0.5"), 50);
  EXPECT_EQ(*parse_yuan_to_fen(".05"), 5);
  EXPECT_EQ(*parse_yuan_to_fen("12.300"), 1230);
  EXPECT_EQ(*parse_yuan_to_fen(" ￥86.50 "), 8650);
  EXPECT_EQ(*parse_yuan_to_fen("¥1,000"), 100000);
  EXPECT_EQ(*parse_yuan_to_fen("500元"), 50000);
  EXPECT_EQ(*parse_yuan_to_fen("-500.00"), -50000);
  EXPECT_EQ(*parse_yuan_to_fen("１，２５０．００"), 125000);
  // Exact where a double would not be: 0.1 + 0.2 style values.
  EXPECT_EQ(*parse_yuan_to_fen("0.29"), 29);
  EXPECT_EQ(*parse_yuan_to_fen("92233720368547.75"), 9223372036854775);
}

TEST(Amount, RejectsWhatIsNotAnAmount) {
  for (const char* bad : {"", "abc", "12.345", "1,25.00", "12,50", ",125", "1..2", "1.2.3", "1 250",
                          "five", "-", ".", "99999999999999999999"}) {
    Result<int64_t> fen = parse_yuan_to_fen(bad);
    EXPECT_FALSE(fen) << bad;
    EXPECT_EQ(fen.code(), kValueAmount) << bad;
  }
}

TEST(Amount, SpreadsheetNumbersRoundToTheNearestFen) {
  EXPECT_EQ(*number_cell_yuan_to_fen("1250"), 125000);
  EXPECT_EQ(*number_cell_yuan_to_fen("1250.5"), 125050);
  EXPECT_EQ(*number_cell_yuan_to_fen("1250.4999999999998"), 125050);
  EXPECT_EQ(*number_cell_yuan_to_fen("0.30000000000000004"), 30);
  EXPECT_EQ(*number_cell_yuan_to_fen("1.25E3"), 125000);
  EXPECT_EQ(*number_cell_yuan_to_fen("1.2345E-2"), 1);
  EXPECT_EQ(*number_cell_yuan_to_fen("-3.005"), -301);
  EXPECT_FALSE(number_cell_yuan_to_fen("abc"));
  EXPECT_FALSE(number_cell_yuan_to_fen("1e999"));
}

TEST(Amount, Formats) {
  EXPECT_EQ(format_fen_as_yuan(125000), "1250.00");
  EXPECT_EQ(format_fen_as_yuan(5), "0.05");
  EXPECT_EQ(format_fen_as_yuan(-50), "-0.50");
}

}  // namespace
}  // namespace hutong::domain
