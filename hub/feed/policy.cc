#include "feed/policy.h"

#include <map>

#include "feed/wire.h"
#include "hutong/v1/options.pb.h"
#include "pipeline/ingest.h"

namespace hutong::feed {

using config::FieldAction;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

struct Policy::FieldPlan {
  const FieldDescriptor* field = nullptr;
  FieldAction action = FieldAction::kPass;  // leaves (and message fields dropped whole)
  int sensitivity = 0;
  std::vector<FieldPlan> children;  // message fields with something to change or read inside
  bool division = false;            // a division field (read by row filters)
};

struct Policy::TopicPlan {
  std::string topic;
  const FieldDescriptor* payload = nullptr;  // the Envelope's oneof field for the topic
  std::vector<FieldPlan> envelope;  // the Envelope's payload field, with what changes inside
  bool changes = false;             // some field is masked, hashed or dropped
  bool has_division = false;
  bool key_passes = true;  // the ID numbers the key is made of pass, so the key may too
  std::set<std::string, std::less<>> id_fields;             // paths of ID-number fields
  std::map<std::string, FieldAction, std::less<>> actions;  // every leaf, by path
  bool untouched() const { return !changes && key_passes; }
};

namespace {

constexpr std::string_view kClasses[] = {"",     "id_number", "phone", "bank_account",
                                         "name", "health"};

std::string_view action_name(FieldAction action) {
  switch (action) {
    case FieldAction::kPass:
      return "pass";
    case FieldAction::kMask:
      return "mask";
    case FieldAction::kHash:
      return "hash";
    case FieldAction::kDrop:
      return "drop";
  }
  return "?";
}

struct Rules {
  std::map<std::string, FieldAction, std::less<>> by_class;
  std::map<std::string, FieldAction, std::less<>> by_path;  // "topic:path"
  std::set<std::string, std::less<>> used_paths;
};

bool is_leaf_message(const Descriptor* type) {
  return type->full_name().starts_with("google.protobuf.");
}

// Builds the plan of `type`'s fields at `prefix`; returns whether anything changes.
void plan_fields(const Descriptor* type, const std::string& topic, const std::string& prefix,
                 Rules& rules, bool inside_dropped, Policy::TopicPlan& plan,
                 std::vector<Policy::FieldPlan>& out, int depth) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    std::string path = prefix.empty() ? field->name() : prefix + "." + field->name();
    std::string selector = topic + ":" + path;
    auto rule = rules.by_path.find(selector);
    if (rule != rules.by_path.end()) rules.used_paths.insert(selector);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        !is_leaf_message(field->message_type()) && depth < 8) {
      bool dropped =
          inside_dropped || (rule != rules.by_path.end() && rule->second == FieldAction::kDrop);
      Policy::FieldPlan node{field, FieldAction::kPass, 0, {}, false};
      plan_fields(field->message_type(), topic, path, rules, dropped, plan, node.children,
                  depth + 1);
      if (dropped && !inside_dropped) {
        node.children.clear();
        node.action = FieldAction::kDrop;
        plan.changes = true;
        out.push_back(std::move(node));
      } else if (!node.children.empty()) {
        out.push_back(std::move(node));
      }
      continue;
    }
    bool division = field->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !field->is_repeated() &&
                    is_division_field(*field);
    int sensitivity = field->options().GetExtension(hutong::v1::sensitivity);
    FieldAction action = FieldAction::kPass;
    if (rule != rules.by_path.end()) {
      action = rule->second;
    } else if (sensitivity > 0) {
      std::string_view cls =
          sensitivity < static_cast<int>(std::size(kClasses)) ? kClasses[sensitivity] : "";
      auto by_class = rules.by_class.find(cls);
      action = by_class != rules.by_class.end() ? by_class->second : FieldAction::kDrop;
    }
    if (inside_dropped) action = FieldAction::kDrop;
    plan.actions[path] = action;
    if (sensitivity == hutong::v1::SENSITIVITY_ID_NUMBER) plan.id_fields.insert(path);
    if (inside_dropped) continue;  // goes with its message
    if (action != FieldAction::kPass) plan.changes = true;
    if (division) plan.has_division = true;
    if (action != FieldAction::kPass || division) {
      out.push_back(Policy::FieldPlan{field, action, sensitivity, {}, division});
    }
  }
}

