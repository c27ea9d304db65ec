#include "journal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_util.h"

namespace hutong::journal {
namespace {

using namespace std::chrono_literals;
using namespace testing;

TEST(Journal, AppendsAndReadsBackWithConsecutiveOffsets) {
  TempDir dir;
  auto journal = open_journal(dir.path());
  std::vector<RecordIn> batch = {{Op::kUpsert, "a", "k1", "v1"}, {Op::kUpsert, "b", "k2", "v2"}};
  Result<AppendResult> first = journal->append(batch);
  ASSERT_TRUE(first) << first.status().to_string();
  EXPECT_EQ(first->first_offset, 0u);
  EXPECT_EQ(first->count, 2u);
  Result<AppendResult> second = append_one(*journal, "a", "k1", "v3");
  EXPECT_EQ(second->first_offset, 2u);
  EXPECT_EQ(journal->durable_end(), 3u);

  std::vector<Owned> all = read_all(*journal);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].offset, 0u);
  EXPECT_EQ(all[1].topic, "b");
  EXPECT_EQ(all[2].value, "v3");
  EXPECT_EQ(read_all(*journal, 1).size(), 2u);
  EXPECT_EQ(read_all(*journal, 0, {"a"}).size(), 2u);
}

TEST(Journal, ReopenKeepsEverythingAndContinuesOffsets) {
  TempDir dir;
  {
    auto journal = open_journal(dir.path());
    for (int i = 0; i < 100; ++i)
      ASSERT_TRUE(append_one(*journal, "t", std::to_string(i), "v"));
  }
  auto journal = open_journal(dir.path());
  EXPECT_TRUE(journal->recovery_report().warnings.empty());
  EXPECT_EQ(journal->next_offset(), 100u);
  EXPECT_EQ(append_one(*journal, "t", "x", "y")->first_offset, 100u);
  EXPECT_EQ(read_all(*journal).size(), 101u);
}

TEST(Journal, RollsSegmentsAndReadsAcrossThem) {
  TempDir dir;
  JournalOptions options;
  options.segment_bytes = 4096;
  std::string value(300, 'x');
  {
    auto journal = open_journal(dir.path(), options);
    for (int i = 0; i < 200; ++i)
      ASSERT_TRUE(append_one(*journal, "t", std::to_string(i), value));
    EXPECT_GT(journal->segments().size(), 10u);
    std::vector<Owned> all = read_all(*journal);
    ASSERT_EQ(all.size(), 200u);
    for (size_t i = 0; i < all.size(); ++i)
      ASSERT_EQ(all[i].offset, i);
    // Reading from the middle seeks through the index.
    EXPECT_EQ(read_all(*journal, 150).front().offset, 150u);
  }
  auto journal = open_journal(dir.path(), options);
  EXPECT_TRUE(journal->recovery_report().warnings.empty());
  EXPECT_EQ(read_all(*journal, 77).size(), 123u);
  EXPECT_TRUE(journal->verify().empty());
}

TEST(Journal, ReadersFollowAppendsAndWakePromptly) {
  TempDir dir;
  auto journal = open_journal(dir.path());
  auto reader = journal->read_from(0);
  std::atomic<int> seen = 0;
  std::thread follower([&] {
    while (seen < 1000) {
      Result<std::optional<RecordView>> r = reader->next(5000ms);
      ASSERT_TRUE(r);
      ASSERT_TRUE(*r) << "no record within 5 s";
      ASSERT_EQ((*r)->offset, static_cast<uint64_t>(seen.load()));
      ++seen;
    }
  });
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(append_one(*journal, "t", "k", std::to_string(i)));
  follower.join();
  EXPECT_EQ(seen, 1000);
}

TEST(Journal, ManyConcurrentAppendersShareGroupCommits) {
  TempDir dir;
  auto journal = open_journal(dir.path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = std::to_string(t);
        std::vector<RecordIn> batch(3, RecordIn{Op::kUpsert, "t", key, "v"});
        ASSERT_TRUE(journal->append(batch));
      }
    });
  }
  for (auto& th : threads)
    th.join();
  std::vector<Owned> all = read_all(*journal);
  ASSERT_EQ(all.size(), 8u * 200 * 3);
  for (size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(all[i].offset, i);
}

TEST(Journal, DurabilityModes) {
  for (Durability durability : {Durability::kNone, Durability::kGroup, Durability::kEach}) {
    TempDir dir;
    JournalOptions options;
    options.durability = durability;
    auto journal = open_journal(dir.path(), options);
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(append_one(*journal, "t", "k", "v"));
    EXPECT_EQ(read_all(*journal).size(), 50u);
  }
}

TEST(Journal, SnapshotThenLiveHasNoGapAndNoDuplicate) {
  TempDir dir;
  auto journal = open_journal(dir.path());
  append_one(*journal, "state", "a", "a1");
  append_one(*journal, "state", "b", "b1");
  append_one(*journal, "other", "x", "x1");
  append_one(*journal, "state", "a", "a2");
  append_one(*journal, "state", "c", "c1");
  append_one(*journal, "state", "c", "", Op::kDelete);
  auto reader = journal->snapshot_then_live({"state"});
  ASSERT_TRUE(reader);
  std::vector<std::string> got;
  for (;;) {
    auto r = (*reader)->next();
    ASSERT_TRUE(r);
    if (!*r) break;
    got.push_back(std::string((*r)->key) + "=" + std::string((*r)->value));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"b=b1", "a=a2"}));
  // Live changes follow, each once.
  append_one(*journal, "state", "b", "b2");
  auto live = (*reader)->next(1000ms);
  ASSERT_TRUE(live && *live);
  EXPECT_EQ((*live)->value, "b2");
  EXPECT_FALSE(*(*reader)->next());
}

TEST(Journal, ASecondHubCannotOpenTheSameDirectory) {
  TempDir dir;
  auto first = open_journal(dir.path());
  JournalOptions options;
  options.directory = dir.path();
  Result<std::unique_ptr<Journal>> second = Journal::open(options);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), kJournalLocked);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  // Read-only inspection works alongside.
  append_one(*first, "t", "k", "v");
  options.read_only = true;
  Result<std::unique_ptr<Journal>> inspector = Journal::open(options);
  ASSERT_TRUE(inspector) << inspector.status().to_string();
  EXPECT_EQ(read_all(**inspector).size(), 1u);
  EXPECT_EQ(append_one(**inspector, "t", "k", "v").code(), kJournalClosed);
}

TEST(Journal, UnusableDirectoryIsAClearError) {
  TempDir dir;
  std::string file = dir.file("not-a-directory");
  ASSERT_EQ(std::system(("touch " + file).c_str()), 0);
  JournalOptions options;
  options.directory = file + "/journal";
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.code(), kJournalIo);
  EXPECT_NE(journal.status().message().find(file), std::string::npos) << journal.status().message();
}

}  // namespace
}  // namespace hutong::journal
