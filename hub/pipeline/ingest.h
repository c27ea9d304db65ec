// The ingest pipeline: a connector's batch -> validate (topic, key, payload,
// enum values) -> normalize (every Person: ID number, name, name key, with the
// domain library) -> accept, quarantine, or count as a duplicate -> one atomic
// journal append holding the accepted records, the quarantined rows and the
// connector's new source position. Knows record types only through the
// schemas' descriptors and annotations, never a department.
#pragma once

#include <google/protobuf/arena.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/date.h"
#include "domain/status.h"
#include "hutong/v1/envelope.pb.h"
#include "journal/journal.h"
#include "pipeline/workers.h"

namespace hutong::pipeline {

// Reason codes the pipeline itself gives (plugins give their own).
inline constexpr std::string_view kRecordTopic = "record.topic";
inline constexpr std::string_view kRecordKey = "record.key";
inline constexpr std::string_view kRecordInvalid = "record.invalid";
inline constexpr std::string_view kRecordEnum = "record.enum";

struct OwnedRecord {
  std::string topic;
  std::string key;
  journal::Op op = journal::Op::kUpsert;
  std::string payload;
  int64_t event_time_us = 0;
  std::string location;
};

struct OwnedRejected {
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

// Copies a rejected row into a message with the same field names: the journal's
// QuarantinedRow, the runner protocol's Rejected.
template <typename Message>
void copy_rejected(const OwnedRejected& row, Message& message) {
  message.set_source_name(row.source_name);
  message.set_row_number(row.row_number);
  message.set_byte_offset(row.byte_offset);
  message.set_original(row.original);
  message.set_original_encoding(row.original_encoding);
  message.set_reason_code(row.reason_code);
  message.set_message(row.message);
  message.set_field(row.field);
  message.set_intended_topic(row.intended_topic);
}

// What one poll of a source produced.
struct Batch {
  std::vector<OwnedRecord> records;
  std::vector<OwnedRejected> rejected;
  std::string position;
  bool has_position = false;
  uint64_t repaired = 0;
  void clear() { *this = Batch(); }
};

struct BatchOutcome {
  uint64_t read = 0;
  uint64_t accepted = 0;
  uint64_t quarantined = 0;
  uint64_t duplicate = 0;
  uint64_t repaired = 0;
  uint64_t appended = 0;  // journal records written (accepted + quarantine + position)
  uint64_t rejected = 0;  // rows that ended in quarantine, new entries or the same again
};

// topic -> the Envelope payload field of its record type, from the schemas.
class TopicRegistry {
 public:
  TopicRegistry();
  const google::protobuf::FieldDescriptor* field_for(std::string_view topic) const;
  std::vector<std::string> topics() const;

 private:
  std::unordered_map<std::string, const google::protobuf::FieldDescriptor*> fields_;
};

// The content last journaled for each key, so that a re-delivered identical
// record is counted instead of journaled again. Rebuilt from the journal at start.
class DedupIndex {
 public:
  // Keys are held as 128 bits of hash of (topic, key), not as strings: a
  // million keys then cost no string allocations and stay compact (a collision
  // of two keys, ~1e-26 for a million, is far less likely than one of the
  // 64-bit content hashes the index compares anyway).
  struct KeyId {
    uint64_t a = 0;
    uint64_t b = 0;
    bool operator==(const KeyId&) const = default;
  };
  struct KeyIdHash {
    size_t operator()(const KeyId& id) const { return static_cast<size_t>(id.a); }
  };
  // The id of a composite key (journal::composite_key): computed once per
  // record by the ingest, which then asks by id.
  static KeyId key_id(std::string_view composite);

  Status rebuild(const journal::Journal& journal);
  // True when (topic, key) currently holds exactly this content.
  bool unchanged(const std::string& composite, uint64_t content) const {
    return unchanged(key_id(composite), content);
  }
  bool unchanged(const KeyId& id, uint64_t content) const;
  bool contains(const std::string& composite) const { return contains(key_id(composite)); }
  bool contains(const KeyId& id) const;
  // What the index holds for many keys at once, staged changes included:
  // nullopt for a key absent or deleted, else its content. The table's slots
  // are fetched ahead of the lookups (a million keys do not fit in the cache).
  void lookup(std::span<const KeyId> ids, std::vector<std::optional<uint64_t>>& out) const;
  // A batch's changes staged but not yet durable: seen by unchanged() and
  // contains() at once (so the next batch is deduplicated against them), made
  // final by commit_staged() or dropped by discard_staged(), which are given
  // the same changes and visit only those (a key a later batch staged again is
  // left to that batch).
  struct Change {
    KeyId id;
    uint64_t content = 0;
    bool removed = false;
  };
  void stage(std::span<const Change> changes, uint64_t batch);
  void commit_staged(uint64_t batch, std::span<const Change> changes);
  void discard_staged(uint64_t batch, std::span<const Change> changes);
  // The first time a quarantined row was seen (0 if never).
  int64_t first_seen(const std::string& composite) const;
  void set_first_seen(const std::string& composite, int64_t when);
  size_t size() const;

