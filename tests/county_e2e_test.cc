// The county end to end: a generated county (hutong-county) in the four
// department systems' formats -> the four adapters -> hutongd -> every
// department's files sink (and the civil-affairs bureau's PostgreSQL sink),
// configured exactly as deploy/hutong.yaml ships (deploy/county-lib.sh points
// it at the test's folder, as the demo does). What each department holds is
// compared with what its policy says, computed here from the generator's truth
// files: the policy's rules applied by this test's own reading of them (field
// sensitivities from the schemas' annotations), not by the hub's code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "config/config.h"
#include "domain/privacy.h"
#include "domain/spreadsheet.h"
#include "hub_process.h"
#include "hutong/v1/envelope.pb.h"
#include "hutong/v1/options.pb.h"
#include "journal/test_util.h"
#include "sink_test_util.h"

namespace {

namespace fs = std::filesystem;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using hutong::testing::HubProcess;
using hutong::testing::run_command;
using hutong::testing::shell_quote;
using nlohmann::json;

const std::string kSource = HUTONG_SOURCE_DIR;

// Row -> column -> cell, by key.
using Table = std::map<std::string, std::map<std::string, std::string>>;

// The generated county, its databases and the configuration the demo uses.
class County {
 public:
  County(const std::string& dir, const std::string& options) : dir_(dir) {
    auto generated =
        run_command(std::string(HUTONG_COUNTY) + " --out " + dir + "/county " + options + " 2>&1");
    EXPECT_EQ(generated.exit_code, 0) << generated.out;
    auto set_up =
        run_command("bash -c " +
                    shell_quote(". " + kSource + "/deploy/county-lib.sh && county_database " + dir +
                                " >/dev/null && county_config " + dir + " " + dir +
                                "/county.yaml && echo \"pg_dir=$county_pg_dir\" && echo "
                                "\"admin=$county_admin\"") +
                    " 2>&1");
    EXPECT_EQ(set_up.exit_code, 0) << set_up.out;
    pg_dir_ = hutong::testing::line_value(set_up.out, "pg_dir=");
    admin_ = hutong::testing::line_value(set_up.out, "admin=");
    std::ifstream in(dir + "/county.yaml");
    std::stringstream text;
    text << in.rdbuf();
    yaml_ = text.str();
    ::setenv("PGPASSFILE", (dir + "/etc/pgpass").c_str(), 1);
  }
  ~County() {
    if (!pg_dir_.empty())
      run_command(kSource + "/deploy/pg-scratch.sh stop " + shell_quote(pg_dir_) + " 2>&1");
  }

  const std::string& yaml() const { return yaml_; }
  std::string psql(const std::string& db, const std::string& args) const {
    std::string conninfo = admin_;
    conninfo.replace(conninfo.find("dbname=postgres"), 15, "dbname=" + db);
    auto r = run_command("psql -X -q -A -t -v ON_ERROR_STOP=1 " + shell_quote(conninfo) + " " +
                         args + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.out;
  }
  std::string path(const std::string& relative) const { return dir_ + "/" + relative; }

 private:
  std::string dir_;
  std::string pg_dir_;
  std::string admin_;
  std::string yaml_;
};

// ---- The policy, as this test reads it --------------------------------------

const Descriptor* record_type(const std::string& topic) {
  const auto* payload = hutong::v1::Envelope::descriptor()->FindOneofByName("payload");
  for (int i = 0; i < payload->field_count(); ++i) {
    const Descriptor* type = payload->field(i)->message_type();
    if (type->options().GetExtension(hutong::v1::record).topic() == topic) return type;
  }
  return nullptr;
}

std::string class_of(int sensitivity) {
  switch (sensitivity) {
    case hutong::v1::SENSITIVITY_ID_NUMBER:
      return "id_number";
    case hutong::v1::SENSITIVITY_PHONE:
      return "phone";
    case hutong::v1::SENSITIVITY_BANK_ACCOUNT:
      return "bank_account";
    case hutong::v1::SENSITIVITY_NAME:
      return "name";
    case hutong::v1::SENSITIVITY_HEALTH:
      return "health";
  }
  return "";
}

using hutong::config::FieldAction;

// What the department's rules say for one field: its own rule, else its
// sensitivity class's, else pass for what is not sensitive and drop for what is.
FieldAction action_for(const hutong::config::DepartmentConfig& department, const std::string& topic,
                       const std::string& path, int sensitivity) {
  for (const auto& rule : department.fields)
    if (rule.selector == topic + ":" + path) return rule.action;
  if (sensitivity == 0) return FieldAction::kPass;
  for (const auto& rule : department.fields)
    if (rule.selector == class_of(sensitivity)) return rule.action;
  return FieldAction::kDrop;
}

void id_paths(const Descriptor* type, const std::string& prefix, std::vector<std::string>& out) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->options().GetExtension(hutong::v1::sensitivity) == hutong::v1::SENSITIVITY_ID_NUMBER)
      out.push_back(path);
    if (f->message_type() && f->message_type()->full_name().starts_with("hutong.v1."))
      id_paths(f->message_type(), path, out);
  }
}

