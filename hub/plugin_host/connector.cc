#include "plugin_host/connector.h"

#include <spdlog/spdlog.h>

#include <future>
#include <optional>
#include <set>

#include "journal/envelope_record.h"
#include "journal/internal_topics.h"

namespace hutong::plugin_host {

std::string_view state_name(ConnectorState state) {
  switch (state) {
    case ConnectorState::kValidating:
      return "validating";
    case ConnectorState::kRunning:
      return "running";
    case ConnectorState::kFailed:
      return "failed";
    case ConnectorState::kHeld:
      return "held";
    case ConnectorState::kStopped:
      return "stopped";
  }
  return "?";
}

std::string printable(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c != 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

Connector::Connector(config::ConnectorConfig config, std::shared_ptr<PluginLibrary> library,
                     Status load_error, pipeline::Ingest& ingest, SessionFactory factory,
                     std::string committed_position)
    : config_(std::move(config)),
      library_(std::move(library)),
      load_error_(std::move(load_error)),
      ingest_(ingest),
      factory_(std::move(factory)),
      position_(std::move(committed_position)) {
  status_.name = config_.name;
  status_.plugin = config_.plugin;
  status_.isolation = config_.isolation == config::Isolation::kProcess ? "process" : "in_process";
  if (library_) status_.kind = library_->is_source() ? "source" : "sink";
  status_.last_position = printable(position_);
}

Connector::~Connector() {
  stop();
}

const std::string& Connector::library_path() const {
  static const std::string none;
  return library_ ? library_->path() : none;
}

void Connector::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void Connector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  status_.state = ConnectorState::kStopped;
  for (ReplayRequest& r : replays_)
    r.done.set_value(Status(kPluginFailed, "the connector stopped"));
  replays_.clear();
}

ConnectorStatus Connector::status() const {
  std::lock_guard lock(mu_);
  ConnectorStatus s = status_;
  if (seen_record_) {
    s.ms_since_last_record = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - last_record_)
                                 .count();
  }
  return s;
}

bool Connector::wait_or_stop(std::chrono::milliseconds duration) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, duration, [&] { return stopping_ || !replays_.empty(); }) && stopping_;
}

bool Connector::back_off(std::chrono::milliseconds& backoff) {
  {
    std::lock_guard lock(mu_);
    status_.backoff_ms = backoff.count();
  }
  if (wait_or_stop(backoff)) return true;
  backoff = std::min(backoff * 2, config_.max_backoff);
  return false;
}

void Connector::fail(const std::string& error, bool held) {
  if (held) {
    spdlog::warn("connector {}: waits for an operator: {}", config_.name, error);
  } else {
    spdlog::error("connector {}: {}", config_.name, error);
  }
  std::lock_guard lock(mu_);
  status_.state = held ? ConnectorState::kHeld : ConnectorState::kFailed;
  status_.last_error = error;
  status_.caught_up = false;
}

Result<pipeline::BatchOutcome> Connector::replay(const pipeline::OwnedRejected& row) {
  std::future<Result<pipeline::BatchOutcome>> done;
  {
    std::lock_guard lock(mu_);
    if (status_.state != ConnectorState::kRunning) {
      return Status(kPluginFailed, "connector " + config_.name + " is " +
                                       std::string(state_name(status_.state)) +
                                       "; a row can be replayed only while it runs");
    }
    replays_.push_back({row, {}});
    done = replays_.back().done.get_future();
  }
  cv_.notify_all();
  return done.get();
}

void Connector::serve_replays(SourceSession& session) {
  for (;;) {
    ReplayRequest request;
    {
      std::lock_guard lock(mu_);
      if (replays_.empty()) return;
      request = std::move(replays_.front());
      replays_.pop_front();
    }
    pipeline::Batch batch;
    Status status = session.replay(request.row, batch);
    if (!status) {
      request.done.set_value(status);
      continue;
    }
    Result<pipeline::BatchOutcome> outcome = ingest_.commit(config_.name, batch);
    if (outcome && outcome->rejected == 0 && outcome->accepted + outcome->duplicate > 0) {
      // The row went through (new, or identical to what the journal holds):
      // its quarantine entry is resolved. Rejected again, even for the same
      // reason (counted as a duplicate of the entry), it stays.
      pipeline::Batch resolved;
      Result<journal::AppendResult> removed = [&]() -> Result<journal::AppendResult> {
        std::string key = pipeline::quarantine_key(config_.name, request.row);
        journal::RecordIn tombstone{journal::Op::kDelete, journal::kTopicQuarantine, key, {}};
        return ingest_.journal().append(std::span(&tombstone, 1));
      }();
      if (!removed) outcome = removed.status();
    }
    request.done.set_value(std::move(outcome));
  }
}

