/*
 * The Hutong plugin interface, ABI version 1 (docs/plugin-guide.md).
 *
 * A plugin is a shared library that exports one data symbol, `hutong_plugin`
 * (HUTONG_PLUGIN_DESCRIPTOR_SYMBOL), of type
 * hutong_plugin_descriptor. The hub reads its first field, abi_version, before
 * anything else and refuses a plugin built for another version.
 *
 * Only C types cross this boundary: no C++ object, exception or std type.
 * Records cross as topic + key + serialized protobuf bytes (the record type
 * whose (hutong.v1.record).topic is the topic, from libhutong_schemas) + a
 * source position; errors cross as a stable code and a message written into a
 * hutong_error the hub owns.
 *
 * Threading: the hub calls one instance from one thread at a time.
 */
#ifndef HUTONG_PLUGIN_H_
#define HUTONG_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version 2 added hutong_host.state_dir. The hub also loads plugins built for
 * version 1 (they never read the newer fields). */
#define HUTONG_PLUGIN_ABI_VERSION 2u
#define HUTONG_PLUGIN_ABI_OLDEST 1u
#define HUTONG_PLUGIN_DESCRIPTOR_SYMBOL "hutong_plugin"

/* Return values of plugin functions. */
#define HUTONG_OK 0     /* done; for poll: a batch was emitted */
#define HUTONG_IDLE 1   /* poll: nothing new now; the hub polls again after poll_interval_ms */
#define HUTONG_ERROR -1 /* failed; the reason is in the hutong_error */

typedef enum hutong_plugin_kind {
  HUTONG_PLUGIN_SOURCE = 1, /* reads a department system, emits records */
  HUTONG_PLUGIN_SINK = 2    /* receives records from the journal */
} hutong_plugin_kind;

typedef enum hutong_config_type {
  HUTONG_CONFIG_STRING = 1,
  HUTONG_CONFIG_INT = 2,      /* decimal, 64-bit signed */
  HUTONG_CONFIG_BOOL = 3,     /* true | false */
  HUTONG_CONFIG_DURATION = 4, /* milliseconds, decimal */
  HUTONG_CONFIG_PATH = 5      /* a file system path */
} hutong_config_type;

/* One configuration key the plugin accepts under its connector's `settings`. */
typedef struct hutong_config_key {
  const char* name;
  hutong_config_type type;
  const char* default_value; /* NULL: the key is required */
  const char* doc;           /* one sentence for operators */
} hutong_config_key;

/* The validated settings of one connector, as text (types already checked). */
typedef struct hutong_config_entry {
  const char* key;
  const char* value;
} hutong_config_entry;

typedef struct hutong_config {
  const char* connector_name;
  const hutong_config_entry* entries; /* every declared key: given or defaulted */
  uint32_t count;
} hutong_config;

/* Filled by the plugin on HUTONG_ERROR. The hub owns the storage. */
#define HUTONG_ERROR_CODE_SIZE 64
#define HUTONG_ERROR_MESSAGE_SIZE 1024
typedef struct hutong_error {
  char code[HUTONG_ERROR_CODE_SIZE];       /* stable, e.g. "source.unreachable" */
  char message[HUTONG_ERROR_MESSAGE_SIZE]; /* what was expected, what was found, where */
} hutong_error;

typedef enum hutong_op { HUTONG_OP_UPSERT = 1, HUTONG_OP_DELETE = 2 } hutong_op;

/* A record emitted by a source (or delivered to a sink). */
typedef struct hutong_record {
  const char* topic;
  size_t topic_len;
  const char* key;
  size_t key_len;
  hutong_op op;
  const uint8_t* payload; /* the serialized record message; may be empty for a delete */
  size_t payload_len;
  int64_t event_time_us;  /* when the source says it happened; 0 when it does not say */
  const char* location;   /* human-readable origin, e.g. "学籍名册_20251019.csv row 12"; may be NULL */
  uint64_t offset;        /* journal offset (sinks only) */
} hutong_record;

