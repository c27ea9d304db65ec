// hutong-runner PLUGIN ENDPOINT CONNECTOR: runs one source plugin in its own
// process for the hub (isolation: process). It connects a ZeroMQ PAIR socket to
// the hub's ipc:// ENDPOINT, answers each request with a reply of the same
// sequence number, and sends heartbeats while a plugin call is running. It is
// started by the hub, dies with it (PR_SET_PDEATHSIG), and takes no input of
// its own.
#include <future>
#include <iostream>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "hutong/internal/runner.pb.h"
#include "plugin_host/plugin_library.h"

namespace {

using hutong::internal::RunnerReply;
using hutong::internal::RunnerRequest;

struct LogBuffer {
  std::mutex mu;
  std::vector<std::string> lines;
};

// The emitter for the runner: fills the reply directly.
struct ReplyEmitter {
  explicit ReplyEmitter(RunnerReply& reply) : reply(reply) {
    emitter.context = this;
    emitter.record = [](void* context, const hutong_record* r) {
      auto* record = static_cast<ReplyEmitter*>(context)->reply.add_records();
      record->set_topic(r->topic, r->topic_len);
      record->set_key(r->key, r->key_len);
      record->set_remove(r->op == HUTONG_OP_DELETE);
      record->set_payload(r->payload, r->payload_len);
      record->set_event_time_us(r->event_time_us);
      if (r->location) record->set_location(r->location);
      return HUTONG_OK;
    };
    emitter.reject = [](void* context, const hutong_rejected_row* r) {
      auto* row = static_cast<ReplyEmitter*>(context)->reply.add_rejected();
      auto text = [](const char* s) { return s ? s : ""; };
      row->set_source_name(text(r->source_name));
      row->set_row_number(r->row_number);
      row->set_byte_offset(r->byte_offset);
      row->set_original(r->original, r->original_len);
      row->set_original_encoding(text(r->original_encoding));
      row->set_reason_code(text(r->reason_code));
      row->set_message(text(r->message));
      row->set_field(text(r->field));
      row->set_intended_topic(text(r->intended_topic));
      return HUTONG_OK;
    };
    emitter.position = [](void* context, const uint8_t* position, size_t len) {
      auto& reply = static_cast<ReplyEmitter*>(context)->reply;
      reply.set_position(position, len);
      reply.set_has_position(true);
    };
    emitter.repaired = [](void* context, const char*) {
      auto& reply = static_cast<ReplyEmitter*>(context)->reply;
      reply.set_repaired(reply.repaired() + 1);
    };
  }
  RunnerReply& reply;
  hutong_emitter emitter{};
};

void fail(RunnerReply& reply, const hutong_error& error) {
  reply.set_outcome(RunnerReply::OUTCOME_ERROR);
  reply.set_error_code(std::string(error.code, strnlen(error.code, sizeof error.code)));
  reply.set_error_message(std::string(error.message, strnlen(error.message, sizeof error.message)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: hutong-runner PLUGIN.so ipc://ENDPOINT CONNECTOR (started by hutongd)\n";
    return 2;
  }
  const std::string plugin_path = argv[1], endpoint = argv[2], connector = argv[3];
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::pair);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);

  auto library = hutong::plugin_host::PluginLibrary::load(plugin_path);
  const hutong_plugin_descriptor* d = library ? &(*library)->descriptor() : nullptr;

  LogBuffer logs;
  hutong_host host{&logs,
                   [](void* context, hutong_log_level level, const char* message) {
                     static const char* kLevels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
                     auto* buffer = static_cast<LogBuffer*>(context);
                     std::lock_guard lock(buffer->mu);
                     buffer->lines.push_back(std::string(kLevels[level & 3]) + " " + message);
                   },
                   nullptr};
  std::string state_dir;
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<hutong_config_entry> entries;
  hutong_config config{connector.c_str(), nullptr, 0};
  void* instance = nullptr;

  auto send = [&](RunnerReply& reply) {
    {
      std::lock_guard lock(logs.mu);
      for (std::string& line : logs.lines)
        reply.add_log(std::move(line));
      logs.lines.clear();
    }
    // Serialized straight into the message ZeroMQ sends (a batch is megabytes).
    zmq::message_t bytes(reply.ByteSizeLong());
    reply.SerializeWithCachedSizesToArray(static_cast<uint8_t*>(bytes.data()));
    socket.send(bytes, zmq::send_flags::none);
  };

