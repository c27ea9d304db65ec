// The record layout on real schema types: which columns a record type has,
// and the cell text of each kind of field.
#include "record_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "hutong/v1/education.pb.h"
#include "hutong/v1/person.pb.h"

namespace hutong::sinks {
namespace {

const Column* find(const RecordLayout& layout, const std::string& name, size_t* index = nullptr) {
  const auto& columns = layout.columns();
  auto it =
      std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.name == name; });
  if (index) *index = it - columns.begin();
  return it == columns.end() ? nullptr : &*it;
}

Cell cell(const RecordLayout& layout, const google::protobuf::Message& record,
          const std::string& name) {
  std::vector<Cell> cells;
  EXPECT_TRUE(layout.flatten(record.SerializeAsString(), cells));
  size_t index = 0;
  EXPECT_NE(find(layout, name, &index), nullptr) << name;
  return cells.at(index);
}

TEST(RecordLayout, FindsEveryRecordTypeByItsTopic) {
  std::vector<std::string> topics = RecordLayout::topics();
  EXPECT_GE(topics.size(), 12u);
  for (const std::string& topic : topics) {
    const RecordLayout* layout = RecordLayout::for_topic(topic);
    ASSERT_NE(layout, nullptr) << topic;
    EXPECT_EQ(layout->topic(), topic);
    EXPECT_FALSE(layout->columns().empty()) << topic;
  }
  EXPECT_EQ(RecordLayout::for_topic("education.enrollment")->type(),
            v1::StudentEnrollment::descriptor());
  EXPECT_EQ(RecordLayout::for_topic("no.such.topic"), nullptr);
  EXPECT_EQ(table_name_of("education.enrollment"), "education_enrollment");
}

TEST(RecordLayout, FlattensNestedMessagesIntoPrefixedTypedColumns) {
  const RecordLayout& layout = *RecordLayout::for_topic("education.enrollment");
  const Column* id = find(layout, "student_resident_id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->path, "student.resident_id");
  EXPECT_EQ(id->type, ColumnType::kText);
  EXPECT_TRUE(id->text_only);
  EXPECT_EQ(find(layout, "student_birth_date")->type, ColumnType::kDate);
  EXPECT_EQ(find(layout, "updated_at")->type, ColumnType::kTimestamp);
  EXPECT_EQ(find(layout, "grade_year")->type, ColumnType::kInteger);
  EXPECT_FALSE(find(layout, "grade_year")->text_only);
  EXPECT_EQ(find(layout, "boarding")->type, ColumnType::kBoolean);
  EXPECT_EQ(find(layout, "guardian_phone")->path, "guardian.phone");
  EXPECT_EQ(find(layout, "student"), nullptr) << "a message is no column of its own";
}

TEST(RecordLayout, CellsAreLabelsDatesChinaTimesAndNoValueWhereUnset) {
  const RecordLayout& layout = *RecordLayout::for_topic("education.enrollment");
  v1::StudentEnrollment r;
  r.mutable_student()->set_resident_id("11010519491231002X");
  r.mutable_student()->set_sex(v1::SEX_FEMALE);
  r.mutable_student()->mutable_birth_date()->set_year(2012);
  r.mutable_student()->mutable_birth_date()->set_month(3);
  r.mutable_student()->mutable_birth_date()->set_day(7);
  r.set_status(v1::ENROLLMENT_STATUS_DROPPED_OUT);
  r.set_grade_year(7);
  r.mutable_updated_at()->set_seconds(1760000000);  // 2025-10-09 08:53:20 UTC
  EXPECT_EQ(cell(layout, r, "student_resident_id"), "11010519491231002X");
  EXPECT_EQ(cell(layout, r, "student_sex"), "女");
  EXPECT_EQ(cell(layout, r, "status"), "辍学");
  EXPECT_EQ(cell(layout, r, "stage"), std::nullopt) << "UNSPECIFIED has no label";
  EXPECT_EQ(cell(layout, r, "student_birth_date"), "2012-03-07");
  EXPECT_EQ(cell(layout, r, "updated_at"), "2025-10-09 16:53:20");
  EXPECT_EQ(cell(layout, r, "grade_year"), "7");
  EXPECT_EQ(cell(layout, r, "school_code"), "") << "a proto3 string is empty, not absent";
  EXPECT_EQ(cell(layout, r, "boarding"), std::nullopt) << "an unset optional";
  EXPECT_EQ(cell(layout, r, "guardian_name"), std::nullopt) << "an unset message";
  r.set_boarding(false);
  EXPECT_EQ(cell(layout, r, "boarding"), "false");
  r.mutable_student()->clear_birth_date();
  EXPECT_EQ(cell(layout, r, "student_birth_date"), std::nullopt);
}

TEST(RecordLayout, RepeatedFieldsAreJsonArrays) {
  const RecordLayout& layout = *RecordLayout::for_topic("identity.person");
  EXPECT_EQ(find(layout, "other_names")->type, ColumnType::kJson);
  v1::PersonIdentity p;
  EXPECT_EQ(cell(layout, p, "other_names"), "[]");
  p.add_other_names("张\"三\"");
  p.add_other_names("張三");
  p.add_known_by(v1::DEPARTMENT_EDUCATION);
  p.add_known_by(v1::DEPARTMENT_CHARITY_FUND);
  EXPECT_EQ(cell(layout, p, "other_names"), R"(["张\"三\"","張三"])");
  EXPECT_EQ(cell(layout, p, "known_by"), R"(["教育局","爱心扶贫基金"])");
}

TEST(RecordLayout, ColumnsAreTitledAsTheDepartmentsExportsHeadThem) {
  const RecordLayout* roster = RecordLayout::for_topic("education.enrollment");
  ASSERT_NE(roster, nullptr);
  auto title = [&](const RecordLayout& layout, const std::string& name) {
    const Column* column = find(layout, name);
    return column ? column->title : "(no column " + name + ")";
  };
  EXPECT_EQ(title(*roster, "student_resident_id"), "身份证件号");
  EXPECT_EQ(title(*roster, "student_name"), "姓名");
  EXPECT_EQ(title(*roster, "national_student_number"), "全国学籍号");
  EXPECT_EQ(title(*roster, "guardian_resident_id"), "监护人身份证件号");  // prefix + title
  EXPECT_EQ(title(*roster, "guardian_phone"), "监护人联系电话");
  EXPECT_EQ(title(*roster, "hukou_division"), "户籍所在地行政区划");
  EXPECT_EQ(title(*RecordLayout::for_topic("education.pairing"), "student_resident_id"),
            "学生身份证件号");
  // Every column of every record type has a title, unique within its type.
  for (const std::string& topic : RecordLayout::topics()) {
    const RecordLayout* layout = RecordLayout::for_topic(topic);
    std::set<std::string> seen;
    for (const Column& column : layout->columns()) {
      EXPECT_FALSE(column.title.empty()) << topic << " " << column.name;
      EXPECT_TRUE(seen.insert(column.title).second) << topic << " " << column.title;
    }
  }
}

TEST(RecordLayout, RefusesBytesThatAreNoRecord) {
  const RecordLayout& layout = *RecordLayout::for_topic("education.enrollment");
  std::vector<Cell> cells;
  EXPECT_FALSE(layout.flatten("\xFF\xFF\xFF not a record", cells));
}

}  // namespace
}  // namespace hutong::sinks
