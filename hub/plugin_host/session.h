// A running instance of a source plugin, in the hub's process or in a runner
// child process; the connector drives either the same way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "pipeline/ingest.h"
#include "plugin_host/plugin_library.h"

namespace hutong::plugin_host {

inline constexpr std::string_view kPluginFailed = "plugin.failed";
// The plugin holds something until an operator decides (its error code ends in
// ".held", e.g. snapshot.held, and it declares the `confirmed` setting).
inline constexpr std::string_view kPluginHeld = "plugin.held";
inline constexpr std::string_view kRunnerDied = "runner.died";
inline constexpr std::string_view kRunnerTimeout = "runner.timeout";

enum class PollOutcome { kBatch, kIdle };

class SourceSession {
 public:
  virtual ~SourceSession() = default;
  // Creates the plugin instance and resumes it after `position`.
  virtual Status start(const std::string& position) = 0;
  // One poll: fills `batch` (cleared first) or says it is idle.
  virtual Result<PollOutcome> poll(pipeline::Batch& batch, uint32_t max_records) = 0;
  // Starts the next poll early where the plugin runs elsewhere (a runner), so
  // that it reads while the hub journals; the next poll() collects it.
  virtual void prefetch(uint32_t max_records) { (void)max_records; }
  // Re-reads a quarantined row into `batch`.
  virtual Status replay(const pipeline::OwnedRejected& row, pipeline::Batch& batch) = 0;
};

// A record on its way to a sink.
struct SinkRecord {
  std::string topic;
  std::string key;
  journal::Op op = journal::Op::kUpsert;
  std::string payload;  // the record message, serialized
  int64_t event_time_us = 0;
  std::string location;
  uint64_t offset = 0;
};

// A running instance of a sink plugin.
class SinkSession {
 public:
  virtual ~SinkSession() = default;
  // Creates the instance; returns the offset the sink has stored everything below.
  virtual Result<uint64_t> start() = 0;
  // Delivers records in offset order; returns the new committed offset.
  virtual Result<uint64_t> deliver(const std::vector<SinkRecord>& records) = 0;
};

std::unique_ptr<SinkSession> make_in_process_sink(std::shared_ptr<PluginLibrary> library,
                                                  const config::ConnectorConfig& connector);
std::unique_ptr<SinkSession> make_runner_sink(const std::string& runner_path,
                                              const std::string& socket_dir,
                                              std::shared_ptr<PluginLibrary> library,
                                              const config::ConnectorConfig& connector);

// The plugin runs on the caller's thread: fastest, for trusted plugins; a
// crash in the plugin is a crash of the hub.
std::unique_ptr<SourceSession> make_in_process_session(std::shared_ptr<PluginLibrary> library,
                                                       const config::ConnectorConfig& connector);

// The plugin runs in a hutong-runner child process that dies with the hub;
// requests and batches travel over ZeroMQ ipc:// in `socket_dir`.
std::unique_ptr<SourceSession> make_runner_session(const std::string& runner_path,
                                                   const std::string& socket_dir,
                                                   std::shared_ptr<PluginLibrary> library,
                                                   const config::ConnectorConfig& connector);

// The emitter the hub gives a plugin: it fills a Batch.
class BatchEmitter {
 public:
  explicit BatchEmitter(pipeline::Batch& batch);
  const hutong_emitter* emitter() const { return &emitter_; }

 private:
  pipeline::Batch& batch_;
  hutong_emitter emitter_;
};

// The host services the hub gives a plugin: its log lines go to the hub's log,
// tagged with the connector.
struct PluginHost {
  PluginHost(std::string connector, std::string state_dir);
  hutong_host host;
  std::string connector;
  std::string state_dir;
};

// The settings of a connector as the plugin interface wants them.
struct PluginConfig {
  explicit PluginConfig(const config::ConnectorConfig& connector);
  std::string connector_name;
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<hutong_config_entry> entries;
  hutong_config config;
};

std::string error_text(const hutong_error& error);
std::string error_text(std::string_view code, std::string_view message);
// A plugin call's error: kPluginHeld when the plugin's code says it holds
// something for an operator, else kPluginFailed; "CALL: CODE: MESSAGE".
Status plugin_error(std::string_view call, std::string_view code, std::string_view message);
Status plugin_error(std::string_view call, const hutong_error& error);

}  // namespace hutong::plugin_host
