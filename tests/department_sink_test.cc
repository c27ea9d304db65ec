// Sink connectors that deliver to a department: the department's policy applies
// to what the sink receives (rows, masked/hashed/dropped fields, hashed keys),
// every delivery is in the audit trail, the sink is told when it has caught up,
// and it has its own state_dir. In process and through a runner alike.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "domain/privacy.h"
#include "hub_process.h"
#include "hutong/v1/education.pb.h"
#include "journal/test_util.h"
#include "plugins/synthetic_person.h"

namespace {

using hutong::testing::HubProcess;
using hutong::testing::run_command;

constexpr int kRows = 2000;

std::string config(const std::string& data_dir) {
  return "hub:\n  data_dir: " + data_dir + R"(
connectors:
  - name: roster
    plugin: test_source
    settings:
      total: ")" +
         std::to_string(kRows) + R"("
      per_poll: "256"
      personal: "true"
  - name: fund_in_process
    plugin: test_sink
    isolation: in_process
    department: charity
    poll_interval_ms: 100
    settings:
      file: )" +
         data_dir + R"(/../fund_in_process.tsv
      payloads: true
  - name: fund_runner
    plugin: test_sink
    department: charity
    poll_interval_ms: 100
    settings:
      file: )" +
         data_dir + R"(/../fund_runner.tsv
      payloads: true
departments:
  - name: charity
    topics: [education.enrollment]
    division_prefixes: ["610523"]
    fields:
      id_number: mask
      name: mask
      phone: drop
      "education.enrollment:national_student_number": hash
)";
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

TEST(DepartmentSink, ReceivesExactlyTheDepartmentsRowsWithItsPolicyAndIsAudited) {
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(), config(dir.path() + "/data"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s.contains("fund_runner") && s["fund_runner"]["accepted"].get<int>() == kRows / 2 &&
           s["fund_in_process"]["accepted"].get<int>() == kRows / 2;
  })) << hub.log();

  std::ifstream key_in(hub.data_dir() + "/keys/hash.key");
  std::string hash_key;
  std::getline(key_in, hash_key);
  auto hasher =
      *hutong::domain::KeyedHasher::create(hutong::domain::HashAlgorithm::kHmacSha256, hash_key);

  for (const std::string sink : {"fund_in_process", "fund_runner"}) {
    SCOPED_TRACE(sink);
    std::string path = dir.path() + "/" + sink + ".tsv";
    std::vector<std::string> lines = lines_of(path);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kRows / 2));
    for (int i = 0; i < kRows / 2; ++i) {
      using namespace hutong::testing;
      int n = 2 * i;  // the odd rows are another county's
      std::istringstream fields(lines[i]);
      std::string offset, topic, key, op, payload;
      std::getline(fields, offset, '\t');
      std::getline(fields, topic, '\t');
      std::getline(fields, key, '\t');
      std::getline(fields, op, '\t');
      std::getline(fields, payload, '\t');
      EXPECT_EQ(topic, "education.enrollment");
      std::string id = synthetic_student_id(n);
      ASSERT_EQ(key, hasher->hex_digest(id)) << "the key holds an ID: hashed";
      hutong::v1::StudentEnrollment e;
      ASSERT_TRUE(e.ParseFromString(from_hex(payload))) << lines[i];
      EXPECT_EQ(e.student().resident_id(), id.substr(0, 6) + "********" + id.substr(14));
      EXPECT_EQ(e.student().name(), hutong::domain::mask_name("学生" + std::to_string(n)));
      EXPECT_TRUE(e.guardian().phone().empty());
      EXPECT_EQ(e.national_student_number(), hasher->hex_digest("G" + id));
      EXPECT_EQ(e.hukou_division(), synthetic_division(n));
      // No value the fund may not see, in what the sink received.
      std::string bytes = from_hex(payload);
      for (const std::string& secret :
           {synthetic_student_id(n), synthetic_guardian_id(n), synthetic_phone(n)}) {
        ASSERT_EQ(bytes.find(secret), std::string::npos) << secret;
      }
    }
    // Told it caught up, in its own state_dir (default <data_dir>/connectors/<name>).
    EXPECT_TRUE(hub.wait_for([&](const nlohmann::json&) {
      return !lines_of(hub.data_dir() + "/connectors/" + sink + "/flushes").empty();
    }));
  }

  auto verify = hub.cli("audit verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_NE(verify.out.find("chain intact"), std::string::npos) << verify.out;
  auto list = hub.cli("audit list --department charity");
  std::map<std::string, uint64_t> audited;
  std::istringstream lines(list.out);
  for (std::string line; std::getline(lines, line);) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded()) continue;
    audited[entry["subscription"].get<std::string>()] += entry["records"].get<uint64_t>();
  }
  EXPECT_EQ(audited["sink:fund_in_process"], static_cast<uint64_t>(kRows / 2)) << list.out;
  EXPECT_EQ(audited["sink:fund_runner"], static_cast<uint64_t>(kRows / 2)) << list.out;
}

