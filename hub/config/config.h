// The hub's configuration file (deploy/hutong.yaml): reading, and validation
// that names, for every problem, the file, line, key path, what was expected
// and what was found. Unknown keys are errors. Plugin settings are checked
// against the keys the plugin declares.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "domain/status.h"
#include "hutong/plugin.h"
#include "journal/journal.h"

namespace hutong::config {

inline constexpr std::string_view kConfigInvalid = "config.invalid";

enum class Isolation { kProcess, kInProcess };

struct ConnectorConfig {
  std::string name;
  std::string plugin;  // as written: a name looked up in plugin_dir, or a path
  Isolation isolation = Isolation::kProcess;
  bool enabled = true;
  std::chrono::milliseconds poll_interval{1000};
  uint32_t batch_records = 512;
  std::chrono::milliseconds restart_backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds heartbeat_timeout{10000};
  std::chrono::milliseconds poll_timeout{300000};
  // Sinks: the topics delivered (empty: every topic but the hub's own, or with
  // a department, every topic the department may read).
  std::vector<std::string> topics;
  // Sinks: the department whose policy (topics, rows, fields) applies to what
  // the sink receives; empty: records as journaled.
  std::string department;
  // The connector's own folder for state kept across restarts (given to the
  // plugin); default <data_dir>/connectors/<name>.
  std::string state_dir;
  // The `settings` map as written (scalars as text); after check_settings():
  // every declared key, defaults filled in.
  std::vector<std::pair<std::string, std::string>> settings;
  int line = 0;  // where the connector starts in the file

  bool operator==(const ConnectorConfig&) const = default;
};

// What a department's policy does with a field before it leaves the hub.
enum class FieldAction {
  kPass,  // as is
  kMask,  // ID number keeps 6 + 4 characters, phone 3 + 4, a name its surname, other text its last
          // 4
  kHash,  // the keyed hash (HMAC) of the value, so departments can join without the value
  kDrop,  // cleared
};

// One rule of a department's `fields`: a sensitivity class (id_number, phone,
// bank_account, name, health) or one field, "topic:field.path".
struct FieldRule {
  std::string selector;
  FieldAction action = FieldAction::kDrop;
  int line = 0;
  bool operator==(const FieldRule&) const = default;
};

// A department that subscribes to change feeds, and its policy.
struct DepartmentConfig {
  std::string name;
  std::vector<std::string> topics;             // the topics it may read
  std::vector<std::string> division_prefixes;  // empty: every row
  std::vector<FieldRule> fields;
  int line = 0;
  bool operator==(const DepartmentConfig&) const = default;
};

// The change-feed endpoint (docs/feed-protocol.md).
struct FeedConfig {
  std::string endpoint;  // e.g. tcp://127.0.0.1:7450; empty: no feed
  std::string keys_dir;  // default <data_dir>/keys: the hub's key pair and authorized/*.pub
  std::chrono::milliseconds heartbeat_interval{1000};
  uint32_t max_batch_records = 1024;
  uint32_t max_batch_bytes = 1 << 20;
  uint64_t render_cache_bytes = 64ull << 20;   // per department: records rendered by its policy
  std::string hash_key_file;                   // default <keys_dir>/hash.key (created when missing)
  std::string hash_algorithm = "hmac-sha256";  // or hmac-sm3
  bool operator==(const FeedConfig&) const = default;
};

struct HubConfig {
  std::string source;  // the file it was read from
  std::string data_dir;
  std::string plugin_dir;  // default: <hutongd's directory>/../lib/hutong/plugins
  std::string runner;      // default: <hutongd's directory>/hutong-runner
  journal::Durability durability = journal::Durability::kGroup;
  std::chrono::microseconds sync_interval{1000};
  uint32_t sync_records = 8192;
  uint64_t segment_bytes = 64ull << 20;
  std::string log_level = "info";
  std::vector<ConnectorConfig> connectors;
  FeedConfig feed;
  std::vector<DepartmentConfig> departments;
};

struct Problem {
  std::string file;
  int line = 0;      // 1-based; 0 when unknown
  std::string path;  // e.g. connectors[1].isolation
  std::string message;
  // A plugin that does not load: at start and on reload the hub carries on with
  // the other connectors (this one stays failed); --check-config reports it.
  bool plugin_unavailable = false;
  std::string to_string() const;
};

// Reads and validates `path`; `program_dir` fills the defaults of plugin_dir
// and runner. Every problem found is listed (nothing is returned then).
struct LoadResult {
  HubConfig config;
  std::vector<Problem> problems;
};
LoadResult load_config(const std::string& path, const std::string& program_dir);
LoadResult parse_config(const std::string& yaml_text, const std::string& source,
                        const std::string& program_dir);

// Checks a connector's settings against its plugin's declared keys (unknown
// keys, types, required keys) and fills in defaults.
std::vector<Problem> check_settings(ConnectorConfig& connector, size_t index,
                                    const hutong_plugin_descriptor& plugin,
                                    const std::string& file);

}  // namespace hutong::config
