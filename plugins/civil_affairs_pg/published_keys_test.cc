// The published-key file's discipline (published_keys.h): keys walk in byte
// order; a key marked deleted in a pass leaves only once a start hands back a
// position with that pass, and comes back otherwise; an upsert brings a
// marked key back; an empty position empties the set.
#include "published_keys.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace civil_affairs_pg {
namespace {

class PublishedKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("published-keys-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "published_keys.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::vector<std::string> live(PublishedKeys& keys, const std::string& table) {
    std::vector<std::string> out;
    for (auto walk = keys.walk(table); walk.valid(); walk.next())
      out.push_back(walk.key().k1 + "/" + walk.key().k2);
    return out;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(PublishedKeysTest, KeysWalkInByteOrderPerTable) {
  {
    PublishedKeys keys(path_);
    EXPECT_TRUE(keys.created());
    keys.resume(0, true);
    keys.add({{"t", "b", ""},
              {"t", "a", "z"},
              {"t", "a", "y"},
              {"t", "\xC3\xA9", ""},
              {"t", "B", ""},
              {"u", "a", ""},
              {"t", "a|", ""}});
  }
  PublishedKeys keys(path_);
  EXPECT_FALSE(keys.created());
  keys.resume(0, false);
  // (k1, k2) in byte order, as PostgreSQL's COLLATE "C" sorts them.
  EXPECT_EQ(live(keys, "t"),
            (std::vector<std::string>{"B/", "a/y", "a/z", "a|/", "b/", "\xC3\xA9/"}));
  EXPECT_EQ(live(keys, "u"), (std::vector<std::string>{"a/"}));
}

TEST_F(PublishedKeysTest, ADeletedKeyLeavesOnlyOnceItsPassIsCommitted) {
  uint64_t pass = 0;
  {
    PublishedKeys keys(path_);
    keys.resume(0, true);
    keys.add({{"t", "1", ""}, {"t", "2", ""}});
    pass = keys.new_pass();
    keys.mark_deleted({{"t", "1", ""}}, pass);
    EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"2/"}));
  }
  uint64_t later = 0;
  {
    // The position handed back predates the pass: the delete may not be in
    // the journal, so the key is live again (and will be found again).
    PublishedKeys keys(path_);
    keys.resume(pass - 1, false);
    EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"1/", "2/"}));
    later = keys.new_pass();
    EXPECT_GT(later, pass) << "pass numbers are never reused";
    keys.mark_deleted({{"t", "1", ""}}, later);
  }
  {
    PublishedKeys keys(path_);
    keys.resume(later, false);
    EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"2/"}));
    EXPECT_EQ(keys.live_count(), 1u);
  }
  {
    // Gone for good: a later, older-looking position does not bring it back.
    PublishedKeys keys(path_);
    keys.resume(0, false);
    EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"2/"}));
    EXPECT_GT(keys.new_pass(), later);
  }
}

TEST_F(PublishedKeysTest, AnUpsertBringsAMarkedKeyBack) {
  PublishedKeys keys(path_);
  keys.resume(0, true);
  keys.add({{"t", "1", "x"}});
  uint64_t pass = keys.new_pass();
  keys.mark_deleted({{"t", "1", "x"}}, pass);
  keys.add({{"t", "1", "x"}});  // re-inserted and published again
  EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"1/x"}));
}

TEST_F(PublishedKeysTest, ACommittedPassKeepsKeysPublishedAgainAfterIt) {
  uint64_t pass = 0;
  {
    PublishedKeys keys(path_);
    keys.resume(0, true);
    keys.add({{"t", "1", ""}});
    pass = keys.new_pass();
    keys.mark_deleted({{"t", "1", ""}}, pass);
    keys.add({{"t", "1", ""}});
  }
  PublishedKeys keys(path_);
  keys.resume(pass, false);
  EXPECT_EQ(live(keys, "t"), (std::vector<std::string>{"1/"}));
}

TEST_F(PublishedKeysTest, AnEmptyPositionEmptiesTheSet) {
  {
    PublishedKeys keys(path_);
    keys.resume(0, true);
    keys.add({{"t", "1", ""}});
  }
  PublishedKeys keys(path_);
  keys.resume(0, true);
  EXPECT_EQ(keys.live_count(), 0u);
}

}  // namespace
}  // namespace civil_affairs_pg
