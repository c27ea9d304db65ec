// A department's policy, compiled against the schemas: which topics it may
// read, which rows (division prefixes), and what happens to every field before
// a record leaves the hub (pass, mask, keyed hash, drop). Knows record types only
// through the schemas' descriptors and (sensitivity) annotations.
#pragma once

#include <google/protobuf/descriptor.h>

#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "domain/privacy.h"
#include "domain/status.h"
#include "hutong/v1/envelope.pb.h"
#include "journal/format.h"

namespace hutong::feed {

inline constexpr std::string_view kPolicyInvalid = "policy.invalid";

// The sensitivity classes a policy names: id_number, phone, bank_account, name, health.
std::string_view sensitivity_class_name(int sensitivity);

// Division fields (what row filters look at): string fields named
// `division_code` or ending in `_division`, at any depth of a record.
bool is_division_field(const google::protobuf::FieldDescriptor& field);

class Policy {
 public:
  // Checks the department's topics and field rules against the schemas; every
  // problem is reported as "departments[i].…: what is wrong".
  static Result<std::shared_ptr<const Policy>> compile(
      const config::DepartmentConfig& department, size_t index,
      std::shared_ptr<const domain::KeyedHasher> hasher);

  const std::string& department() const { return department_; }
  const std::set<std::string, std::less<>>& topics() const { return topics_; }
  bool allows(std::string_view topic) const { return topics_.contains(topic); }

  enum class Outcome { kSend, kFiltered, kUnreadable };
  // Renders a journal record as the serialized Envelope this department
  // receives, into `out`. kFiltered: the row is outside the department's or the
  // subscriber's division prefixes. kUnreadable: the value is not an envelope.
  Outcome render(const journal::RecordView& record,
                 std::span<const std::string> subscriber_prefixes, std::string& out) const;
  // True when the department receives the topic's records as stored (nothing
  // masked, hashed or dropped, no rows filtered): rendering one is a copy.
  bool copies(std::string_view topic) const;

  // What the policy does with a field of a topic's record ("student.resident_id");
  // for documentation and tests.
  std::optional<config::FieldAction> action_for(std::string_view topic,
                                                std::string_view path) const;

  struct FieldPlan;
  struct TopicPlan;

 private:
  Policy() = default;
  std::string department_;
  std::set<std::string, std::less<>> topics_;
  std::vector<std::string> prefixes_;
  std::vector<std::unique_ptr<TopicPlan>> plans_;
  std::shared_ptr<const domain::KeyedHasher> hasher_;
  const TopicPlan* plan_for(std::string_view topic) const;
};

}  // namespace hutong::feed
