#include "plugin_host/session.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <thread>
#include <zmq.hpp>

#include "hutong/internal/runner.pb.h"

namespace hutong::plugin_host {
namespace {

pipeline::OwnedRejected own(const hutong_rejected_row& r) {
  auto text = [](const char* s) { return s ? std::string(s) : std::string(); };
  pipeline::OwnedRejected row;
  row.source_name = text(r.source_name);
  row.row_number = r.row_number;
  row.byte_offset = r.byte_offset;
  row.original.assign(reinterpret_cast<const char*>(r.original), r.original_len);
  row.original_encoding = text(r.original_encoding);
  row.reason_code = text(r.reason_code);
  row.message = text(r.message);
  row.field = text(r.field);
  row.intended_topic = text(r.intended_topic);
  return row;
}

hutong_rejected_row view(const pipeline::OwnedRejected& row) {
  hutong_rejected_row r{};
  r.source_name = row.source_name.c_str();
  r.row_number = row.row_number;
  r.byte_offset = row.byte_offset;
  r.original = reinterpret_cast<const uint8_t*>(row.original.data());
  r.original_len = row.original.size();
  r.original_encoding = row.original_encoding.c_str();
  r.reason_code = row.reason_code.c_str();
  r.message = row.message.c_str();
  r.field = row.field.c_str();
  r.intended_topic = row.intended_topic.c_str();
  return r;
}

class InProcessSession : public SourceSession {
 public:
  InProcessSession(std::shared_ptr<PluginLibrary> library, const config::ConnectorConfig& connector)
      : library_(std::move(library)),
        host_(connector.name, connector.state_dir),
        config_(connector) {}
  ~InProcessSession() override {
    if (instance_) library_->descriptor().destroy(instance_);
  }

  Status start(const std::string& position) override {
    const hutong_plugin_descriptor& d = library_->descriptor();
    hutong_error error{};
    if (d.create(&host_.host, &config_.config, &instance_, &error) != HUTONG_OK) {
      instance_ = nullptr;
      return Status(kPluginFailed, "create: " + error_text(error));
    }
    if (d.start(instance_, reinterpret_cast<const uint8_t*>(position.data()), position.size(),
                &error) != HUTONG_OK) {
      return plugin_error("start", error);
    }
    return Status::ok();
  }

  Result<PollOutcome> poll(pipeline::Batch& batch, uint32_t max_records) override {
    batch.clear();
    BatchEmitter emitter(batch);
    hutong_error error{};
    int rc = library_->descriptor().poll(instance_, emitter.emitter(), max_records, &error);
    if (rc == HUTONG_OK) return PollOutcome::kBatch;
    if (rc == HUTONG_IDLE) return PollOutcome::kIdle;
    return plugin_error("poll", error);
  }

  Status replay(const pipeline::OwnedRejected& row, pipeline::Batch& batch) override {
    batch.clear();
    if (!library_->descriptor().replay)
      return Status(kPluginFailed, "the plugin cannot replay rows");
    BatchEmitter emitter(batch);
    hutong_rejected_row r = view(row);
    hutong_error error{};
    if (library_->descriptor().replay(instance_, &r, emitter.emitter(), &error) != HUTONG_OK) {
      return Status(kPluginFailed, "replay: " + error_text(error));
    }
    return Status::ok();
  }

 private:
  std::shared_ptr<PluginLibrary> library_;
  PluginHost host_;
  PluginConfig config_;
  void* instance_ = nullptr;
};

class InProcessSink : public SinkSession {
 public:
  InProcessSink(std::shared_ptr<PluginLibrary> library, const config::ConnectorConfig& connector)
      : library_(std::move(library)),
        host_(connector.name, connector.state_dir),
        config_(connector) {}
  ~InProcessSink() override {
    if (instance_) library_->descriptor().destroy(instance_);
  }
  Result<uint64_t> start() override {
    hutong_error error{};
    const hutong_plugin_descriptor& d = library_->descriptor();
    if (d.create(&host_.host, &config_.config, &instance_, &error) != HUTONG_OK) {
      instance_ = nullptr;
      return Status(kPluginFailed, "create: " + error_text(error));
    }
    uint64_t committed = 0;
    if (d.committed_offset(instance_, &committed, &error) != HUTONG_OK) {
      return Status(kPluginFailed, "committed_offset: " + error_text(error));
    }
    return committed;
  }
  Result<uint64_t> deliver(const std::vector<SinkRecord>& records) override {
    std::vector<hutong_record> views;
    views.reserve(records.size());
    for (const SinkRecord& r : records) {
      hutong_record v{};
      v.topic = r.topic.data();
      v.topic_len = r.topic.size();
      v.key = r.key.data();
      v.key_len = r.key.size();
      v.op = r.op == journal::Op::kDelete ? HUTONG_OP_DELETE : HUTONG_OP_UPSERT;
      v.payload = reinterpret_cast<const uint8_t*>(r.payload.data());
      v.payload_len = r.payload.size();
      v.event_time_us = r.event_time_us;
      v.location = r.location.c_str();
      v.offset = r.offset;
      views.push_back(v);
    }
    uint64_t committed = 0;
    hutong_error error{};
    if (library_->descriptor().deliver(instance_, views.data(), views.size(), &committed, &error) !=
        HUTONG_OK) {
      return Status(kPluginFailed, "deliver: " + error_text(error));
    }
    return committed;
  }

