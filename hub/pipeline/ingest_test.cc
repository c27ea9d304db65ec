// The ingest pipeline on its own: what it normalizes, what it rejects and why,
// what it counts as a duplicate, that the journal holds exactly that, and that
// sharing a batch's work among helper threads changes nothing of the result.
#include "pipeline/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "hutong/v1/education.pb.h"
#include "journal/envelope_record.h"
#include "journal/internal_topics.h"

namespace hutong::pipeline {
namespace {

namespace fs = std::filesystem;

// A resident ID of the given first 17 characters with its check character.
std::string with_check(const std::string& first17) {
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int i = 0; i < 17; ++i)
    sum += (first17[i] - '0') * kWeights[i];
  return first17 + "10X98765432"[sum % 11];
}

// The n-th valid student ID (born 2012, a distinct sequence number per n).
std::string student_id(int n) {
  char first17[18];
  std::snprintf(first17, sizeof first17, "61052320120304%03d", n % 1000);
  return with_check(first17);
}

OwnedRecord enrollment(const std::string& id, const std::string& name,
                       const std::string& match_key = "") {
  v1::StudentEnrollment e;
  e.mutable_student()->set_resident_id(id);
  e.mutable_student()->set_id_type(v1::ID_TYPE_RESIDENT_ID);
  e.mutable_student()->set_name(name);
  e.mutable_student()->set_name_match_key(match_key);
  e.set_school_code("2161052301");
  e.set_status(v1::ENROLLMENT_STATUS_ENROLLED);
  OwnedRecord r;
  r.topic = "education.enrollment";
  r.key = id;
  r.payload = e.SerializeAsString();
  r.location = "学籍名册_20250910.csv row " + std::to_string(id.size());
  return r;
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hutong-ingest-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<journal::Journal> open(const std::string& name) {
    journal::JournalOptions options;
    options.directory = (dir_ / name).string();
    options.durability = journal::Durability::kNone;
    auto j = journal::Journal::open(options);
    EXPECT_TRUE(j) << j.status().to_string();
    return std::move(*j);
  }

  // Every record of the journal, as envelopes.
  static std::vector<v1::Envelope> read_all(const journal::Journal& j) {
    std::vector<v1::Envelope> out;
    auto reader = j.read_from(0);
    for (;;) {
      auto record = reader->next();
      EXPECT_TRUE(record) << record.status().to_string();
      if (!record || !*record) break;
      v1::Envelope e;
      if ((*record)->topic == journal::kTopicConnectorPosition) {  // its value is the position
        e.set_topic(std::string((*record)->topic));
        e.mutable_source()->set_position(std::string((*record)->value));
      } else {
        EXPECT_TRUE(journal::from_record(**record, e));
      }
      out.push_back(std::move(e));
    }
    return out;
  }

  fs::path dir_;
};

TEST_F(IngestTest, NormalizesEveryPersonAndJournalsTheNormalizedRecord) {
  auto j = open("journal");
  DedupIndex dedup;
  Ingest ingest(*j, dedup);
  std::string id = with_check("61052320120304401");
  ASSERT_EQ(id.back(), '9');
  std::string x_id;  // an ID whose check character is X, sent in lower case
  for (int n = 0; x_id.empty(); ++n) {
    std::string candidate = student_id(n);
    if (candidate.back() == 'X') x_id = candidate;
  }
  std::string lower = x_id.substr(0, 17) + "x";
  Batch batch;
  batch.records.push_back(enrollment(id, " 何 超斌 "));
  batch.records.push_back(enrollment(lower, "張三"));
  batch.position = "pos-1";
  batch.has_position = true;
  auto outcome = ingest.commit("education_files", batch);
  ASSERT_TRUE(outcome) << outcome.status().to_string();
  EXPECT_EQ(outcome->accepted, 2u);
  EXPECT_EQ(outcome->quarantined, 0u);

  std::vector<v1::Envelope> journaled = read_all(*j);
  ASSERT_EQ(journaled.size(), 3u);  // two records and the connector's position
  const v1::Person& first = journaled[0].student_enrollment().student();
  EXPECT_EQ(first.name(), "何超斌");
  EXPECT_EQ(first.name_match_key(), "何超斌");
  EXPECT_EQ(journaled[0].source().connector(), "education_files");
  EXPECT_EQ(journaled[0].source().position(), "pos-1");
  EXPECT_EQ(journaled[0].source().location(), batch.records[0].location);
  EXPECT_EQ(journaled[0].schema_version(), 1u);
  EXPECT_GT(journaled[0].ingest_time().seconds(), 0);
  const v1::Person& second = journaled[1].student_enrollment().student();
  EXPECT_EQ(second.resident_id(), x_id) << "a lower-case x is normalized";
  EXPECT_EQ(second.name(), "張三") << "names are never converted";
  EXPECT_EQ(second.name_match_key(), "张三") << "their matching keys are";
  EXPECT_EQ(journaled[2].topic(), journal::kTopicConnectorPosition);
}

TEST_F(IngestTest, APayloadNormalizationLeavesAloneIsJournaledAsSent) {
  auto j = open("journal");
  Batch batch;
  batch.records.push_back(enrollment(student_id(1), "何超斌", "何超斌"));
  // The same in an order of fields protobuf would not write (still a valid
  // encoding): kept as sent, and recognized when sent again after a restart.
  OwnedRecord reordered = enrollment(student_id(2), "李四", "李四");
  v1::StudentEnrollment school_only;
  school_only.set_school_code("2161052399");
  reordered.payload = school_only.SerializeAsString() + reordered.payload;
  batch.records.push_back(reordered);
  {
    DedupIndex dedup;
    Ingest ingest(*j, dedup);
    ASSERT_TRUE(ingest.commit("c", batch));
  }
  auto reader = j->read_from(0);
  for (const OwnedRecord& sent : batch.records) {
    auto record = reader->next();
    ASSERT_TRUE(record && *record);
    EXPECT_EQ(journal::payload_bytes((*record)->value), sent.payload);
  }
  DedupIndex rebuilt;
  ASSERT_TRUE(rebuilt.rebuild(*j));
  Ingest ingest(*j, rebuilt);
  auto again = ingest.commit("c", batch);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->duplicate, 2u);
}

