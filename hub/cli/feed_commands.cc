// hutong keys new | list | revoke, hutong tail, hutong audit verify,
// hutong subscriptions: the operator's side of the change feeds.
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/config.h"
#include "daemon/control.h"
#include "feed/audit.h"
#include "feed/client.h"
#include "feed/keys.h"
#include "journal/envelope_record.h"

namespace hutong::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKeysUsage =
    "usage: hutong keys new DEPARTMENT --config FILE [--out FILE]\n"
    "         write a CURVE key pair for DEPARTMENT (secret file, mode 0600, to hand to the\n"
    "         department) and authorize its public key on this hub\n"
    "       hutong keys list --config FILE [--json]   authorized keys and their departments\n"
    "       hutong keys revoke NAME --config FILE     remove authorized/NAME.pub (new\n"
    "         connections with that key are refused)\n";

constexpr const char* kTailUsage =
    "usage: hutong tail --topic T [--topic T2 ...] [--from snapshot|live|OFFSET]\n"
    "                   [--key-file K [--endpoint E]] [--config FILE | --data-dir DIR]\n"
    "                   [--count N] [--idle-exit MS] [--division PREFIX]\n"
    "  prints records as JSON lines (one decoded Envelope per line).\n"
    "  With --key-file: through the hub's change feed, as the key's department (its policy\n"
    "  applies). Without: straight from the hub's journal (read-only; needs access to the\n"
    "  data directory). --from defaults to live. Stops after N records, after MS without a\n"
    "  record, or on Ctrl-C.\n";

constexpr const char* kAuditUsage =
    "usage: hutong audit verify --config FILE | --data-dir DIR [--json]\n"
    "  checks the hash chain of the feed audit trail (hub.audit): a modified, inserted or\n"
    "  deleted entry is reported with its offset; exit 1 when the chain is broken.\n"
    "       hutong audit list --config FILE | --data-dir DIR [--department D]\n"
    "  prints the audit entries (who received which offsets, when) as JSON lines.\n";

constexpr const char* kSubscriptionsUsage =
    "usage: hutong subscriptions --config FILE | --data-dir DIR [--json]\n"
    "  the running hub's feed subscriptions: connected or not, stored cursor, records sent.\n";

std::atomic<bool> interrupted{false};

struct Options {
  std::string config_file;
  std::string data_dir;
  bool json = false;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> named;  // --name value
  std::string value(const std::string& name, const std::string& fallback = "") const {
    for (auto it = named.rbegin(); it != named.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return fallback;
  }
  std::vector<std::string> values(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : named) {
      if (n == name) out.push_back(v);
    }
    return out;
  }
};

bool parse(const std::vector<std::string>& args, size_t from,
           std::initializer_list<const char*> with_value, Options& options, std::ostream& err,
           const char* usage) {
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      options.json = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      err << usage;
      return false;
    }
    bool takes = a == "--config" || a == "--data-dir";
    for (const char* w : with_value)
      takes = takes || a == w;
    if (takes) {
      if (i + 1 >= args.size()) {
        err << a << " needs a value\n" << usage;
        return false;
      }
      if (a == "--config")
        options.config_file = args[++i];
      else if (a == "--data-dir")
        options.data_dir = args[++i];
      else
        options.named.emplace_back(a, args[++i]);
      continue;
    }
    if (a.starts_with("--")) {
      err << "unknown option " << a << "\n" << usage;
      return false;
    }
    options.positional.push_back(a);
  }
  return true;
}

std::optional<config::HubConfig> load(const Options& options, std::ostream& err,
                                      const char* usage) {
  if (options.config_file.empty()) {
    err << "give the hub's configuration: --config FILE\n" << usage;
    return std::nullopt;
  }
  config::LoadResult loaded = config::load_config(options.config_file, ".");
  if (!loaded.problems.empty()) {
    for (const auto& p : loaded.problems)
      err << p.to_string() << "\n";
    return std::nullopt;
  }
  return loaded.config;
}

