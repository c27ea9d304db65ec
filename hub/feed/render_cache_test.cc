// The render cache: what it returns, what it forgets, and that a record it
// returns is always the one stored for that offset, byte for byte.
#include "feed/render_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace hutong::feed {
namespace {

std::string rendered(uint64_t offset, size_t size) {
  std::string out = "record " + std::to_string(offset) + ":";
  out.resize(size, static_cast<char>('a' + offset % 26));
  return out;
}

TEST(RenderCache, ReturnsWhatWasStoredForTheOffset) {
  RenderCache cache(1 << 20);
  EXPECT_FALSE(cache.find(7));
  cache.store(7, Policy::Outcome::kSend, rendered(7, 300));
  cache.store(8, Policy::Outcome::kFiltered, "");
  auto hit = cache.find(7);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->outcome, Policy::Outcome::kSend);
  EXPECT_EQ(hit->bytes, rendered(7, 300));
  auto filtered = cache.find(8);
  ASSERT_TRUE(filtered);
  EXPECT_EQ(filtered->outcome, Policy::Outcome::kFiltered);
  EXPECT_FALSE(cache.find(9));
}

TEST(RenderCache, KeepsTheLatestRecordsWithinItsBudgetAndNeverAStaleOne) {
  constexpr uint64_t kBudget = 64 << 10;
  RenderCache cache(kBudget);
  // Records of varied sizes, so that some would wrap at the ring's end.
  auto size_of = [](uint64_t offset) { return 100 + offset * 37 % 900; };
  uint64_t recent_bytes = 0;
  for (uint64_t offset = 0; offset < 5000; ++offset) {
    cache.store(offset, Policy::Outcome::kSend, rendered(offset, size_of(offset)));
    // Whatever it still returns is exactly what was stored for that offset.
    for (uint64_t back = 0; back < 200 && back <= offset; ++back) {
      uint64_t o = offset - back;
      if (auto hit = cache.find(o)) {
        EXPECT_EQ(hit->bytes, rendered(o, size_of(o))) << o;
      }
    }
  }
  // The most recent records, well within the budget, are all there.
  for (uint64_t o = 4999; recent_bytes + size_of(o) < kBudget / 2; --o) {
    recent_bytes += size_of(o);
    EXPECT_TRUE(cache.find(o)) << o;
  }
  EXPECT_FALSE(cache.find(0)) << "long overwritten";
}

TEST(RenderCache, AHugeRecordIsNotKept) {
  RenderCache cache(8 << 10);
  cache.store(1, Policy::Outcome::kSend, rendered(1, 200));
  cache.store(2, Policy::Outcome::kSend, std::string(4 << 10, 'x'));
  EXPECT_FALSE(cache.find(2));
  ASSERT_TRUE(cache.find(1)) << "and evicts nothing";
  EXPECT_EQ(cache.find(1)->bytes, rendered(1, 200));
}

}  // namespace
}  // namespace hutong::feed