 private:
  std::shared_ptr<PluginLibrary> library_;
  PluginHost host_;
  PluginConfig config_;
  void* instance_ = nullptr;
};

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return std::string("SIG") + (abbrev ? abbrev : std::to_string(sig)) + " (" + strsignal(sig) + ")";
}

class RunnerSession : public SourceSession, public SinkSession {
 public:
  RunnerSession(std::string runner_path, const std::string& socket_dir,
                std::shared_ptr<PluginLibrary> library, const config::ConnectorConfig& connector)
      : runner_path_(std::move(runner_path)),
        library_(std::move(library)),
        connector_(connector),
        socket_(context_, zmq::socket_type::pair) {
    static std::atomic<uint64_t> counter = 0;
    endpoint_path_ = socket_dir + "/runner-" + connector.name + "-" + std::to_string(::getpid()) +
                     "-" + std::to_string(counter++) + ".sock";
    socket_.set(zmq::sockopt::linger, 0);
  }

  ~RunnerSession() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    socket_.close();
    std::filesystem::remove(endpoint_path_);
  }

  Status start(const std::string& position) override {
    hutong::internal::RunnerReply reply;
    return launch(position, reply);
  }

  Result<uint64_t> start() override {
    hutong::internal::RunnerReply reply;
    Status status = launch("", reply);
    if (!status) return status;
    return reply.committed_offset();
  }

  Result<uint64_t> deliver(const std::vector<SinkRecord>& records) override {
    hutong::internal::RunnerRequest request;
    auto* deliver = request.mutable_deliver();
    for (const SinkRecord& r : records) {
      auto* out = deliver->add_records();
      out->set_topic(r.topic);
      out->set_key(r.key);
      out->set_remove(r.op == journal::Op::kDelete);
      out->set_payload(r.payload);
      out->set_event_time_us(r.event_time_us);
      out->set_location(r.location);
      out->set_offset(r.offset);
    }
    hutong::internal::RunnerReply reply;
    Status status = call(request, reply);
    if (!status) return status;
    if (reply.outcome() != hutong::internal::RunnerReply::OUTCOME_OK) {
      return Status(kPluginFailed, "deliver: " + reply.error_code() + ": " + reply.error_message());
    }
    return reply.committed_offset();
  }

