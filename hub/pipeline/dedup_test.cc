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

}  // namespace
}  // namespace hutong::pipeline
