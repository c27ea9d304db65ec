#include "compat.h"

#include <map>

namespace hutong::schemas {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorSet;

struct Index {
  std::map<std::string, const DescriptorProto*> messages;
  std::map<std::string, const EnumDescriptorProto*> enums;
  std::map<std::string, const FieldDescriptorProto*> extensions;  // by extendee + number
};

void index_message(const std::string& scope, const DescriptorProto& message, Index& index) {
  std::string name = scope + "." + message.name();
  index.messages[name] = &message;
  for (const DescriptorProto& nested : message.nested_type())
    index_message(name, nested, index);
  for (const EnumDescriptorProto& e : message.enum_type())
    index.enums[name + "." + e.name()] = &e;
  for (const FieldDescriptorProto& ext : message.extension()) {
    index.extensions[ext.extendee() + "#" + std::to_string(ext.number())] = &ext;
  }
}

Index index_set(const FileDescriptorSet& set) {
  Index index;
  for (const auto& file : set.file()) {
    std::string scope = file.package().empty() ? "" : "." + file.package();
    for (const DescriptorProto& m : file.message_type())
      index_message(scope, m, index);
    for (const EnumDescriptorProto& e : file.enum_type())
      index.enums[scope + "." + e.name()] = &e;
    for (const FieldDescriptorProto& ext : file.extension()) {
      index.extensions[ext.extendee() + "#" + std::to_string(ext.number())] = &ext;
    }
  }
  return index;
}

std::string type_of(const FieldDescriptorProto& field) {
  std::string type = FieldDescriptorProto::Type_Name(field.type());
  if (!field.type_name().empty()) type += " " + field.type_name();
  return type;
}

std::string label_of(const FieldDescriptorProto& field) {
  if (field.label() == FieldDescriptorProto::LABEL_REPEATED) return "repeated";
  return field.proto3_optional() ? "optional" : "singular";
}

std::string oneof_of(const DescriptorProto& message, const FieldDescriptorProto& field) {
  if (!field.has_oneof_index() || field.proto3_optional()) return "";
  return message.oneof_decl(field.oneof_index()).name();
}

void compare_field(const std::string& where, const DescriptorProto& old_message,
                   const FieldDescriptorProto& old_field, const DescriptorProto& new_message,
                   const FieldDescriptorProto& new_field, std::vector<std::string>& out) {
  if (new_field.name() != old_field.name()) {
    out.push_back(where + ": field " + std::to_string(old_field.number()) + " was renamed from " +
                  old_field.name() + " to " + new_field.name());
  }
  if (type_of(new_field) != type_of(old_field)) {
    out.push_back(where + ": the type of field " + old_field.name() + " changed from " +
                  type_of(old_field) + " to " + type_of(new_field));
  }
  if (label_of(new_field) != label_of(old_field)) {
    out.push_back(where + ": field " + old_field.name() + " changed from " + label_of(old_field) +
                  " to " + label_of(new_field));
  }
  std::string old_oneof = oneof_of(old_message, old_field);
  std::string new_oneof = oneof_of(new_message, new_field);
  if (old_oneof != new_oneof) {
    out.push_back(where + ": field " + old_field.name() + " moved from oneof \"" + old_oneof +
                  "\" to oneof \"" + new_oneof + "\"");
  }
}

void compare_message(const std::string& name, const DescriptorProto& old_message,
                     const DescriptorProto& new_message, std::vector<std::string>& out) {
  std::map<int, const FieldDescriptorProto*> by_number;
  std::map<std::string, const FieldDescriptorProto*> by_name;
  for (const auto& field : new_message.field()) {
    by_number[field.number()] = &field;
    by_name[field.name()] = &field;
  }
  std::string where = "message " + name.substr(1);
  for (const auto& old_field : old_message.field()) {
    auto same_number = by_number.find(old_field.number());
    if (same_number == by_number.end()) {
      auto same_name = by_name.find(old_field.name());
      if (same_name != by_name.end()) {
        out.push_back(where + ": field " + old_field.name() + " was renumbered from " +
                      std::to_string(old_field.number()) + " to " +
                      std::to_string(same_name->second->number()));
      } else {
        out.push_back(where + ": field " + old_field.name() + " (number " +
                      std::to_string(old_field.number()) + ") was removed");
      }
      continue;
    }
    compare_field(where, old_message, old_field, new_message, *same_number->second, out);
  }
}

void compare_enum(const std::string& name, const EnumDescriptorProto& old_enum,
                  const EnumDescriptorProto& new_enum, std::vector<std::string>& out) {
  std::map<int, std::string> by_number;
  std::map<std::string, int> by_name;
  for (const auto& value : new_enum.value()) {
    by_number.emplace(value.number(), value.name());
    by_name[value.name()] = value.number();
  }
  std::string where = "enum " + name.substr(1);
  for (const auto& old_value : old_enum.value()) {
    auto same_number = by_number.find(old_value.number());
    if (same_number == by_number.end()) {
      auto same_name = by_name.find(old_value.name());
      if (same_name != by_name.end()) {
        out.push_back(where + ": value " + old_value.name() + " was renumbered from " +
                      std::to_string(old_value.number()) + " to " +
                      std::to_string(same_name->second));
      } else {
        out.push_back(where + ": value " + old_value.name() + " (" +
                      std::to_string(old_value.number()) + ") was removed");
      }
    } else if (same_number->second != old_value.name()) {
      out.push_back(where + ": value " + std::to_string(old_value.number()) + " was renamed from " +
                    old_value.name() + " to " + same_number->second);
    }
  }
}

}  // namespace

std::vector<std::string> breaking_changes(const FileDescriptorSet& baseline,
                                          const FileDescriptorSet& current) {
  Index old_index = index_set(baseline);
  Index new_index = index_set(current);
  std::vector<std::string> out;
  for (const auto& [name, old_message] : old_index.messages) {
    auto found = new_index.messages.find(name);
    if (found == new_index.messages.end()) {
      out.push_back("message " + name.substr(1) + " was removed");
      continue;
    }
    compare_message(name, *old_message, *found->second, out);
  }
  for (const auto& [name, old_enum] : old_index.enums) {
    auto found = new_index.enums.find(name);
    if (found == new_index.enums.end()) {
      out.push_back("enum " + name.substr(1) + " was removed");
      continue;
    }
    compare_enum(name, *old_enum, *found->second, out);
  }
  for (const auto& [key, old_ext] : old_index.extensions) {
    auto found = new_index.extensions.find(key);
    if (found == new_index.extensions.end()) {
      out.push_back("extension " + old_ext->name() + " of " + old_ext->extendee().substr(1) +
                    " was removed");
    } else if (found->second->name() != old_ext->name() ||
               type_of(*found->second) != type_of(*old_ext) ||
               label_of(*found->second) != label_of(*old_ext)) {
      out.push_back("extension " + old_ext->name() + " of " + old_ext->extendee().substr(1) +
                    " changed its name, type or label");
    }
  }
  return out;
}

}  // namespace hutong::schemas
