// SIGKILL of the hub and of each subscriber at random moments while a source
// streams (acceptance: feeds 2): afterwards every subscriber holds the exact
// sequence of its allowed records, in journal order, with no gap; a record
// appears twice only across a crash, and then with the same offset.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <random>

#include "domain/privacy.h"
#include "hub_process.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "plugins/synthetic_person.h"

namespace {

using hutong::testing::HubProcess;
using hutong::testing::run_command;

// The sanitizer preset streams fewer rows (HUTONG_KILL_TEST_ROWS).
const int kRows = std::min(60'000, std::getenv("HUTONG_KILL_TEST_ROWS")
                                       ? std::atoi(std::getenv("HUTONG_KILL_TEST_ROWS"))
                                       : 60'000);

std::string config(const std::string& data_dir, const std::string& endpoint) {
  return "hub:\n  data_dir: " + data_dir + R"(
connectors:
  - name: roster
    plugin: test_source
    poll_interval_ms: 5
    restart_backoff_ms: 10
    settings:
      total: ")" +
         std::to_string(kRows) +
         R"("
      per_poll: "100"
      sleep_ms: "3"
      personal: "true"
feed:
  endpoint: )" +
         endpoint +
         R"(
  heartbeat_interval_ms: 100
  max_batch_records: 64
departments:
  - name: education
    topics: [education.enrollment]
    fields: {id_number: pass, name: pass, phone: mask}
  - name: charity
    topics: [education.enrollment]
    division_prefixes: ["610523"]
    fields: {id_number: mask, name: mask, phone: drop}
)";
}

class Subscriber {
 public:
  Subscriber(std::string key, std::string name, std::string output, size_t expected)
      : key_(std::move(key)),
        name_(std::move(name)),
        output_(std::move(output)),
        expected_(expected) {
    start();
  }
  ~Subscriber() { kill(); }
  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = output_ + ".log";
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::string expected = std::to_string(expected_);
      ::execl(FEED_SUBSCRIBER, FEED_SUBSCRIBER, key_.c_str(), name_.c_str(), output_.c_str(),
              expected.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Waits for the process to end by itself; its exit code.
  int wait(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  const std::string& output() const { return output_; }

 private:
  std::string key_, name_, output_;
  size_t expected_;
  pid_t pid_ = -1;
};

// The (offset, key) lines of a subscriber's file, checked: offsets only go
// back after a crash, and then to an offset already in the file.
std::vector<std::pair<uint64_t, std::string>> deduplicated(const std::string& path,
                                                           size_t& duplicates) {
  std::ifstream in(path);
  std::vector<std::pair<uint64_t, std::string>> out;
  std::map<uint64_t, std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t space = line.find(' ');
    uint64_t offset = std::stoull(line.substr(0, space));
    std::string key = line.substr(space + 1);
    if (auto it = seen.find(offset); it != seen.end()) {
      EXPECT_EQ(it->second, key) << "offset " << offset << " came back with another record";
      ++duplicates;
      continue;
    }
    EXPECT_TRUE(out.empty() || offset > out.back().first)
        << "offset " << offset << " is new but not after " << out.back().first << ": a gap";
    seen[offset] = key;
    out.emplace_back(offset, key);
  }
  return out;
}

TEST(FeedKill, SigkillOfHubAndSubscribersLosesNothingAndDuplicatesOnlyByOffset) {
  hutong::journal::testing::TempDir dir;
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(hutong::testing::free_tcp_port());
  HubProcess hub(dir.path(), config(dir.path() + "/data", endpoint));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::string keys[2];
  const char* departments[2] = {"education", "charity"};
  for (int d = 0; d < 2; ++d) {
    keys[d] = dir.path() + "/" + departments[d] + ".key";
    auto r = run_command(std::string(HUTONG_CLI) + " keys new " + departments[d] + " --config " +
                         hub.config_path() + " --out " + keys[d] + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  size_t expected[2] = {static_cast<size_t>(kRows), static_cast<size_t>(kRows / 2)};
  std::unique_ptr<Subscriber> subscribers[2];
  for (int d = 0; d < 2; ++d) {
    subscribers[d] = std::make_unique<Subscriber>(
        keys[d], "main", dir.path() + "/" + departments[d] + ".out", expected[d]);
  }
  std::mt19937 rng(7);
  int hub_kills = 0;
  int subscriber_kills = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    if (i % 2 == 0) {
      hub.kill(SIGKILL);
      ++hub_kills;
      hub.start();
      ASSERT_TRUE(hub.wait_ready()) << hub.log();
    } else {
      Subscriber& victim = *subscribers[(i / 2) % 2];
      victim.kill();
      ++subscriber_kills;
      victim.start();
    }
  }
  EXPECT_EQ(hub_kills, 20);
  EXPECT_EQ(subscriber_kills, 20);
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(subscribers[d]->wait(std::chrono::seconds(120)), 0) << departments[d];
  }
  hub.kill(SIGTERM);

  // What each department should hold, from the journal and the source's data.
  hutong::journal::JournalOptions ro;
  ro.directory = hub.data_dir() + "/journal";
  ro.read_only = true;
  auto journal = hutong::journal::Journal::open(ro);
  ASSERT_TRUE(journal);
  std::map<std::string, int> row_of;
  for (int n = 0; n < kRows; ++n)
    row_of[hutong::testing::synthetic_student_id(n)] = n;
  std::ifstream key_in(hub.data_dir() + "/keys/hash.key");
  std::string hash_key;
  std::getline(key_in, hash_key);
  auto hasher =
      *hutong::domain::KeyedHasher::create(hutong::domain::HashAlgorithm::kHmacSha256, hash_key);
  std::vector<std::pair<uint64_t, std::string>> want[2];
  auto reader = (*journal)->read_from(0, {"education.enrollment"});
  for (;;) {
    auto r = reader->next();
    ASSERT_TRUE(r);
    if (!*r) break;
    std::string key((*r)->key);
    want[0].emplace_back((*r)->offset, key);
    if (row_of.at(key) % 2 == 0) want[1].emplace_back((*r)->offset, hasher->hex_digest(key));
  }
  ASSERT_EQ(want[0].size(), static_cast<size_t>(kRows)) << "the journal holds every row once";
  for (int d = 0; d < 2; ++d) {
    size_t duplicates = 0;
    auto got = deduplicated(subscribers[d]->output(), duplicates);
    std::cout << departments[d] << ": " << got.size() << " records, " << duplicates
              << " delivered again after a crash (same offsets)\n";
    ASSERT_EQ(got.size(), want[d].size()) << departments[d];
    EXPECT_TRUE(got == want[d]) << departments[d] << ": not the exact sequence";
  }
}

}  // namespace