 private:
  // KeyId -> content, open addressing with linear probing in one flat array:
  // a lookup among a million keys is one or two cache misses, not a chain of
  // nodes. (KeyId {0, 0} marks an empty slot, {0, 1} an erased one; key_id()
  // never returns either.)
  class FlatIndex {
   public:
    const uint64_t* find(const KeyId& id) const;
    void prefetch(const KeyId& id) const;
    void assign(const KeyId& id, uint64_t content);
    void erase(const KeyId& id);
    void clear();
    size_t size() const { return size_; }

   private:
    static constexpr KeyId kErased{0, 1};
    struct Slot {
      KeyId id;
      uint64_t content = 0;
    };
    size_t slot_of(const KeyId& id) const;  // where id is, or the empty slot ending its run
    void grow();
    std::vector<Slot> slots_;
    size_t size_ = 0;
    size_t used_ = 0;  // live and erased slots
  };

  mutable std::mutex mu_;
  FlatIndex content_;
  struct Staged {
    uint64_t content;
    bool removed;
    uint64_t batch;
  };
  std::unordered_map<KeyId, Staged, KeyIdHash> staged_;
  std::unordered_map<std::string, int64_t> first_seen_;
};

using journal::composite_key;
uint64_t content_hash(journal::Op op, std::string_view payload);
uint64_t quarantine_content(std::string_view reason, std::string_view message,
                            std::string_view original);

class Ingest {
 public:
  // `helpers`: threads that share the validation and normalization of large
  // batches with the connector thread staging them (workers.h).
  Ingest(journal::Journal& journal, DedupIndex& dedup, size_t helpers = Workers::default_helpers());
  ~Ingest();

  // Validates, normalizes and journals one batch atomically; returns once it
  // is durable. An error means nothing of the batch was kept (the connector
  // re-reads from its last position).
  Result<BatchOutcome> commit(const std::string& connector, const Batch& batch);

  // The same in two steps, so that a connector can prepare its next batch while
  // this one is being made durable: stage() validates, normalizes and
  // deduplicates (against staged batches too); submit() appends and calls
  // `done` once durable (or failed). Submit staged batches in order, and a
  // batch only after the previous one succeeded; drop a staged batch with
  // discard() if it will not be submitted.
  struct Staged;
  Result<std::shared_ptr<Staged>> stage(const std::string& connector, const Batch& batch);
  void submit(std::shared_ptr<Staged> staged, std::function<void(Result<BatchOutcome>)> done);
  void discard(const std::shared_ptr<Staged>& staged);

  // Turns one record into the normalized envelope stage() would journal, or
  // says why it is rejected (the same checks, one record at a time).
  Status prepare(const std::string& connector, const OwnedRecord& record,
                 const std::string& position, hutong::v1::Envelope& envelope) const;

  journal::Journal& journal() { return journal_; }
  const TopicRegistry& topics() const { return topics_; }

 private:
  struct PreparedRecord;
  void prepare_chunk(const std::string& connector, const Batch& batch, size_t begin, size_t end,
                     int64_t now, domain::CivilDate today, google::protobuf::Arena& arena,
                     std::string& bytes, PreparedRecord* prepared) const;
  // Arenas for the chunks of a batch, kept for the next batch.
  google::protobuf::Arena* take_arena();
  void give_back_arena(google::protobuf::Arena* arena);

  journal::Journal& journal_;
  DedupIndex& dedup_;
  TopicRegistry topics_;
  std::atomic<uint64_t> next_batch_{1};
  Workers workers_;
  std::mutex arenas_mu_;
  std::vector<std::unique_ptr<google::protobuf::Arena>> arenas_;
};

// The quarantine key of a rejected row: connector|source|row.
std::string quarantine_key(std::string_view connector, const OwnedRejected& row);

}  // namespace hutong::pipeline
