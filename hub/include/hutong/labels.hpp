// For plugin authors: the enumeration value a department text stands for,
// from the schemas' (label) annotations (e.g. "已发放" -> GRANT_STATUS_PAID).
#pragma once

#include <google/protobuf/descriptor.h>

#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hutong/v1/options.pb.h"

namespace hutong::sdk {

// The number of the value of `type` one of whose labels is `text`, or 0 (the
// UNSPECIFIED value) when none is. Adapters call it for every cell of an
// enumerated column: the labels of a type are read from its options once and
// looked up in a table after that.
inline int enum_by_label(const google::protobuf::EnumDescriptor* type, std::string_view text) {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Labels = std::unordered_map<std::string, int, Hash, std::equal_to<>>;
  static std::shared_mutex mu;
  static std::unordered_map<const google::protobuf::EnumDescriptor*, Labels> by_type;
  const Labels* labels = nullptr;
  {
    std::shared_lock lock(mu);
    auto it = by_type.find(type);
    if (it != by_type.end()) labels = &it->second;
  }
  if (!labels) {
    std::unique_lock lock(mu);
    auto [it, added] = by_type.try_emplace(type);
    if (added) {
      for (int i = 0; i < type->value_count(); ++i) {
        const auto& options = type->value(i)->options();
        for (int l = 0; l < options.ExtensionSize(hutong::v1::label); ++l)
          it->second.try_emplace(options.GetExtension(hutong::v1::label, l),
                                 type->value(i)->number());
      }
    }
    labels = &it->second;  // filled once, never changed after: read without the lock
  }
  auto found = labels->find(text);
  return found == labels->end() ? 0 : found->second;
}

}  // namespace hutong::sdk
