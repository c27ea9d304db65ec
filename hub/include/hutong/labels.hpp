// For plugin authors: the enumeration value a department text stands for,
// from the schemas' (label) annotations (e.g. "已发放" -> GRANT_STATUS_PAID).
#pragma once

#include <google/protobuf/descriptor.h>

#include <string_view>

#include "hutong/v1/options.pb.h"

namespace hutong::sdk {

// The number of the value of `type` one of whose labels is `text`, or 0 (the
// UNSPECIFIED value) when none is.
inline int enum_by_label(const google::protobuf::EnumDescriptor* type, std::string_view text) {
  for (int i = 0; i < type->value_count(); ++i) {
    const auto& options = type->value(i)->options();
    for (int l = 0; l < options.ExtensionSize(hutong::v1::label); ++l) {
      if (options.GetExtension(hutong::v1::label, l) == text) return type->value(i)->number();
    }
  }
  return 0;
}

}  // namespace hutong::sdk
