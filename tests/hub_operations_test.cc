// Operating a running hub: sinks that keep their own offset, configuration
// reloads that touch only what changed, and the quarantine end to end.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "hub_process.h"
#include "journal/test_util.h"

namespace {

using hutong::testing::HubProcess;

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

std::string hub_section(const std::string& dir) {
  return "hub:\n  data_dir: " + dir + "/data\n  journal:\n    durability: group\nconnectors:\n";
}

std::string source(const std::string& name, int total, const std::string& extra = "",
                   const std::string& isolation = "process") {
  return "  - name: " + name + "\n    plugin: test_source\n    isolation: " + isolation +
         "\n    poll_interval_ms: 20\n    settings:\n      total: " + std::to_string(total) +
         "\n      key_prefix: " + name + "-\n" + extra;
}

TEST(HubOperations, SinkGetsItsTopicsInOrderAndResumesFromItsOwnOffset) {
  hutong::journal::testing::TempDir dir;
  std::string out = dir.file("sink.tsv");
  std::string yaml = hub_section(dir.path()) + source("rows", 3000, "      reject_every: 100\n") +
                     "  - name: sink\n    plugin: test_sink\n    topics: [education.enrollment]\n"
                     "    settings:\n      file: " +
                     out + "\n";
  {
    HubProcess hub(dir.path(), yaml);
    ASSERT_TRUE(hub.wait_ready()) << hub.log();
    ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
      return s["sink"]["rows_read"].get<uint64_t>() > 1000;
    })) << hub.status().dump(2);
    hub.kill(SIGKILL);  // in the middle, without warning
    HubProcess again(dir.path(), yaml);
    ASSERT_TRUE(again.wait_ready()) << again.log();
    ASSERT_TRUE(again.wait_for([&](const nlohmann::json&) { return lines_of(out).size() >= 2970; }))
        << again.status().dump(2);
    again.kill(SIGTERM);
  }
  std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 2970u);  // 3000 rows, 30 rejected into quarantine (not its topic)
  uint64_t previous = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    uint64_t offset = std::stoull(lines[i].substr(0, lines[i].find('\t')));
    if (i > 0) {
      ASSERT_GT(offset, previous) << "line " << i << " repeats or goes back";
    }
    previous = offset;
    ASSERT_NE(lines[i].find("\teducation.enrollment\trows-"), std::string::npos) << lines[i];
  }
}

TEST(HubOperations, ReloadTouchesOnlyWhatChanged) {
  hutong::journal::testing::TempDir dir;
  std::string steady = source("steady", 100000000, "      per_poll: 50\n");
  HubProcess hub(dir.path(), hub_section(dir.path()) + steady + source("leaving", 100000000));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["steady"]["accepted"].get<uint64_t>() > 0 &&
           s["leaving"]["accepted"].get<uint64_t>() > 0;
  }));

  // SIGHUP: one connector removed, one added, the steady one untouched.
  std::ofstream(hub.config_path()) << hub_section(dir.path()) + steady + source("arriving", 500);
  ::kill(hub.pid(), SIGHUP);
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return !s.contains("leaving") && s.contains("arriving") &&
           s["arriving"]["accepted"].get<uint64_t>() == 500;
  })) << hub.status().dump(2);
  uint64_t steady_before = hub.status()["steady"]["accepted"].get<uint64_t>();
  EXPECT_EQ(hub.status()["steady"]["restarts"].get<uint64_t>(), 0u);

  // Through the control channel: a broken configuration changes nothing...
  std::ofstream(hub.config_path())
      << hub_section(dir.path()) + steady +
             "  - name: arriving\n    plugin: test_source\n    isolation: sideways\n";
  auto refused = hub.cli("connector reload");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("connectors[1].isolation: expected process or in_process"),
            std::string::npos)
      << refused.out;
  EXPECT_TRUE(hub.status().contains("arriving"));

  // ...a reconfigured connector restarts with its new settings, from its position.
  std::ofstream(hub.config_path()) << hub_section(dir.path()) + steady + source("arriving", 800);
  auto reloaded = hub.cli("connector reload");
  EXPECT_EQ(reloaded.exit_code, 0) << reloaded.out;
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["arriving"]["last_position"] == "800";
  })) << hub.status().dump(2);
  EXPECT_EQ(hub.status()["arriving"]["accepted"].get<uint64_t>(), 300u);  // rows 500..799 only
  nlohmann::json s = hub.status();
  EXPECT_EQ(s["steady"]["restarts"].get<uint64_t>(), 0u);
  EXPECT_GT(s["steady"]["accepted"].get<uint64_t>(), steady_before);  // delivering all along
  hub.kill(SIGTERM);
}