 private:
  Status launch(const std::string& position, hutong::internal::RunnerReply& reply) {
    std::filesystem::remove(endpoint_path_);
    try {
      socket_.bind("ipc://" + endpoint_path_);
    } catch (const zmq::error_t& e) {
      return Status(kPluginFailed, "cannot bind ipc://" + endpoint_path_ + ": " + e.what());
    }
    std::string endpoint = "ipc://" + endpoint_path_;
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0)
      return Status(kPluginFailed, std::string("cannot fork the runner: ") + std::strerror(errno));
    if (pid_ == 0) {
      // The runner dies with the hub, even when the hub is SIGKILLed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(111);
      ::execl(runner_path_.c_str(), runner_path_.c_str(), library_->path().c_str(),
              endpoint.c_str(), connector_.name.c_str(), static_cast<char*>(nullptr));
      ::_exit(112);
    }
    hutong::internal::RunnerRequest request;
    auto* s = request.mutable_start();
    s->set_connector(connector_.name);
    for (const auto& [key, value] : connector_.settings) {
      auto* setting = s->add_settings();
      setting->set_key(key);
      setting->set_value(value);
    }
    s->set_position(position);
    s->set_state_dir(connector_.state_dir);
    Status status = call(request, reply);
    if (!status) return status;
    if (reply.outcome() != hutong::internal::RunnerReply::OUTCOME_OK) {
      return plugin_error("start", reply.error_code(), reply.error_message());
    }
    return Status::ok();
  }

 public:
  // Keeps polls ahead of the hub, so that the runner reads while the hub
  // validates and journals: one, or two while the source fills whole batches
  // (then neither waits for the other between batches).
  void prefetch(uint32_t max_records) override {
    size_t ahead = last_batch_full_ ? 2 : 1;
    while (in_flight_.size() + prefetched_.size() < ahead) {
      if (!in_flight_.empty() && !in_flight_.back().poll) return;
      hutong::internal::RunnerRequest request;
      request.mutable_poll()->set_max_records(max_records);
      if (!send_request(request)) return;  // a dead runner shows at the next poll
    }
  }

  Result<PollOutcome> poll(pipeline::Batch& batch, uint32_t max_records) override {
    batch.clear();
    hutong::internal::RunnerReply reply;
    Status status;
    if (!prefetched_.empty()) {
      reply = std::move(prefetched_.front());
      prefetched_.pop_front();
    } else if (!in_flight_.empty() && in_flight_.front().poll) {
      status = await_reply(reply);
    } else {
      hutong::internal::RunnerRequest request;
      request.mutable_poll()->set_max_records(max_records);
      status = call(request, reply);
    }
    if (!status) return status;
    last_batch_full_ = false;
    if (reply.outcome() == hutong::internal::RunnerReply::OUTCOME_IDLE) return PollOutcome::kIdle;
    if (reply.outcome() != hutong::internal::RunnerReply::OUTCOME_OK) {
      return plugin_error("poll", reply.error_code(), reply.error_message());
    }
    last_batch_full_ =
        static_cast<uint64_t>(reply.records_size() + reply.rejected_size()) >= max_records;
    to_batch(reply, batch);
    return PollOutcome::kBatch;
  }

  Status replay(const pipeline::OwnedRejected& row, pipeline::Batch& batch) override {
    batch.clear();
    hutong::internal::RunnerRequest request;
    pipeline::copy_rejected(row, *request.mutable_replay()->mutable_row());
    hutong::internal::RunnerReply reply;
    Status status = call(request, reply);
    if (!status) return status;
    if (reply.outcome() != hutong::internal::RunnerReply::OUTCOME_OK) {
      return Status(kPluginFailed, "replay: " + reply.error_code() + ": " + reply.error_message());
    }
    to_batch(reply, batch);
    return Status::ok();
  }

 private:
  // Moves the reply's records into the batch (the reply is spent).
  static void to_batch(hutong::internal::RunnerReply& reply, pipeline::Batch& batch) {
    batch.records.reserve(reply.records_size());
    for (auto& r : *reply.mutable_records()) {
      batch.records.push_back({std::move(*r.mutable_topic()), std::move(*r.mutable_key()),
                               r.remove() ? journal::Op::kDelete : journal::Op::kUpsert,
                               std::move(*r.mutable_payload()), r.event_time_us(),
                               std::move(*r.mutable_location())});
    }
    for (auto& r : *reply.mutable_rejected()) {
      batch.rejected.push_back(
          {std::move(*r.mutable_source_name()), r.row_number(), r.byte_offset(),
           std::move(*r.mutable_original()), std::move(*r.mutable_original_encoding()),
           std::move(*r.mutable_reason_code()), std::move(*r.mutable_message()),
           std::move(*r.mutable_field()), std::move(*r.mutable_intended_topic())});
    }
    batch.position = std::move(*reply.mutable_position());
    batch.has_position = reply.has_position();
    batch.repaired = reply.repaired();
  }

  // Whether the runner has exited; fills `why`.
  bool exited(std::string& why) {
    if (pid_ <= 0) {
      why = "the runner is not running";
      return true;
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r != pid_) return false;
    pid_ = -1;
    if (WIFSIGNALED(status)) {
      why = "the runner was killed by " + signal_text(WTERMSIG(status)) + " (a crash in plugin " +
            library_->path() + ")";
    } else if (WEXITSTATUS(status) == 112) {
      why = "cannot start the runner " + runner_path_;
    } else {
      why = "the runner exited with status " + std::to_string(WEXITSTATUS(status));
    }
    return true;
  }

  // Sends a request; its reply is awaited by await_reply(). The runner answers
  // requests one after the other, in the order sent.
  Status send_request(hutong::internal::RunnerRequest& request) {
    request.set_seq(++seq_);
    request.set_ack(received_);
    std::string bytes = request.SerializeAsString();
    // A PAIR socket takes a message only once the runner has connected.
    auto started = std::chrono::steady_clock::now();
    while (!socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
      std::string why;
      if (exited(why)) return Status(kRunnerDied, why);
      if (std::chrono::steady_clock::now() - started > connector_.heartbeat_timeout) {
        return kill_with(Status(kRunnerTimeout,
                                "the runner did not connect within " +
                                    std::to_string(connector_.heartbeat_timeout.count()) + " ms"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    in_flight_.push_back(
        InFlight{request.seq(), request.has_poll(), std::chrono::steady_clock::now()});
    return Status::ok();
  }

  // Waits for the reply to the oldest request in flight; heartbeats keep the
  // wait alive, silence past heartbeat_timeout or a poll past poll_timeout
  // kills the runner.
  Status await_reply(hutong::internal::RunnerReply& reply) {
    const InFlight request = in_flight_.front();
    auto last_heard = std::chrono::steady_clock::now();
    for (;;) {
      zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(50));
      if (items[0].revents & ZMQ_POLLIN) {
        zmq::message_t message;
        if (socket_.recv(message, zmq::recv_flags::dontwait)) {
          if (!reply.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
            return kill_with(Status(kRunnerDied, "the runner sent a message that is not a reply"));
          }
          for (const std::string& line : reply.log()) {
            spdlog::info("connector {}: {}", connector_.name, line);
          }
          last_heard = std::chrono::steady_clock::now();
          if (reply.outcome() == hutong::internal::RunnerReply::OUTCOME_HEARTBEAT) continue;
          if (reply.seq() != request.seq) {
            return kill_with(Status(kRunnerDied, "the runner answered request " +
                                                     std::to_string(reply.seq()) + " while " +
                                                     std::to_string(request.seq) + " was pending"));
          }
          in_flight_.pop_front();
          received_ = request.seq;
          // The runner starts on the next request now: so does its poll_timeout.
          if (!in_flight_.empty()) in_flight_.front().started = std::chrono::steady_clock::now();
          return Status::ok();
        }
      }
      std::string why;
      if (exited(why)) return Status(kRunnerDied, why);
      auto now = std::chrono::steady_clock::now();
      if (now - last_heard > connector_.heartbeat_timeout) {
        return kill_with(
            Status(kRunnerTimeout, "the runner sent nothing for " +
                                       std::to_string(connector_.heartbeat_timeout.count()) +
                                       " ms (heartbeat_timeout_ms); killed"));
      }
      if (request.poll && now - request.started > connector_.poll_timeout) {
        return kill_with(Status(
            kRunnerTimeout, "a poll took longer than " +
                                std::to_string(connector_.poll_timeout.count()) +
                                " ms (poll_timeout_ms): the plugin hangs or is too slow; killed"));
      }
    }
  }

  // One request and its reply. A poll sent ahead (prefetch) is received first
  // and kept for the next poll().
  Status call(hutong::internal::RunnerRequest& request, hutong::internal::RunnerReply& reply) {
    while (!in_flight_.empty()) {
      hutong::internal::RunnerReply early;
      Status status = await_reply(early);
      if (!status) return status;
      prefetched_.push_back(std::move(early));
    }
    Status sent = send_request(request);
    if (!sent) return sent;
    return await_reply(reply);
  }

  Status kill_with(Status status) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    return status;
  }

  std::string runner_path_;
  std::shared_ptr<PluginLibrary> library_;
  config::ConnectorConfig connector_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_path_;
  pid_t pid_ = -1;
  uint64_t seq_ = 0;
  uint64_t received_ = 0;  // the last request whose reply arrived
  struct InFlight {
    uint64_t seq = 0;
    bool poll = false;
    std::chrono::steady_clock::time_point started;  // when the runner could start on it
  };
  std::deque<InFlight> in_flight_;                        // sent, reply not yet received
  std::deque<hutong::internal::RunnerReply> prefetched_;  // polls' replies kept for poll()
  bool last_batch_full_ = false;                          // the last poll filled max_records
};

}  // namespace

