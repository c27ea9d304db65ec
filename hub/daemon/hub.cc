#include "daemon/hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "feed/keys.h"
#include "journal/envelope_record.h"
#include "journal/internal_topics.h"

namespace hutong::daemon {
namespace {

int64_t mtime_of(const std::string& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  return ec ? 0 : static_cast<int64_t>(t.time_since_epoch().count());
}

std::string plugin_path_of(const config::HubConfig& config,
                           const config::ConnectorConfig& connector) {
  return plugin_host::resolve_plugin_path(connector.plugin, config.plugin_dir);
}

// A sink connector's department: its policy renders what the sink receives, and
// every delivery goes into the audit trail first, as for the change feeds.
class DepartmentSink : public plugin_host::SinkDepartment {
 public:
  DepartmentSink(std::shared_ptr<const feed::Policy> policy,
                 std::shared_ptr<feed::AuditChain> audit, journal::Journal& journal)
      : policy_(std::move(policy)), audit_(std::move(audit)), journal_(journal) {}
  const std::string& name() const override { return policy_->department(); }
  std::vector<std::string> topics() const override {
    return {policy_->topics().begin(), policy_->topics().end()};
  }
  bool render(const journal::RecordView& record, std::string& envelope) const override {
    return policy_->render(record, {}, envelope) == feed::Policy::Outcome::kSend;
  }
  Status record_delivery(const std::string& sink, uint64_t first, uint64_t last,
                         uint64_t count) override {
    feed::AuditEntry entry;
    entry.department = policy_->department();
    entry.subscription = "sink:" + sink;
    entry.first_offset = first;
    entry.last_offset = last;
    entry.records = count;
    entry.sent_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    return audit_->record(journal_, entry);
  }

 private:
  std::shared_ptr<const feed::Policy> policy_;
  std::shared_ptr<feed::AuditChain> audit_;
  journal::Journal& journal_;
};

// Policy problems ("departments[i].path: message" lines) as configuration problems.
void add_policy_problems(const config::HubConfig& config, size_t index, const Status& status,
                         std::vector<config::Problem>& problems) {
  std::string_view text = status.message();
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    size_t colon = line.find(": ");
    problems.push_back(
        {config.source, config.departments[index].line, std::string(line.substr(0, colon)),
         std::string(colon == std::string_view::npos ? line : line.substr(colon + 2))});
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
}

}  // namespace

std::vector<config::Problem> Hub::check(config::HubConfig& config) {
  std::vector<config::Problem> problems;
  auto hasher =
      domain::KeyedHasher::create(domain::HashAlgorithm::kHmacSha256, "configuration-check-only");
  for (size_t i = 0; i < config.departments.size(); ++i) {
    auto policy = feed::Policy::compile(config.departments[i], i, *hasher);
    if (!policy) add_policy_problems(config, i, policy.status(), problems);
  }
  bool sinks_serve_departments = std::any_of(config.connectors.begin(), config.connectors.end(),
                                             [](const auto& c) { return !c.department.empty(); });
  if (!config.departments.empty() && config.feed.endpoint.empty() && !sinks_serve_departments) {
    problems.push_back({config.source, config.departments.front().line, "feed.endpoint",
                        "departments are configured but neither the feed (no endpoint) nor a "
                        "sink connector serves them; set feed.endpoint (e.g. "
                        "tcp://127.0.0.1:7450) or give a sink connector a department"});
  }
  for (size_t i = 0; i < config.connectors.size(); ++i) {
    config::ConnectorConfig& connector = config.connectors[i];
    std::string path = plugin_path_of(config, connector);
    auto library = plugin_host::PluginLibrary::load(path);
    if (!library) {
      problems.push_back({config.source, connector.line,
                          "connectors[" + std::to_string(i) + "].plugin",
                          library.status().to_string(), true});
      continue;
    }
    for (config::Problem& p :
         config::check_settings(connector, i, (*library)->descriptor(), config.source)) {
      problems.push_back(std::move(p));
    }
    if (!connector.department.empty() && (*library)->descriptor().kind != HUTONG_PLUGIN_SINK) {
      problems.push_back({config.source, connector.line,
                          "connectors[" + std::to_string(i) + "].department",
                          "only sink connectors deliver to a department; plugin " +
                              std::string((*library)->descriptor().name) + " is a source"});
    }
  }
  return problems;
}

Hub::Hub(config::HubConfig config, std::unique_ptr<journal::Journal> journal)
    : config_(std::move(config)), journal_(std::move(journal)) {
  ingest_ = std::make_unique<pipeline::Ingest>(*journal_, dedup_);
}

Hub::~Hub() {
  stop();
}

Result<std::unique_ptr<Hub>> Hub::open(config::HubConfig config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return Status(config::kConfigInvalid,
                  "cannot create data_dir " + config.data_dir + ": " + ec.message());
  journal::JournalOptions options;
  options.directory = config.data_dir + "/journal";
  options.durability = config.durability;
  options.sync_interval = config.sync_interval;
  options.sync_records = config.sync_records;
  options.segment_bytes = config.segment_bytes;
  Result<std::unique_ptr<journal::Journal>> journal = journal::Journal::open(options);
  if (!journal) return journal.status();
  std::unique_ptr<Hub> hub(new Hub(std::move(config), std::move(*journal)));
  Status rebuilt = hub->dedup_.rebuild(*hub->journal_);
  if (!rebuilt) return rebuilt;
  // The last committed position of every connector.
  auto reader = hub->journal_->read_from(0, {std::string(journal::kTopicConnectorPosition)});
  for (;;) {
    Result<std::optional<journal::RecordView>> r = reader->next();
    if (!r) return r.status();
    if (!*r) break;
    hub->positions_[std::string((*r)->key)] = std::string((*r)->value);
  }
  auto confirmations = hub->journal_->read_from(0, {std::string(journal::kTopicConfirmation)});
  for (;;) {
    Result<std::optional<journal::RecordView>> r = confirmations->next();
    if (!r) return r.status();
    if (!*r) break;
    hub->confirmations_[std::string((*r)->key)] = std::string((*r)->value);
  }
  spdlog::info("hub: journal at offset {}, {} keys, {} connector positions",
               hub->journal_->next_offset(), hub->dedup_.size(), hub->positions_.size());
  return hub;
}

void Hub::read_positions() {
  auto reader = journal_->read_from(0, {std::string(journal::kTopicConnectorPosition)});
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    positions_[std::string((*r)->key)] = std::string((*r)->value);
  }
}

