// The C++ layer over the Hutong plugin interface (plugin.h): write a class, name
// it in one macro, and the layer builds the C descriptor, turns exceptions into
// errors at the boundary (none ever crosses it) and hands typed settings over.
// Header-only; needs nothing from the hub but plugin.h.
//
//   class MySource : public hutong::sdk::Source {
//    public:
//     MySource(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings);
//     bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override;
//   };
//   HUTONG_SOURCE_PLUGIN(MySource, "my_source", "1.0.0", "What it reads", kMyKeys)
//
// See docs/plugin-guide.md.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "hutong/plugin.h"

namespace hutong::sdk {

// Thrown inside a plugin to fail the current call with a stable code.
class Failure : public std::runtime_error {
 public:
  Failure(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

class Host {
 public:
  explicit Host(const hutong_host* host) : host_(host) {}
  void log(hutong_log_level level, const std::string& message) const {
    if (host_ && host_->log) host_->log(host_->context, level, message.c_str());
  }
  void info(const std::string& message) const { log(HUTONG_LOG_INFO, message); }
  void warn(const std::string& message) const { log(HUTONG_LOG_WARN, message); }
  // The connector's own folder for state kept across restarts (see plugin.h).
  std::string state_dir() const { return host_ && host_->state_dir ? host_->state_dir : ""; }

 private:
  const hutong_host* host_;
};

// The connector's settings; the hub has already checked their types and filled
// defaults, so a missing key here is a programming error.
class Settings {
 public:
  explicit Settings(const hutong_config* config) : config_(config) {}
  std::string connector_name() const { return config_->connector_name; }
  std::string string(std::string_view key) const { return std::string(find(key)); }
  int64_t integer(std::string_view key) const { return std::stoll(std::string(find(key))); }
  bool boolean(std::string_view key) const { return find(key) == "true"; }
  int64_t milliseconds(std::string_view key) const { return integer(key); }

 private:
  std::string_view find(std::string_view key) const {
    for (uint32_t i = 0; i < config_->count; ++i) {
      if (key == config_->entries[i].key) return config_->entries[i].value;
    }
    throw Failure("config.missing",
                  "setting \"" + std::string(key) + "\" was not declared by the plugin");
  }
  const hutong_config* config_;
};

struct RejectedRow {
  std::string source_name;
  uint64_t row_number = 0;
  uint64_t byte_offset = 0;
  std::string original;
  std::string original_encoding;
  std::string reason_code;
  std::string message;
  std::string field;
  std::string intended_topic;
};

class Emitter {
 public:
  explicit Emitter(const hutong_emitter* out) : out_(out) {}

  // Emits a record whose payload is a protobuf message (any type with
  // SerializeToString), or already serialized bytes.
  template <typename Message>
  void upsert(std::string_view topic, std::string_view key, const Message& payload,
              std::string_view location = {}, int64_t event_time_us = 0) {
    std::string bytes;
    payload.SerializeToString(&bytes);
    upsert_bytes(topic, key, bytes, location, event_time_us);
  }
  void upsert_bytes(std::string_view topic, std::string_view key, std::string_view payload,
                    std::string_view location = {}, int64_t event_time_us = 0) {
    emit(topic, key, HUTONG_OP_UPSERT, payload, location, event_time_us);
  }
  void remove(std::string_view topic, std::string_view key, std::string_view location = {}) {
    emit(topic, key, HUTONG_OP_DELETE, {}, location, 0);
  }
  void reject(const RejectedRow& row) {
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
    if (out_->reject(out_->context, &r) != HUTONG_OK) {
      throw Failure("emit.refused", "the hub refused a rejected row");
    }
  }
  // The position to resume after, once everything emitted so far is kept.
  void position(std::string_view position) {
    out_->position(out_->context, reinterpret_cast<const uint8_t*>(position.data()),
                   position.size());
  }
  void repaired(const std::string& what) {
    if (out_->repaired) out_->repaired(out_->context, what.c_str());
  }

 private:
  void emit(std::string_view topic, std::string_view key, hutong_op op, std::string_view payload,
            std::string_view location, int64_t event_time_us) {
    std::string where(location);
    hutong_record r{};
    r.topic = topic.data();
    r.topic_len = topic.size();
    r.key = key.data();
    r.key_len = key.size();
    r.op = op;
    r.payload = reinterpret_cast<const uint8_t*>(payload.data());
    r.payload_len = payload.size();
    r.event_time_us = event_time_us;
    r.location = where.c_str();
    if (out_->record(out_->context, &r) != HUTONG_OK) {
      throw Failure("emit.refused", "the hub refused a record");
    }
  }
  const hutong_emitter* out_;
};

class Source {
 public:
  virtual ~Source() = default;
  // Resume after `position` (empty: from the beginning).
  virtual void start(std::string_view position) { (void)position; }
  // Emit up to max_records records and the new position; false when idle.
  virtual bool poll(Emitter& out, uint32_t max_records) = 0;
  // Re-read a quarantined row; the default cannot.
  virtual void replay(const hutong_rejected_row& row, Emitter& out) {
    (void)row;
    (void)out;
    throw Failure("replay.unsupported", "this plugin cannot re-read a quarantined row");
  }
};

class Sink {
 public:
  virtual ~Sink() = default;
  // The offset below which this sink has stored everything (its own state).
  virtual uint64_t committed_offset() = 0;
  // Store the records; return the offset below which everything is stored.
  virtual uint64_t deliver(std::span<const hutong_record> records) = 0;
  // Caught up: nothing more is pending for now (flush buffered work here).
  virtual void flush() {}
};

namespace internal {

inline void fill(hutong_error* error, const std::string& code, const std::string& message) {
  if (!error) return;
  std::snprintf(error->code, sizeof error->code, "%s", code.c_str());
  std::snprintf(error->message, sizeof error->message, "%s", message.c_str());
}

// Runs fn, turning any exception into HUTONG_ERROR with a code and message.
template <typename Fn>
int guarded(hutong_error* error, Fn&& fn) {
  try {
    return fn();
  } catch (const Failure& f) {
    fill(error, f.code(), f.what());
  } catch (const std::exception& e) {
    fill(error, "plugin.exception", e.what());
  } catch (...) {
    fill(error, "plugin.exception", "an unknown exception");
  }
  return HUTONG_ERROR;
}

template <typename T>
struct SourceCalls {
  static int create(const hutong_host* host, const hutong_config* config, void** instance,
                    hutong_error* error) {
    return guarded(error, [&] {
      *instance = new T(Host(host), Settings(config));
      return HUTONG_OK;
    });
  }
  static void destroy(void* instance) { delete static_cast<T*>(instance); }
  static int start(void* instance, const uint8_t* position, size_t len, hutong_error* error) {
    return guarded(error, [&] {
      static_cast<T*>(instance)->start(
          std::string_view(reinterpret_cast<const char*>(position), len));
      return HUTONG_OK;
    });
  }
  static int poll(void* instance, const hutong_emitter* out, uint32_t max_records,
                  hutong_error* error) {
    return guarded(error, [&] {
      Emitter emitter(out);
      return static_cast<T*>(instance)->poll(emitter, max_records) ? HUTONG_OK : HUTONG_IDLE;
    });
  }
  static int replay(void* instance, const hutong_rejected_row* row, const hutong_emitter* out,
                    hutong_error* error) {
    return guarded(error, [&] {
      Emitter emitter(out);
      static_cast<T*>(instance)->replay(*row, emitter);
      return HUTONG_OK;
    });
  }
};

template <typename T>
struct SinkCalls {
  static int create(const hutong_host* host, const hutong_config* config, void** instance,
                    hutong_error* error) {
    return SourceCalls<T>::create(host, config, instance, error);
  }
  static void destroy(void* instance) { delete static_cast<T*>(instance); }
  static int deliver(void* instance, const hutong_record* records, size_t count,
                     uint64_t* committed, hutong_error* error) {
    return guarded(error, [&] {
      if (count == 0) {
        static_cast<T*>(instance)->flush();
        *committed = 0;
      } else {
        *committed = static_cast<T*>(instance)->deliver(std::span(records, count));
      }
      return HUTONG_OK;
    });
  }
  static int committed_offset(void* instance, uint64_t* committed, hutong_error* error) {
    return guarded(error, [&] {
      *committed = static_cast<T*>(instance)->committed_offset();
      return HUTONG_OK;
    });
  }
};

// The config-key array of a plugin, or nullptr for a plugin without settings.
template <size_t N>
constexpr const hutong_config_key* keys_of(const hutong_config_key (&keys)[N]) {
  return keys;
}
constexpr const hutong_config_key* keys_of(std::nullptr_t) {
  return nullptr;
}
template <size_t N>
constexpr uint32_t count_of(const hutong_config_key (&)[N]) {
  return N;
}
constexpr uint32_t count_of(std::nullptr_t) {
  return 0;
}

}  // namespace internal
}  // namespace hutong::sdk

#define HUTONG_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// Defines the plugin's descriptor for a Source class. `keys` is an array of
// hutong_config_key.
#define HUTONG_SOURCE_PLUGIN(Type, name, version, description, keys)    \
  HUTONG_PLUGIN_EXPORT const hutong_plugin_descriptor hutong_plugin = { \
      HUTONG_PLUGIN_ABI_VERSION,                                        \
      sizeof(hutong_plugin_descriptor),                                 \
      name,                                                             \
      version,                                                          \
      HUTONG_PLUGIN_SOURCE,                                             \
      description,                                                      \
      hutong::sdk::internal::keys_of(keys),                             \
      hutong::sdk::internal::count_of(keys),                            \
      &hutong::sdk::internal::SourceCalls<Type>::create,                \
      &hutong::sdk::internal::SourceCalls<Type>::destroy,               \
      &hutong::sdk::internal::SourceCalls<Type>::start,                 \
      &hutong::sdk::internal::SourceCalls<Type>::poll,                  \
      &hutong::sdk::internal::SourceCalls<Type>::replay,                \
      nullptr,                                                          \
      nullptr};

// Defines the plugin's descriptor for a Sink class.
#define HUTONG_SINK_PLUGIN(Type, name, version, description, keys)      \
  HUTONG_PLUGIN_EXPORT const hutong_plugin_descriptor hutong_plugin = { \
      HUTONG_PLUGIN_ABI_VERSION,                                        \
      sizeof(hutong_plugin_descriptor),                                 \
      name,                                                             \
      version,                                                          \
      HUTONG_PLUGIN_SINK,                                               \
      description,                                                      \
      hutong::sdk::internal::keys_of(keys),                             \
      hutong::sdk::internal::count_of(keys),                            \
      &hutong::sdk::internal::SinkCalls<Type>::create,                  \
      &hutong::sdk::internal::SinkCalls<Type>::destroy,                 \
      nullptr,                                                          \
      nullptr,                                                          \
      nullptr,                                                          \
      &hutong::sdk::internal::SinkCalls<Type>::deliver,                 \
      &hutong::sdk::internal::SinkCalls<Type>::committed_offset};