std::string data_dir_of(const Options& options, std::ostream& err, const char* usage) {
  if (!options.data_dir.empty()) return options.data_dir;
  auto config = load(options, err, usage);
  return config ? config->data_dir : "";
}

int keys(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || (args[0] != "new" && args[0] != "list" && args[0] != "revoke")) {
    err << kKeysUsage;
    return 2;
  }
  Options options;
  if (!parse(args, 1, {"--out"}, options, err, kKeysUsage)) return 2;
  auto config = load(options, err, kKeysUsage);
  if (!config) return 2;
  const std::string& keys_dir = config->feed.keys_dir;
  if (args[0] == "list") {
    std::vector<std::string> problems;
    auto keys = feed::authorized_keys(keys_dir, &problems);
    auto hub_key = feed::read_key_file(keys_dir + "/hub.pub");
    std::set<std::string> departments;
    for (const auto& d : config->departments)
      departments.insert(d.name);
    if (options.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& k : keys) {
        list.push_back({{"name", fs::path(k.file).stem().string()},
                        {"department", k.department},
                        {"public_key", k.public_key},
                        {"department_configured", departments.contains(k.department)}});
      }
      out << nlohmann::json{{"hub_public_key", hub_key ? hub_key->public_key : ""},
                            {"keys", list},
                            {"problems", problems}}
                 .dump(2)
          << "\n";
    } else {
      out << "hub public key: " << (hub_key ? hub_key->public_key : "(none yet: the hub makes it)")
          << "\n";
      out << std::left << std::setw(32) << "name" << std::setw(18) << "department"
          << "public key\n";
      for (const auto& k : keys) {
        out << std::left << std::setw(32) << fs::path(k.file).stem().string() << std::setw(18)
            << k.department << k.public_key
            << (departments.contains(k.department) ? "" : "  (department not configured)") << "\n";
      }
      for (const auto& p : problems)
        err << "unreadable: " << p << "\n";
    }
    return 0;
  }
  if (options.positional.size() != 1) {
    err << kKeysUsage;
    return 2;
  }
  if (args[0] == "revoke") {
    std::string path = keys_dir + "/authorized/" + options.positional[0] + ".pub";
    std::error_code ec;
    if (!fs::remove(path, ec)) {
      err << "no authorized key " << path << "\n";
      return 1;
    }
    out << "revoked " << path << "\n";
    return 0;
  }
  const std::string& department = options.positional[0];
  bool configured = false;
  for (const auto& d : config->departments)
    configured = configured || d.name == department;
  if (!configured) {
    err << "department \"" << department << "\" is not configured in " << options.config_file
        << " (departments: ";
    for (const auto& d : config->departments)
      err << d.name << " ";
    err << ")\n";
    return 1;
  }
  auto hub_key = feed::ensure_hub_key(keys_dir);
  if (!hub_key) {
    err << hub_key.status().message() << "\n";
    return 1;
  }
  auto pair = feed::generate_key_pair();
  if (!pair) {
    err << pair.status().message() << "\n";
    return 1;
  }
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::gmtime(&now));
  std::string name = department + "-" + stamp + "-" + pair->public_key.substr(0, 4);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  }
  pair->department = department;
  pair->hub_public_key = hub_key->public_key;
  pair->endpoint = config->feed.endpoint;
  std::string secret_path = options.value("--out", keys_dir + "/clients/" + name + ".key");
  if (Status s = feed::write_key_file(secret_path, *pair, true); !s) {
    err << s.message() << "\n";
    return 1;
  }
  feed::KeyFile pub = *pair;
  pub.secret_key.clear();
  pub.hub_public_key.clear();
  pub.endpoint.clear();
  std::string pub_path = keys_dir + "/authorized/" + name + ".pub";
  if (Status s = feed::write_key_file(pub_path, pub, false); !s) {
    err << s.message() << "\n";
    return 1;
  }
  out << "secret key for " << department << ": " << secret_path
      << " (mode 0600; hand it to the department)\n"
      << "authorized: " << pub_path << "\n";
  return 0;
}

