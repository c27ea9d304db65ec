// Flattening records into columns from the schemas alone (record_layout.h).
#include "record_layout.h"

#include <google/protobuf/timestamp.pb.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>

#include "hutong/v1/envelope.pb.h"
#include "hutong/v1/options.pb.h"

namespace hutong::sinks {

namespace pb = google::protobuf;

namespace {

constexpr std::string_view kDateType = "hutong.v1.Date";
constexpr std::string_view kTimestampType = "google.protobuf.Timestamp";
constexpr int kMaxDepth = 6;  // deeper nesting (none today) goes into one JSON column

bool is_date(const pb::Descriptor* type) {
  return type->full_name() == kDateType;
}
bool is_timestamp(const pb::Descriptor* type) {
  return type->full_name() == kTimestampType;
}

// The first (label) of an enumeration value; the number when the value is not
// in the schema (a newer writer); nothing for an unlabeled zero (UNSPECIFIED).
std::optional<std::string> enum_text(const pb::EnumDescriptor* type, int number) {
  const pb::EnumValueDescriptor* value = type->FindValueByNumber(number);
  if (value == nullptr) return std::to_string(number);
  const auto& options = value->options();
  if (options.ExtensionSize(hutong::v1::label) > 0)
    return options.GetExtension(hutong::v1::label, 0);
  if (number == 0) return std::nullopt;
  return std::string(value->name());
}

std::optional<std::string> date_text(const pb::Message& date) {
  const pb::Descriptor* d = date.GetDescriptor();
  const pb::Reflection* r = date.GetReflection();
  auto part = [&](const char* name) {
    const pb::FieldDescriptor* f = d->FindFieldByName(name);
    return f ? r->GetInt32(date, f) : 0;
  };
  int year = part("year"), month = part("month"), day = part("day");
  if (year == 0 && month == 0 && day == 0) return std::nullopt;
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", year, month, day);
  return std::string(text);
}

std::optional<std::string> timestamp_text(const pb::Message& timestamp) {
  const pb::Descriptor* d = timestamp.GetDescriptor();
  const pb::Reflection* r = timestamp.GetReflection();
  int64_t seconds = r->GetInt64(timestamp, d->FindFieldByName("seconds"));
  int32_t nanos = r->GetInt32(timestamp, d->FindFieldByName("nanos"));
  if (seconds == 0 && nanos == 0) return std::nullopt;
  time_t local = static_cast<time_t>(seconds + 8 * 3600);  // China Standard Time, no DST
  std::tm parts{};
  gmtime_r(&local, &parts);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &parts);
  return std::string(text);
}

void json_string(std::string_view s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

void json_message(const pb::Message& message, std::string& out);

// One value of `field` (element `index` when repeated, -1 when not) as JSON.
void json_value(const pb::Message& message, const pb::FieldDescriptor* field, int index,
                std::string& out) {
  const pb::Reflection* r = message.GetReflection();
  bool rep = index >= 0;
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      out += std::to_string(rep ? r->GetRepeatedInt32(message, field, index)
                                : r->GetInt32(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      out += std::to_string(rep ? r->GetRepeatedInt64(message, field, index)
                                : r->GetInt64(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      out += std::to_string(rep ? r->GetRepeatedUInt32(message, field, index)
                                : r->GetUInt32(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      out += std::to_string(rep ? r->GetRepeatedUInt64(message, field, index)
                                : r->GetUInt64(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      out += std::to_string(rep ? r->GetRepeatedDouble(message, field, index)
                                : r->GetDouble(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      out += std::to_string(rep ? r->GetRepeatedFloat(message, field, index)
                                : r->GetFloat(message, field));
      break;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                 ? "true"
                 : "false";
      break;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      int number =
          rep ? r->GetRepeatedEnumValue(message, field, index) : r->GetEnumValue(message, field);
      std::optional<std::string> text = enum_text(field->enum_type(), number);
      if (text) {
        json_string(*text, out);
      } else {
        out += "null";
      }
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(message, field, index, &scratch)
                                 : r->GetStringReference(message, field, &scratch);
      json_string(field->type() == pb::FieldDescriptor::TYPE_BYTES ? hex(s) : s, out);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub =
          rep ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field);
      std::optional<std::string> text;
      if (is_date(field->message_type())) {
        text = date_text(sub);
      } else if (is_timestamp(field->message_type())) {
        text = timestamp_text(sub);
      } else {
        json_message(sub, out);
        break;
      }
      if (text) {
        json_string(*text, out);
      } else {
        out += "null";
      }
      break;
    }
  }
}

void json_field(const pb::Message& message, const pb::FieldDescriptor* field, std::string& out) {
  const pb::Reflection* r = message.GetReflection();
  if (field->is_repeated()) {
    out += '[';
    int n = r->FieldSize(message, field);
    for (int i = 0; i < n; ++i) {
      if (i > 0) out += ',';
      json_value(message, field, i, out);
    }
    out += ']';
  } else {
    json_value(message, field, -1, out);
  }
}

void json_message(const pb::Message& message, std::string& out) {
  out += '{';
  std::vector<const pb::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  bool first = true;
  for (const pb::FieldDescriptor* field : fields) {
    if (!first) out += ',';
    first = false;
    json_string(field->name(), out);
    out += ':';
    json_field(message, field, out);
  }
  out += '}';
}

ColumnType scalar_type(const pb::FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return ColumnType::kInteger;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return ColumnType::kUnsigned;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return ColumnType::kReal;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return ColumnType::kBoolean;
    default:
      return ColumnType::kText;
  }
}

struct Registry {
  std::map<std::string, std::unique_ptr<RecordLayout>, std::less<>> by_topic;
  std::vector<std::string> topics;
};

// Built on first use; destroyed when the module is unloaded (a plugin is
// dlclose()d on reload), so nothing is left behind.
Registry build_registry() {
  Registry r;
  const pb::Descriptor* envelope = hutong::v1::Envelope::descriptor();
  const pb::OneofDescriptor* payload = envelope->FindOneofByName("payload");
  for (int i = 0; payload != nullptr && i < payload->field_count(); ++i) {
    const pb::Descriptor* type = payload->field(i)->message_type();
    if (type == nullptr || !type->options().HasExtension(hutong::v1::record)) continue;
    std::string topic = type->options().GetExtension(hutong::v1::record).topic();
    if (topic.empty() || r.by_topic.contains(topic)) continue;
    r.by_topic.emplace(topic, std::make_unique<RecordLayout>(type, topic));
    r.topics.push_back(topic);
  }
  return r;
}

const Registry& registry() {
  static const Registry instance = build_registry();
  return instance;
}

}  // namespace

RecordLayout::RecordLayout(const pb::Descriptor* type, std::string topic)
    : topic_(std::move(topic)),
      type_(type),
      prototype_(pb::MessageFactory::generated_factory()->GetPrototype(type)) {
  std::vector<const pb::FieldDescriptor*> path;
  add_fields(type, path, 0);
  // Titles are headers: two columns with one title keep them apart by name.
  std::map<std::string, int> uses;
  for (const Column& column : columns_)
    ++uses[column.title];
  for (Column& column : columns_) {
    if (uses[column.title] > 1) column.title += "(" + column.name + ")";
  }
}

void RecordLayout::add_fields(const pb::Descriptor* type,
                              std::vector<const pb::FieldDescriptor*>& path, int depth) {
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    path.push_back(field);
    const pb::Descriptor* sub = field->message_type();
    ColumnType column_type;
    bool leaf = true;
    if (field->is_repeated()) {
      column_type = ColumnType::kJson;
    } else if (sub == nullptr) {
      column_type = scalar_type(field);
    } else if (is_date(sub)) {
      column_type = ColumnType::kDate;
    } else if (is_timestamp(sub)) {
      column_type = ColumnType::kTimestamp;
    } else if (depth + 1 >= kMaxDepth) {
      column_type = ColumnType::kJson;
    } else {
      leaf = false;
      add_fields(sub, path, depth + 1);
    }
    if (leaf) {
      Column column;
      for (size_t p = 0; p < path.size(); ++p) {
        column.name += (p ? "_" : "") + std::string(path[p]->name());
        column.path += (p ? "." : "") + std::string(path[p]->name());
        column.title += path[p]->options().GetExtension(hutong::v1::title);
      }
      // A field without a title of its own is known by its name.
      if (field->options().GetExtension(hutong::v1::title).empty()) column.title = column.name;
      column.type = column_type;
      column.text_only = column_type == ColumnType::kText;
      columns_.push_back(std::move(column));
      leaves_.push_back({path, column_type});
    }
    path.pop_back();
  }
}

const RecordLayout* RecordLayout::for_topic(std::string_view topic) {
  const Registry& r = registry();
  auto it = r.by_topic.find(topic);
  return it == r.by_topic.end() ? nullptr : it->second.get();
}

std::vector<std::string> RecordLayout::topics() {
  return registry().topics;
}

Cell RecordLayout::value_of(const pb::Message& record, const Leaf& leaf) const {
  const pb::Message* message = &record;
  for (size_t i = 0; i + 1 < leaf.path.size(); ++i) {
    if (!message->GetReflection()->HasField(*message, leaf.path[i])) return std::nullopt;
    message = &message->GetReflection()->GetMessage(*message, leaf.path[i]);
  }
  const pb::FieldDescriptor* field = leaf.path.back();
  const pb::Reflection* r = message->GetReflection();
  if (leaf.type == ColumnType::kJson) {
    std::string out;
    json_field(*message, field, out);
    return out;
  }
  if (field->has_presence() && !r->HasField(*message, field)) return std::nullopt;
  switch (leaf.type) {
    case ColumnType::kDate:
      return date_text(r->GetMessage(*message, field));
    case ColumnType::kTimestamp:
      return timestamp_text(r->GetMessage(*message, field));
    case ColumnType::kBoolean:
      return r->GetBool(*message, field) ? "true" : "false";
    default:
      break;
  }
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
    return enum_text(field->enum_type(), r->GetEnumValue(*message, field));
  }
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
    std::string scratch;
    const std::string& s = r->GetStringReference(*message, field, &scratch);
    return field->type() == pb::FieldDescriptor::TYPE_BYTES ? hex(s) : s;
  }
  std::string out;
  json_value(*message, field, -1, out);  // numbers print the same as in JSON
  return out;
}

bool RecordLayout::flatten(std::string_view payload, std::vector<Cell>& cells) const {
  std::unique_ptr<pb::Message> record(prototype_->New());
  if (!record->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return false;
  cells.clear();
  cells.reserve(leaves_.size());
  for (const Leaf& leaf : leaves_)
    cells.push_back(value_of(*record, leaf));
  return true;
}

std::string table_name_of(std::string_view topic) {
  std::string out(topic);
  for (char& c : out) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) c = '_';
  }
  return out;
}

}  // namespace hutong::sinks