// A key goes out as it is only when the ID numbers it is made of pass.
bool key_passes(const hutong::config::DepartmentConfig& department, const std::string& topic) {
  const Descriptor* type = record_type(topic);
  std::vector<std::string> all;
  id_paths(type, "", all);
  std::string recipe = type->options().GetExtension(hutong::v1::record).key();
  std::vector<std::string> named;
  for (const std::string& path : all)
    if (recipe.find(path) != std::string::npos) named.push_back(path);
  if (named.empty()) named = all;
  for (const std::string& path : named)
    if (action_for(department, topic, path, hutong::v1::SENSITIVITY_ID_NUMBER) !=
        FieldAction::kPass)
      return false;
  return true;
}

// "2025-01-22T08:44:18Z" -> "2025-01-22 16:44:18" (China Standard Time).
std::string cst(const std::string& rfc3339) {
  std::tm t{};
  strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &t);
  time_t at = timegm(&t) + 8 * 3600;
  std::tm local{};
  gmtime_r(&at, &local);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &local);
  return out;
}

// The truth's value of a record as the department's files show it, by column
// title: the fields' (title)s along the path (监护人 + 身份证件号), or the field
// names joined with "_" for a field without a title.
void flatten(const json& value, const Descriptor* type, const std::string& topic,
             const std::string& path_prefix, const std::string& column_prefix,
             const std::string& title_prefix, const hutong::config::DepartmentConfig& department,
             const hutong::domain::KeyedHasher& hasher, std::map<std::string, std::string>& out) {
  for (const auto& [name, v] : value.items()) {
    const FieldDescriptor* f = type->FindFieldByName(name);
    if (!f) continue;  // the truth's own markers (wal_only, birth_date_disagrees_with_id)
    std::string path = path_prefix.empty() ? name : path_prefix + "." + name;
    std::string column = column_prefix.empty() ? name : column_prefix + "_" + name;
    const std::string& title = f->options().GetExtension(hutong::v1::title);
    const Descriptor* nested = f->message_type();
    if (v.is_object() && nested) {
      flatten(v, nested, topic, path, column, title_prefix + title, department, hasher, out);
      continue;
    }
    std::string text;
    if (v.is_boolean())
      text = v.get<bool>() ? "是" : "否";
    else if (v.is_number())
      text = v.dump();
    else if (v.is_string())
      text = v.get<std::string>();
    else
      continue;  // repeated fields: none in the truth
    if (nested && nested->full_name() == "google.protobuf.Timestamp") text = cst(text);
    int sensitivity = f->options().GetExtension(hutong::v1::sensitivity);
    switch (action_for(department, topic, path, sensitivity)) {
      case FieldAction::kPass:
        break;
      case FieldAction::kDrop:
        continue;
      case FieldAction::kHash:
        text = hasher.hex_digest(text);
        break;
      case FieldAction::kMask:
        text = sensitivity == hutong::v1::SENSITIVITY_ID_NUMBER
                   ? hutong::domain::mask_resident_id(text)
               : sensitivity == hutong::v1::SENSITIVITY_PHONE ? hutong::domain::mask_phone(text)
               : sensitivity == hutong::v1::SENSITIVITY_NAME
                   ? hutong::domain::mask_name(text)
                   : hutong::domain::mask_middle(text, 0, 4);
        break;
    }
    out[title.empty() ? column : title_prefix + title] = hutong::domain::neutralize_formula(text);
  }
}

// What a department must hold of a topic: the truth, with its policy applied.
Table expected(const County& county, const std::string& truth_file, const std::string& topic,
               const hutong::config::DepartmentConfig& department,
               const hutong::domain::KeyedHasher& hasher) {
  Table table;
  std::ifstream in(county.path("county/truth/" + truth_file));
  EXPECT_TRUE(in.good()) << truth_file;
  bool pass_key = key_passes(department, topic);
  for (std::string line; std::getline(in, line);) {
    json row = json::parse(line);
    std::string key = row["key"].get<std::string>();
    auto& cells = table[pass_key ? key : hasher.hex_digest(key)];
    flatten(row["value"], record_type(topic), topic, "", "", "", department, hasher, cells);
  }
  return table;
}

// ---- What a department holds: its files sink's newest CSV of a topic ---------

