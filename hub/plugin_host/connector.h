// One configured connector: its plugin instance (in process or in a runner),
// its lifecycle (validating -> running -> failed with backoff -> stopped), its
// counters, and the loop that polls the plugin and commits each batch with the
// new source position in one journal append.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "pipeline/ingest.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/session.h"

namespace hutong::plugin_host {

// kHeld: the plugin holds something until an operator decides (`hutong connector
// confirm`); it is retried like a failure, in case the source changed meanwhile.
enum class ConnectorState { kValidating, kRunning, kFailed, kHeld, kStopped };
std::string_view state_name(ConnectorState state);

struct ConnectorStatus {
  std::string name;
  std::string plugin;
  std::string isolation;
  std::string kind;  // source | sink | "" (the plugin did not load)
  ConnectorState state = ConnectorState::kValidating;
  std::string last_error;
  uint64_t rows_read = 0;
  uint64_t accepted = 0;
  uint64_t quarantined = 0;
  uint64_t duplicate = 0;
  uint64_t repaired = 0;
  uint64_t batches = 0;
  uint64_t restarts = 0;
  std::string last_position;          // as committed (printable; binary bytes escaped)
  int64_t ms_since_last_record = -1;  // -1: none yet
  int64_t backoff_ms = 0;             // current wait before the next restart
  // A source's last poll found nothing new (everything read is committed); a
  // sink has received everything in the journal for it.
  bool caught_up = false;
};

// What a sink connector with a `department` receives: the department's policy
// applied to every record, and each delivery recorded in the audit trail before
// the sink gets it. Implemented by the hub (plugin_host knows no policy).
class SinkDepartment {
 public:
  virtual ~SinkDepartment() = default;
  virtual const std::string& name() const = 0;
  // The topics the department may read.
  virtual std::vector<std::string> topics() const = 0;
  // The record as the department receives it (a serialized Envelope) into
  // `envelope`; false when the row is not for the department.
  virtual bool render(const journal::RecordView& record, std::string& envelope) const = 0;
  // Durably records that connector `sink` hands offsets first..last (count
  // records) to the department.
  virtual Status record_delivery(const std::string& sink, uint64_t first, uint64_t last,
                                 uint64_t count) = 0;
};

struct SessionFactory {
  std::string runner_path;
  std::string socket_dir;
  std::shared_ptr<SinkDepartment> department;  // sinks with a `department`
};

class Connector {
 public:
  // `library` may be null when the plugin did not load: the connector then
  // stays failed with `load_error`.
  Connector(config::ConnectorConfig config, std::shared_ptr<PluginLibrary> library,
            Status load_error, pipeline::Ingest& ingest, SessionFactory factory,
            std::string committed_position);
  ~Connector();

  void start();
  void stop();  // waits for the current plugin call to return
  ConnectorStatus status() const;
  const config::ConnectorConfig& config() const { return config_; }
  const std::string& library_path() const;

  // Re-reads a quarantined row through the plugin and commits the outcome;
  // runs on the connector's thread.
  Result<pipeline::BatchOutcome> replay(const pipeline::OwnedRejected& row);

 private:
  void run();
  // The sink loop: deliver from the journal after the sink's own committed
  // offset; returns a failure to restart after, or "" when stopping.
  std::string run_sink(SinkSession& session, uint64_t committed);
  bool wait_or_stop(std::chrono::milliseconds duration);
  // Waits out the current backoff (shown in the status), then doubles it up to
  // max_backoff; true when the connector is stopping.
  bool back_off(std::chrono::milliseconds& backoff);
  void fail(const std::string& error, bool held = false);
  void serve_replays(SourceSession& session);

  config::ConnectorConfig config_;
  std::shared_ptr<PluginLibrary> library_;
  Status load_error_;
  pipeline::Ingest& ingest_;
  SessionFactory factory_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  ConnectorStatus status_;
  std::string position_;
  std::chrono::steady_clock::time_point last_record_{};
  bool seen_record_ = false;

  struct ReplayRequest {
    pipeline::OwnedRejected row;
    std::promise<Result<pipeline::BatchOutcome>> done;
  };
  std::deque<ReplayRequest> replays_;
  std::thread thread_;
};

std::string printable(std::string_view bytes);

}  // namespace hutong::plugin_host
