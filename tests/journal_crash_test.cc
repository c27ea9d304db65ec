// The journal under SIGKILL: a child appends under load and is killed at random
// moments, over and over on the same journal. After each kill every acknowledged
// batch is present and intact, offsets have no gap, the tail is valid, and no
// batch is ever half-present.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "journal/journal.h"
#include "journal/test_util.h"

extern char** environ;

namespace hutong::journal {
namespace {

struct Ack {
  uint64_t first_offset;
  uint32_t count;
};

// Runs the child for `run_ms`, SIGKILLs it, and returns its acknowledgements.
std::map<uint64_t, Ack> run_and_kill(const std::string& dir, uint64_t first_batch, int run_ms) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::string batch = std::to_string(first_batch);
  std::string child = JOURNAL_CRASH_CHILD;
  char* argv[] = {child.data(), const_cast<char*>(dir.c_str()), batch.data(), nullptr};
  pid_t pid;
  EXPECT_EQ(posix_spawn(&pid, child.c_str(), &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  ::kill(pid, SIGKILL);
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child exited on its own: status " << status;
  std::map<uint64_t, Ack> acks;
  std::istringstream lines(out);
  std::string word;
  uint64_t id, first;
  uint32_t count;
  while (lines >> word >> id >> first >> count)
    acks[id] = {first, count};
  return acks;
}

TEST(JournalCrash, SigkillAtRandomMomentsLosesNothingAcknowledged) {
  testing::TempDir dir;
  std::mt19937 rng(20251129);
  std::map<uint64_t, Ack> all_acks;
  uint64_t total_acked = 0;
  const int kIterations = 60;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    int run_ms = 10 + static_cast<int>(rng() % 60);
    std::map<uint64_t, Ack> acks =
        run_and_kill(dir.path(), static_cast<uint64_t>(iteration) * 1000000, run_ms);
    all_acks.insert(acks.begin(), acks.end());
    total_acked += acks.size();

    auto journal = testing::open_journal(dir.path());
    ASSERT_TRUE(journal);
    ASSERT_TRUE(journal->verify().empty()) << "iteration " << iteration;
    // Read everything: offsets contiguous, batches whole.
    std::map<uint64_t, std::vector<uint64_t>> batches;  // batch -> offsets of its records
    std::map<uint64_t, uint32_t> sizes;
    auto reader = journal->read_from(0);
    uint64_t expected_offset = 0;
    for (;;) {
      auto r = reader->next();
      ASSERT_TRUE(r) << r.status().to_string();
      if (!*r) break;
      ASSERT_EQ((*r)->offset, expected_offset) << "gap at iteration " << iteration;
      ++expected_offset;
      std::string value((*r)->value);
      uint64_t batch = std::stoull(value.substr(0, value.find('/')));
      size_t second = value.find('/', value.find('/') + 1);
      uint32_t index = static_cast<uint32_t>(std::stoul(value.substr(value.find('/') + 1)));
      sizes[batch] = static_cast<uint32_t>(std::stoul(value.substr(second + 1)));
      ASSERT_EQ(batches[batch].size(), index) << "batch " << batch << " out of order";
      ASSERT_EQ((*r)->key, "b" + std::to_string(batch) + "-" + std::to_string(index));
      batches[batch].push_back((*r)->offset);
    }
    EXPECT_EQ(expected_offset, journal->next_offset());
    for (const auto& [batch, offsets] : batches) {
      ASSERT_EQ(offsets.size(), sizes[batch]) << "batch " << batch << " is half-present";
    }
    for (const auto& [batch, ack] : all_acks) {
      auto found = batches.find(batch);
      ASSERT_NE(found, batches.end()) << "acknowledged batch " << batch << " was lost";
      ASSERT_EQ(found->second.front(), ack.first_offset);
      ASSERT_EQ(found->second.size(), ack.count);
    }
  }
  // The test must have exercised real load, not empty runs.
  EXPECT_GT(total_acked, 1000u);
  std::printf("%d kills, %llu acknowledged batches, all present\n", kIterations,
              static_cast<unsigned long long>(total_acked));
}

}  // namespace
}  // namespace hutong::journal