TEST(HubOperations, ReloadUpgradesAConnectorWhosePluginFileChanged) {
  hutong::journal::testing::TempDir dir;
  std::string plugins =
      std::string(HUTONGD).substr(0, std::string(HUTONGD).rfind('/')) + "/../lib/hutong/plugins";
  std::string copy = dir.file("libupgraded.so");
  std::filesystem::copy_file(plugins + "/libtest_source.so", copy);
  std::string upgraded =
      "  - name: upgraded\n    plugin: " + copy +
      "\n    poll_interval_ms: 20\n    settings:\n      total: 100000000\n      per_poll: 20\n"
      "      key_prefix: up-\n";
  std::string yaml =
      hub_section(dir.path()) + source("steady", 100000000, "      per_poll: 20\n") + upgraded;
  HubProcess hub(dir.path(), yaml);
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) { return s["upgraded"]["accepted"].get<uint64_t>() > 0; }));
  // A new build of the plugin replaces the file (by rename, as install(1) does: a
  // library in use is never rewritten in place); the configuration is the same.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::filesystem::copy_file(plugins + "/libtest_source.so", copy + ".new");
  std::filesystem::rename(copy + ".new", copy);
  auto reloaded = hub.cli("connector reload");
  EXPECT_EQ(reloaded.exit_code, 0) << reloaded.out;
  ASSERT_TRUE(
      hub.wait_for([](const nlohmann::json& s) { return s["upgraded"]["state"] == "running"; }));
  std::string log = hub.log();
  EXPECT_NE(log.find("reload: stopping connector upgraded"), std::string::npos) << log;
  EXPECT_NE(log.find("reload: starting connector upgraded"), std::string::npos) << log;
  EXPECT_EQ(log.find("reload: stopping connector steady"), std::string::npos) << log;
  EXPECT_EQ(hub.status()["steady"]["restarts"].get<uint64_t>(), 0u);
  hub.kill(SIGTERM);
}

// The disk fills up under a streaming connector: the connector fails with the
// journal's disk-full error and keeps retrying; once there is room again it
// resumes from its last kept position, and every row is in the journal once.
TEST(HubOperations, DiskFullStopsIngestUntilThereIsRoomAgain) {
  hutong::journal::testing::TempDir dir;
  std::string small = dir.file("small");
  std::filesystem::create_directory(small);
  if (::mount("hutong-test", small.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP()
        << "cannot mount a small tmpfs here; the journal's fault-seam tests cover the logic";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  std::string yaml =
      "hub:\n  data_dir: " + small +
      "/data\n  runner: " + std::string(HUTONGD).substr(0, std::string(HUTONGD).rfind('/')) +
      "/hutong-runner\nconnectors:\n" +
      source("rows", 20000, "      payload_bytes: 300\n      per_poll: 200\n", "in_process") +
      "    restart_backoff_ms: 20\n    max_backoff_ms: 100\n";
  HubProcess hub(dir.path(), yaml, small + "/data");
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["rows"]["last_error"].get<std::string>().find("journal.disk_full") !=
           std::string::npos;
  })) << hub.status().dump(2)
      << hub.log();
  uint64_t stuck = hub.status()["rows"]["accepted"].get<uint64_t>();
  EXPECT_LT(stuck, 20000u);
  ASSERT_EQ(::mount("hutong-test", small.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0);
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["rows"]["last_position"] == "20000";
  })) << hub.status().dump(2);
  hub.kill(SIGTERM);
  auto dump = hutong::testing::run_command(std::string(HUTONG_CLI) + " journal dump " + small +
                                           "/data/journal --topic education.enrollment");
  std::set<std::string> keys;
  size_t lines = 0;
  std::istringstream in(dump.out);
  for (std::string line; std::getline(in, line); ++lines) {
    auto row = nlohmann::json::parse(line);
    ASSERT_TRUE(keys.insert(row["key"].get<std::string>()).second) << "twice: " << row["key"];
  }
  EXPECT_EQ(lines, 20000u);
}

TEST(HubOperations, QuarantineListShowReplay) {
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(),
                 hub_section(dir.path()) + source("rows", 1000, "      reject_every: 100\n"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) { return s["rows"]["quarantined"].get<uint64_t>() == 10; }));

  auto list = hub.cli("quarantine list");
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("rows|counter|101\tid.checksum\trow 99 has a wrong check character"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("10 row(s) in quarantine"), std::string::npos) << list.out;

  auto show = hub.cli("quarantine show 'rows|counter|101'");
  ASSERT_EQ(show.exit_code, 0) << show.out;
  EXPECT_NE(show.out.find("\"reason_code\": \"id.checksum\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"field\": \"身份证件号\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("original as text: G99,bad id"), std::string::npos) << show.out;

  auto replay = hub.cli("quarantine replay 'rows|counter|101'");
  EXPECT_EQ(replay.exit_code, 0) << replay.out;
  EXPECT_NE(replay.out.find("left quarantine"), std::string::npos) << replay.out;
  auto after = hub.cli("quarantine list");
  EXPECT_NE(after.out.find("9 row(s) in quarantine"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find("rows|counter|101\t"), std::string::npos) << after.out;
  auto dump =
      hutong::testing::run_command(std::string(HUTONG_CLI) + " journal dump " + hub.data_dir() +
                                   "/journal --topic education.enrollment");
  EXPECT_NE(dump.out.find("\"key\":\"replayed-101\""), std::string::npos);

  EXPECT_EQ(hub.cli("quarantine show nothing-here").exit_code, 1);
  hub.kill(SIGTERM);
}

TEST(HubOperations, ARowRejectedAgainOnReplayStaysInQuarantine) {
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(),
                 hub_section(dir.path()) +
                     source("rows", 1000, "      reject_every: 100\n      replay_fixed: false\n"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) { return s["rows"]["quarantined"].get<uint64_t>() == 10; }));
  // Rejected again for the same reason: the same entry, counted as seen again.
  auto replay = hub.cli("quarantine replay 'rows|counter|101'");
  EXPECT_EQ(replay.exit_code, 1) << replay.out;
  EXPECT_NE(replay.out.find("still rejected"), std::string::npos) << replay.out;
  auto after = hub.cli("quarantine list");
  EXPECT_NE(after.out.find("10 row(s) in quarantine"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("rows|counter|101\t"), std::string::npos) << after.out;
  hub.kill(SIGTERM);
}

}  // namespace
