// hutong connector status | reload, hutong quarantine list | show | replay:
// operator commands that talk to a running hub over its control channel, or
// read its journal read-only.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "commands.h"
#include "config/config.h"
#include "daemon/control.h"
#include "daemon/hub.h"
#include "domain/encoding.h"
#include "feed/audit.h"
#include "journal/internal_topics.h"

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
    "       hutong connector confirm NAME WHAT (--config FILE | --data-dir DIR)\n"
    "       hutong connector wait (--config FILE | --data-dir DIR) [--timeout SECONDS]\n"
    "  status  each connector's state (validating, running, failed, held: waiting for an\n"
    "          operator's confirm, stopped), last error, rows read / accepted / quarantined /\n"
    "          duplicate, restarts, last committed position, time since its last record\n"
    "  reload  re-read the configuration (like SIGHUP): removed connectors stop, new ones\n"
    "          start, changed ones restart, the others are untouched\n"
    "  confirm confirm what a connector holds for an operator's decision (e.g. a poverty\n"
    "          snapshot that would remove many members: WHAT is its file name); recorded\n"
    "          durably, the connector restarts and goes on\n"
    "  wait    until every connector runs and has caught up (sources found nothing new,\n"
    "          sinks hold everything) and the journal stopped growing; exit 1 at the\n"
    "          timeout (default 300 s), naming the connectors that have not; exit 3 as soon\n"
    "          as the others have caught up while some connector is held for an operator\n";

constexpr const char* kSummaryUsage =
    "usage: hutong summary (--config FILE | --data-dir DIR) [--json]\n"
    "  per source connector: rows read, accepted, quarantined (by reason code, rows\n"
    "  held now), duplicate, repaired; per department: records delivered through the\n"
    "  feed and through sinks (from the audit trail); per sink: its committed offset.\n"
    "  Counters come from the running hub (since it started); quarantine and\n"
    "  deliveries from the journal (all time).\n";

constexpr const char* kQuarantineUsage =
    "usage: hutong quarantine list (--config FILE | --data-dir DIR) [--json]\n"
    "       hutong quarantine show KEY (--config FILE | --data-dir DIR)\n"
    "       hutong quarantine replay KEY (--config FILE | --data-dir DIR)\n"
    "  list    the rows held in quarantine: key, reason code, where, message\n"
    "  show    one row in full, with its original bytes\n"
    "  replay  have the connector re-read the row (after its source or a rule was\n"
    "          fixed); a row that now goes through leaves the quarantine\n";

// Takes "--timeout N" out of args (seconds).
bool take_timeout(std::vector<std::string>& args, int& seconds, std::ostream& err) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--timeout") continue;
    if (i + 1 >= args.size()) {
      err << "--timeout needs a number of seconds\n";
      return false;
    }
    try {
      seconds = std::stoi(args[i + 1]);
    } catch (const std::exception&) {
      err << "--timeout: expected a number of seconds, found \"" << args[i + 1] << "\"\n";
      return false;
    }
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
               args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    return true;
  }
  return true;
}

