#include "spreadsheet.h"

#include <gtest/gtest.h>

namespace hutong::domain {
namespace {

TEST(Spreadsheet, NeutralizesFormulaInjection) {
  EXPECT_EQ(neutralize_formula("=HYPERLINK(\"http://x\",\"点击\")"),
            "'=HYPERLINK(\"http://x\",\"点击\")");
  EXPECT_EQ(neutralize_formula("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
  EXPECT_EQ(neutralize_formula("-2+3+cmd|' /C calc'!A0"), "'-2+3+cmd|' /C calc'!A0");
  EXPECT_EQ(neutralize_formula("@SUM(1,2)"), "'@SUM(1,2)");
  EXPECT_EQ(neutralize_formula("\t=1"), "'\t=1");
  EXPECT_EQ(neutralize_formula("\r=1"), "'\r=1");
  EXPECT_EQ(neutralize_formula("  =1+1"), "'  =1+1");
  EXPECT_EQ(neutralize_formula("＝1+1"), "'＝1+1");
}

TEST(Spreadsheet, LeavesOrdinaryTextAlone) {
  for (const char* ok : {"扶志 扶学", "张三", "-12.50", "+86", "-1,250.00", "", "a=b", "100%"}) {
    EXPECT_FALSE(is_formula_like(ok)) << ok;
    EXPECT_EQ(neutralize_formula(ok), ok);
  }
}

}  // namespace
}  // namespace hutong::domain