TEST_F(IngestTest, RejectsWhatIsNotAValidRecordAndKeepsTheRestOfTheBatch) {
  auto j = open("journal");
  DedupIndex dedup;
  Ingest ingest(*j, dedup);
  Batch batch;
  batch.records.push_back(enrollment(student_id(1), "甲"));
  OwnedRecord unknown_topic = enrollment(student_id(2), "乙");
  unknown_topic.topic = "education.nothing";
  batch.records.push_back(unknown_topic);
  OwnedRecord empty_key = enrollment(student_id(3), "丙");
  empty_key.key.clear();
  batch.records.push_back(empty_key);
  OwnedRecord not_utf8_key = enrollment(student_id(4), "丁");
  not_utf8_key.key = "\xB4\xF3\xC0\xF3";  // GB18030 bytes
  batch.records.push_back(not_utf8_key);
  OwnedRecord garbage = enrollment(student_id(5), "戊");
  garbage.payload = "\xFF\xFF\xFF";
  batch.records.push_back(garbage);
  std::string bad_id = student_id(6);
  bad_id.back() = bad_id.back() == '1' ? '2' : '1';
  batch.records.push_back(enrollment(bad_id, "己"));
  v1::StudentEnrollment unknown_enum;
  unknown_enum.set_status(static_cast<v1::EnrollmentStatus>(99));
  OwnedRecord enum_record = enrollment(student_id(7), "庚");
  enum_record.payload = unknown_enum.SerializeAsString();
  batch.records.push_back(enum_record);
  OwnedRecord bad_location = enrollment(student_id(8), "辛");
  bad_location.location = "\xB4\xF3\xC0\xF3.csv row 9";  // GB18030 "大荔"
  batch.records.push_back(bad_location);
  OwnedRejected plugin_rejected;
  plugin_rejected.source_name = "\xB4\xF3\xC0\xF3.csv";
  plugin_rejected.row_number = 12;
  plugin_rejected.original = "\xD1\xA7,\xBC\xAE";
  plugin_rejected.reason_code = "row.cell_count";
  plugin_rejected.message = "2 cells";
  batch.rejected.push_back(plugin_rejected);

  auto outcome = ingest.commit("c", batch);
  ASSERT_TRUE(outcome) << outcome.status().to_string();
  EXPECT_EQ(outcome->accepted, 2u);
  EXPECT_EQ(outcome->quarantined, 7u);

  std::vector<v1::Envelope> journaled = read_all(*j);
  std::vector<std::string> reasons;
  for (const v1::Envelope& e : journaled) {
    if (e.topic() == journal::kTopicQuarantine) {
      reasons.push_back(e.quarantined_row().reason_code());
      EXPECT_FALSE(e.quarantined_row().message().empty()) << e.quarantined_row().reason_code();
    }
  }
  EXPECT_EQ(reasons,
            (std::vector<std::string>{"record.topic", "record.key", "record.key", "record.invalid",
                                      "id.checksum", "record.enum", "row.cell_count"}));
  // The rejected record's payload is kept byte for byte; text that is not
  // UTF-8 is repaired, so that every reader can parse the entry.
  // (The journal holds the batch in order: a rejected record where it was.)
  ASSERT_EQ(journaled.size(), 9u);
  EXPECT_EQ(journaled[4].quarantined_row().original(), "\xFF\xFF\xFF");
  EXPECT_EQ(journaled[4].quarantined_row().reason_code(), "record.invalid");
  EXPECT_EQ(journaled[3].quarantined_row().field(), "\uFFFD\uFFFD\uFFFD\uFFFD");
  const v1::Envelope& plugin_row = journaled[8];
  EXPECT_EQ(plugin_row.quarantined_row().original(), plugin_rejected.original);
  EXPECT_EQ(plugin_row.quarantined_row().source_name(), "\uFFFD\uFFFD\uFFFD\uFFFD.csv");
  // A location that is not UTF-8 is repaired; the record goes through.
  EXPECT_EQ(journaled[7].student_enrollment().student().name(), "辛");
  EXPECT_EQ(journaled[7].source().location(), "\uFFFD\uFFFD\uFFFD\uFFFD.csv row 9");
}

