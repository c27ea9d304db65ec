// poverty_snapshot on the sample deliveries: monthly full snapshots become
// upserts and deletes; the half-size November export is held until an operator
// confirms it, and then applied; the registry in the journal is, after each
// step, what the applied snapshot says (computed here independently).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "domain/date.h"
#include "domain/encoding.h"
#include "domain/resident_id.h"
#include "hub_process.h"
#include "journal/envelope_record.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "journal_inspect.h"

namespace {

namespace fs = std::filesystem;
using hutong::testing::HubProcess;

const std::string kSamples = std::string(HUTONG_SOURCE_DIR) + "/tests/data/poverty";

struct Expected {
  std::set<std::string> accepted;  // 户编号|人编号 of rows with 21 cells and a usable ID
  std::set<std::string> rejected;  // named by rows that are not
};

// Reads a snapshot the simple way (the samples hold no quoted cells).
Expected read_snapshot(const std::string& file) {
  std::ifstream in(kSamples + "/" + file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  hutong::domain::TextDecoder decoder(bytes);
  Expected out;
  std::istringstream lines(bytes.substr(decoder.bom_size()));
  bool header = true;
  uint64_t row = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto text = decoder.decode(line, ++row, 0);
    if (!text || header) {
      header = false;
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream split(text->text);
    for (std::string cell; std::getline(split, cell, ',');)
      cells.push_back(cell);
    if (!text->text.empty() && text->text.back() == ',') cells.emplace_back();
    if (cells.size() < 8) continue;
    std::string key = cells[6] + "|" + cells[7];
    bool ok = cells.size() == 21 &&
              hutong::domain::normalize_resident_id(cells[9], hutong::domain::today());
    (ok ? out.accepted : out.rejected).insert(key);
  }
  return out;
}

std::set<std::string> registry(const std::string& data_dir) {
  hutong::journal::JournalOptions ro;
  ro.directory = data_dir + "/journal";
  ro.read_only = true;
  std::set<std::string> keys;
  auto journal = hutong::journal::Journal::open(ro);
  if (!journal) return keys;
  auto reader = (*journal)->read_from(0, {"poverty.member"});
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    if ((*r)->op == hutong::journal::Op::kDelete)
      keys.erase(std::string((*r)->key));
    else
      keys.insert(std::string((*r)->key));
  }
  return keys;
}

bool wait_for_registry(const std::string& data_dir, const std::set<std::string>& want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (registry(data_dir) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A drop folder under `dir` holding the sample snapshots of `months`.
std::string drop_samples(const std::string& dir, std::initializer_list<const char*> months) {
  std::string drop = dir + "/drop";
  fs::create_directories(drop);
  for (const char* month : months) {
    std::string name = std::string("建档立卡人口_") + month + ".csv";
    fs::copy_file(kSamples + "/" + name, drop + "/" + name);
  }
  return drop;
}

TEST(PovertySnapshot, SnapshotsBecomeChangesAndAPartialExportWaitsForConfirmation) {
  hutong::journal::testing::TempDir dir;
  std::string drop = drop_samples(dir.path(), {"202509", "202510"});
  HubProcess hub(dir.path(), "hub:\n  data_dir: " + dir.path() + R"(/data
connectors:
  - name: poverty
    plugin: poverty_snapshot
    poll_interval_ms: 20
    restart_backoff_ms: 20
    max_backoff_ms: 100
    settings:
      folder: )" + drop + "\n");
  ASSERT_TRUE(hub.wait_ready()) << hub.log();

  Expected september = read_snapshot("建档立卡人口_202509.csv");
  Expected october = read_snapshot("建档立卡人口_202510.csv");
  Expected november = read_snapshot("建档立卡人口_202511.csv");
  // Members whose October row is rejected keep their September version.
  std::set<std::string> after_october = october.accepted;
  for (const std::string& key : october.rejected) {
    if (september.accepted.contains(key)) after_october.insert(key);
  }
  ASSERT_TRUE(wait_for_registry(hub.data_dir(), after_october)) << hub.log();

  // The half-size November export: held, nothing changes.
  // Delivered by rename, as the office's system does (never read half-written).
  fs::copy_file(kSamples + "/建档立卡人口_202511.csv", drop + "/.建档立卡人口_202511.csv.part");
  fs::rename(drop + "/.建档立卡人口_202511.csv.part", drop + "/建档立卡人口_202511.csv");
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["poverty"]["last_error"].get<std::string>().find("snapshot.held") != std::string::npos;
  })) << hub.log();
  std::string error = hub.status()["poverty"]["last_error"];
  EXPECT_NE(error.find("建档立卡人口_202511.csv would remove"), std::string::npos) << error;
  EXPECT_NE(error.find("hutong connector confirm"), std::string::npos) << error;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(registry(hub.data_dir()), after_october) << "a held snapshot changes nothing";
  // Shown as waiting for an operator, not as broken; `wait` does not wait for it.
  EXPECT_EQ(hub.status()["poverty"]["state"], "held") << hub.status().dump();
  auto waited = hub.cli("connector wait --timeout 60");
  EXPECT_EQ(waited.exit_code, 3) << waited.out;
  EXPECT_NE(waited.out.find("poverty: held (plugin.held: poll: snapshot.held"), std::string::npos)
      << waited.out;

