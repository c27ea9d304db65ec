// The hub: its journal, its ingest pipeline and its connectors, started from a
// validated configuration, reconfigured in place (reload), and stopped.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "feed/server.h"
#include "journal/journal.h"
#include "pipeline/ingest.h"
#include "plugin_host/connector.h"

namespace hutong::daemon {

class Hub {
 public:
  // Opens the journal in <data_dir>/journal, rebuilds the dedup index and the
  // connectors' committed positions from it, and loads every plugin.
  static Result<std::unique_ptr<Hub>> open(config::HubConfig config);
  ~Hub();

  // Starts the connectors, and the change feed when feed.endpoint is set (an
  // endpoint that cannot be bound is an error).
  Status start();
  void stop();

  // Re-reads the configuration file: connectors that were removed stop, new ones
  // start, changed ones (settings, or a new plugin file) restart; the others go
  // on untouched. A configuration with problems changes nothing.
  std::vector<config::Problem> reload();

  std::vector<plugin_host::ConnectorStatus> status() const;
  // Records durably that the operator confirmed `what` for a connector (e.g. a
  // held snapshot) and restarts it with that as its `confirmed` setting.
  Status confirm(const std::string& connector, const std::string& what);
  std::vector<feed::SubscriptionStatus> subscriptions() const;
  // The feed server's public key (empty without a feed).
  std::string feed_public_key() const;
  Result<pipeline::BatchOutcome> replay_quarantined(const std::string& key);
  const config::HubConfig& config() const { return config_; }
  journal::Journal& journal() { return *journal_; }

  // Validates a configuration fully: the file, then each connector's plugin
  // (loads it) and settings. Fills in the settings' defaults.
  static std::vector<config::Problem> check(config::HubConfig& config);

 private:
  Hub(config::HubConfig config, std::unique_ptr<journal::Journal> journal);
  std::unique_ptr<plugin_host::Connector> make_connector(const config::ConnectorConfig& connector);
  std::string committed_position(const std::string& connector) const;
  config::ConnectorConfig as_run(config::ConnectorConfig connector) const;
  void read_positions();  // every connector's last committed position, from the journal
  // The departments' policies, compiled with the hub's hash key.
  Result<feed::Policies> make_policies(const config::HubConfig& config);

  config::HubConfig config_;
  std::unique_ptr<journal::Journal> journal_;
  pipeline::DedupIndex dedup_;
  std::unique_ptr<pipeline::Ingest> ingest_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<plugin_host::Connector>> connectors_;
  std::map<std::string, std::string> positions_;  // at open; connectors keep their own after
  std::map<std::string, int64_t> plugin_mtimes_;
  std::map<std::string, std::string> confirmations_;  // connector -> what the operator confirmed
  bool started_ = false;
  std::shared_ptr<const domain::KeyedHasher> hasher_;
  std::unique_ptr<feed::FeedServer> feed_;
  feed::Policies policies_;  // as given to feed_ and the department sinks
  std::shared_ptr<feed::AuditChain> audit_;
  // The policy each running department sink was started with.
  std::map<std::string, std::shared_ptr<const feed::Policy>> sink_policies_;
};

// Every current quarantine entry (newest version per key, resolved ones left
// out), read from a journal.
Result<std::vector<hutong::v1::Envelope>> quarantine_entries(const journal::Journal& journal);

}  // namespace hutong::daemon