// Keys are made of business identifiers, ID numbers among them, never of
// phones or names. The key is sent as is only when the ID-number fields it is
// made of (the field paths its (record).key annotation names) all pass; when
// the annotation names none of them (a table's primary key "as stored"), only
// when every ID-number field of the record passes.
bool key_passes(const Policy::TopicPlan& plan) {
  const std::string& recipe =
      plan.payload->message_type()->options().GetExtension(hutong::v1::record).key();
  std::vector<std::string> named;
  std::string token;
  for (char ch : recipe + " ") {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.') {
      token.push_back(ch);
    } else if (!token.empty()) {
      if (plan.id_fields.contains(token)) named.push_back(token);
      token.clear();
    }
  }
  if (named.empty()) named.assign(plan.id_fields.begin(), plan.id_fields.end());
  for (const std::string& path : named) {
    if (plan.actions.at(path) != FieldAction::kPass) return false;
  }
  return true;
}

// Appends the masked or hashed form of `value` to `out`.
void transform(std::string_view value, FieldAction action, int sensitivity,
               const domain::KeyedHasher& hasher, std::string& out) {
  if (action == FieldAction::kHash) return hasher.append_hex_digest(value, out);
  switch (sensitivity) {
    case hutong::v1::SENSITIVITY_ID_NUMBER:
      return domain::append_masked_resident_id(value, out);
    case hutong::v1::SENSITIVITY_PHONE:
      return domain::append_masked_phone(value, out);
    case hutong::v1::SENSITIVITY_NAME:
      return domain::append_masked_name(value, out);
    default:
      return domain::append_masked(value, 0, 4, out);
  }
}

// Rewrites serialized message bytes by a plan, on the wire format itself:
// fields without a plan are copied byte for byte; masked and hashed text is
// replaced, dropped fields left out, and messages with something to change
// inside rewritten recursively. `divisions` (when given) receives the division
// fields' values. False when the bytes are not a protobuf message.
bool rewrite(std::string_view in, const std::vector<Policy::FieldPlan>& plans,
             const domain::KeyedHasher& hasher, std::string& out,
             std::vector<std::string_view>* divisions, int depth = 0) {
  std::string_view rest = in;
  while (!rest.empty()) {
    const char* field_start = rest.data();
    uint64_t tag = 0;
    if (!get_varint(rest, tag)) return false;
    uint32_t number = static_cast<uint32_t>(tag >> 3);
    uint32_t wire = tag & 7;
    std::string_view value;
    uint64_t scalar = 0;
    switch (wire) {
      case 0:
        if (!get_varint(rest, scalar)) return false;
        break;
      case 1:
      case 5: {
        size_t size = wire == 1 ? 8 : 4;
        if (rest.size() < size) return false;
        rest.remove_prefix(size);
        break;
      }
      case 2:
        if (!get_varint(rest, scalar) || scalar > rest.size()) return false;
        value = rest.substr(0, scalar);
        rest.remove_prefix(scalar);
        break;
      default:  // groups are not used by the schemas
        return false;
    }
    const char* field_end = rest.data();
    if (number == 0) return false;
    const Policy::FieldPlan* plan = nullptr;
    for (const Policy::FieldPlan& candidate : plans) {
      if (static_cast<uint32_t>(candidate.field->number()) == number) {
        plan = &candidate;
        break;
      }
    }
    if (!plan) {
      out.append(field_start, field_end);
      continue;
    }
    if (!plan->children.empty()) {
      if (wire != 2 || depth >= 16) {
        out.append(field_start, field_end);
        continue;
      }
      thread_local std::vector<std::string> scratch(17);
      std::string& inner = scratch[depth];
      inner.clear();
      if (!rewrite(value, plan->children, hasher, inner, divisions, depth + 1)) {
        return false;
      }
      put_varint(out, tag);
      put_varint(out, inner.size());
      out.append(inner);
      continue;
    }
    if (plan->division && wire == 2 && divisions) divisions->push_back(value);
    switch (plan->action) {
      case FieldAction::kPass:
        out.append(field_start, field_end);
        break;
      case FieldAction::kDrop:
        break;
      case FieldAction::kMask:
      case FieldAction::kHash:
        // Only text can be masked or hashed; anything else is left out.
        if (wire == 2 && plan->field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          thread_local std::string changed;
          changed.clear();
          transform(value, plan->action, plan->sensitivity, hasher, changed);
          append_bytes_field(out, static_cast<int>(number), changed);
        }
        break;
    }
  }
  return true;
}