/* A row the plugin could not turn into a record: kept in quarantine. */
typedef struct hutong_rejected_row {
  const char* source_name; /* file, table, snapshot */
  uint64_t row_number;     /* 1-based, header = 1; 0 for a whole file */
  uint64_t byte_offset;
  const uint8_t* original; /* the row's bytes exactly as read */
  size_t original_len;
  const char* original_encoding; /* e.g. "GB18030"; may be NULL */
  const char* reason_code;       /* e.g. "id.checksum" */
  const char* message;
  const char* field;          /* may be NULL */
  const char* intended_topic; /* may be NULL */
} hutong_rejected_row;

/* What a source's poll writes into; provided by the hub. Everything emitted in
 * one poll call, with the position given last, is journaled as one atomic unit:
 * after a crash the hub hands back the last position that was kept. */
typedef struct hutong_emitter {
  void* context;
  int (*record)(void* context, const hutong_record* record);
  int (*reject)(void* context, const hutong_rejected_row* row);
  /* The source position after everything emitted in this poll (opaque bytes). */
  void (*position)(void* context, const uint8_t* position, size_t position_len);
  /* A row identical to an earlier row of the same delivery, collapsed (a repair). */
  void (*repaired)(void* context, const char* what);
} hutong_emitter;

typedef enum hutong_log_level {
  HUTONG_LOG_DEBUG = 0,
  HUTONG_LOG_INFO = 1,
  HUTONG_LOG_WARN = 2,
  HUTONG_LOG_ERROR = 3
} hutong_log_level;

/* Services the hub offers a plugin instance. */
typedef struct hutong_host {
  void* context;
  void (*log)(void* context, hutong_log_level level, const char* message);
  /* ABI 2: a folder that belongs to this connector alone and survives restarts
   * (the connector's `state_dir`, by default <data_dir>/connectors/<name>),
   * created by the hub, for state the plugin keeps beside its source position. */
  const char* state_dir;
} hutong_host;

typedef struct hutong_plugin_descriptor {
  uint32_t abi_version; /* HUTONG_PLUGIN_ABI_VERSION: read before anything else */
  uint32_t descriptor_size; /* sizeof(hutong_plugin_descriptor) where it was built */
  const char* name;
  const char* version;
  hutong_plugin_kind kind;
  const char* description;
  const hutong_config_key* config_keys;
  uint32_t config_key_count;

  /* Creates an instance for a connector; *instance receives it. */
  int (*create)(const hutong_host* host, const hutong_config* config, void** instance,
                hutong_error* error);
  void (*destroy)(void* instance);

  /* Sources. start: resume after `position` (empty: from the beginning). */
  int (*start)(void* instance, const uint8_t* position, size_t position_len, hutong_error* error);
  /* Emits at most max_records records (and any rejected rows) and the new
   * position: HUTONG_OK, HUTONG_IDLE when there is nothing new, or HUTONG_ERROR. */
  int (*poll)(void* instance, const hutong_emitter* out, uint32_t max_records, hutong_error* error);
  /* Re-reads a quarantined row (after the source or a rule was fixed): emits the
   * record, or rejects it again. May be NULL when the plugin cannot. */
  int (*replay)(void* instance, const hutong_rejected_row* row, const hutong_emitter* out,
                hutong_error* error);

  /* Sinks. Receives records in offset order; *committed receives the offset
   * below which everything is durably stored on the sink's side. Since ABI 2,
   * a call with count 0 says the sink has caught up (nothing is pending for
   * now): a moment to flush what it buffers; *committed is then not read.
   * With a connector `department`, records arrive with that department's
   * policy applied (masked or absent fields, possibly a hashed key). */
  int (*deliver)(void* instance, const hutong_record* records, size_t count, uint64_t* committed,
                 hutong_error* error);
  /* The offset the sink has stored up to (its own durable state), at start. */
  int (*committed_offset)(void* instance, uint64_t* committed, hutong_error* error);
} hutong_plugin_descriptor;

#ifdef __cplusplus
}
#endif

#endif /* HUTONG_PLUGIN_H_ */
