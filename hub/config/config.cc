#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "domain/division.h"

namespace hutong::config {
namespace {

int line_of(const YAML::Node& node) {
  return node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
}

class Checker {
 public:
  Checker(std::string file, std::vector<Problem>& problems)
      : file_(std::move(file)), problems_(problems) {}

  void problem(const YAML::Node& node, const std::string& path, const std::string& message) {
    problems_.push_back({file_, node ? line_of(node) : 0, path, message});
  }

  // Every key of the map must be one of `allowed`.
  bool only_keys(const YAML::Node& map, const std::string& path,
                 std::initializer_list<const char*> allowed) {
    if (!map.IsMap()) {
      problem(map, path, std::string("expected a mapping, found ") + kind(map));
      return false;
    }
    for (const auto& entry : map) {
      std::string key = entry.first.as<std::string>();
      bool known = false;
      for (const char* a : allowed)
        known = known || key == a;
      if (!known) {
        std::string list;
        for (const char* a : allowed)
          list += (list.empty() ? "" : ", ") + std::string(a);
        problem(entry.first, join(path, key), "unknown key; expected one of: " + list);
      }
    }
    return true;
  }

  std::string string(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      problem(node, path, std::string("expected a text value, found ") + kind(node));
      return "";
    }
    return node.as<std::string>();
  }