  // Confirmed: applied, deletes included.
  auto confirm = hub.cli("connector confirm poverty 建档立卡人口_202511.csv");
  ASSERT_EQ(confirm.exit_code, 0) << confirm.out;
  std::set<std::string> after_november = november.accepted;
  for (const std::string& key : november.rejected) {
    if (after_october.contains(key)) after_november.insert(key);
  }
  ASSERT_LT(after_november.size(), after_october.size() * 8 / 10);
  ASSERT_TRUE(wait_for_registry(hub.data_dir(), after_november)) << [&] {
    std::string diff;
    for (const auto& k : registry(hub.data_dir()))
      if (!after_november.contains(k)) diff += " +" + k;
    for (const auto& k : after_november)
      if (!registry(hub.data_dir()).contains(k)) diff += " -" + k;
    return diff;
  }();
  EXPECT_TRUE(
      hub.wait_for([](const nlohmann::json& s) { return s["poverty"]["state"] == "running"; }));

  // The confirmation survives a restart; nothing is applied twice.
  hub.kill(SIGKILL);
  hub.start();
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(registry(hub.data_dir()), after_november);
  EXPECT_EQ(hub.status()["poverty"]["state"], "running") << hub.status().dump();

  // Rows the samples reject are in quarantine with their reasons.
  if (!october.rejected.empty() || !november.rejected.empty()) {
    auto list = hub.cli("quarantine list");
    EXPECT_NE(list.out.find("建档立卡人口_"), std::string::npos) << list.out;
  }
}

}  // namespace

namespace {

// SIGKILL of the hub at random moments while snapshots are diffed a few
// members per poll: the journal ends with exactly the records of an
// uninterrupted run, in the same order.
TEST(PovertySnapshot, HubKillsDuringADiffChangeNothing) {
  auto run = [](int kills) {
    hutong::journal::testing::TempDir dir;
    std::string drop = drop_samples(dir.path(), {"202509", "202510"});
    HubProcess hub(dir.path(), "hub:\n  data_dir: " + dir.path() + R"(/data
connectors:
  - name: poverty
    plugin: poverty_snapshot
    poll_interval_ms: 5
    batch_records: 3
    settings:
      folder: )" + drop + "\n");
    std::mt19937 rng(11);
    EXPECT_TRUE(hub.kill_at_random_moments(kills, rng)) << hub.log();
    EXPECT_TRUE(hub.wait_for([](const nlohmann::json& s) {
      return s["poverty"]["last_position"].get<std::string>().starts_with(
          "建档立卡人口_202510.csv||0|");
    })) << hub.log();
    return hutong::testing::journal_sequence(hub.data_dir(), "poverty.member");
  };
  auto reference = run(0);
  ASSERT_GT(reference.size(), 100u);
  auto killed = run(10);
  EXPECT_EQ(killed.size(), reference.size());
  EXPECT_TRUE(killed == reference) << "not the uninterrupted run's records";
}

}  // namespace
