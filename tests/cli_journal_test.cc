// hutong journal ls | dump | verify, run as processes against a real journal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "journal/envelope_record.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "process_util.h"

namespace {

using hutong::testing::run_command;

void write_journal(const std::string& dir) {
  hutong::journal::JournalOptions options;
  options.directory = dir;
  options.segment_bytes = 4096;
  auto journal = hutong::journal::Journal::open(options);
  ASSERT_TRUE(journal);
  for (int i = 0; i < 60; ++i) {
    hutong::v1::Envelope envelope;
    envelope.set_topic("education.enrollment");
    envelope.set_key("61052320151008123" + std::to_string(i % 10));
    envelope.set_op(hutong::v1::OP_UPSERT);
    envelope.set_schema_version(1);
    auto* student = envelope.mutable_student_enrollment();
    student->mutable_student()->set_name("陆语嫣");
    student->set_school_code("2161002320");
    student->set_status(hutong::v1::ENROLLMENT_STATUS_ENROLLED);
    hutong::journal::RecordStorage storage;
    hutong::journal::RecordIn record = hutong::journal::to_record(envelope, storage);
    ASSERT_TRUE((*journal)->append(std::span(&record, 1)));
  }
  hutong::journal::RecordIn raw{hutong::journal::Op::kDelete, "hub.position", "education_files",
                                "\x01\x02"};
  ASSERT_TRUE((*journal)->append(std::span(&raw, 1)));
}

std::string cli(const std::string& args) {
  return std::string(HUTONG_CLI) + " journal " + args;
}

TEST(CliJournal, ListsSegments) {
  hutong::journal::testing::TempDir dir;
  write_journal(dir.path());
  auto r = run_command(cli("ls " + dir.path()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("base_offset\tend_offset"), std::string::npos);
  EXPECT_NE(r.out.find("sealed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("active"), std::string::npos) << r.out;
}

TEST(CliJournal, DumpsEnvelopesAsJson) {
  hutong::journal::testing::TempDir dir;
  write_journal(dir.path());
  auto r = run_command(cli("dump " + dir.path() + " --from 58"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line))
    rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["offset"], "58");  // 64-bit integers are strings in protobuf JSON
  EXPECT_EQ(rows[0]["topic"], "education.enrollment");
  EXPECT_EQ(rows[0]["student_enrollment"]["student"]["name"], "陆语嫣");
  EXPECT_EQ(rows[0]["student_enrollment"]["status"], "ENROLLMENT_STATUS_ENROLLED");
  // A record that is no envelope is shown raw.
  EXPECT_EQ(rows[2]["topic"], "hub.position");
  EXPECT_EQ(rows[2]["op"], "OP_DELETE");
  EXPECT_EQ(rows[2]["value_base64"], "AQI=");

  auto filtered = run_command(cli("dump " + dir.path() + " --topic hub.position"));
  EXPECT_EQ(std::count(filtered.out.begin(), filtered.out.end(), '\n'), 1);
  auto limited = run_command(cli("dump " + dir.path() + " --limit 5"));
  EXPECT_EQ(std::count(limited.out.begin(), limited.out.end(), '\n'), 5);
}

TEST(CliJournal, VerifyFindsAFlippedByteAndNamesTheFile) {
  hutong::journal::testing::TempDir dir;
  write_journal(dir.path());
  auto clean = run_command(cli("verify " + dir.path()));
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  EXPECT_NE(clean.out.find("every checksum matches"), std::string::npos);

  std::string first = dir.path() + "/00000000000000000000.log";
  int fd = ::open(first.c_str(), O_RDWR);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, 100), 1);
  c ^= 1;
  ASSERT_EQ(::pwrite(fd, &c, 1, 100), 1);
  ::close(fd);
  auto damaged = run_command(cli("verify " + dir.path()) + " 2>&1");
  EXPECT_EQ(damaged.exit_code, 1) << damaged.out;
  EXPECT_NE(damaged.out.find("journal.corrupt"), std::string::npos) << damaged.out;
  EXPECT_NE(damaged.out.find(first), std::string::npos) << damaged.out;
}

TEST(CliJournal, UsageAndMissingDirectory) {
  EXPECT_EQ(run_command(cli("") + " 2>&1").exit_code, 2);
  EXPECT_EQ(run_command(cli("frobnicate x") + " 2>&1").exit_code, 2);
  EXPECT_EQ(run_command(cli("dump /nonexistent-hutong-journal") + " 2>&1").exit_code, 1);
}

}  // namespace
