// The dedup index: what it says about keys through staging, commits, deletes,
// discards and growth to many keys.
#include <gtest/gtest.h>

#include "pipeline/ingest.h"

namespace hutong::pipeline {
namespace {

std::string key(int n) {
  return composite_key("education.enrollment", "row-" + std::to_string(n));
}

TEST(DedupIndex, RemembersContentPerKeyAcrossCommitsDeletesAndGrowth) {
  DedupIndex index;
  constexpr int kKeys = 200'000;  // enough to grow the table many times
  for (int n = 0; n < kKeys; ++n)
    index.stage(key(n), 1000 + n, false, 1);
  EXPECT_TRUE(index.unchanged(key(5), 1005)) << "staged changes count at once";
  index.commit_staged(1);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys));
  for (int n = 0; n < kKeys; n += 997) {
    EXPECT_TRUE(index.unchanged(key(n), 1000 + n));
    EXPECT_FALSE(index.unchanged(key(n), 1 + n));
    EXPECT_TRUE(index.contains(key(n)));
  }
  EXPECT_FALSE(index.contains(key(kKeys)));
  // Deletes, then the same keys again: erased slots are reused.
  for (int n = 0; n < kKeys; n += 2)
    index.stage(key(n), 0, true, 2);
  index.commit_staged(2);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys / 2));
  EXPECT_FALSE(index.contains(key(0)));
  EXPECT_TRUE(index.contains(key(1)));
  for (int n = 0; n < kKeys; n += 2)
    index.stage(key(n), 7, false, 3);
  index.commit_staged(3);
  EXPECT_EQ(index.size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(index.unchanged(key(0), 7));
  EXPECT_TRUE(index.unchanged(key(1), 1001));
  // A discarded batch changes nothing.
  index.stage(key(1), 99, false, 4);
  index.stage(key(3), 0, true, 4);
  EXPECT_TRUE(index.unchanged(key(1), 99));
  EXPECT_FALSE(index.contains(key(3)));
  index.discard_staged(4);
  EXPECT_TRUE(index.unchanged(key(1), 1001));
  EXPECT_TRUE(index.contains(key(3)));
}

TEST(DedupIndex, BatchesCommitAndDiscardTheirOwnKeysOnly) {
  DedupIndex index;
  auto id = [](int n) { return DedupIndex::key_id(key(n)); };
  std::vector<DedupIndex::Change> first = {{id(1), 11, false}, {id(2), 12, false}};
  std::vector<DedupIndex::Change> second = {{id(2), 22, false}, {id(3), 23, false}};
  index.stage(first, 1);
  index.stage(second, 2);  // key 2 again, staged later
  index.commit_staged(1, first);
  EXPECT_TRUE(index.unchanged(key(1), 11));
  EXPECT_TRUE(index.unchanged(key(2), 22)) << "the later batch's version, still staged";
  index.discard_staged(2, second);
  EXPECT_FALSE(index.contains(key(2))) << "batch 1's key 2 was superseded before it committed";
  EXPECT_FALSE(index.contains(key(3)));
  std::vector<DedupIndex::Change> third = {{id(1), 0, true}, {id(4), 44, false}};
  index.stage(third, 3);
  index.commit_staged(3, third);
  EXPECT_FALSE(index.contains(key(1)));
  EXPECT_TRUE(index.unchanged(key(4), 44));
  EXPECT_EQ(index.size(), 1u);
}

}  // namespace
}  // namespace hutong::pipeline