  int64_t integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) {
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    try {
      size_t used = 0;
      int64_t value = std::stoll(text, &used);
      if (used == text.size() && value >= min && value <= max) return value;
    } catch (const std::exception&) {
    }
    problem(node, path,
            "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                ", found " + describe(node));
    return min;
  }

  // An optional duration in milliseconds under `key`, kept in `target` when valid.
  void milliseconds(const YAML::Node& map, const std::string& path, const char* key, int64_t min,
                    int64_t max, std::chrono::milliseconds& target) {
    if (const YAML::Node value = map[key]) {
      target = std::chrono::milliseconds(integer(value, path + "." + key, min, max));
    }
  }

  bool boolean(const YAML::Node& node, const std::string& path) {
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    if (text == "true") return true;
    if (text == "false") return false;
    problem(node, path, "expected true or false, found " + describe(node));
    return false;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static const char* kind(const YAML::Node& node) {
    if (!node || node.IsNull()) return "nothing";
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "a text value";
  }
  static std::string describe(const YAML::Node& node) {
    if (node && node.IsScalar()) return "\"" + node.as<std::string>() + "\"";
    return kind(node);
  }

 private:
  std::string file_;
  std::vector<Problem>& problems_;
};

void read_hub(Checker& c, const YAML::Node& hub, HubConfig& config) {
  if (!c.only_keys(hub, "hub", {"data_dir", "plugin_dir", "runner", "journal", "log_level"}))
    return;
  if (hub["data_dir"]) {
    config.data_dir = c.string(hub["data_dir"], "hub.data_dir");
  } else {
    c.problem(hub, "hub.data_dir",
              "is required: the directory for the journal and the hub's state");
  }
  if (hub["plugin_dir"]) config.plugin_dir = c.string(hub["plugin_dir"], "hub.plugin_dir");
  if (hub["runner"]) config.runner = c.string(hub["runner"], "hub.runner");
  if (hub["log_level"]) {
    config.log_level = c.string(hub["log_level"], "hub.log_level");
    static const std::set<std::string> levels = {"debug", "info", "warn", "error"};
    if (!levels.contains(config.log_level)) {
      c.problem(hub["log_level"], "hub.log_level",
                "expected debug, info, warn or error, found \"" + config.log_level + "\"");
    }
  }
  if (const YAML::Node journal = hub["journal"]) {
    if (!c.only_keys(journal, "hub.journal",
                     {"durability", "sync_interval_ms", "sync_records", "segment_mb"})) {
      return;
    }
    if (journal["durability"]) {
      std::string d = c.string(journal["durability"], "hub.journal.durability");
      if (d == "none")
        config.durability = journal::Durability::kNone;
      else if (d == "group")
        config.durability = journal::Durability::kGroup;
      else if (d == "each")
        config.durability = journal::Durability::kEach;
      else
        c.problem(journal["durability"], "hub.journal.durability",
                  "expected none, group or each, found \"" + d + "\"");
    }
    if (journal["sync_interval_ms"]) {
      config.sync_interval = std::chrono::milliseconds(
          c.integer(journal["sync_interval_ms"], "hub.journal.sync_interval_ms", 1, 10000));
    }
    if (journal["sync_records"]) {
      config.sync_records = static_cast<uint32_t>(
          c.integer(journal["sync_records"], "hub.journal.sync_records", 1, 10'000'000));
    }
    if (journal["segment_mb"]) {
      config.segment_bytes =
          static_cast<uint64_t>(c.integer(journal["segment_mb"], "hub.journal.segment_mb", 1, 4096))
          << 20;
    }
  }
}

// Connector and department names: letters, digits, '_' and '-'.
bool valid_name(const std::string& name, size_t max_length) {
  bool ok = !name.empty() && name.size() <= max_length;
  for (char ch : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-');
  return ok;
}

void read_connector(Checker& c, const YAML::Node& node, size_t index, ConnectorConfig& connector) {
  std::string path = "connectors[" + std::to_string(index) + "]";
  connector.line = line_of(node);
  if (!c.only_keys(node, path,
                   {"name", "plugin", "isolation", "enabled", "poll_interval_ms", "batch_records",
                    "restart_backoff_ms", "max_backoff_ms", "heartbeat_timeout_ms",
                    "poll_timeout_ms", "topics", "department", "state_dir", "settings"})) {
    return;
  }
  if (node["name"]) {
    connector.name = c.string(node["name"], path + ".name");
    if (!valid_name(connector.name, std::string::npos)) {
      c.problem(node["name"], path + ".name",
                "expected letters, digits, '_' or '-', found \"" + connector.name + "\"");
    }
  } else {
    c.problem(node, path + ".name", "is required");
  }
  if (node["plugin"]) {
    connector.plugin = c.string(node["plugin"], path + ".plugin");
  } else {
    c.problem(node, path + ".plugin", "is required: the plugin's name or the path of its .so");
  }
  if (node["isolation"]) {
    std::string i = c.string(node["isolation"], path + ".isolation");
    if (i == "process")
      connector.isolation = Isolation::kProcess;
    else if (i == "in_process")
      connector.isolation = Isolation::kInProcess;
    else
      c.problem(node["isolation"], path + ".isolation",
                "expected process or in_process, found \"" + i + "\"");
  }
  if (node["enabled"]) connector.enabled = c.boolean(node["enabled"], path + ".enabled");
  c.milliseconds(node, path, "poll_interval_ms", 1, 86'400'000, connector.poll_interval);
  if (node["batch_records"]) {
    connector.batch_records =
        static_cast<uint32_t>(c.integer(node["batch_records"], path + ".batch_records", 1, 100000));
  }
  c.milliseconds(node, path, "restart_backoff_ms", 1, 3'600'000, connector.restart_backoff);
  c.milliseconds(node, path, "max_backoff_ms", 1, 86'400'000, connector.max_backoff);
  c.milliseconds(node, path, "heartbeat_timeout_ms", 100, 3'600'000, connector.heartbeat_timeout);
  c.milliseconds(node, path, "poll_timeout_ms", 100, 86'400'000, connector.poll_timeout);
  if (const YAML::Node topics = node["topics"]) {
    if (!topics.IsSequence()) {
      c.problem(topics, path + ".topics",
                std::string("expected a list of topics, found ") + Checker::kind(topics));
    } else {
      for (size_t t = 0; t < topics.size(); ++t) {
        connector.topics.push_back(
            c.string(topics[t], path + ".topics[" + std::to_string(t) + "]"));
      }
    }
  }
  if (node["department"]) connector.department = c.string(node["department"], path + ".department");
  if (node["state_dir"]) connector.state_dir = c.string(node["state_dir"], path + ".state_dir");
  if (const YAML::Node settings = node["settings"]) {
    if (!settings.IsMap()) {
      c.problem(settings, path + ".settings",
                std::string("expected a mapping, found ") + Checker::kind(settings));
    } else {
      for (const auto& entry : settings) {
        std::string key = entry.first.as<std::string>();
        std::string value = c.string(entry.second, path + ".settings." + key);
        connector.settings.emplace_back(key, value);
      }
    }
  }
}

void read_string_list(Checker& c, const YAML::Node& node, const std::string& path,
                      std::vector<std::string>& out) {
  if (!node.IsSequence()) {
    c.problem(node, path, std::string("expected a list, found ") + Checker::kind(node));
    return;
  }
  for (size_t i = 0; i < node.size(); ++i)
    out.push_back(c.string(node[i], path + "[" + std::to_string(i) + "]"));
}

void read_feed(Checker& c, const YAML::Node& node, FeedConfig& feed) {
  if (!c.only_keys(node, "feed",
                   {"endpoint", "keys_dir", "heartbeat_interval_ms", "max_batch_records",
                    "max_batch_kb", "render_cache_mb", "hash_key_file", "hash_algorithm"})) {
    return;
  }
  if (node["endpoint"]) {
    feed.endpoint = c.string(node["endpoint"], "feed.endpoint");
    if (!feed.endpoint.empty() && !feed.endpoint.starts_with("tcp://") &&
        !feed.endpoint.starts_with("ipc://")) {
      c.problem(node["endpoint"], "feed.endpoint",
                "expected tcp://HOST:PORT or ipc://PATH, found \"" + feed.endpoint + "\"");
    }
  }
  if (node["keys_dir"]) feed.keys_dir = c.string(node["keys_dir"], "feed.keys_dir");
  c.milliseconds(node, "feed", "heartbeat_interval_ms", 50, 600'000, feed.heartbeat_interval);
  if (node["max_batch_records"]) {
    feed.max_batch_records = static_cast<uint32_t>(
        c.integer(node["max_batch_records"], "feed.max_batch_records", 1, 100'000));
  }
  if (node["max_batch_kb"]) {
    feed.max_batch_bytes =
        static_cast<uint32_t>(c.integer(node["max_batch_kb"], "feed.max_batch_kb", 1, 65536)) << 10;
  }
  if (node["render_cache_mb"]) {
    feed.render_cache_bytes =
        static_cast<uint64_t>(c.integer(node["render_cache_mb"], "feed.render_cache_mb", 0, 4096))
        << 20;
  }
  if (node["hash_key_file"]) {
    feed.hash_key_file = c.string(node["hash_key_file"], "feed.hash_key_file");
  }
  if (node["hash_algorithm"]) {
    feed.hash_algorithm = c.string(node["hash_algorithm"], "feed.hash_algorithm");
    if (feed.hash_algorithm != "hmac-sha256" && feed.hash_algorithm != "hmac-sm3") {
      c.problem(node["hash_algorithm"], "feed.hash_algorithm",
                "expected hmac-sha256 or hmac-sm3, found \"" + feed.hash_algorithm + "\"");
    }
  }
}

void read_department(Checker& c, const YAML::Node& node, size_t index,
                     DepartmentConfig& department) {
  std::string path = "departments[" + std::to_string(index) + "]";
  department.line = line_of(node);
  if (!c.only_keys(node, path, {"name", "topics", "division_prefixes", "fields"})) return;
  if (node["name"]) {
    department.name = c.string(node["name"], path + ".name");
    if (!valid_name(department.name, 64)) {
      c.problem(
          node["name"], path + ".name",
          "expected letters, digits, '_' or '-' (at most 64), found \"" + department.name + "\"");
    }
  } else {
    c.problem(node, path + ".name", "is required");
  }
  if (node["topics"]) {
    read_string_list(c, node["topics"], path + ".topics", department.topics);
  } else {
    c.problem(node, path + ".topics", "is required: the topics the department may read");
  }
  if (node["division_prefixes"]) {
    read_string_list(c, node["division_prefixes"], path + ".division_prefixes",
                     department.division_prefixes);
    for (size_t i = 0; i < department.division_prefixes.size(); ++i) {
      const std::string& prefix = department.division_prefixes[i];
      if (!domain::is_division_prefix(prefix)) {
        c.problem(node["division_prefixes"][i],
                  path + ".division_prefixes[" + std::to_string(i) + "]",
                  "expected 1 to 12 digits of a division code, found \"" + prefix + "\"");
      }
    }
  }
  if (const YAML::Node fields = node["fields"]) {
    if (!fields.IsMap()) {
      c.problem(fields, path + ".fields",
                std::string("expected a mapping, found ") + Checker::kind(fields));
      return;
    }
    for (const auto& entry : fields) {
      FieldRule rule;
      rule.selector = entry.first.as<std::string>();
      rule.line = line_of(entry.first);
      std::string rule_path = path + ".fields." + rule.selector;
      std::string action = c.string(entry.second, rule_path);
      if (action == "pass")
        rule.action = FieldAction::kPass;
      else if (action == "mask")
        rule.action = FieldAction::kMask;
      else if (action == "hash")
        rule.action = FieldAction::kHash;
      else if (action == "drop")
        rule.action = FieldAction::kDrop;
      else
        c.problem(entry.second, rule_path,
                  "expected pass, mask, hash or drop, found \"" + action + "\"");
      department.fields.push_back(std::move(rule));
    }
  }
}

std::string program_default(const std::string& program_dir, const char* relative) {
  return (std::filesystem::path(program_dir) / relative).lexically_normal().string();
}

}  // namespace

std::string Problem::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line;
  out << ": ";
  if (!path.empty()) out << path << ": ";
  out << message;
  return out.str();
}

LoadResult parse_config(const std::string& yaml_text, const std::string& source,
                        const std::string& program_dir) {
  LoadResult result;
  result.config.source = source;
  result.config.plugin_dir = program_default(program_dir, "../lib/hutong/plugins");
  result.config.runner = program_default(program_dir, "hutong-runner");
  Checker c(source, result.problems);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    result.problems.push_back({source, e.mark.line + 1, "", "not valid YAML: " + e.msg});
    return result;
  }
  if (!root || root.IsNull()) {
    result.problems.push_back(
        {source, 0, "", "the file is empty; expected the keys hub and connectors"});
    return result;
  }
  if (!c.only_keys(root, "", {"hub", "connectors", "feed", "departments"})) return result;
  if (root["hub"]) {
    read_hub(c, root["hub"], result.config);
  } else {
    c.problem(root, "hub", "is required (at least hub.data_dir)");
  }
  if (const YAML::Node connectors = root["connectors"]) {
    if (!connectors.IsSequence()) {
      c.problem(connectors, "connectors",
                std::string("expected a list, found ") + Checker::kind(connectors));
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < connectors.size(); ++i) {
        ConnectorConfig connector;
        read_connector(c, connectors[i], i, connector);
        if (!connector.name.empty() && !names.insert(connector.name).second) {
          c.problem(connectors[i]["name"], "connectors[" + std::to_string(i) + "].name",
                    "\"" + connector.name + "\" is already the name of an earlier connector");
        }
        result.config.connectors.push_back(std::move(connector));
      }
    }
  }
  if (const YAML::Node feed = root["feed"]) read_feed(c, feed, result.config.feed);
  if (const YAML::Node departments = root["departments"]) {
    if (!departments.IsSequence()) {
      c.problem(departments, "departments",
                std::string("expected a list, found ") + Checker::kind(departments));
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < departments.size(); ++i) {
        DepartmentConfig department;
        read_department(c, departments[i], i, department);
        if (!department.name.empty() && !names.insert(department.name).second) {
          c.problem(departments[i]["name"], "departments[" + std::to_string(i) + "].name",
                    "\"" + department.name + "\" is already the name of an earlier department");
        }
        result.config.departments.push_back(std::move(department));
      }
    }
  }
  // A sink's department is a configured one, and its topics are the department's.
  for (size_t i = 0; i < result.config.connectors.size(); ++i) {
    ConnectorConfig& connector = result.config.connectors[i];
    if (connector.department.empty()) continue;
    std::string path = "connectors[" + std::to_string(i) + "]";
    auto department =
        std::find_if(result.config.departments.begin(), result.config.departments.end(),
                     [&](const DepartmentConfig& d) { return d.name == connector.department; });
    if (department == result.config.departments.end()) {
      std::string names;
      for (const DepartmentConfig& d : result.config.departments)
        names += (names.empty() ? "" : ", ") + d.name;
      result.problems.push_back({source, connector.line, path + ".department",
                                 "expected a department configured under departments: (" +
                                     (names.empty() ? std::string("none is") : names) +
                                     "), found \"" + connector.department + "\""});
      continue;
    }
    for (const std::string& topic : connector.topics) {
      if (std::find(department->topics.begin(), department->topics.end(), topic) ==
          department->topics.end()) {
        std::string allowed;
        for (const std::string& t : department->topics)
          allowed += (allowed.empty() ? "" : ", ") + t;
        result.problems.push_back({source, connector.line, path + ".topics",
                                   "department " + department->name + " may not read \"" + topic +
                                       "\" (its topics: " + allowed + ")"});
      }
    }
  }
  if (!result.config.data_dir.empty()) {
    for (ConnectorConfig& connector : result.config.connectors) {
      if (connector.state_dir.empty() && !connector.name.empty())
        connector.state_dir = result.config.data_dir + "/connectors/" + connector.name;
    }
    if (result.config.feed.keys_dir.empty())
      result.config.feed.keys_dir = result.config.data_dir + "/keys";
    if (result.config.feed.hash_key_file.empty())
      result.config.feed.hash_key_file = result.config.feed.keys_dir + "/hash.key";
  }
  return result;
}

LoadResult load_config(const std::string& path, const std::string& program_dir) {
  std::ifstream in(path);
  if (!in) {
    LoadResult result;
    result.problems.push_back(
        {path, 0, "", std::string("cannot read the file: ") + std::strerror(errno)});
    return result;
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path, program_dir);
}

std::vector<Problem> check_settings(ConnectorConfig& connector, size_t index,
                                    const hutong_plugin_descriptor& plugin,
                                    const std::string& file) {
  std::vector<Problem> problems;
  std::string path = "connectors[" + std::to_string(index) + "].settings";
  auto problem = [&](const std::string& key, const std::string& message) {
    problems.push_back({file, connector.line, key.empty() ? path : path + "." + key, message});
  };
  std::vector<std::pair<std::string, std::string>> complete;
  for (const auto& [key, value] : connector.settings) {
    const hutong_config_key* declared = nullptr;
    for (uint32_t i = 0; i < plugin.config_key_count; ++i) {
      if (key == plugin.config_keys[i].name) declared = &plugin.config_keys[i];
    }
    if (!declared) {
      std::string list;
      for (uint32_t i = 0; i < plugin.config_key_count; ++i) {
        list += (list.empty() ? "" : ", ") + std::string(plugin.config_keys[i].name);
      }
      problem(key, "plugin " + std::string(plugin.name) + " has no setting \"" + key +
                       "\"; it accepts: " + (list.empty() ? "none" : list));
      continue;
    }
    bool ok = true;
    std::string expected;
    switch (declared->type) {
      case HUTONG_CONFIG_INT:
      case HUTONG_CONFIG_DURATION: {
        expected =
            declared->type == HUTONG_CONFIG_INT ? "a whole number" : "a duration in milliseconds";
        size_t used = 0;
        try {
          std::stoll(value, &used);
          ok = used == value.size();
        } catch (const std::exception&) {
          ok = false;
        }
        break;
      }
      case HUTONG_CONFIG_BOOL:
        expected = "true or false";
        ok = value == "true" || value == "false";
        break;
      case HUTONG_CONFIG_PATH:
        expected = "a path";
        ok = !value.empty();
        break;
      default:
        break;
    }
    if (!ok) problem(key, "expected " + expected + ", found \"" + value + "\"");
  }
  for (uint32_t i = 0; i < plugin.config_key_count; ++i) {
    const hutong_config_key& declared = plugin.config_keys[i];
    auto given = std::find_if(connector.settings.begin(), connector.settings.end(),
                              [&](const auto& kv) { return kv.first == declared.name; });
    if (given != connector.settings.end()) {
      complete.push_back(*given);
    } else if (declared.default_value) {
      complete.emplace_back(declared.name, declared.default_value);
    } else {
      problem(declared.name, std::string("is required by plugin ") + plugin.name + ": " +
                                 (declared.doc ? declared.doc : ""));
    }
  }
  if (problems.empty()) connector.settings = std::move(complete);
  return problems;
}

}  // namespace hutong::config