std::string Hub::committed_position(const std::string& connector) const {
  auto it = positions_.find(connector);
  return it == positions_.end() ? std::string() : it->second;
}

// The connector's configuration as it runs: a `confirmed` setting (declared by
// plugins that hold something until an operator confirms it) carries the last
// `hutong connector confirm` for the connector.
config::ConnectorConfig Hub::as_run(config::ConnectorConfig connector) const {
  auto confirmed = confirmations_.find(connector.name);
  if (confirmed == confirmations_.end()) return connector;
  for (auto& [key, value] : connector.settings) {
    if (key == "confirmed") value = confirmed->second;
  }
  return connector;
}

std::unique_ptr<plugin_host::Connector> Hub::make_connector(
    const config::ConnectorConfig& as_configured) {
  config::ConnectorConfig connector = as_run(as_configured);
  std::string path = plugin_path_of(config_, connector);
  auto library = plugin_host::PluginLibrary::load(path);
  Status load_error = library ? Status::ok() : library.status();
  if (!library) spdlog::error("connector {}: {}", connector.name, load_error.to_string());
  plugin_mtimes_[connector.name] = mtime_of(path);
  plugin_host::SessionFactory factory{config_.runner, config_.data_dir, nullptr};
  if (!connector.department.empty()) {
    auto policy = policies_.find(connector.department);
    if (policy != policies_.end()) {
      factory.department = std::make_shared<DepartmentSink>(policy->second, audit_, *journal_);
      sink_policies_[connector.name] = policy->second;
    } else if (load_error.is_ok()) {
      // Fail closed: never hand a sink records without its department's policy.
      load_error = Status(plugin_host::kPluginFailed,
                          "department " + connector.department + " has no policy in force");
    }
  }
  if (!connector.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(connector.state_dir, ec);
    if (ec) {
      spdlog::error("connector {}: cannot create its state_dir {}: {}", connector.name,
                    connector.state_dir, ec.message());
    }
  }
  return std::make_unique<plugin_host::Connector>(connector, library ? *library : nullptr,
                                                  load_error, *ingest_, factory,
                                                  committed_position(connector.name));
}