std::string error_text(std::string_view code, std::string_view message) {
  return std::string(code.empty() ? "plugin.error" : code) + ": " +
         std::string(message.empty() ? "(no message)" : message);
}

std::string error_text(const hutong_error& error) {
  return error_text(std::string_view(error.code, strnlen(error.code, sizeof error.code)),
                    std::string_view(error.message, strnlen(error.message, sizeof error.message)));
}

Status plugin_error(std::string_view call, std::string_view code, std::string_view message) {
  return Status(code.ends_with(".held") ? kPluginHeld : kPluginFailed,
                std::string(call) + ": " + error_text(code, message));
}

Status plugin_error(std::string_view call, const hutong_error& error) {
  return plugin_error(
      call, std::string_view(error.code, strnlen(error.code, sizeof error.code)),
      std::string_view(error.message, strnlen(error.message, sizeof error.message)));
}

BatchEmitter::BatchEmitter(pipeline::Batch& batch) : batch_(batch) {
  emitter_.context = this;
  emitter_.record = [](void* context, const hutong_record* r) {
    auto* self = static_cast<BatchEmitter*>(context);
    self->batch_.records.push_back(
        {std::string(r->topic, r->topic_len), std::string(r->key, r->key_len),
         r->op == HUTONG_OP_DELETE ? journal::Op::kDelete : journal::Op::kUpsert,
         std::string(reinterpret_cast<const char*>(r->payload), r->payload_len), r->event_time_us,
         r->location ? r->location : ""});
    return HUTONG_OK;
  };
  emitter_.reject = [](void* context, const hutong_rejected_row* r) {
    static_cast<BatchEmitter*>(context)->batch_.rejected.push_back(own(*r));
    return HUTONG_OK;
  };
  emitter_.position = [](void* context, const uint8_t* position, size_t len) {
    auto* self = static_cast<BatchEmitter*>(context);
    self->batch_.position.assign(reinterpret_cast<const char*>(position), len);
    self->batch_.has_position = true;
  };
  emitter_.repaired = [](void* context, const char*) {
    ++static_cast<BatchEmitter*>(context)->batch_.repaired;
  };
}

