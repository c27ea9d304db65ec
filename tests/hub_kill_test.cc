// SIGKILL of the hub, and separately of its runner, at random moments while a
// source streams 1 M rows: afterwards the journal holds every row exactly once.
#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "hub_process.h"
#include "journal/journal.h"
#include "journal/test_util.h"

namespace {

using hutong::testing::HubProcess;
// 1 M rows; the sanitizer preset, ~20x slower, streams fewer (HUTONG_KILL_TEST_ROWS).
const int kRows = std::getenv("HUTONG_KILL_TEST_ROWS")
                      ? std::atoi(std::getenv("HUTONG_KILL_TEST_ROWS"))
                      : 1'000'000;

std::string config(const std::string& data_dir) {
  return "hub:\n  data_dir: " + data_dir + R"(
  journal:
    durability: group
connectors:
  - name: stream
    plugin: test_source
    poll_interval_ms: 20
    restart_backoff_ms: 10
    max_backoff_ms: 50
    settings:
      total: )" +
         std::to_string(kRows) + R"(
      per_poll: 512
)";
}

// Every row exactly once, and the committed position at the end.
void expect_every_row_once(const std::string& data_dir) {
  hutong::journal::JournalOptions options;
  options.directory = data_dir + "/journal";
  options.read_only = true;
  auto journal = hutong::journal::Journal::open(options);
  ASSERT_TRUE(journal) << journal.status().to_string();
  std::vector<uint8_t> seen(kRows, 0);
  uint64_t records = 0;
  auto reader = (*journal)->read_from(0, {"education.enrollment"});
  for (;;) {
    auto r = reader->next();
    ASSERT_TRUE(r) << r.status().to_string();
    if (!*r) break;
    ++records;
    std::string key((*r)->key);
    ASSERT_TRUE(key.starts_with("row-")) << key;
    int row = std::stoi(key.substr(4));
    ASSERT_EQ(seen[row], 0) << "row " << row << " was journaled twice";
    seen[row] = 1;
  }
  EXPECT_EQ(records, static_cast<uint64_t>(kRows));
  EXPECT_TRUE((*journal)->verify().empty());
}

pid_t runner_of(pid_t hub) {
  DIR* proc = ::opendir("/proc");
  pid_t found = -1;
  while (dirent* e = ::readdir(proc)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close == std::string::npos || line.find("(hutong-runner)") == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == hub) found = pid;
  }
  ::closedir(proc);
  return found;
}

TEST(HubKill, SigkillOfTheHubAtRandomMomentsLosesAndDuplicatesNothing) {
  hutong::journal::testing::TempDir dir;
  std::mt19937 rng(42);
  HubProcess hub(dir.path(), config(dir.path() + "/data"));
  int kills = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(hub.wait_ready()) << hub.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 150));
    hub.kill(SIGKILL);
    ++kills;
    hub.start();
  }
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) {
        return s.contains("stream") && s["stream"]["last_position"] == std::to_string(kRows);
      },
      std::chrono::seconds(120)))
      << hub.status().dump(2);
  hub.kill(SIGTERM);
  EXPECT_EQ(kills, 20);
  expect_every_row_once(hub.data_dir());
}

TEST(HubKill, SigkillOfTheRunnerAtRandomMomentsLosesAndDuplicatesNothing) {
  hutong::journal::testing::TempDir dir;
  std::mt19937 rng(7);
  HubProcess hub(dir.path(), config(dir.path() + "/data"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  int kills = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (kills < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 80));
    pid_t runner = runner_of(hub.pid());
    if (runner <= 0) continue;  // being restarted
    ::kill(runner, SIGKILL);
    ++kills;
  }
  EXPECT_EQ(kills, 20);
  ASSERT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) { return s["stream"]["last_position"] == std::to_string(kRows); },
      std::chrono::seconds(120)))
      << hub.status().dump(2);
  nlohmann::json s = hub.status();
  EXPECT_GE(s["stream"]["restarts"].get<uint64_t>(), 1u);
  hub.kill(SIGTERM);
  expect_every_row_once(hub.data_dir());
}

}  // namespace