// hutong connector wait: polls the status until everything has caught up twice
// in a row with the same journal end.
int wait_caught_up(const Target& target, int timeout_seconds, std::ostream& out,
                   std::ostream& err) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int64_t previous_end = -1;
  std::string waiting_for;
  for (;;) {
    Result<std::string> text =
        daemon::control_call(target.data_dir, nlohmann::json{{"command", "status"}}.dump());
    if (text) {
      nlohmann::json reply = nlohmann::json::parse(*text, nullptr, false);
      bool all = !reply.is_discarded() && reply.value("ok", false);
      waiting_for.clear();
      std::string held;  // connectors that wait for an operator, not for time
      if (all) {
        for (const auto& c : reply["connectors"]) {
          if (c["state"] == "running" && c.value("caught_up", false)) continue;
          std::string line =
              "  " + c["name"].get<std::string>() + ": " + c["state"].get<std::string>();
          if (!c["last_error"].get<std::string>().empty())
            line += " (" + c["last_error"].get<std::string>() + ")";
          if (c["state"] == "held") {
            held += line + "\n";
          } else {
            all = false;
            waiting_for += line + "\n";
          }
        }
      }
      int64_t end = all ? reply["journal_end"].get<int64_t>() : -1;
      if (all && end == previous_end) {
        if (!held.empty()) {
          out << "caught up but for what waits for an operator (hutong connector confirm), "
                 "journal end "
              << end << ":\n"
              << held;
          return 3;
        }
        out << "caught up: every connector, journal end " << end << "\n";
        return 0;
      }
      previous_end = end;
    } else {
      waiting_for = "  the hub: " + text.status().message() + "\n";
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      err << "not caught up after " << timeout_seconds << " s; waiting for:\n" << waiting_for;
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Opens the hub's journal read-only (it may be running) and reads the rows
// held in quarantine; false (said on err) when either fails.
bool read_quarantine(const Target& target, std::unique_ptr<journal::Journal>& journal,
                     std::vector<hutong::v1::Envelope>& entries, std::ostream& err) {
  journal::JournalOptions options;
  options.directory = target.data_dir + "/journal";
  options.read_only = true;
  Result<std::unique_ptr<journal::Journal>> opened = journal::Journal::open(options);
  if (!opened) {
    err << opened.status().to_string() << "\n";
    return false;
  }
  journal = std::move(*opened);
  Result<std::vector<hutong::v1::Envelope>> held = daemon::quarantine_entries(*journal);
  if (!held) {
    err << held.status().to_string() << "\n";
    return false;
  }
  entries = std::move(*held);
  return true;
}

std::string original_text(const std::string& bytes) {
  domain::TextDecoder decoder("");
  Result<domain::DecodedLine> line = decoder.decode(bytes, 1, 0);
  return line ? line->text : std::string();
}

}  // namespace

int connector(const std::vector<std::string>& arguments, std::istream&, std::ostream& out,
              std::ostream& err) {
  std::vector<std::string> args = arguments;
  if (args.empty() ||
      (args[0] != "status" && args[0] != "reload" && args[0] != "confirm" && args[0] != "wait")) {
    err << kConnectorUsage;
    return 2;
  }
  int timeout_seconds = 300;
  if (args[0] == "wait" && !take_timeout(args, timeout_seconds, err)) return 2;
  Target target;
  if (!parse_target(args, 1, target, err, kConnectorUsage)) return 2;
  if (args[0] == "wait") return wait_caught_up(target, timeout_seconds, out, err);
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
    if (!reply.value("resolved", false)) {
      out << "still rejected: the row stays in quarantine (hutong quarantine show for the "
             "reason)\n";
      return 1;
    }
    out << "replayed: " << reply["accepted"].get<uint64_t>()
        << " record(s) accepted; the row left quarantine\n";
    return 0;
  }
  std::unique_ptr<journal::Journal> j;
  std::vector<hutong::v1::Envelope> entries;
  if (!read_quarantine(target, j, entries, err)) return 1;
  if (args[0] == "list") {
    for (const auto& e : entries) {
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
    if (!target.json) out << entries.size() << " row(s) in quarantine\n";
    return 0;
  }
  for (const auto& e : entries) {
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

int summary(const std::vector<std::string>& args, std::istream&, std::ostream& out,
            std::ostream& err) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    out << kSummaryUsage;
    return 0;
  }
  Target target;
  if (!parse_target(args, 0, target, err, kSummaryUsage)) return 2;
  nlohmann::json report = {{"sources", nlohmann::json::array()},
                           {"sinks", nlohmann::json::array()},
                           {"departments", nlohmann::json::object()}};
  // Counters, from the running hub.
  nlohmann::json status;
  Result<std::string> text =
      daemon::control_call(target.data_dir, nlohmann::json{{"command", "status"}}.dump());
  if (text) status = nlohmann::json::parse(*text, nullptr, false);
  bool running = text && !status.is_discarded() && status.value("ok", false);
  // Quarantine and deliveries, from the journal.
  std::unique_ptr<journal::Journal> j;
  std::vector<hutong::v1::Envelope> entries;
  if (!read_quarantine(target, j, entries, err)) return 1;
  std::map<std::string, std::map<std::string, uint64_t>> held;  // connector -> reason -> rows
  for (const auto& e : entries)
    ++held[e.quarantined_row().connector()][e.quarantined_row().reason_code()];
  std::map<std::string, std::map<std::string, std::pair<uint64_t, uint64_t>>> delivered;
  auto reader = j->read_from(0, {std::string(journal::kTopicAudit)});
  for (;;) {
    auto record = reader->next();
    if (!record) {
      err << record.status().to_string() << "\n";
      return 1;
    }
    if (!*record) break;
    auto entry = feed::audit_from_json((*record)->value);
    if (!entry) continue;
    auto& [records, batches] = delivered[entry->department][entry->subscription];
    records += entry->records;
    ++batches;
  }
  std::set<std::string> listed;
  if (running) {
    for (const auto& c : status["connectors"]) {
      std::string name = c["name"].get<std::string>();
      listed.insert(name);
      if (c.value("kind", "") == "sink") {
        report["sinks"].push_back({{"name", name},
                                   {"state", c["state"]},
                                   {"committed_offset", c["last_position"]},
                                   {"records", c["accepted"]},
                                   {"caught_up", c.value("caught_up", false)},
                                   {"last_error", c["last_error"]}});
        continue;
      }
      nlohmann::json source = {{"name", name},
                               {"state", c["state"]},
                               {"read", c["rows_read"]},
                               {"accepted", c["accepted"]},
                               {"quarantined", c["quarantined"]},
                               {"duplicate", c["duplicate"]},
                               {"repaired", c["repaired"]},
                               {"quarantine_held", nlohmann::json::object()},
                               {"last_error", c["last_error"]}};
      for (const auto& [reason, rows] : held[name])
        source["quarantine_held"][reason] = rows;
      report["sources"].push_back(std::move(source));
    }
  }
  for (const auto& [name, reasons] : held) {
    if (listed.contains(name)) continue;  // a connector no longer configured, or no hub running
    nlohmann::json source = {{"name", name}, {"quarantine_held", nlohmann::json::object()}};
    for (const auto& [reason, rows] : reasons)
      source["quarantine_held"][reason] = rows;
    report["sources"].push_back(std::move(source));
  }
  for (const auto& [department, subscriptions] : delivered) {
    nlohmann::json d = nlohmann::json::object();
    for (const auto& [subscription, counts] : subscriptions)
      d[subscription] = {{"records", counts.first}, {"batches", counts.second}};
    report["departments"][department] = std::move(d);
  }
  if (target.json) {
    out << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (!running) out << "(the hub is not running: counters are unavailable)\n";
  out << "Sources\n";
  out << "  " << std::left << std::setw(27) << "connector" << std::setw(10) << "state" << std::right
      << std::setw(10) << "read" << std::setw(10) << "accepted" << std::setw(12) << "quarantined"
      << std::setw(10) << "duplicate" << std::setw(10) << "repaired"
      << "\n";
  for (const auto& s : report["sources"]) {
    out << "  " << std::left << std::setw(27) << s["name"].get<std::string>() << std::setw(10)
        << s.value("state", "-") << std::right;
    for (const char* field : {"read", "accepted"})
      out << std::setw(10) << (s.contains(field) ? s[field].dump() : "-");
    out << std::setw(12) << (s.contains("quarantined") ? s["quarantined"].dump() : "-");
    for (const char* field : {"duplicate", "repaired"})
      out << std::setw(10) << (s.contains(field) ? s[field].dump() : "-");
    out << "\n";
    for (const auto& [reason, rows] : s["quarantine_held"].items())
      out << "      quarantine " << std::left << std::setw(20) << reason << std::right
          << rows.get<uint64_t>() << " row(s)\n";
  }
  out << "Delivered per department (audit trail)\n";
  if (report["departments"].empty()) out << "  nothing delivered yet\n";
  for (const auto& [department, subscriptions] : report["departments"].items()) {
    uint64_t total = 0;
    for (const auto& [name, counts] : subscriptions.items())
      total += counts["records"].get<uint64_t>();
    out << "  " << std::left << std::setw(27) << department << std::right << std::setw(10) << total
        << " record(s)\n";
    for (const auto& [name, counts] : subscriptions.items())
      out << "      " << std::left << std::setw(26) << name << std::right << std::setw(10)
          << counts["records"].get<uint64_t>() << " in " << counts["batches"].get<uint64_t>()
          << " batch(es)\n";
  }
  if (!report["sinks"].empty()) {
    out << "Sinks\n";
    for (const auto& s : report["sinks"]) {
      out << "  " << std::left << std::setw(27) << s["name"].get<std::string>() << std::setw(10)
          << s["state"].get<std::string>() << " offset " << s["committed_offset"].get<std::string>()
          << (s["caught_up"].get<bool>() ? ", caught up" : "");
      if (!s["last_error"].get<std::string>().empty())
        out << "  " << s["last_error"].get<std::string>();
      out << "\n";
    }
  }
  return 0;
}

}  // namespace hutong::cli
