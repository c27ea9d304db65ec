#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "journal.h"
#include "test_util.h"

namespace hutong::journal {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// Durability is not what these tests are about: appends complete at once.
JournalOptions small_segments() {
  JournalOptions options;
  options.segment_bytes = 2048;
  options.durability = Durability::kNone;
  return options;
}

TEST(Compaction, KeepsExactlyTheLatestVersionOfEveryKeyAndPreservesOffsets) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  std::mt19937 rng(3);
  std::map<std::string, std::pair<uint64_t, std::string>>
      expected;  // key -> latest (offset, value)
  for (int i = 0; i < 3000; ++i) {
    std::string key = "k" + std::to_string(rng() % 200);
    std::string value = "v" + std::to_string(i);
    bool remove = rng() % 10 == 0;
    auto r = append_one(*journal, "state", key, value, remove ? Op::kDelete : Op::kUpsert);
    ASSERT_TRUE(r);
    if (remove) {
      expected.erase(key);
    } else {
      expected[key] = {r->first_offset, value};
    }
    if (i % 7 == 0) append_one(*journal, "log", std::to_string(i), "event");
  }
  RetentionPolicy policy;
  policy.compacted_topics = {"state"};
  policy.tombstone_retention = 0s;
  Result<CompactionReport> report = journal->compact(policy);
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_GT(report->segments_rewritten, 0u);
  EXPECT_LT(report->records_after, report->records_before);

  // The snapshot read equals the latest version of every live key, at its offset.
  auto snapshot = journal->snapshot_then_live({"state"});
  ASSERT_TRUE(snapshot);
  std::map<std::string, std::pair<uint64_t, std::string>> got;
  for (;;) {
    auto r = (*snapshot)->next();
    ASSERT_TRUE(r);
    if (!*r) break;
    got[std::string((*r)->key)] = {(*r)->offset, std::string((*r)->value)};
  }
  EXPECT_EQ(got, expected);
  // Non-compacted topics lose nothing, and every offset is still in order.
  EXPECT_EQ(read_all(*journal, 0, {"log"}).size(), 429u);
  std::vector<Owned> all = read_all(*journal);
  for (size_t i = 1; i < all.size(); ++i)
    ASSERT_LT(all[i - 1].offset, all[i].offset);
  EXPECT_TRUE(journal->verify().empty());

  // And the compacted journal reopens cleanly.
  journal.reset();
  journal = open_journal(dir.path(), small_segments());
  EXPECT_TRUE(journal->recovery_report().warnings.empty());
  EXPECT_EQ(read_all(*journal).size(), all.size());
}

TEST(Compaction, TombstonesAreKeptForTheirRetention) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  append_one(*journal, "state", "gone", "v");
  append_one(*journal, "state", "gone", "", Op::kDelete);
  for (int i = 0; i < 100; ++i)
    append_one(*journal, "state", "filler" + std::to_string(i), std::string(50, 'f'));
  RetentionPolicy policy;
  policy.compacted_topics = {"state"};
  policy.tombstone_retention = 1h;
  ASSERT_TRUE(journal->compact(policy));
  std::vector<Owned> state = read_all(*journal, 0, {"state"});
  ASSERT_EQ(state.front().key, "gone");
  EXPECT_EQ(state.front().op, Op::kDelete);
  policy.tombstone_retention = 0s;
  ASSERT_TRUE(journal->compact(policy));
  EXPECT_NE(read_all(*journal, 0, {"state"}).front().key, "gone");
}

TEST(Compaction, RetentionBySizeDropsTheOldestRecordsOfOtherTopics) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  for (int i = 0; i < 200; ++i)
    append_one(*journal, "audit", std::to_string(i), std::string(90, 'a'));
  RetentionPolicy policy;
  policy.max_bytes_per_topic = 5000;
  ASSERT_TRUE(journal->compact(policy));
  std::vector<Owned> left = read_all(*journal, 0, {"audit"});
  ASSERT_LT(left.size(), 200u);
  // What is left is a suffix: the newest records.
  EXPECT_EQ(left.back().key, "199");
  for (size_t i = 1; i < left.size(); ++i)
    EXPECT_EQ(left[i].offset, left[i - 1].offset + 1);
}