// The hub's journal, read-only (works while the hub runs); null after saying why.
std::unique_ptr<journal::Journal> open_journal(const std::string& data_dir, std::ostream& err) {
  journal::JournalOptions options;
  options.directory = data_dir + "/journal";
  options.read_only = true;
  auto journal = journal::Journal::open(options);
  if (!journal) {
    err << journal.status().to_string() << "\n";
    return nullptr;
  }
  return std::move(*journal);
}

std::string to_json_line(const hutong::v1::Envelope& envelope) {
  std::string line;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(envelope, &line, print);
  return line;
}

int tail(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options options;
  if (!parse(args, 0,
             {"--topic", "--from", "--key-file", "--endpoint", "--count", "--idle-exit",
              "--division", "--subscription"},
             options, err, kTailUsage)) {
    return 2;
  }
  std::vector<std::string> topics = options.values("--topic");
  std::string from = options.value("--from", "live");
  uint64_t count = std::stoull(options.value("--count", "0"));
  int64_t idle_ms = std::stoll(options.value("--idle-exit", "0"));
  std::optional<uint64_t> offset;
  if (from != "snapshot" && from != "live") {
    try {
      size_t used = 0;
      offset = std::stoull(from, &used);
      if (used != from.size()) throw std::invalid_argument(from);
    } catch (const std::exception&) {
      err << "--from: expected snapshot, live or an offset, found \"" << from << "\"\n";
      return 2;
    }
  }
  ::signal(SIGINT, [](int) { interrupted = true; });
  ::signal(SIGTERM, [](int) { interrupted = true; });
  uint64_t printed = 0;
  auto last_record = std::chrono::steady_clock::now();
  auto idle = [&] {
    return idle_ms > 0 &&
           std::chrono::steady_clock::now() - last_record > std::chrono::milliseconds(idle_ms);
  };
  if (!options.value("--key-file").empty()) {
    feed::FeedClientOptions client;
    client.endpoint = options.value("--endpoint");
    if (Status s = feed::apply_key_file(options.value("--key-file"), client); !s) {
      err << s.message() << "\n";
      return 1;
    }
    if (client.endpoint.empty()) {
      err << "no endpoint: the key file names none; give --endpoint\n";
      return 2;
    }
    client.subscription = options.value("--subscription", "tail-" + std::to_string(::getpid()));
    client.client_name = "hutong tail";
    client.topics = topics;
    client.division_prefixes = options.values("--division");
    client.start = from == "snapshot" ? feed::v1::START_SNAPSHOT
                   : from == "live"   ? feed::v1::START_LIVE
                                      : feed::v1::START_OFFSET;
    client.offset = offset.value_or(0);
    feed::FeedClient feed(client);
    if (Status s = feed.connect(); !s) {
      err << s.message() << "\n";
      return 1;
    }
    while (!interrupted && (count == 0 || printed < count) && !idle()) {
      auto record = feed.next(std::chrono::milliseconds(100));
      if (!record) {
        err << record.status().message() << "\n";
        return 1;
      }
      if (!*record) continue;
      out << to_json_line(**record) << "\n";
      out.flush();
      ++printed;
      last_record = std::chrono::steady_clock::now();
    }
    return 0;
  }
  std::string data_dir = data_dir_of(options, err, kTailUsage);
  if (data_dir.empty()) return 2;
  auto journal = open_journal(data_dir, err);
  if (!journal) return 1;
  std::set<std::string, std::less<>> wanted(topics.begin(), topics.end());
  std::unique_ptr<journal::JournalReader> reader;
  if (from == "snapshot") {
    auto r = journal->snapshot_then_live(wanted);
    if (!r) {
      err << r.status().to_string() << "\n";
      return 1;
    }
    reader = std::move(*r);
  } else {
    reader = journal->read_from(offset.value_or(journal->durable_end()), wanted);
  }
  while (!interrupted && (count == 0 || printed < count) && !idle()) {
    auto record = reader->next(std::chrono::milliseconds(100));
    if (!record) {
      err << record.status().to_string() << "\n";
      return 1;
    }
    if (!*record) continue;
    hutong::v1::Envelope envelope;
    if (!journal::from_record(**record, envelope)) continue;
    out << to_json_line(envelope) << "\n";
    out.flush();
    ++printed;
    last_record = std::chrono::steady_clock::now();
  }
  return 0;
}