Result<feed::Policies> Hub::make_policies(const config::HubConfig& config) {
  if (!hasher_) {
    auto key = feed::ensure_hash_key(config.feed.hash_key_file);
    if (!key) return key.status();
    auto hasher = domain::KeyedHasher::create(config.feed.hash_algorithm == "hmac-sm3"
                                                  ? domain::HashAlgorithm::kHmacSm3
                                                  : domain::HashAlgorithm::kHmacSha256,
                                              *key);
    if (!hasher) return hasher.status();
    hasher_ = *hasher;
  }
  feed::Policies policies;
  for (size_t i = 0; i < config.departments.size(); ++i) {
    const config::DepartmentConfig& department = config.departments[i];
    // An unchanged department keeps its policy object, so that its connected
    // subscribers are left alone by a reload.
    auto before = std::find_if(config_.departments.begin(), config_.departments.end(),
                               [&](const auto& d) { return d.name == department.name; });
    auto current = policies_.find(department.name);
    if (before != config_.departments.end() && *before == department &&
        current != policies_.end()) {
      policies[department.name] = current->second;
      continue;
    }
    auto policy = feed::Policy::compile(department, i, hasher_);
    if (!policy) return policy.status();
    policies[department.name] = *policy;
  }
  return policies;
}

Status Hub::start() {
  std::lock_guard lock(mu_);
  audit_ = std::make_shared<feed::AuditChain>();
  if (Status s = audit_->resume(*journal_); !s) return s;
  if (!config_.departments.empty()) {
    auto policies = make_policies(config_);
    if (!policies) return policies.status();
    policies_ = *policies;
  }
  if (!config_.feed.endpoint.empty()) {
    feed::FeedServerOptions options;
    options.endpoint = config_.feed.endpoint;
    options.keys_dir = config_.feed.keys_dir;
    options.heartbeat_interval = config_.feed.heartbeat_interval;
    options.max_batch_records = config_.feed.max_batch_records;
    options.max_batch_bytes = config_.feed.max_batch_bytes;
    options.render_cache_bytes = config_.feed.render_cache_bytes;
    feed_ = std::make_unique<feed::FeedServer>(*journal_, options, policies_, audit_);
    if (Status s = feed_->start(); !s) {
      feed_.reset();
      return s;
    }
  }
  for (const config::ConnectorConfig& connector : config_.connectors) {
    if (!connector.enabled) continue;
    auto c = make_connector(connector);
    c->start();
    connectors_[connector.name] = std::move(c);
  }
  started_ = true;
  return Status::ok();
}

void Hub::stop() {
  std::lock_guard lock(mu_);
  if (feed_) feed_->stop();
  for (auto& [name, connector] : connectors_)
    connector->stop();
  connectors_.clear();
}

std::vector<config::Problem> Hub::reload() {
  config::LoadResult loaded =
      config::load_config(config_.source, std::filesystem::path(config_.runner).parent_path());
  std::vector<config::Problem> problems = loaded.problems;
  if (problems.empty()) problems = check(loaded.config);
  std::erase_if(problems, [](const config::Problem& p) {
    if (p.plugin_unavailable) spdlog::error("reload: {}", p.to_string());
    return p.plugin_unavailable;
  });
  if (!problems.empty()) {
    for (const auto& p : problems)
      spdlog::error("reload refused: {}", p.to_string());
    return problems;
  }
  loaded.config.plugin_dir = config_.plugin_dir;
  loaded.config.runner = config_.runner;
  std::lock_guard lock(mu_);
  // The new policies first: a sink whose department's policy changed restarts.
  Result<feed::Policies> policies = make_policies(loaded.config);
  if (!policies) spdlog::error("reload: policies unchanged: {}", policies.status().to_string());
  auto department_changed = [&](const std::string& name) {
    auto used = sink_policies_.find(name);
    if (used == sink_policies_.end() || !policies) return false;
    auto now = policies->find(used->second->department());
    return now == policies->end() || now->second != used->second;
  };
  std::map<std::string, const config::ConnectorConfig*> wanted;
  for (const auto& c : loaded.config.connectors) {
    if (c.enabled) wanted[c.name] = &c;
  }
  for (auto it = connectors_.begin(); it != connectors_.end();) {
    auto w = wanted.find(it->first);
    bool changed =
        w == wanted.end() || !(as_run(*w->second) == it->second->config()) ||
        mtime_of(plugin_path_of(loaded.config, *w->second)) != plugin_mtimes_[it->first] ||
        department_changed(it->first);
    if (changed) {
      spdlog::info("reload: stopping connector {}", it->first);
      it->second->stop();
      sink_policies_.erase(it->first);
      it = connectors_.erase(it);
    } else {
      ++it;
    }
  }
  config_.connectors = loaded.config.connectors;
  if (feed_ && loaded.config.feed != config_.feed) {
    spdlog::warn("reload: feed settings changed; they take effect when the hub restarts");
  }
  if (policies) {
    policies_ = *policies;
    if (feed_) feed_->set_policies(*policies);
    config_.departments = loaded.config.departments;
  }
  read_positions();  // stopped connectors' positions, as they last committed them
  for (const auto& [name, connector] : wanted) {
    if (connectors_.contains(name)) continue;
    spdlog::info("reload: starting connector {}", name);
    auto c = make_connector(*connector);
    c->start();
    connectors_[name] = std::move(c);
  }
  return {};
}

