// The flat, tabular shape of a record type, shared by the sinks that write
// records into tables (postgres_sink) and files (files_sink). Learns everything
// from the schemas: a topic's message type is the Envelope `payload` member
// whose (hutong.v1.record).topic names it; nested messages flatten into
// prefixed columns ("student" -> "student_name"); repeated fields become JSON
// text; enumeration values become their Chinese (label), columns are titled by
// the fields' Chinese (title); hutong.v1.Date and
// google.protobuf.Timestamp are single date / time columns. No topic or column
// is named here. Must not know any sink's storage: it turns a serialized record
// into typed cell texts and nothing else.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hutong::sinks {

enum class ColumnType {
  kText,       // strings, enumeration labels, bytes (hex)
  kInteger,    // int32, int64, uint32, sint…, fixed…
  kUnsigned,   // uint64, fixed64 (may exceed a signed 64-bit column)
  kReal,       // float, double
  kBoolean,    // "true" / "false"
  kDate,       // hutong.v1.Date as yyyy-mm-dd
  kTimestamp,  // google.protobuf.Timestamp as yyyy-mm-dd hh:mm:ss in China Standard Time (UTC+8)
  kJson,       // a repeated field as a JSON array
};

struct Column {
  std::string name;  // the field path joined with "_": student_resident_id
  std::string path;  // the field path as policies name it: student.resident_id
  // The header department staff know: the fields' (hutong.v1.title)s along the
  // path (监护人身份证件号), else the name; unique within the record type.
  std::string title;
  ColumnType type = ColumnType::kText;
  // A string field: keep as text even when it looks like a number (IDs, codes,
  // phone numbers must never become 6.1E+17 in a spreadsheet).
  bool text_only = false;
};

// A cell: the value as text in the column's form, or no value (an unset date,
// time, optional field or nested message; an enumeration with no value).
using Cell = std::optional<std::string>;

// The columns of one record type and how to fill them from its serialized bytes.
class RecordLayout {
 public:
  // The layout of the record type published on `topic`, or nullptr when no
  // record type names that topic. The layouts live as long as the process.
  static const RecordLayout* for_topic(std::string_view topic);
  // Every topic that has a record type, in the Envelope's order.
  static std::vector<std::string> topics();

  const std::string& topic() const { return topic_; }
  const google::protobuf::Descriptor* type() const { return type_; }
  const std::vector<Column>& columns() const { return columns_; }

  // Parses `payload` (the serialized record) and fills one cell per column.
  // False when the bytes are not a record of this type.
  bool flatten(std::string_view payload, std::vector<Cell>& cells) const;

  explicit RecordLayout(const google::protobuf::Descriptor* type, std::string topic);

 private:
  struct Leaf {
    std::vector<const google::protobuf::FieldDescriptor*> path;
    ColumnType type;
  };
  void add_fields(const google::protobuf::Descriptor* type,
                  std::vector<const google::protobuf::FieldDescriptor*>& path, int depth);
  Cell value_of(const google::protobuf::Message& record, const Leaf& leaf) const;

  std::string topic_;
  const google::protobuf::Descriptor* type_;
  const google::protobuf::Message* prototype_;
  std::vector<Column> columns_;
  std::vector<Leaf> leaves_;
};

// Text helpers the sinks share.
// "education.enrollment" -> "education_enrollment" (a table or file name).
std::string table_name_of(std::string_view topic);

}  // namespace hutong::sinks
