// Schema compatibility: which changes between two descriptor sets would break a
// reader or writer of the older schema. Additions (fields, messages, enum values,
// oneof members) are allowed; removing, renumbering, renaming or retyping anything
// that existed is not.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <string>
#include <vector>

namespace hutong::schemas {

// One sentence per breaking change, in a stable order; empty when `current` only
// adds to `baseline`.
std::vector<std::string> breaking_changes(const google::protobuf::FileDescriptorSet& baseline,
                                          const google::protobuf::FileDescriptorSet& current);

}  // namespace hutong::schemas