TEST_F(IngestTest, CountsWhatChangesNothingAsDuplicatesAcrossBatchesAndRestarts) {
  auto j = open("journal");
  Batch batch;
  for (int n = 0; n < 50; ++n)
    batch.records.push_back(enrollment(student_id(n), n % 2 ? "張三" : "李四"));
  {
    DedupIndex dedup;
    Ingest ingest(*j, dedup);
    auto first = ingest.commit("c", batch);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->accepted, 50u);
    auto again = ingest.commit("c", batch);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->accepted, 0u);
    EXPECT_EQ(again->duplicate, 50u);
  }
  // A hub restarted on the same journal knows the same content.
  DedupIndex rebuilt;
  ASSERT_TRUE(rebuilt.rebuild(*j));
  Ingest ingest(*j, rebuilt);
  auto after_restart = ingest.commit("c", batch);
  ASSERT_TRUE(after_restart);
  EXPECT_EQ(after_restart->duplicate, 50u);

  // Deleting a key that is not there changes nothing; within a batch, a later
  // row supersedes an earlier one.
  Batch changes;
  OwnedRecord absent = enrollment(student_id(900), "王五");
  absent.op = journal::Op::kDelete;
  changes.records.push_back(absent);
  changes.records.push_back(enrollment(student_id(1), "赵六"));
  changes.records.push_back(enrollment(student_id(1), "張三"));  // back to what is kept
  OwnedRecord gone = enrollment(student_id(2), "");
  gone.op = journal::Op::kDelete;
  changes.records.push_back(gone);
  auto changed = ingest.commit("c", changes);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->accepted, 3u);
  EXPECT_EQ(changed->duplicate, 1u);
  std::vector<v1::Envelope> journaled = read_all(*j);
  ASSERT_GE(journaled.size(), 3u);
  EXPECT_EQ(journaled.back().op(), v1::OP_DELETE);
  EXPECT_EQ(journaled.back().key(), student_id(2));
  EXPECT_EQ(journaled[journaled.size() - 2].student_enrollment().student().name(), "張三");
}

TEST_F(IngestTest, HelperThreadsChangeNothingOfWhatIsJournaled) {
  Batch batch;
  batch.position = "after the batch";
  batch.has_position = true;
  for (int n = 0; n < 1500; ++n) {  // several chunks
    OwnedRecord r = enrollment(student_id(n % 900), n % 3 ? "張 三" : "李四", "");
    if (n % 97 == 0) r.payload = "\xFF";  // rejected wherever it falls
    if (n % 211 == 0) r.op = journal::Op::kDelete;
    r.event_time_us = 1'700'000'000'000'000 + n;
    batch.records.push_back(std::move(r));
  }
  std::vector<std::vector<v1::Envelope>> results;
  std::vector<BatchOutcome> outcomes;
  for (size_t helpers : {0, 1, 3}) {
    auto j = open("journal-" + std::to_string(helpers));
    DedupIndex dedup;
    Ingest ingest(*j, dedup, helpers);
    auto outcome = ingest.commit("c", batch);
    ASSERT_TRUE(outcome) << outcome.status().to_string();
    outcomes.push_back(*outcome);
    std::vector<v1::Envelope> journaled = read_all(*j);
    for (v1::Envelope& e : journaled) {
      e.clear_ingest_time();
      if (e.has_quarantined_row()) {
        e.mutable_quarantined_row()->clear_first_seen();
        e.mutable_quarantined_row()->clear_last_seen();
      }
    }
    results.push_back(std::move(journaled));
  }
  EXPECT_GT(outcomes[0].accepted, 0u);
  EXPECT_GT(outcomes[0].quarantined, 0u);
  EXPECT_GT(outcomes[0].duplicate, 0u);
  for (size_t k = 1; k < results.size(); ++k) {
    EXPECT_EQ(outcomes[k].accepted, outcomes[0].accepted);
    EXPECT_EQ(outcomes[k].quarantined, outcomes[0].quarantined);
    EXPECT_EQ(outcomes[k].duplicate, outcomes[0].duplicate);
    ASSERT_EQ(results[k].size(), results[0].size());
    for (size_t i = 0; i < results[0].size(); ++i)
      ASSERT_EQ(results[k][i].SerializeAsString(), results[0][i].SerializeAsString()) << i;
  }
}

}  // namespace
}  // namespace hutong::pipeline