Table held(const std::string& folder, const std::string& topic) {
  std::string newest;
  if (fs::exists(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with(topic + "_") && name.ends_with(".csv") && name > newest) newest = name;
    }
  }
  Table table;
  if (newest.empty()) return table;
  // GB18030, the sink's default, decoded with iconv.
  auto decoded = run_command("iconv -f GB18030 -t UTF-8 " + shell_quote(folder + "/" + newest));
  EXPECT_EQ(decoded.exit_code, 0) << newest;
  std::optional<hutong::testing::Rows> rows = hutong::testing::parse_csv(decoded.out);
  EXPECT_TRUE(rows && !rows->empty()) << newest << " is not a CSV file with a header";
  if (!rows || rows->empty()) return table;
  const std::vector<std::string>& header = rows->front();
  for (size_t r = 1; r < rows->size(); ++r) {
    const std::vector<std::string>& cells = (*rows)[r];
    auto& row = table[cells[0]];
    for (size_t i = 1; i < cells.size() && i < header.size(); ++i)
      row[header[i]] = cells[i];
  }
  return table;
}

// Every key the department must hold, and nothing else, with every value the
// truth states as the policy renders it.
void expect_same(const Table& want, const Table& have, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(want.size(), have.size());
  int reported = 0;
  for (const auto& [key, cells] : want) {
    auto row = have.find(key);
    if (row == have.end()) {
      if (reported++ < 10) ADD_FAILURE() << "missing key " << key;
      continue;
    }
    for (const auto& [column, value] : cells) {
      auto cell = row->second.find(column);
      std::string got = cell == row->second.end() ? "<no column>" : cell->second;
      if (got != value && reported++ < 10)
        ADD_FAILURE() << "key " << key << " column " << column << ": expected \"" << value
                      << "\", found \"" << got << "\"";
    }
  }
  for (const auto& [key, cells] : have) {
    if (!want.contains(key) && reported++ < 10) ADD_FAILURE() << "unexpected key " << key;
  }
}

struct Check {
  std::string truth_file;
  std::string topic;
};

// Compares every department's files with the truth. `civil`: ".initial" before
// the bureau's changes, "" after; `poverty`: "" (every snapshot applied).
void expect_departments_hold_the_truth(const County& county, const HubProcess& hub,
                                       const std::string& civil, const std::string& poverty) {
  hutong::config::LoadResult loaded = hutong::config::load_config(hub.config_path(), ".");
  ASSERT_TRUE(loaded.problems.empty());
  std::ifstream key_in(hub.data_dir() + "/keys/hash.key");
  std::string hash_key;
  std::getline(key_in, hash_key);
  auto hasher =
      *hutong::domain::KeyedHasher::create(hutong::domain::HashAlgorithm::kHmacSha256, hash_key);
  std::vector<Check> checks = {
      {"education.enrollment.jsonl", "education.enrollment"},
      {"education.aid.jsonl", "education.aid"},
      {"education.pairing.jsonl", "education.pairing"},
      {"poverty.member" + poverty + ".jsonl", "poverty.member"},
      {"fund.donation.jsonl", "fund.donation"},
      {"fund.grant.jsonl", "fund.grant"},
  };
  for (std::string table : {"dibao_household", "dibao_member", "tekun_person", "orphan_child"})
    checks.push_back({"civil_affairs." + table + civil + ".jsonl", "civil_affairs." + table});
  for (const auto& department : loaded.config.departments) {
    for (const Check& check : checks) {
      if (std::find(department.topics.begin(), department.topics.end(), check.topic) ==
          department.topics.end())
        continue;
      expect_same(expected(county, check.truth_file, check.topic, department, *hasher),
                  held(county.path("out/" + department.name), check.topic),
                  department.name + " " + check.topic);
    }
  }
}

// The keys the civil-affairs bureau's own database holds of a table.
std::set<std::string> keys_in_database(const County& county, const std::string& table) {
  std::string out =
      county.psql("civil_affairs_hutong", "-c " + shell_quote("SELECT _key FROM hutong." + table));
  std::set<std::string> keys;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) keys.insert(line);
  return keys;
}

std::set<std::string> truth_keys(const County& county, const std::string& file) {
  std::set<std::string> keys;
  std::ifstream in(county.path("county/truth/" + file));
  for (std::string line; std::getline(in, line);)
    keys.insert(json::parse(line)["key"].get<std::string>());
  return keys;
}

bool caught_up(HubProcess& hub) {
  auto r = hub.cli("connector wait --timeout 300");
  EXPECT_EQ(r.exit_code, 0) << r.out << hub.log();
  return r.exit_code == 0;
}