std::string Connector::run_sink(SinkSession& session, uint64_t committed) {
  {
    std::lock_guard lock(mu_);
    status_.state = ConnectorState::kRunning;
    status_.backoff_ms = 0;
    status_.last_position = std::to_string(committed);
  }
  SinkDepartment* department = factory_.department.get();
  spdlog::info("connector {}: sink running from offset {}{}", config_.name, committed,
               department ? " for department " + department->name() : "");
  std::vector<std::string> wanted = config_.topics;
  if (department && wanted.empty()) wanted = department->topics();
  std::set<std::string, std::less<>> topics(wanted.begin(), wanted.end());
  auto reader = ingest_.journal().read_from(committed, topics);
  // Plugins built for ABI 2 and later are told when they have caught up.
  const bool wants_flush = library_->descriptor().abi_version >= 2;
  bool flushed = true;
  std::vector<SinkRecord> records;
  hutong::v1::Envelope envelope;
  std::string rendered;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return "";
    }
    records.clear();
    auto wait = config_.poll_interval;
    uint64_t scanned = 0;
    while (records.size() < config_.batch_records && scanned < 64 * config_.batch_records) {
      Result<std::optional<journal::RecordView>> r =
          reader->next(records.empty() && scanned == 0 ? wait : std::chrono::milliseconds(0));
      if (!r) return "cannot read the journal: " + r.status().to_string();
      if (!*r) break;
      const journal::RecordView& v = **r;
      ++scanned;
      if (topics.empty() && v.topic.starts_with("hub."))
        continue;  // the hub's own topics, unless asked
      envelope.Clear();
      bool parsed;
      if (department) {
        if (!department->render(v, rendered)) continue;  // not for the department
        parsed = envelope.ParseFromString(rendered);
      } else {
        parsed = journal::from_record(v, envelope);
      }
      SinkRecord record{std::string(v.topic), std::string(v.key), v.op, {}, 0, {}, v.offset};
      if (parsed) {
        if (department) record.key = envelope.key();  // as the department sees it
        if (const auto* payload = journal::payload_of(envelope)) {
          payload->SerializeToString(&record.payload);
        }
        record.location = envelope.source().location();
        record.event_time_us =
            envelope.event_time().seconds() * 1'000'000 + envelope.event_time().nanos() / 1000;
      } else if (!department) {
        record.payload.assign(v.value);
      } else {
        continue;  // never hand a department bytes its policy did not render
      }
      records.push_back(std::move(record));
    }
    if (records.empty()) {
      if (scanned == 0 && wants_flush && !flushed) {
        // Caught up: a moment for the sink to flush what it buffers.
        Result<uint64_t> done = session.deliver(records);
        if (!done) return done.status().to_string();
        flushed = true;
      }
      if (scanned == 0) {
        std::lock_guard lock(mu_);
        status_.caught_up = true;
      }
      continue;
    }
    if (department) {
      Status audited = department->record_delivery(config_.name, records.front().offset,
                                                   records.back().offset, records.size());
      if (!audited) return "cannot record the delivery in the audit trail: " + audited.to_string();
    }
    Result<uint64_t> delivered = session.deliver(records);
    if (!delivered) return delivered.status().to_string();
    flushed = false;
    std::lock_guard lock(mu_);
    status_.caught_up = false;
    status_.rows_read += records.size();
    status_.accepted += records.size();
    ++status_.batches;
    status_.last_position = std::to_string(*delivered);
    last_record_ = std::chrono::steady_clock::now();
    seen_record_ = true;
  }
}

