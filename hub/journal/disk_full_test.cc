// A full disk: the append fails with a clear error, nothing acknowledged is
// lost, and appends resume when space returns. Once through a fault seam, once
// on a real, tiny filesystem (when the test may mount one).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "journal.h"
#include "test_util.h"

namespace hutong::journal {
namespace {

using namespace testing;

// Write calls fail with ENOSPC while `full` is set.
class FillableDisk : public FileOps {
 public:
  std::atomic<bool> full{false};
  ssize_t writev(int fd, const iovec* iov, int count) override {
    if (full) {
      errno = ENOSPC;
      return -1;
    }
    return FileOps::writev(fd, iov, count);
  }
};

TEST(DiskFull, ThroughTheFaultSeam) {
  TempDir dir;
  auto disk = std::make_shared<FillableDisk>();
  JournalOptions options;
  options.file_ops = disk;
  options.segment_bytes = 4096;
  auto journal = open_journal(dir.path(), options);
  std::vector<uint64_t> acknowledged;
  for (int i = 0; i < 50; ++i)
    acknowledged.push_back(
        append_one(*journal, "t", std::to_string(i), std::string(100, 'x'))->first_offset);

  disk->full = true;
  Result<AppendResult> failed = append_one(*journal, "t", "no-room", "x");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.code(), kJournalDiskFull);
  EXPECT_NE(failed.status().message().find("No space left"), std::string::npos)
      << failed.status().message();
  // Rolling a segment needs room too.
  for (int i = 0; i < 40; ++i)
    EXPECT_FALSE(append_one(*journal, "t", "no-room", std::string(100, 'x')));

  disk->full = false;
  Result<AppendResult> resumed = append_one(*journal, "t", "after", "x");
  ASSERT_TRUE(resumed) << resumed.status().to_string();
  EXPECT_EQ(resumed->first_offset, 50u);  // no offset was consumed by the failures
  journal.reset();

  options.file_ops = nullptr;
  journal = open_journal(dir.path(), options);
  std::vector<Owned> all = read_all(*journal);
  ASSERT_EQ(all.size(), 51u);
  for (size_t i = 0; i < 50; ++i)
    EXPECT_EQ(all[i].key, std::to_string(i));
  EXPECT_EQ(all[50].key, "after");
}

// fdatasync fails (as it does on ENOSPC with delayed allocation, or on EIO):
// the appends it would have made durable fail, what was written since the last
// good sync is cut off, and the journal carries on.
class FailingSync : public FileOps {
 public:
  std::atomic<int> failures{0};
  int fdatasync(int fd) override {
    if (failures > 0) {
      --failures;
      errno = EIO;
      return -1;
    }
    return FileOps::fdatasync(fd);
  }
};

TEST(DiskFull, FailedFdatasyncFailsTheUnsyncedAppendsOnly) {
  TempDir dir;
  auto disk = std::make_shared<FailingSync>();
  JournalOptions options;
  options.file_ops = disk;
  auto journal = open_journal(dir.path(), options);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(append_one(*journal, "t", std::to_string(i), "kept"));
  // Many rounds: the caller's next append must never race the recovery.
  for (int round = 0; round < 50; ++round) {
    disk->failures = 1;
    Result<AppendResult> failed = append_one(*journal, "t", "lost", "x");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.code(), kJournalIo);
    EXPECT_NE(failed.status().message().find("fdatasync failed"), std::string::npos);
    Result<AppendResult> next = append_one(*journal, "t", "after" + std::to_string(round), "x");
    ASSERT_TRUE(next) << next.status().to_string();
    EXPECT_EQ(next->first_offset, 10u + round);  // the failed append's offset is reused
  }
  journal.reset();
  options.file_ops = nullptr;
  journal = open_journal(dir.path(), options);
  std::vector<Owned> all = read_all(*journal);
  ASSERT_EQ(all.size(), 60u);
  EXPECT_EQ(all[10].key, "after0");
  EXPECT_EQ(all[59].key, "after49");
  EXPECT_TRUE(journal->recovery_report().warnings.empty());
}

TEST(DiskFull, OnARealFullFilesystem) {
  TempDir dir;
  std::string mount_point = dir.file("small");
  std::filesystem::create_directory(mount_point);
  if (::mount("hutong-test", mount_point.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (" << std::strerror(errno)
                 << "); the fault-seam test covers the logic";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  JournalOptions options;
  options.segment_bytes = 1 << 20;
  auto journal = open_journal(mount_point + "/journal", options);
  std::vector<std::string> acknowledged;
  Status first_failure;
  for (int i = 0; i < 10000; ++i) {
    std::string key = std::to_string(i);
    Result<AppendResult> r = append_one(*journal, "t", key, std::string(1000, 'x'));
    if (!r) {
      first_failure = r.status();
      break;
    }
    acknowledged.push_back(key);
  }
  ASSERT_FALSE(first_failure.is_ok()) << "the 256 KiB filesystem never filled";
  EXPECT_EQ(first_failure.code(), kJournalDiskFull);
  EXPECT_GT(acknowledged.size(), 50u);

  // Space returns (an operator removes something else's file): appends resume.
  journal.reset();
  auto reopened = open_journal(mount_point + "/journal", options);
  std::vector<Owned> all = read_all(*reopened);
  ASSERT_EQ(all.size(), acknowledged.size());
  for (size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(all[i].key, acknowledged[i]);
  ASSERT_EQ(::mount("hutong-test", mount_point.c_str(), "tmpfs", MS_REMOUNT, "size=512k"), 0);
  EXPECT_TRUE(append_one(*reopened, "t", "after", std::string(1000, 'x')));
}

}  // namespace
}  // namespace hutong::journal