// Every kind of defect occurs in a county this size at this rate. (The
// partial-snapshot guard and its confirmation: tests/poverty_snapshot_test.cc.)
constexpr const char* kCounty = "--households 400 --seed 11 --defect-rate 0.05";

TEST(CountyEndToEnd, EachDepartmentHoldsWhatItsPolicySaysAndDeletionsReachEverySink) {
  hutong::journal::testing::TempDir dir;
  County county(dir.path(), kCounty);
  HubProcess hub(dir.path(), county.yaml(), dir.path() + "/data");
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(caught_up(hub));
  expect_departments_hold_the_truth(county, hub, ".initial", "");

  // Rows quarantined per source and reason: what the truth says a correct hub rejects.
  std::map<std::string, std::string> connector_of = {{"education", "education_files"},
                                                     {"poverty", "poverty_snapshot"},
                                                     {"civil_affairs", "civil_affairs"},
                                                     {"fund", "charity_fund"}};
  std::map<std::string, int> want_rejected, have_rejected;
  std::ifstream quarantine(county.path("county/truth/quarantine.jsonl"));
  for (std::string line; std::getline(quarantine, line);) {
    json q = json::parse(line);
    if (q["source"].get<std::string>().find("civil_affairs_changes") != std::string::npos)
      continue;  // not loaded yet
    ++want_rejected[connector_of[q["system"].get<std::string>()] + " " +
                    q["reason"].get<std::string>()];
  }
  // Re-deliveries are reported (held in quarantine as file.redelivered) and change nothing.
  std::ifstream files(county.path("county/truth/files.jsonl"));
  for (std::string line; std::getline(files, line);) {
    json f = json::parse(line);
    if (f.value("kind", "") == "redelivery")
      ++want_rejected[connector_of[f["system"].get<std::string>()] + " file.redelivered"];
  }
  auto listed = hub.cli("quarantine list --json");
  std::istringstream rows(listed.out);
  for (std::string line; std::getline(rows, line);) {
    json q = json::parse(line, nullptr, false);
    if (q.is_discarded()) continue;
    ++have_rejected[q["connector"].get<std::string>() + " " + q["reason_code"].get<std::string>()];
  }
  EXPECT_EQ(want_rejected, have_rejected);

  // The bureau updates rows and hard-deletes some: every subscribed sink follows.
  county.psql("civil_affairs",
              "-f " + shell_quote(county.path("county/civil_affairs/civil_affairs_changes.sql")));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a key reconciliation (every 1 s)
  ASSERT_TRUE(caught_up(hub));
  expect_departments_hold_the_truth(county, hub, "", "");
  size_t deleted = 0;
  for (std::string table : {"dibao_household", "dibao_member", "tekun_person", "orphan_child"}) {
    std::set<std::string> initial = truth_keys(county, "civil_affairs." + table + ".initial.jsonl");
    std::set<std::string> now = truth_keys(county, "civil_affairs." + table + ".jsonl");
    EXPECT_EQ(keys_in_database(county, "civil_affairs_" + table), now) << table;
    deleted += std::count_if(initial.begin(), initial.end(),
                             [&](const std::string& k) { return !now.contains(k); });
  }
  EXPECT_GT(deleted, 0u) << "the bureau's changes hard-delete rows";

  // One more hard delete: a 低保 member, gone from every department that reads
  // members (its files) and from the bureau's own database.
  std::string member = *truth_keys(county, "civil_affairs.dibao_member.jsonl").begin();
  std::string household = member.substr(0, member.find('|'));
  std::string id_no = member.substr(member.find('|') + 1);
  county.psql("civil_affairs",
              "-c " + shell_quote("DELETE FROM dibao_member WHERE household_id = '" + household +
                                  "' AND id_no = '" + id_no + "'"));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(caught_up(hub));
  EXPECT_FALSE(keys_in_database(county, "civil_affairs_dibao_member").contains(member));
  for (std::string department : {"education", "civil_affairs"}) {
    Table files = held(county.path("out/" + department), "civil_affairs.dibao_member");
    EXPECT_FALSE(files.empty());
    EXPECT_FALSE(files.contains(member)) << department;
  }
}

TEST(CountyEndToEnd, AHubKilledDuringIngestEndsWithTheSameDepartmentFiles) {
  hutong::journal::testing::TempDir dir;
  County county(dir.path(), kCounty);
  HubProcess hub(dir.path(), county.yaml(), dir.path() + "/data");
  std::mt19937 rng(20251115);
  ASSERT_TRUE(hub.kill_at_random_moments(12, rng)) << hub.log();
  ASSERT_TRUE(caught_up(hub));
  expect_departments_hold_the_truth(county, hub, ".initial", "");
}

}  // namespace