void Connector::run() {
  auto backoff = config_.restart_backoff;
  bool first = true;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      // A held connector shows as held through its retries, until a poll goes
      // through (the plugin would hold the same thing again meanwhile).
      if (status_.state != ConnectorState::kHeld) status_.state = ConnectorState::kValidating;
      if (!first) ++status_.restarts;
    }
    first = false;
    std::unique_ptr<SourceSession> session;
    Status started = load_error_;
    if (started.is_ok() && !library_->is_source()) {
      std::unique_ptr<SinkSession> sink =
          config_.isolation == config::Isolation::kProcess
              ? make_runner_sink(factory_.runner_path, factory_.socket_dir, library_, config_)
              : make_in_process_sink(library_, config_);
      Result<uint64_t> committed = sink->start();
      std::string failure =
          committed ? run_sink(*sink, *committed) : committed.status().to_string();
      if (failure.empty()) return;
      fail(failure);
      sink.reset();
      if (back_off(backoff)) return;
      continue;
    }
    if (started.is_ok()) {
      session =
          config_.isolation == config::Isolation::kProcess
              ? make_runner_session(factory_.runner_path, factory_.socket_dir, library_, config_)
              : make_in_process_session(library_, config_);
      started = session->start(position_);
    }
    if (!started) {
      fail(started.to_string(), started.code() == kPluginHeld);
      session.reset();
      if (!load_error_.is_ok()) {  // a plugin that cannot load will not load on retry
        wait_or_stop(std::chrono::hours(24 * 365));
        return;
      }
      if (back_off(backoff)) return;
      continue;
    }
    bool was_held;
    {
      std::lock_guard lock(mu_);
      was_held = status_.state == ConnectorState::kHeld;
      if (!was_held) status_.state = ConnectorState::kRunning;  // last_error stays: the last one
      status_.backoff_ms = 0;
    }
    spdlog::info("connector {}: running ({}, plugin {})", config_.name, status_.isolation,
                 library_->path());
    // One batch is being made durable while the next is polled and prepared;
    // a batch is submitted only once the one before it is durable.
    pipeline::Batch batch;
    std::string failure;
    bool held = false;  // the failure is the plugin holding something for an operator
    struct InFlight {
      std::future<Result<pipeline::BatchOutcome>> result;
      bool has_position = false;
      std::string position;
    };
    std::optional<InFlight> in_flight;
    // Waits for the batch in flight and counts it; false (with `failure`) when
    // it could not be journaled.
    auto settle = [&]() -> bool {
      if (!in_flight) return true;
      Result<pipeline::BatchOutcome> outcome = in_flight->result.get();
      InFlight done = std::move(*in_flight);
      in_flight.reset();
      if (!outcome) {
        // Nothing of the batch was kept (e.g. the disk is full): re-read it from
        // the last committed position after the backoff.
        failure = "cannot journal a batch: " + outcome.status().to_string();
        return false;
      }
      backoff = config_.restart_backoff;
      std::lock_guard lock(mu_);
      if (done.has_position) {
        position_ = done.position;
        status_.last_position = printable(position_);
      }
      status_.rows_read += outcome->read;
      status_.accepted += outcome->accepted;
      status_.quarantined += outcome->quarantined;
      status_.duplicate += outcome->duplicate;
      status_.repaired += outcome->repaired;
      ++status_.batches;
      status_.caught_up = false;
      if (outcome->read > 0) {
        last_record_ = std::chrono::steady_clock::now();
        seen_record_ = true;
      }
      return true;
    };
    while (failure.empty()) {
      bool replays;
      bool stopping;
      {
        std::lock_guard lock(mu_);
        replays = !replays_.empty();
        stopping = stopping_;
      }
      if (replays || stopping) {
        if (!settle()) break;
        if (stopping) return;
        serve_replays(*session);
      }
      Result<PollOutcome> polled = session->poll(batch, config_.batch_records);
      if (!polled) {
        if (settle()) {
          failure = polled.status().to_string();
          held = polled.status().code() == kPluginHeld;
        }
        break;
      }
      if (was_held) {
        std::lock_guard lock(mu_);
        status_.state = ConnectorState::kRunning;
        was_held = false;
      }
      if (*polled == PollOutcome::kIdle) {
        if (!settle()) break;
        {
          std::lock_guard lock(mu_);
          status_.caught_up = true;
        }
        if (wait_or_stop(config_.poll_interval)) return;
        continue;
      }
      session->prefetch(config_.batch_records);
      Result<std::shared_ptr<pipeline::Ingest::Staged>> staged = ingest_.stage(config_.name, batch);
      if (!settle()) {
        if (staged) ingest_.discard(*staged);
        break;
      }
      if (!staged) {
        failure = "cannot prepare a batch: " + staged.status().to_string();
        break;
      }
      auto promise = std::make_shared<std::promise<Result<pipeline::BatchOutcome>>>();
      in_flight = InFlight{promise->get_future(), batch.has_position, batch.position};
      ingest_.submit(*staged, [promise](Result<pipeline::BatchOutcome> outcome) {
        promise->set_value(std::move(outcome));
      });
    }
    if (in_flight && !settle()) held = false;  // the journal's failure is the one to tell
    fail(failure, held);
    session.reset();
    if (back_off(backoff)) return;
  }
}

}  // namespace hutong::plugin_host