  for (;;) {
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::none)) continue;
    RunnerRequest request;
    RunnerReply reply;
    if (!request.ParseFromArray(message.data(), static_cast<int>(message.size()))) return 3;
    reply.set_seq(request.seq());
    if (!d) {
      reply.set_outcome(RunnerReply::OUTCOME_ERROR);
      reply.set_error_code(std::string(library.code()));
      reply.set_error_message(library.status().message());
      send(reply);
      continue;
    }
    // The plugin call runs on a worker thread; this one sends heartbeats.
    std::packaged_task<void()> work([&] {
      hutong_error error{};
      if (request.has_start()) {
        for (const auto& s : request.start().settings())
          settings.emplace_back(s.key(), s.value());
        for (const auto& [key, value] : settings)
          entries.push_back({key.c_str(), value.c_str()});
        config.entries = entries.data();
        config.count = static_cast<uint32_t>(entries.size());
        const std::string& position = request.start().position();
        state_dir = request.start().state_dir();
        host.state_dir = state_dir.c_str();
        if (d->create(&host, &config, &instance, &error) != HUTONG_OK) return fail(reply, error);
        if (d->kind == HUTONG_PLUGIN_SINK) {
          uint64_t committed = 0;
          if (d->committed_offset(instance, &committed, &error) != HUTONG_OK)
            return fail(reply, error);
          reply.set_committed_offset(committed);
        } else if (d->start(instance, reinterpret_cast<const uint8_t*>(position.data()),
                            position.size(), &error) != HUTONG_OK) {
          return fail(reply, error);
        }
        reply.set_outcome(RunnerReply::OUTCOME_OK);
      } else if (request.has_deliver()) {
        std::vector<hutong_record> records;
        for (const auto& r : request.deliver().records()) {
          hutong_record v{};
          v.topic = r.topic().data();
          v.topic_len = r.topic().size();
          v.key = r.key().data();
          v.key_len = r.key().size();
          v.op = r.remove() ? HUTONG_OP_DELETE : HUTONG_OP_UPSERT;
          v.payload = reinterpret_cast<const uint8_t*>(r.payload().data());
          v.payload_len = r.payload().size();
          v.event_time_us = r.event_time_us();
          v.location = r.location().c_str();
          v.offset = r.offset();
          records.push_back(v);
        }
        uint64_t committed = 0;
        if (d->deliver(instance, records.data(), records.size(), &committed, &error) != HUTONG_OK) {
          return fail(reply, error);
        }
        reply.set_committed_offset(committed);
        reply.set_outcome(RunnerReply::OUTCOME_OK);
      } else if (request.has_poll()) {
        ReplyEmitter out(reply);
        int rc = d->poll(instance, &out.emitter, request.poll().max_records(), &error);
        if (rc == HUTONG_ERROR) return fail(reply, error);
        reply.set_outcome(rc == HUTONG_IDLE ? RunnerReply::OUTCOME_IDLE : RunnerReply::OUTCOME_OK);
      } else if (request.has_replay()) {
        if (!d->replay) {
          std::snprintf(error.code, sizeof error.code, "replay.unsupported");
          std::snprintf(error.message, sizeof error.message, "the plugin cannot re-read rows");
          return fail(reply, error);
        }
        const auto& r = request.replay().row();
        hutong_rejected_row row{
            r.source_name().c_str(), r.row_number(),
            r.byte_offset(),         reinterpret_cast<const uint8_t*>(r.original().data()),
            r.original().size(),     r.original_encoding().c_str(),
            r.reason_code().c_str(), r.message().c_str(),
            r.field().c_str(),       r.intended_topic().c_str()};
        ReplyEmitter out(reply);
        if (d->replay(instance, &row, &out.emitter, &error) != HUTONG_OK) return fail(reply, error);
        reply.set_outcome(RunnerReply::OUTCOME_OK);
      }
    });
    std::future<void> done = work.get_future();
    std::thread worker(std::move(work));
    while (done.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
      RunnerReply heartbeat;
      heartbeat.set_seq(request.seq());
      heartbeat.set_outcome(RunnerReply::OUTCOME_HEARTBEAT);
      send(heartbeat);
    }
    worker.join();
    send(reply);
  }
}