bool matches(const std::vector<std::string_view>& values, std::span<const std::string> prefixes) {
  if (prefixes.empty()) return true;
  for (std::string_view value : values) {
    for (const std::string& prefix : prefixes) {
      if (!value.empty() && value.starts_with(prefix)) return true;
    }
  }
  return false;
}

}  // namespace

std::string_view sensitivity_class_name(int sensitivity) {
  return sensitivity > 0 && sensitivity < static_cast<int>(std::size(kClasses))
             ? kClasses[sensitivity]
             : std::string_view();
}

bool is_division_field(const FieldDescriptor& field) {
  const std::string& name = field.name();
  return name == "division_code" || name.ends_with("_division");
}

Result<std::shared_ptr<const Policy>> Policy::compile(
    const config::DepartmentConfig& department, size_t index,
    std::shared_ptr<const domain::KeyedHasher> hasher) {
  std::string where = "departments[" + std::to_string(index) + "]";
  std::shared_ptr<Policy> policy(new Policy());
  policy->department_ = department.name;
  policy->prefixes_ = department.division_prefixes;
  policy->hasher_ = std::move(hasher);
  static const pipeline::TopicRegistry registry;
  std::string problems;
  auto problem = [&](const std::string& text) {
    problems += (problems.empty() ? "" : "\n") + text;
  };
  for (size_t t = 0; t < department.topics.size(); ++t) {
    const std::string& topic = department.topics[t];
    if (!registry.field_for(topic)) {
      std::string known;
      for (const std::string& k : registry.topics())
        known += (known.empty() ? "" : ", ") + k;
      problem(where + ".topics[" + std::to_string(t) + "]: no record type has topic \"" + topic +
              "\"; known topics: " + known);
      continue;
    }
    policy->topics_.insert(topic);
  }
  Rules rules;
  for (const config::FieldRule& rule : department.fields) {
    std::string path = where + ".fields." + rule.selector;
    size_t colon = rule.selector.find(':');
    if (colon == std::string::npos) {
      bool known = false;
      for (std::string_view cls : kClasses)
        known = known || (!cls.empty() && cls == rule.selector);
      if (!known) {
        problem(path +
                ": expected a sensitivity class (id_number, phone, bank_account, name, health) "
                "or topic:field.path");
      }
      rules.by_class[rule.selector] = rule.action;
      continue;
    }
    std::string topic = rule.selector.substr(0, colon);
    if (!registry.field_for(topic)) {
      problem(path + ": no record type has topic \"" + topic + "\"");
      continue;
    }
    if (!policy->topics_.contains(topic)) {
      problem(path + ": topic \"" + topic + "\" is not among the department's topics");
    }
    rules.by_path[rule.selector] = rule.action;
  }
  for (const std::string& topic : policy->topics_) {
    auto plan = std::make_unique<TopicPlan>();
    plan->topic = topic;
    plan->payload = registry.field_for(topic);
    std::vector<FieldPlan> fields;
    plan_fields(plan->payload->message_type(), topic, "", rules, false, *plan, fields, 0);
    plan->envelope.push_back(
        FieldPlan{plan->payload, FieldAction::kPass, 0, std::move(fields), false});
    plan->key_passes = key_passes(*plan);
    policy->plans_.push_back(std::move(plan));
  }
  for (const auto& [selector, action] : rules.by_path) {
    if (rules.used_paths.contains(selector)) continue;
    std::string topic = selector.substr(0, selector.find(':'));
    if (!policy->topics_.contains(topic)) continue;  // reported above
    problem(where + ".fields." + selector + ": the record of topic \"" + topic +
            "\" has no field \"" + selector.substr(topic.size() + 1) + "\"");
  }
  for (const auto& [selector, action] : rules.by_path) {
    if (!rules.used_paths.contains(selector)) continue;
    if (action == FieldAction::kPass || action == FieldAction::kDrop) continue;
    std::string topic = selector.substr(0, selector.find(':'));
    const Descriptor* type = registry.field_for(topic)->message_type();
    const FieldDescriptor* field = nullptr;
    std::string_view rest = std::string_view(selector).substr(topic.size() + 1);
    while (type && !rest.empty()) {
      size_t dot = rest.find('.');
      field = type->FindFieldByName(std::string(rest.substr(0, dot)));
      type = field && field->message_type() ? field->message_type() : nullptr;
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    if (field && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      problem(where + ".fields." + selector + ": " + std::string(action_name(action)) +
              " applies to text fields; a message field can only pass or drop");
    }
  }
  if (!problems.empty()) return Status(kPolicyInvalid, problems);
  return std::shared_ptr<const Policy>(std::move(policy));
}

const Policy::TopicPlan* Policy::plan_for(std::string_view topic) const {
  for (const auto& plan : plans_) {
    if (plan->topic == topic) return plan.get();
  }
  return nullptr;
}

std::optional<FieldAction> Policy::action_for(std::string_view topic, std::string_view path) const {
  const TopicPlan* plan = plan_for(topic);
  if (!plan) return std::nullopt;
  auto it = plan->actions.find(path);
  if (it == plan->actions.end()) return std::nullopt;
  return it->second;
}

bool Policy::copies(std::string_view topic) const {
  const TopicPlan* plan = plan_for(topic);
  return plan && plan->untouched() && !(plan->has_division && !prefixes_.empty());
}

Policy::Outcome Policy::render(const journal::RecordView& record,
                               std::span<const std::string> subscriber_prefixes,
                               std::string& out) const {
  const TopicPlan* plan = plan_for(record.topic);
  if (!plan) return Outcome::kFiltered;
  bool filtered_rows = plan->has_division && (!prefixes_.empty() || !subscriber_prefixes.empty()) &&
                       record.op != journal::Op::kDelete;
  out.clear();
  out.reserve(record.value.size() + record.topic.size() + 96);
  if (plan->untouched() && !filtered_rows) {
    // The stored value is the envelope without topic, key and offset; protobuf
    // merges concatenated fields, so appending them completes it unparsed.
    out.append(record.value);
  } else {
    thread_local std::vector<std::string_view> divisions;
    divisions.clear();
    if (!rewrite(record.value, plan->envelope, *hasher_, out,
                 filtered_rows ? &divisions : nullptr)) {
      return Outcome::kUnreadable;
    }
    if (filtered_rows &&
        (!matches(divisions, prefixes_) || !matches(divisions, subscriber_prefixes))) {
      return Outcome::kFiltered;
    }
  }
  append_bytes_field(out, 1, record.topic);
  if (plan->key_passes) {
    append_bytes_field(out, 2, record.key);
  } else {
    put_varint(out, (2 << 3) | 2);
    put_varint(out, domain::KeyedHasher::kHexDigestSize);
    hasher_->append_hex_digest(record.key, out);
  }
  put_varint(out, 3 << 3);  // op, from the journal (the last value of a field wins)
  put_varint(out,
             record.op == journal::Op::kDelete ? hutong::v1::OP_DELETE : hutong::v1::OP_UPSERT);
  put_varint(out, 7 << 3);
  put_varint(out, record.offset);
  return Outcome::kSend;
}

}  // namespace hutong::feed
