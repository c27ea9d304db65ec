// Each faulty test plugin is handled as documented while a healthy connector
// keeps delivering: crashes and aborts restart the runner with backoff, a slow
// plugin is killed past its poll timeout, plugins that cannot load are refused
// with the file and the reason, bytes that are no record go to quarantine.
#include <gtest/gtest.h>

#include "hub_process.h"
#include "journal/test_util.h"

namespace {

using hutong::testing::HubProcess;

std::string config(const std::string& data_dir) {
  return "hub:\n  data_dir: " + data_dir + R"(
  journal:
    durability: group
connectors:
  - name: healthy
    plugin: test_source
    poll_interval_ms: 20
    settings:
      total: 100000000
      per_poll: 200
  - name: segfaults
    plugin: test_source
    restart_backoff_ms: 20
    max_backoff_ms: 100
    settings:
      total: 100000
      per_poll: 100
      crash_after: 300
      key_prefix: segv-
  - name: aborts
    plugin: test_source
    restart_backoff_ms: 20
    max_backoff_ms: 100
    settings:
      total: 100000
      per_poll: 100
      abort_after: 250
      key_prefix: abrt-
  - name: invalid_bytes
    plugin: test_source
    settings:
      total: 1000
      invalid_every: 10
      key_prefix: inv-
  - name: slow
    plugin: test_source
    poll_timeout_ms: 300
    restart_backoff_ms: 20
    max_backoff_ms: 100
    settings:
      sleep_ms: 5000
  - name: other_abi
    plugin: bad_abi
  - name: unresolved
    plugin: unresolved_symbol
  - name: not_a_plugin
    plugin: no_descriptor
)";
}

TEST(FaultyPlugins, AreHandledWhileAHealthyConnectorKeepsDelivering) {
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(), config(dir.path() + "/data"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();

  bool settled = hub.wait_for([](const nlohmann::json& s) {
    return s["segfaults"]["restarts"].get<uint64_t>() >= 2 &&
           s["aborts"]["restarts"].get<uint64_t>() >= 2 &&
           s["slow"]["restarts"].get<uint64_t>() >= 1 &&
           s["invalid_bytes"]["rows_read"].get<uint64_t>() == 1000 &&
           s["healthy"]["accepted"].get<uint64_t>() > 5000;
  });
  nlohmann::json s = hub.status();
  ASSERT_TRUE(settled) << s.dump(2) << "\n" << hub.log();

  // Crashing plugins: the runner's death is named, and each lifetime commits
  // what it read before the crash, so the connector makes progress.
  EXPECT_NE(s["segfaults"]["last_error"].get<std::string>().find("SIGSEGV"), std::string::npos)
      << s.dump(2);
  EXPECT_GE(s["segfaults"]["accepted"].get<uint64_t>(), 600u);
  EXPECT_NE(s["aborts"]["last_error"].get<std::string>().find("SIGABRT"), std::string::npos)
      << s.dump(2);
  EXPECT_NE(s["slow"]["last_error"].get<std::string>().find("poll_timeout_ms"), std::string::npos)
      << s.dump(2);
  // Bytes that are no record: quarantined, the rest accepted, the connector runs on.
  EXPECT_EQ(s["invalid_bytes"]["quarantined"].get<uint64_t>(), 100u);
  EXPECT_EQ(s["invalid_bytes"]["accepted"].get<uint64_t>(), 900u);
  EXPECT_EQ(s["invalid_bytes"]["state"], "running");
  // Plugins that cannot load: refused with the file and the reason.
  EXPECT_EQ(s["other_abi"]["state"], "failed");
  EXPECT_NE(s["other_abi"]["last_error"].get<std::string>().find(
                "libbad_abi.so was built for plugin ABI version 99"),
            std::string::npos);
  EXPECT_EQ(s["unresolved"]["state"], "failed");
  EXPECT_NE(s["unresolved"]["last_error"].get<std::string>().find(
                "undefined symbol: hutong_function_that_does_not_exist"),
            std::string::npos)
      << s["unresolved"]["last_error"];
  EXPECT_NE(s["not_a_plugin"]["last_error"].get<std::string>().find(
                "libno_descriptor.so exports no \"hutong_plugin\""),
            std::string::npos)
      << s["not_a_plugin"]["last_error"];

  // The healthy connector was never disturbed and keeps delivering.
  EXPECT_EQ(s["healthy"]["restarts"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["healthy"]["state"], "running");
  uint64_t before = s["healthy"]["accepted"].get<uint64_t>();
  EXPECT_TRUE(hub.wait_for([&](const nlohmann::json& now) {
    return now["healthy"]["accepted"].get<uint64_t>() > before;
  }));
  hub.kill(SIGTERM);
}

}  // namespace