std::vector<plugin_host::ConnectorStatus> Hub::status() const {
  std::lock_guard lock(mu_);
  std::vector<plugin_host::ConnectorStatus> out;
  for (const auto& [name, connector] : connectors_)
    out.push_back(connector->status());
  return out;
}

Status Hub::confirm(const std::string& connector, const std::string& what) {
  std::lock_guard lock(mu_);
  auto it = connectors_.find(connector);
  if (it == connectors_.end()) {
    return Status(plugin_host::kPluginFailed, "no connector \"" + connector + "\" is running");
  }
  bool declared = false;
  for (const auto& [key, value] : it->second->config().settings)
    declared = declared || key == "confirmed";
  if (!declared) {
    return Status(plugin_host::kPluginFailed,
                  "connector " + connector + "'s plugin holds nothing for confirmation");
  }
  journal::RecordIn record{journal::Op::kUpsert, journal::kTopicConfirmation, connector, what};
  auto appended = journal_->append(std::span(&record, 1));
  if (!appended) return appended.status();
  confirmations_[connector] = what;
  spdlog::info("connector {}: operator confirmed \"{}\"; restarting it", connector, what);
  config::ConnectorConfig configured = it->second->config();
  it->second->stop();
  connectors_.erase(it);
  read_positions();
  auto c = make_connector(configured);
  c->start();
  connectors_[connector] = std::move(c);
  return Status::ok();
}

std::vector<feed::SubscriptionStatus> Hub::subscriptions() const {
  return feed_ ? feed_->status() : std::vector<feed::SubscriptionStatus>();
}

std::string Hub::feed_public_key() const {
  return feed_ ? feed_->public_key() : std::string();
}

Result<std::vector<hutong::v1::Envelope>> quarantine_entries(const journal::Journal& journal) {
  auto reader = journal.snapshot_then_live({std::string(journal::kTopicQuarantine)});
  if (!reader) return reader.status();
  uint64_t end = journal.durable_end();
  std::vector<hutong::v1::Envelope> out;
  for (;;) {
    Result<std::optional<journal::RecordView>> r = (*reader)->next();
    if (!r) return r.status();
    if (!*r || (*r)->offset >= end) break;
    hutong::v1::Envelope envelope;
    if (journal::from_record(**r, envelope)) out.push_back(std::move(envelope));
  }
  return out;
}

Result<pipeline::BatchOutcome> Hub::replay_quarantined(const std::string& key) {
  Result<std::vector<hutong::v1::Envelope>> entries = quarantine_entries(*journal_);
  if (!entries) return entries.status();
  for (const auto& e : *entries) {
    if (e.key() != key) continue;
    const auto& q = e.quarantined_row();
    std::lock_guard lock(mu_);
    auto it = connectors_.find(q.connector());
    if (it == connectors_.end()) {
      return Status(plugin_host::kPluginFailed, "connector " + q.connector() + " is not running");
    }
    pipeline::OwnedRejected row{
        q.source_name(), q.row_number(), q.byte_offset(), q.original(),      q.original_encoding(),
        q.reason_code(), q.message(),    q.field(),       q.intended_topic()};
    plugin_host::Connector* connector = it->second.get();
    return connector->replay(row);
  }
  return Status(plugin_host::kPluginFailed, "no quarantined row has the key \"" + key + "\"");
}

}  // namespace hutong::daemon
