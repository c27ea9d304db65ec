// hutong connector status | reload, hutong quarantine list | show | replay:
// operator commands that talk to a running hub over its control channel, or
// read its journal read-only.
#include <google/protobuf/util/json_util.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/config.h"
#include "daemon/control.h"
#include "daemon/hub.h"
#include "domain/encoding.h"

namespace hutong::cli {
namespace {

struct Target {
  std::string data_dir;
  bool json = false;
  std::vector<std::string> positional;
};

// Parses --config FILE | --data-dir DIR, --json, and positional arguments.
bool parse_target(const std::vector<std::string>& args, size_t from, Target& target,
                  std::ostream& err, const char* usage) {
  for (size_t i = from; i < args.size(); ++i) {
    if (args[i] == "--json") {
      target.json = true;
    } else if (args[i] == "--data-dir" && i + 1 < args.size()) {
      target.data_dir = args[++i];
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      config::LoadResult loaded = config::load_config(args[++i], ".");
      if (!loaded.problems.empty()) {
        for (const auto& p : loaded.problems)
          err << p.to_string() << "\n";
        return false;
      }
      target.data_dir = loaded.config.data_dir;
    } else if (args[i].starts_with("--")) {
      err << "unknown option " << args[i] << "\n" << usage;
      return false;
    } else {
      target.positional.push_back(args[i]);
    }
  }
  if (target.data_dir.empty()) {
    err << "which hub? give --config FILE or --data-dir DIR\n" << usage;
    return false;
  }
  return true;
}

int call(const Target& target, const nlohmann::json& request, nlohmann::json& reply,
         std::ostream& err) {
  Result<std::string> text = daemon::control_call(target.data_dir, request.dump());
  if (!text) {
    err << text.status().message() << "\n";
    return 1;
  }
  reply = nlohmann::json::parse(*text);
  if (!reply.value("ok", false) && reply.contains("error")) {
    err << reply["error"].get<std::string>() << "\n";
    return 1;
  }
  return 0;
}

constexpr const char* kConnectorUsage =
    "usage: hutong connector status (--config FILE | --data-dir DIR) [--json]\n"
    "       hutong connector reload (--config FILE | --data-dir DIR)\n"
    "  status  each connector's state, last error, rows read / accepted / quarantined /\n"
    "          duplicate, restarts, last committed position, time since its last record\n"
    "       hutong connector confirm NAME WHAT (--config FILE | --data-dir DIR)\n"
    "  reload  re-read the configuration (like SIGHUP): removed connectors stop, new ones\n"
    "          start, changed ones restart, the others are untouched\n"
    "  confirm confirm what a connector holds for an operator's decision (e.g. a poverty\n"
    "          snapshot that would remove many members: WHAT is its file name); recorded\n"
    "          durably, the connector restarts and goes on\n";

constexpr const char* kQuarantineUsage =
    "usage: hutong quarantine list (--config FILE | --data-dir DIR) [--json]\n"
    "       hutong quarantine show KEY (--config FILE | --data-dir DIR)\n"
    "       hutong quarantine replay KEY (--config FILE | --data-dir DIR)\n"
    "  list    the rows held in quarantine: key, reason code, where, message\n"
    "  show    one row in full, with its original bytes\n"
    "  replay  have the connector re-read the row (after its source or a rule was\n"
    "          fixed); a row that now goes through leaves the quarantine\n";

std::string original_text(const std::string& bytes) {
  domain::TextDecoder decoder("");
  Result<domain::DecodedLine> line = decoder.decode(bytes, 1, 0);
  return line ? line->text : std::string();
}

}  // namespace

int connector(const std::vector<std::string>& args, std::istream&, std::ostream& out,
              std::ostream& err) {
  if (args.empty() || (args[0] != "status" && args[0] != "reload" && args[0] != "confirm")) {
    err << kConnectorUsage;
    return 2;
  }
  Target target;
  if (!parse_target(args, 1, target, err, kConnectorUsage)) return 2;
  nlohmann::json reply;
  if (args[0] == "confirm") {
    if (target.positional.size() != 2) {
      err << kConnectorUsage;
      return 2;
    }
    int rc = call(target,
                  {{"command", "confirm"},
                   {"connector", target.positional[0]},
                   {"what", target.positional[1]}},
                  reply, err);
    if (rc != 0) return rc;
    if (!reply["ok"].get<bool>()) {
      err << reply["error"].get<std::string>() << "\n";
      return 1;
    }
    out << "confirmed " << target.positional[1] << " for " << target.positional[0] << "\n";
    return 0;
  }
  if (args[0] == "reload") {
    int rc = call(target, {{"command", "reload"}}, reply, err);
    if (rc != 0) return rc;
    for (const auto& p : reply["problems"])
      err << p.get<std::string>() << "\n";
    if (!reply["ok"].get<bool>()) {
      err << "reload refused: the running configuration is unchanged\n";
      return 1;
    }
    out << "reloaded\n";
    return 0;
  }
  int rc = call(target, {{"command", "status"}}, reply, err);
  if (rc != 0) return rc;
  if (target.json) {
    out << reply.dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(20) << "connector" << std::setw(12) << "state" << std::setw(10)
      << "read" << std::setw(10) << "accepted" << std::setw(12) << "quarantined" << std::setw(10)
      << "duplicate" << std::setw(10) << "restarts"
      << "position / last error\n";
  for (const auto& c : reply["connectors"]) {
    out << std::left << std::setw(20) << c["name"].get<std::string>() << std::setw(12)
        << c["state"].get<std::string>() << std::setw(10) << c["rows_read"].get<uint64_t>()
        << std::setw(10) << c["accepted"].get<uint64_t>() << std::setw(12)
        << c["quarantined"].get<uint64_t>() << std::setw(10) << c["duplicate"].get<uint64_t>()
        << std::setw(10) << c["restarts"].get<uint64_t>() << c["last_position"].get<std::string>();
    if (!c["last_error"].get<std::string>().empty())
      out << "  " << c["last_error"].get<std::string>();
    out << "\n";
  }
  return 0;
}

int quarantine(const std::vector<std::string>& args, std::istream&, std::ostream& out,
               std::ostream& err) {
  if (args.empty() || (args[0] != "list" && args[0] != "show" && args[0] != "replay")) {
    err << kQuarantineUsage;
    return 2;
  }
  Target target;
  if (!parse_target(args, 1, target, err, kQuarantineUsage)) return 2;
  if (args[0] != "list" && target.positional.size() != 1) {
    err << "hutong quarantine " << args[0]
        << ": which row? give its KEY (see hutong quarantine list)\n";
    return 2;
  }
  if (args[0] == "replay") {
    nlohmann::json reply;
    int rc = call(target, {{"command", "replay"}, {"key", target.positional[0]}}, reply, err);
    if (rc != 0) return rc;
    if (reply["quarantined"].get<uint64_t>() > 0) {
      out << "still rejected: the row stays in quarantine (hutong quarantine show for the "
             "reason)\n";
      return 1;
    }
    out << "replayed: " << reply["accepted"].get<uint64_t>()
        << " record(s) accepted; the row left quarantine\n";
    return 0;
  }
  journal::JournalOptions options;
  options.directory = target.data_dir + "/journal";
  options.read_only = true;
  Result<std::unique_ptr<journal::Journal>> j = journal::Journal::open(options);
  if (!j) {
    err << j.status().to_string() << "\n";
    return 1;
  }
  Result<std::vector<hutong::v1::Envelope>> entries = daemon::quarantine_entries(**j);
  if (!entries) {
    err << entries.status().to_string() << "\n";
    return 1;
  }
  if (args[0] == "list") {
    for (const auto& e : *entries) {
      const auto& q = e.quarantined_row();
      if (target.json) {
        nlohmann::json row = {{"key", e.key()},
                              {"reason_code", q.reason_code()},
                              {"connector", q.connector()},
                              {"source", q.source_name()},
                              {"row", q.row_number()},
                              {"message", q.message()}};
        out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        out << e.key() << "\t" << q.reason_code() << "\t" << q.message() << "\n";
      }
    }
    if (!target.json) out << entries->size() << " row(s) in quarantine\n";
    return 0;
  }
  for (const auto& e : *entries) {
    if (e.key() != target.positional[0]) continue;
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(e.quarantined_row(), &json, options);
    out << json;
    std::string text = original_text(e.quarantined_row().original());
    if (!text.empty()) out << "original as text: " << text << "\n";
    return 0;
  }
  err << "no quarantined row has the key \"" << target.positional[0] << "\"\n";
  return 1;
}

}  // namespace hutong::cli