PluginHost::PluginHost(std::string name, std::string dir)
    : connector(std::move(name)), state_dir(std::move(dir)) {
  host.context = this;
  host.state_dir = state_dir.c_str();
  host.log = [](void* context, hutong_log_level level, const char* message) {
    const std::string& who = static_cast<PluginHost*>(context)->connector;
    switch (level) {
      case HUTONG_LOG_DEBUG:
        spdlog::debug("connector {}: {}", who, message);
        break;
      case HUTONG_LOG_INFO:
        spdlog::info("connector {}: {}", who, message);
        break;
      case HUTONG_LOG_WARN:
        spdlog::warn("connector {}: {}", who, message);
        break;
      default:
        spdlog::error("connector {}: {}", who, message);
        break;
    }
  };
}

PluginConfig::PluginConfig(const config::ConnectorConfig& connector)
    : connector_name(connector.name), settings(connector.settings) {
  for (const auto& [key, value] : settings)
    entries.push_back({key.c_str(), value.c_str()});
  config.connector_name = connector_name.c_str();
  config.entries = entries.data();
  config.count = static_cast<uint32_t>(entries.size());
}

std::unique_ptr<SourceSession> make_in_process_session(std::shared_ptr<PluginLibrary> library,
                                                       const config::ConnectorConfig& connector) {
  return std::make_unique<InProcessSession>(std::move(library), connector);
}

std::unique_ptr<SinkSession> make_in_process_sink(std::shared_ptr<PluginLibrary> library,
                                                  const config::ConnectorConfig& connector) {
  return std::make_unique<InProcessSink>(std::move(library), connector);
}

std::unique_ptr<SinkSession> make_runner_sink(const std::string& runner_path,
                                              const std::string& socket_dir,
                                              std::shared_ptr<PluginLibrary> library,
                                              const config::ConnectorConfig& connector) {
  return std::make_unique<RunnerSession>(runner_path, socket_dir, std::move(library), connector);
}

std::unique_ptr<SourceSession> make_runner_session(const std::string& runner_path,
                                                   const std::string& socket_dir,
                                                   std::shared_ptr<PluginLibrary> library,
                                                   const config::ConnectorConfig& connector) {
  return std::make_unique<RunnerSession>(runner_path, socket_dir, std::move(library), connector);
}

}  // namespace hutong::plugin_host
