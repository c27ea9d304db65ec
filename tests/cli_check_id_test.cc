// hutong check-id, run as a process the way an operator runs it: one case per
// ID defect in the department-systems spec, each with its reason code.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "process_util.h"

namespace {

using hutong::testing::shell_quote;
using CliRun = hutong::testing::ProcessResult;

CliRun run(const std::string& args, const std::string& stdin_text = "") {
  return hutong::testing::run_command(std::string(HUTONG_CLI) + " " + args, stdin_text);
}

nlohmann::json check_one(const std::string& value) {
  CliRun r = run("check-id --json --reference-date 2025-11-15 -- " + shell_quote(value));
  EXPECT_EQ(r.exit_code, r.out.find("\"valid\":true") != std::string::npos ? 0 : 1) << r.out;
  return nlohmann::json::parse(r.out);
}

TEST(CheckId, OfficialExamplesPass) {
  CliRun r = run("check-id --reference-date 2025-11-15 11010519491231002X 440524188001010014");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(
      r.out.find(
          "11010519491231002X\tok\t11010519491231002X\tbirth 1949-12-31\tfemale\tarea 110105"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("birth 1880-01-01\tmale\tarea 440524"), std::string::npos) << r.out;
}

struct DefectCase {
  const char* defect;
  const char* value;
  const char* expected;  // normalized ID or reason code
};

void PrintTo(const DefectCase& c, std::ostream* os) {
  *os << c.defect;
}

class CheckIdDefects : public testing::TestWithParam<DefectCase> {};

TEST_P(CheckIdDefects, GivesTheRightAnswer) {
  const DefectCase& c = GetParam();
  nlohmann::json row = check_one(c.value);
  if (row["valid"].get<bool>()) {
    EXPECT_EQ(row["id"], c.expected) << row.dump();
  } else {
    EXPECT_EQ(row["code"], c.expected) << row.dump();
    EXPECT_FALSE(row["message"].get<std::string>().empty());
  }
}

// Every ID defect of "Defects seen in real deliveries".
INSTANTIATE_TEST_SUITE_P(
    SpecDefects, CheckIdDefects,
    testing::Values(DefectCase{"wrong_check_character", "610523201510081232", "id.checksum"},
                    DefectCase{"lower_case_x", "11010519491231002x", "11010519491231002X"},
                    DefectCase{"full_width_digits", "６１０５２３２０１５１００８１２３１",
                               "610523201510081231"},
                    DefectCase{"full_width_x", "11010519491231002Ｘ", "11010519491231002X"},
                    DefectCase{"legacy_15_digits", "610523650101123", "610523196501011238"},
                    DefectCase{"spaces", "  610523201510081231 ", "610523201510081231"},
                    DefectCase{"nbsp",
                               "\xC2\xA0"
                               "610523201510081231",
                               "610523201510081231"},
                    DefectCase{"ideographic_space", "610523201510081231\xE3\x80\x80",
                               "610523201510081231"},
                    DefectCase{"excel_scientific", "6.10523E+17", "id.scientific"},
                    DefectCase{"empty", "", "id.missing"},
                    DefectCase{"malformed", "61052320151008123", "id.malformed"},
                    DefectCase{"birth_date_not_real", "610523201513081234", "id.birth_date"},
                    DefectCase{"birth_date_future", "61052320251201001X", "id.birth_date"}),
    [](const testing::TestParamInfo<DefectCase>& info) { return std::string(info.param.defect); });

TEST(CheckId, ReadsValuesFromStandardInput) {
  CliRun r =
      run("check-id --json --reference-date 2025-11-15 -", "11010519491231002X\r\n6.10523E+17\n");
  EXPECT_EQ(r.exit_code, 1);
  std::istringstream lines(r.out);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(nlohmann::json::parse(first)["valid"], true);
  EXPECT_EQ(nlohmann::json::parse(second)["code"], "id.scientific");
}

TEST(CheckId, TextOutputNamesTheReason) {
  CliRun r = run("check-id --reference-date 2025-11-15 610523201510081232");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("id.checksum"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check character is 1"), std::string::npos) << r.out;
}

TEST(CheckId, UsageErrors) {
  EXPECT_EQ(run("check-id").exit_code, 2);
  EXPECT_EQ(run("check-id --bogus 1 2>&1").exit_code, 2);
  EXPECT_EQ(run("check-id --reference-date 2025-13-01 x 2>&1").exit_code, 2);
  EXPECT_EQ(run("no-such-command 2>&1").exit_code, 2);
}

}  // namespace