TEST(Compaction, RetentionByAgeDropsOldRecords) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  for (int i = 0; i < 100; ++i)
    append_one(*journal, "audit", std::to_string(i), std::string(90, 'a'));
  std::this_thread::sleep_for(1100ms);
  RetentionPolicy policy;
  policy.max_age = 1s;
  ASSERT_TRUE(journal->compact(policy));
  // Only the active (unsealed) segment keeps old records.
  EXPECT_LT(read_all(*journal, 0, {"audit"}).size(), 100u);
}

TEST(Compaction, BackgroundPassCompactsWithoutBeingAsked) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  for (int i = 0; i < 1000; ++i)
    append_one(*journal, "hub.position", "education_files", std::to_string(i));
  RetentionPolicy policy;
  policy.compacted_topics = {"hub.position"};
  journal->start_background_compaction(policy, 20ms);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  size_t left = 1000;
  while (std::chrono::steady_clock::now() < deadline) {
    left = read_all(*journal, 0, {"hub.position"}).size();
    if (left < 50) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(left, 50u);  // only the active segment's versions, and the latest, remain
  EXPECT_EQ(read_all(*journal, 0, {"hub.position"}).back().value, "999");
}

TEST(Compaction, AnAppendWithItsSourcePositionIsOneUnit) {
  // A connector's batch and its new position travel in one append: a reader
  // (and a crash) sees both or neither, and compaction keeps the latest position.
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  for (int batch = 0; batch < 50; ++batch) {
    std::string position = "file.csv#" + std::to_string(batch * 10 + 10);
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i)
      keys.push_back(std::to_string(batch * 10 + i));
    std::vector<RecordIn> records;
    for (const std::string& key : keys)
      records.push_back({Op::kUpsert, "education.enrollment", key, "row"});
    records.push_back({Op::kUpsert, "hub.position", "education_files", position});
    Result<AppendResult> r = journal->append(records);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count, 11u);
  }
  RetentionPolicy policy;
  policy.compacted_topics = {"hub.position"};
  ASSERT_TRUE(journal->compact(policy));
  auto positions = journal->snapshot_then_live({"hub.position"});
  ASSERT_TRUE(positions);
  auto latest = (*positions)->next();
  ASSERT_TRUE(latest && *latest);
  EXPECT_EQ((*latest)->value, "file.csv#500");
  EXPECT_EQ(read_all(*journal, 0, {"education.enrollment"}).size(), 500u);
}

TEST(Compaction, ReadersRunningDuringCompactionSeeAConsistentLog) {
  TempDir dir;
  auto journal = open_journal(dir.path(), small_segments());
  for (int i = 0; i < 2000; ++i)
    append_one(*journal, "state", "k" + std::to_string(i % 50), std::to_string(i));
  RetentionPolicy policy;
  policy.compacted_topics = {"state"};
  std::atomic<bool> done = false;
  std::atomic<int> scans = 0;
  std::thread reader([&] {
    while (!done) {
      auto r = journal->read_from(0);
      uint64_t last = 0;
      bool first = true;
      for (;;) {
        auto rec = r->next();
        ASSERT_TRUE(rec) << rec.status().to_string();
        if (!*rec) break;
        if (!first) {
          ASSERT_GT((*rec)->offset, last);
        }
        last = (*rec)->offset;
        first = false;
      }
      ASSERT_GE(last, 1999u);  // the newest records are never compacted away
      ++scans;
    }
  });
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 200; ++i)
      append_one(*journal, "state", "k" + std::to_string(i % 50), "x");
    ASSERT_TRUE(journal->compact(policy));
  }
  done = true;
  reader.join();
  EXPECT_GT(scans, 0);
}

}  // namespace
}  // namespace hutong::journal
