// The dedup index: what it says about keys through staging, commits, deletes,
// discards and growth to many keys.
#include <gtest/gtest.h>

#include "pipeline/ingest.h"

namespace hutong::pipeline {
namespace {

std::string key(int n) {
  return composite_key("education.enrollment", "row-" + std::to_string(n));
}

DedupIndex::Change change(int n, uint64_t content, bool removed = false) {
  return {DedupIndex::key_id(key(n)), content, removed};
}

TEST(DedupIndex, RemembersContentPerKeyAcrossCommitsDeletesAndGrowth) {
  DedupIndex index;
  constexpr int kKeys = 200'000;  // enough to grow the table many times
  std::vector<DedupIndex::Change> batch;
  for (int n = 0; n < kKeys; ++n)
    batch.push_back(change(n, 1000 + n));
  index.stage(batch, 1);
  EXPECT_TRUE(index.unchanged(key(5), 1005)) << "staged changes count at once";
  index.commit_staged(1, batch);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys));
  for (int n = 0; n < kKeys; n += 997) {
    EXPECT_TRUE(index.unchanged(key(n), 1000 + n));
    EXPECT_FALSE(index.unchanged(key(n), 1 + n));
    EXPECT_TRUE(index.contains(key(n)));
  }
  EXPECT_FALSE(index.contains(key(kKeys)));
  // Deletes, then the same keys again: erased slots are reused.
  batch.clear();
  for (int n = 0; n < kKeys; n += 2)
    batch.push_back(change(n, 0, true));
  index.stage(batch, 2);
  index.commit_staged(2, batch);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys / 2));
  EXPECT_FALSE(index.contains(key(0)));
  EXPECT_TRUE(index.contains(key(1)));
  batch.clear();
  for (int n = 0; n < kKeys; n += 2)
    batch.push_back(change(n, 7));
  index.stage(batch, 3);
  index.commit_staged(3, batch);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(index.unchanged(key(0), 7));
  EXPECT_TRUE(index.unchanged(key(1), 1001));
  // A discarded batch changes nothing.
  batch = {change(1, 99), change(3, 0, true)};
  index.stage(batch, 4);
  EXPECT_TRUE(index.unchanged(key(1), 99));
  EXPECT_FALSE(index.contains(key(3)));
  index.discard_staged(4, batch);
  EXPECT_TRUE(index.unchanged(key(1), 1001));
  EXPECT_TRUE(index.contains(key(3)));
}

TEST(DedupIndex, BatchesCommitAndDiscardTheirOwnKeysOnly) {
  DedupIndex index;
  std::vector<DedupIndex::Change> first = {change(1, 11), change(2, 12)};
  std::vector<DedupIndex::Change> second = {change(2, 22), change(3, 23)};
  index.stage(first, 1);
  index.stage(second, 2);  // key 2 again, staged later
  index.commit_staged(1, first);
  EXPECT_TRUE(index.unchanged(key(1), 11));
  EXPECT_TRUE(index.unchanged(key(2), 22)) << "the later batch's version, still staged";
  index.discard_staged(2, second);
  EXPECT_FALSE(index.contains(key(2))) << "batch 1's key 2 was superseded before it committed";
  EXPECT_FALSE(index.contains(key(3)));
  std::vector<DedupIndex::Change> third = {change(1, 0, true), change(4, 44)};
  index.stage(third, 3);
  index.commit_staged(3, third);
  EXPECT_FALSE(index.contains(key(1)));
  EXPECT_TRUE(index.unchanged(key(4), 44));
  EXPECT_EQ(index.size(), 1u);
}

}  // namespace
}  // namespace hutong::pipeline
