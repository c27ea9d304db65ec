// hutongd --check-config on broken configurations: each gets one precise error
// naming the file, the line, the key path, what was expected and what was found.
#include <gtest/gtest.h>

#include <fstream>

#include "journal/test_util.h"
#include "process_util.h"

namespace {

struct BrokenConfig {
  const char* name;
  const char* yaml;
  const char* expected;  // the error line must contain this
};

void PrintTo(const BrokenConfig& c, std::ostream* os) {
  *os << c.name;
}

constexpr const char* kGood = R"(hub:
  data_dir: /tmp/hutong-check
connectors:
  - name: counter
    plugin: test_source
    settings:
      total: 10
)";

class CheckConfig : public testing::TestWithParam<BrokenConfig> {};

hutong::testing::ProcessResult check(const std::string& yaml) {
  hutong::journal::testing::TempDir dir;
  std::string path = dir.file("hutong.yaml");
  std::ofstream(path) << yaml;
  return hutong::testing::run_command(std::string(HUTONGD) + " --check-config " + path + " 2>&1");
}

TEST(CheckConfigGood, AcceptsAValidConfiguration) {
  auto r = check(kGood);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("ok:"), std::string::npos) << r.out;
}

TEST_P(CheckConfig, PrintsOnePreciseError) {
  const BrokenConfig& c = GetParam();
  auto r = check(c.yaml);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(c.expected), std::string::npos) << "expected \"" << c.expected << "\" in:\n"
                                                       << r.out;
  EXPECT_NE(r.out.find("1 problem(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hutong.yaml:"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    TenBrokenConfigs, CheckConfig,
    testing::Values(
        BrokenConfig{"yaml_syntax", "hub:\n  data_dir: [unclosed\n",
                     "hutong.yaml:3: not valid YAML"},
        BrokenConfig{"unknown_top_level_key", "hub:\n  data_dir: /tmp/x\nconectors: []\n",
                     "hutong.yaml:3: conectors: unknown key; expected one of: hub, connectors"},
        BrokenConfig{"missing_data_dir", "hub:\n  log_level: info\n", "hub.data_dir: is required"},
        BrokenConfig{"misspelled_connector_key",
                     "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: "
                     "test_source\n    isolaton: process\n",
                     "hutong.yaml:6: connectors[0].isolaton: unknown key"},
        BrokenConfig{"bad_isolation",
                     "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: "
                     "test_source\n    isolation: proces\n",
                     "connectors[0].isolation: expected process or in_process, found \"proces\""},
        BrokenConfig{
            "duplicate_connector_name",
            "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: test_source\n  - "
            "name: a\n    plugin: test_source\n",
            "hutong.yaml:6: connectors[1].name: \"a\" is already the name of an earlier connector"},
        BrokenConfig{
            "plugin_not_found",
            "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: no_such_plugin\n",
            "connectors[0].plugin: plugin.load: plugin"},
        BrokenConfig{"unknown_plugin_setting",
                     "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: "
                     "test_source\n    settings:\n      totl: 5\n",
                     "connectors[0].settings.totl: plugin test_source has no setting \"totl\"; it "
                     "accepts: total"},
        BrokenConfig{"setting_of_the_wrong_type",
                     "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: "
                     "test_source\n    settings:\n      total: many\n",
                     "connectors[0].settings.total: expected a whole number, found \"many\""},
        BrokenConfig{"bad_durability",
                     "hub:\n  data_dir: /tmp/x\n  journal:\n    durability: sometimes\n",
                     "hutong.yaml:4: hub.journal.durability: expected none, group or each, found "
                     "\"sometimes\""},
        BrokenConfig{
            "number_out_of_range",
            "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: test_source\n    "
            "batch_records: -5\n",
            "connectors[0].batch_records: expected a whole number from 1 to 100000, found \"-5\""},
        BrokenConfig{"plugin_of_another_abi",
                     "hub:\n  data_dir: /tmp/x\nconnectors:\n  - name: a\n    plugin: bad_abi\n",
                     "was built for plugin ABI version 99; this hub loads versions 1 to 2"},
        BrokenConfig{"department_unknown_topic",
                     "hub:\n  data_dir: /tmp/x\nfeed:\n  endpoint: tcp://127.0.0.1:7450\n"
                     "departments:\n  - name: edu\n    topics: [education.enrolment]\n",
                     "hutong.yaml:6: departments[0].topics[0]: no record type has topic "
                     "\"education.enrolment\"; known topics: "},
        BrokenConfig{"department_unknown_field",
                     "hub:\n  data_dir: /tmp/x\nfeed:\n  endpoint: tcp://127.0.0.1:7450\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n"
                     "    fields:\n      \"education.enrollment:guardian.mobile\": drop\n",
                     "departments[0].fields.education.enrollment:guardian.mobile: the record of "
                     "topic \"education.enrollment\" has no field \"guardian.mobile\""},
        BrokenConfig{"department_unknown_action",
                     "hub:\n  data_dir: /tmp/x\nfeed:\n  endpoint: tcp://127.0.0.1:7450\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n"
                     "    fields: {phone: blur}\n",
                     "hutong.yaml:8: departments[0].fields.phone: expected pass, mask, hash or "
                     "drop, found \"blur\""},
        BrokenConfig{"render_cache_too_large",
                     "hub:\n  data_dir: /tmp/x\nfeed:\n  endpoint: tcp://127.0.0.1:7450\n"
                     "  render_cache_mb: 100000\n",
                     "feed.render_cache_mb: expected a whole number from 0 to 4096, found "
                     "\"100000\""},
        BrokenConfig{"departments_without_feed",
                     "hub:\n  data_dir: /tmp/x\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n",
                     "feed.endpoint: departments are configured but neither the feed (no "
                     "endpoint) nor a sink connector serves them"},
        BrokenConfig{"sink_of_an_unknown_department",
                     "hub:\n  data_dir: /tmp/x\nfeed:\n  endpoint: tcp://127.0.0.1:7450\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n"
                     "connectors:\n  - name: s\n    plugin: test_sink\n    department: fund\n"
                     "    settings:\n      file: /tmp/x/s\n",
                     "hutong.yaml:9: connectors[0].department: expected a department configured "
                     "under departments: (edu), found \"fund\""},
        BrokenConfig{"sink_topic_outside_its_department",
                     "hub:\n  data_dir: /tmp/x\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n"
                     "connectors:\n  - name: s\n    plugin: test_sink\n    department: edu\n"
                     "    topics: [fund.grant]\n    settings:\n      file: /tmp/x/s\n",
                     "connectors[0].topics: department edu may not read \"fund.grant\""},
        BrokenConfig{"source_with_a_department",
                     "hub:\n  data_dir: /tmp/x\n"
                     "departments:\n  - name: edu\n    topics: [education.enrollment]\n"
                     "connectors:\n  - name: s\n    plugin: test_source\n    department: edu\n",
                     "connectors[0].department: only sink connectors deliver to a department; "
                     "plugin test_source is a source"}),
    [](const testing::TestParamInfo<BrokenConfig>& info) { return std::string(info.param.name); });

}  // namespace