int audit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || (args[0] != "verify" && args[0] != "list")) {
    err << kAuditUsage;
    return 2;
  }
  Options options;
  if (!parse(args, 1, {"--department"}, options, err, kAuditUsage)) return 2;
  std::string data_dir = data_dir_of(options, err, kAuditUsage);
  if (data_dir.empty()) return 2;
  auto journal = open_journal(data_dir, err);
  if (!journal) return 1;
  if (args[0] == "list") {
    auto reader = journal->read_from(0, {"hub.audit"});
    std::string department = options.value("--department");
    for (;;) {
      auto record = reader->next();
      if (!record || !*record) break;
      auto entry = feed::audit_from_json((*record)->value);
      if (!entry || (!department.empty() && entry->department != department)) continue;
      out << (*record)->value << "\n";
    }
    return 0;
  }
  feed::AuditVerifyReport report = feed::verify_audit(*journal);
  if (options.json) {
    out << nlohmann::json{{"ok", report.problems.empty()},
                          {"entries", report.entries},
                          {"first_sequence", report.first_sequence},
                          {"last_sequence", report.last_sequence},
                          {"problems", report.problems}}
               .dump(2)
        << "\n";
  } else {
    for (const auto& p : report.problems)
      out << "BROKEN: " << p << "\n";
    if (report.problems.empty()) {
      out << "ok: " << report.entries << " audit entries, chain intact";
      if (report.entries)
        out << " (sequence " << report.first_sequence << " to " << report.last_sequence << ")";
      out << "\n";
    } else {
      out << report.problems.size() << " problem(s) in " << report.entries << " audit entries\n";
    }
  }
  return report.problems.empty() ? 0 : 1;
}

int subscriptions(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options options;
  if (!parse(args, 0, {}, options, err, kSubscriptionsUsage)) return 2;
  std::string data_dir = data_dir_of(options, err, kSubscriptionsUsage);
  if (data_dir.empty()) return 2;
  Result<std::string> text = daemon::control_call(data_dir, R"({"command":"status"})");
  if (!text) {
    err << text.status().message() << "\n";
    return 1;
  }
  nlohmann::json reply = nlohmann::json::parse(*text, nullptr, false);
  if (reply.is_discarded() || !reply.contains("subscriptions")) {
    err << "unexpected answer from the hub: " << *text << "\n";
    return 1;
  }
  if (options.json) {
    out << reply["subscriptions"].dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(16) << "department" << std::setw(24) << "subscription"
      << std::setw(11) << "connected" << std::setw(14) << "cursor" << std::setw(14) << "sent"
      << "scanned to\n";
  for (const auto& s : reply["subscriptions"]) {
    out << std::left << std::setw(16) << s["department"].get<std::string>() << std::setw(24)
        << s["subscription"].get<std::string>() << std::setw(11)
        << (s["connected"].get<bool>() ? "yes" : "no") << std::setw(14)
        << (s["cursor"].is_null() ? std::string("-") : std::to_string(s["cursor"].get<uint64_t>()))
        << std::setw(14) << s["records_sent"].get<uint64_t>() << s["scanned_to"].get<uint64_t>()
        << "\n";
  }
  return 0;
}

}  // namespace

int keys(const std::vector<std::string>& args, std::istream&, std::ostream& out,
         std::ostream& err) {
  return keys(args, out, err);
}
int tail(const std::vector<std::string>& args, std::istream&, std::ostream& out,
         std::ostream& err) {
  return tail(args, out, err);
}
int audit(const std::vector<std::string>& args, std::istream&, std::ostream& out,
          std::ostream& err) {
  return audit(args, out, err);
}
int subscriptions(const std::vector<std::string>& args, std::istream&, std::ostream& out,
                  std::ostream& err) {
  return subscriptions(args, out, err);
}

}  // namespace hutong::cli
