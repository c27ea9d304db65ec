// Department policies applied to records: every action on every kind of field
// (text, repeated text, enums, nested and dropped messages), keys, row filters
// by division, deletes, and the unparsed fast path.
#include "feed/policy.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "journal/envelope_record.h"

namespace hutong::feed {
namespace {

using config::FieldAction;
using google::protobuf::util::MessageDifferencer;

std::shared_ptr<const domain::KeyedHasher> hasher() {
  static auto h = *domain::KeyedHasher::create(domain::HashAlgorithm::kHmacSha256,
                                               "policy-test-key-0123456789abcdef");
  return h;
}

std::shared_ptr<const Policy> compile(std::vector<std::string> topics,
                                      std::vector<config::FieldRule> fields,
                                      std::vector<std::string> prefixes = {}) {
  config::DepartmentConfig d;
  d.name = "dept";
  d.topics = std::move(topics);
  d.fields = std::move(fields);
  d.division_prefixes = std::move(prefixes);
  auto policy = Policy::compile(d, 0, hasher());
  EXPECT_TRUE(policy) << policy.status().to_string();
  return *policy;
}

v1::Envelope enrollment() {
  v1::Envelope e;
  e.set_topic("education.enrollment");
  e.set_key("610523201001010005");
  e.set_op(v1::OP_UPSERT);
  e.set_schema_version(1);
  e.mutable_source()->set_connector("roster");
  e.mutable_source()->set_location("学籍名册_20251019.csv row 2");
  auto* r = e.mutable_student_enrollment();
  r->mutable_student()->set_resident_id("610523201001010005");
  r->mutable_student()->set_name("欧阳小明");
  r->mutable_student()->set_name_match_key("欧阳小明");
  r->mutable_student()->set_sex(v1::SEX_MALE);
  r->set_national_student_number("G610523201001010005");
  r->set_school_code("2161002320");
  r->set_school_name("城关镇第一小学");
  r->set_grade("三年级");
  r->set_grade_year(3);
  r->set_hukou_division("610523100000");
  r->mutable_guardian()->set_name("欧阳建国");
  r->mutable_guardian()->set_resident_id("610523197801010004");
  r->mutable_guardian()->set_phone("13912345678");
  return e;
}

// The record as the journal keeps it.
struct Stored {
  journal::RecordStorage storage;
  journal::RecordView view;
  explicit Stored(const v1::Envelope& envelope, uint64_t offset = 42) {
    journal::RecordIn in = journal::to_record(envelope, storage);
    view = {offset, in.op, 0, in.topic, in.key, in.value};
  }
};

v1::Envelope rendered(const Policy& policy, const v1::Envelope& input,
                      std::vector<std::string> subscriber = {},
                      Policy::Outcome expect = Policy::Outcome::kSend) {
  Stored stored(input);
  std::string out;
  EXPECT_EQ(policy.render(stored.view, subscriber, out), expect);
  v1::Envelope e;
  EXPECT_TRUE(e.ParseFromString(out));
  return e;
}

TEST(Policy, PassingEverythingSendsTheRecordAsStored) {
  auto policy = compile({"education.enrollment"}, {{"id_number", FieldAction::kPass},
                                                   {"name", FieldAction::kPass},
                                                   {"phone", FieldAction::kPass}});
  v1::Envelope input = enrollment();
  v1::Envelope expected = input;
  expected.set_offset(42);
  v1::Envelope got = rendered(*policy, input);
  EXPECT_TRUE(MessageDifferencer::Equals(got, expected)) << got.DebugString();
}

TEST(Policy, MasksHashesAndDropsByClassAndByPath) {
  auto policy = compile({"education.enrollment"},
                        {{"id_number", FieldAction::kMask},
                         {"name", FieldAction::kMask},
                         {"phone", FieldAction::kDrop},
                         {"education.enrollment:national_student_number", FieldAction::kHash},
                         {"education.enrollment:guardian.name", FieldAction::kPass}});
  v1::Envelope input = enrollment();
  v1::Envelope expected = input;
  expected.set_offset(42);
  expected.set_key(hasher()->hex_digest(input.key()));  // the key holds an ID number
  auto* r = expected.mutable_student_enrollment();
  r->mutable_student()->set_resident_id("610523********0005");
  r->mutable_student()->set_name("欧阳**");
  r->mutable_student()->set_name_match_key("欧阳**");
  r->set_national_student_number(hasher()->hex_digest("G610523201001010005"));
  r->mutable_guardian()->set_resident_id("610523********0004");
  r->mutable_guardian()->clear_phone();
  v1::Envelope got = rendered(*policy, input);
  EXPECT_TRUE(MessageDifferencer::Equals(got, expected)) << got.DebugString();
  EXPECT_EQ(policy->action_for("education.enrollment", "guardian.phone"), FieldAction::kDrop);
  EXPECT_EQ(policy->action_for("education.enrollment", "school_name"), FieldAction::kPass);
}

TEST(Policy, UnnamedSensitiveFieldsAreDroppedAndTheKeyHashed) {
  auto policy = compile({"education.enrollment"}, {});
  v1::Envelope got = rendered(*policy, enrollment());
  const auto& r = got.student_enrollment();
  EXPECT_TRUE(r.student().resident_id().empty());
  EXPECT_TRUE(r.student().name().empty());
  EXPECT_TRUE(r.guardian().phone().empty());
  EXPECT_TRUE(r.national_student_number().empty());
  EXPECT_EQ(r.school_name(), "城关镇第一小学");
  EXPECT_EQ(r.student().sex(), v1::SEX_MALE);
  EXPECT_EQ(got.key(), hasher()->hex_digest("610523201001010005"));
}

TEST(Policy, AMessageFieldCanBeDroppedWhole) {
  auto policy =
      compile({"education.enrollment"}, {{"id_number", FieldAction::kPass},
                                         {"name", FieldAction::kPass},
                                         {"education.enrollment:guardian", FieldAction::kDrop}});
  v1::Envelope got = rendered(*policy, enrollment());
  EXPECT_FALSE(got.student_enrollment().has_guardian());
  EXPECT_EQ(got.student_enrollment().student().resident_id(), "610523201001010005");
  EXPECT_EQ(got.key(), "610523201001010005");
}

TEST(Policy, RepeatedTextAndNonTextFields) {
  auto identity_policy = compile({"identity.person"},
                                 {{"id_number", FieldAction::kPass}, {"name", FieldAction::kMask}});
  v1::Envelope e;
  e.set_topic("identity.person");
  e.set_key("610523201001010005");
  e.set_op(v1::OP_UPSERT);
  auto* p = e.mutable_person_identity();
  p->set_resident_id("610523201001010005");
  p->set_name("张三");
  p->add_other_names("張三");
  p->add_other_names("张叁丰");
  p->add_known_by(v1::DEPARTMENT_EDUCATION);
  v1::Envelope got = rendered(*identity_policy, e);
  ASSERT_EQ(got.person_identity().other_names_size(), 2);
  EXPECT_EQ(got.person_identity().other_names(0), "張*");
  EXPECT_EQ(got.person_identity().other_names(1), "张**");
  EXPECT_EQ(got.person_identity().known_by_size(), 1);

  // Health data: an enum cannot be masked, so masking clears it.
  auto member_policy = compile({"civil_affairs.dibao_member"},
                               {{"id_number", FieldAction::kPass}, {"health", FieldAction::kMask}});
  v1::Envelope m;
  m.set_topic("civil_affairs.dibao_member");
  m.set_key("H1|610523197801010004");
  m.set_op(v1::OP_UPSERT);
  m.mutable_dibao_member()->set_household_id("H1");
  m.mutable_dibao_member()->set_disability_grade(static_cast<v1::DisabilityGrade>(2));
  m.mutable_dibao_member()->set_disability_grade_text("二级肢体");
  v1::Envelope masked = rendered(*member_policy, m);
  EXPECT_EQ(masked.dibao_member().disability_grade(), 0);
  EXPECT_EQ(masked.dibao_member().disability_grade_text(), "****");  // too short to keep 4
  EXPECT_EQ(masked.dibao_member().household_id(), "H1");
}

TEST(Policy, RowsOutsideTheDivisionPrefixesAreFilteredDeletesPass) {
  auto policy = compile({"education.enrollment"}, {{"id_number", FieldAction::kPass}}, {"610523"});
  rendered(*policy, enrollment());
  v1::Envelope other = enrollment();
  other.mutable_student_enrollment()->set_hukou_division("610524100000");
  Stored stored(other);
  std::string out;
  EXPECT_EQ(policy->render(stored.view, {}, out), Policy::Outcome::kFiltered);
  // The subscriber narrows further.
  Stored mine{enrollment()};
  std::vector<std::string> narrower = {"610523200"};
  EXPECT_EQ(policy->render(mine.view, narrower, out), Policy::Outcome::kFiltered);
  std::vector<std::string> wider = {"6105231"};
  EXPECT_EQ(policy->render(mine.view, wider, out), Policy::Outcome::kSend);
  // No division at all: nothing proves the row is in the county's part.
  v1::Envelope none = enrollment();
  none.mutable_student_enrollment()->clear_hukou_division();
  Stored no_division(none);
  EXPECT_EQ(policy->render(no_division.view, {}, out), Policy::Outcome::kFiltered);
  // A delete carries only its key and always passes.
  v1::Envelope gone;
  gone.set_topic("education.enrollment");
  gone.set_key("610523201001010005");
  gone.set_op(v1::OP_DELETE);
  Stored deleted(gone);
  EXPECT_EQ(policy->render(deleted.view, {}, out), Policy::Outcome::kSend);
  v1::Envelope d;
  ASSERT_TRUE(d.ParseFromString(out));
  EXPECT_EQ(d.op(), v1::OP_DELETE);
  EXPECT_EQ(d.key(), "610523201001010005");
}

TEST(Policy, TopicsOutsideThePolicyAndUnreadableValues) {
  auto policy = compile({"education.enrollment"}, {{"id_number", FieldAction::kMask}});
  v1::Envelope aid;
  aid.set_topic("education.aid");
  aid.set_key("k");
  Stored other(aid);
  std::string out;
  EXPECT_EQ(policy->render(other.view, {}, out), Policy::Outcome::kFiltered);
  Stored broken{enrollment()};
  std::string garbage = "\xff\xff\xff\xff";
  broken.view.value = garbage;
  EXPECT_EQ(policy->render(broken.view, {}, out), Policy::Outcome::kUnreadable);
}

TEST(Policy, CompileReportsEveryProblem) {
  config::DepartmentConfig d;
  d.name = "dept";
  d.topics = {"education.enrollment", "education.enrolment"};
  d.fields = {{"phones", FieldAction::kDrop},
              {"education.enrollment:guardian.mobile", FieldAction::kDrop},
              {"education.enrollment:guardian", FieldAction::kMask},
              {"fund.grant:student.resident_id", FieldAction::kPass}};
  auto policy = Policy::compile(d, 3, hasher());
  ASSERT_FALSE(policy);
  std::string m = policy.status().message();
  EXPECT_NE(m.find("departments[3].topics[1]: no record type has topic \"education.enrolment\""),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("departments[3].fields.phones: expected a sensitivity class"), std::string::npos)
      << m;
  EXPECT_NE(m.find("has no field \"guardian.mobile\""), std::string::npos) << m;
  EXPECT_NE(m.find("a message field can only pass or drop"), std::string::npos) << m;
  EXPECT_NE(m.find("topic \"fund.grant\" is not among the department's topics"), std::string::npos)
      << m;
}

}  // namespace
}  // namespace hutong::feed
