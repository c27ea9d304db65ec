// Damage done to a journal on disk, each detected with the documented behaviour
// (docs/journal-format.md, "Recovery").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "crc32c.h"
#include "journal.h"
#include "test_util.h"

namespace hutong::journal {
namespace {

using namespace testing;

JournalOptions small_segments() {
  JournalOptions options;
  options.segment_bytes = 4096;
  return options;
}

// Fills a journal with `count` records of 100 bytes and closes it.
void fill(const std::string& dir, int count, JournalOptions options = small_segments()) {
  auto journal = open_journal(dir, options);
  for (int i = 0; i < count; ++i)
    ASSERT_TRUE(append_one(*journal, "t", std::to_string(i), std::string(100, 'v')));
}

std::vector<std::string> logs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_byte(const std::string& path, off_t position) {
  int fd = ::open(path.c_str(), O_RDWR);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, position), 1);
  c ^= 0x5A;
  ASSERT_EQ(::pwrite(fd, &c, 1, position), 1);
  ::close(fd);
}

TEST(Corruption, TornTailIsTruncatedWithAWarningAndAppendsContinue) {
  TempDir dir;
  fill(dir.path(), 10);
  std::string active = logs(dir.path()).back();
  auto size = std::filesystem::file_size(active);
  std::filesystem::resize_file(active, size - 7);  // the last frame is now torn
  auto journal = open_journal(dir.path(), small_segments());
  ASSERT_EQ(journal->recovery_report().warnings.size(), 1u);
  const std::string& warning = journal->recovery_report().warnings[0];
  EXPECT_NE(warning.find(active), std::string::npos) << warning;
  EXPECT_NE(warning.find("truncated at byte"), std::string::npos) << warning;
  EXPECT_EQ(journal->next_offset(), 9u);
  EXPECT_EQ(append_one(*journal, "t", "again", "v")->first_offset, 9u);
  EXPECT_EQ(read_all(*journal).size(), 10u);
}

TEST(Corruption, GarbageAfterTheLastFrameIsTruncated) {
  TempDir dir;
  fill(dir.path(), 3);
  std::string active = logs(dir.path()).back();
  int fd = ::open(active.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(::write(fd, "\x10\x00\x00\x00garbage", 11), 11);
  ::close(fd);
  auto journal = open_journal(dir.path(), small_segments());
  EXPECT_EQ(journal->recovery_report().warnings.size(), 1u);
  EXPECT_EQ(read_all(*journal).size(), 3u);
}

TEST(Corruption, FlippedByteInASealedSegmentIsReportedNeverSkipped) {
  TempDir dir;
  JournalOptions options;
  options.segment_bytes = 16384;  // several index entries per segment
  fill(dir.path(), 300, options);
  std::string sealed = logs(dir.path()).front();
  // Inside the first frame's body: before the segment's last indexed frame, so
  // the start-up check of the segment's tail passes and readers meet the damage.
  flip_byte(sealed, kSegmentHeaderSize + 50);
  auto journal = open_journal(dir.path(), options);
  // Reading through the damage is an error naming the file, not a silent skip.
  auto reader = journal->read_from(0);
  Result<std::optional<RecordView>> r = reader->next();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), kJournalCorrupt);
  EXPECT_NE(r.status().message().find(sealed), std::string::npos) << r.status().message();
  // verify() lists it.
  std::vector<Status> problems = journal->verify();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message().find(sealed), std::string::npos);
}

TEST(Corruption, DamageInTheTailOfASealedSegmentRefusesToStart) {
  TempDir dir;
  fill(dir.path(), 200);
  std::string sealed = logs(dir.path()).front();
  flip_byte(sealed, static_cast<off_t>(std::filesystem::file_size(sealed)) - 10);  // the seal frame
  JournalOptions options = small_segments();
  options.directory = dir.path();
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.code(), kJournalContinuity);
  EXPECT_NE(journal.status().message().find("journal verify"), std::string::npos);
}

TEST(Corruption, TruncatedIndexIsRebuiltWithAWarning) {
  TempDir dir;
  fill(dir.path(), 200);
  std::string log = logs(dir.path()).front();
  std::string idx = log.substr(0, log.size() - 4) + ".idx";
  ASSERT_TRUE(std::filesystem::exists(idx));
  std::filesystem::resize_file(idx, std::filesystem::file_size(idx) - 5);
  auto journal = open_journal(dir.path(), small_segments());
  ASSERT_EQ(journal->recovery_report().warnings.size(), 1u);
  EXPECT_NE(journal->recovery_report().warnings[0].find(idx), std::string::npos);
  EXPECT_EQ(read_all(*journal, 5).front().offset, 5u);
  EXPECT_EQ(read_all(*journal).size(), 200u);
  journal.reset();
  // Rebuilt on disk too: the next start is clean.
  EXPECT_TRUE(open_journal(dir.path(), small_segments())->recovery_report().warnings.empty());
}

TEST(Corruption, SealedSegmentTruncatedByHandRefusesToStart) {
  TempDir dir;
  fill(dir.path(), 200);
  std::string sealed = logs(dir.path())[1];
  std::filesystem::resize_file(sealed, std::filesystem::file_size(sealed) - 200);
  JournalOptions options = small_segments();
  options.directory = dir.path();
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.code(), kJournalContinuity);
  EXPECT_NE(journal.status().message().find(sealed), std::string::npos);
  EXPECT_NE(journal.status().message().find("backup"), std::string::npos);
}

TEST(Corruption, MissingSegmentRefusesToStart) {
  TempDir dir;
  fill(dir.path(), 200);
  std::vector<std::string> files = logs(dir.path());
  std::filesystem::remove(files[2]);
  JournalOptions options = small_segments();
  options.directory = dir.path();
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.code(), kJournalContinuity);
  EXPECT_NE(journal.status().message().find("records are missing"), std::string::npos);
}

TEST(Corruption, SegmentOfAFutureFormatVersionIsRefused) {
  TempDir dir;
  fill(dir.path(), 3);
  std::string active = logs(dir.path()).back();
  // Rewrite the header as a version-2 writer would (with a valid checksum).
  std::string header = encode_segment_header(0);
  header[8] = 2;
  uint32_t crc = mask_crc(crc32c(std::string_view(header.data(), 28)));
  std::memcpy(header.data() + 28, &crc, 4);
  int fd = ::open(active.c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, header.data(), header.size(), 0), 32);
  ::close(fd);
  JournalOptions options;
  options.directory = dir.path();
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.code(), kJournalVersion);
  EXPECT_NE(journal.status().message().find("version 2"), std::string::npos);
}

}  // namespace
}  // namespace hutong::journal