TEST(DepartmentSink, APolicyChangeRestartsTheSinkUnderTheNewPolicy) {
  hutong::journal::testing::TempDir dir;
  std::string yaml = config(dir.path() + "/data");
  HubProcess hub(dir.path(), yaml);
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s.contains("fund_runner") && s["fund_runner"]["accepted"].get<int>() == kRows / 2;
  })) << hub.log();
  // Names are now dropped for the fund. The sink is restarted under the new
  // policy; with its file gone it starts again from offset 0.
  size_t at = yaml.find("      name: mask\n");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 17, "      name: drop\n");
  std::ofstream(hub.config_path()) << yaml;
  std::filesystem::remove(dir.path() + "/fund_runner.tsv");
  auto reload = hub.cli("connector reload");
  ASSERT_EQ(reload.exit_code, 0) << reload.out;
  ASSERT_TRUE(hub.wait_for([&](const nlohmann::json&) {
    return lines_of(dir.path() + "/fund_runner.tsv").size() == static_cast<size_t>(kRows / 2);
  })) << hub.log();
  for (const std::string& line : lines_of(dir.path() + "/fund_runner.tsv")) {
    hutong::v1::StudentEnrollment e;
    ASSERT_TRUE(e.ParseFromString(from_hex(line.substr(line.rfind('\t') + 1))));
    EXPECT_TRUE(e.student().name().empty()) << line;
    EXPECT_TRUE(e.guardian().name().empty()) << line;
    EXPECT_FALSE(e.student().resident_id().empty()) << "still masked, not dropped";
  }
  EXPECT_NE(hub.log().find("reload: stopping connector fund_runner"), std::string::npos)
      << hub.log();
  EXPECT_EQ(hub.log().find("reload: stopping connector roster"), std::string::npos)
      << "the source's configuration did not change";
}

TEST(DepartmentSink, WaitAndSummaryReportWhatCameInWhatWasHeldAndWhatEachDepartmentGot) {
  hutong::journal::testing::TempDir dir;
  std::string yaml = config(dir.path() + "/data");
  size_t at = yaml.find("      personal: \"true\"\n");
  ASSERT_NE(at, std::string::npos);
  yaml.insert(at, "      reject_every: \"50\"\n");  // rows 49, 99, ...: id.checksum
  HubProcess hub(dir.path(), yaml);
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  auto waited = hub.cli("connector wait --timeout 120");
  ASSERT_EQ(waited.exit_code, 0) << waited.out << hub.log();
  EXPECT_NE(waited.out.find("caught up"), std::string::npos) << waited.out;

  auto r = hub.cli("summary --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  ASSERT_EQ(summary["sources"].size(), 1u) << r.out;
  const nlohmann::json& roster = summary["sources"][0];
  EXPECT_EQ(roster["name"], "roster");
  EXPECT_EQ(roster["read"].get<int>(), kRows);
  EXPECT_EQ(roster["quarantined"].get<int>(), kRows / 50);
  EXPECT_EQ(roster["accepted"].get<int>(), kRows - kRows / 50);
  EXPECT_EQ(roster["quarantine_held"]["id.checksum"].get<int>(), kRows / 50);
  // Every rejected row is odd (49, 99, ...), another county's: the fund's rows
  // are all there.
  for (const std::string sink : {"fund_in_process", "fund_runner"}) {
    size_t lines = lines_of(dir.path() + "/" + sink + ".tsv").size();
    EXPECT_EQ(lines, static_cast<size_t>(kRows / 2));
    EXPECT_EQ(summary["departments"]["charity"]["sink:" + sink]["records"].get<size_t>(), lines)
        << r.out;
  }
  ASSERT_EQ(summary["sinks"].size(), 2u) << r.out;
  for (const auto& sink : summary["sinks"])
    EXPECT_TRUE(sink["caught_up"].get<bool>()) << r.out;

  auto text = hub.cli("summary");
  EXPECT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("quarantine id.checksum"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("charity"), std::string::npos) << text.out;

  // A connector that cannot catch up is named at the timeout.
  hub.kill(SIGKILL);
  auto lost = hub.cli("connector wait --timeout 1");
  EXPECT_EQ(lost.exit_code, 1) << lost.out;
  EXPECT_NE(lost.out.find("not caught up after 1 s"), std::string::npos) << lost.out;
  auto offline = hub.cli("summary");
  EXPECT_EQ(offline.exit_code, 0) << offline.out;
  EXPECT_NE(offline.out.find("the hub is not running"), std::string::npos) << offline.out;
  EXPECT_NE(offline.out.find("quarantine id.checksum"), std::string::npos) << offline.out;
}

}  // namespace
