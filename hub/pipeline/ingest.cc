#include "pipeline/ingest.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include <bit>
#include <chrono>
#include <deque>
#include <functional>
#include <future>

#include "domain/name.h"
#include "domain/resident_id.h"
#include "domain/text.h"
#include "hutong/v1/options.pb.h"
#include "journal/envelope_record.h"
#include "journal/internal_topics.h"

namespace hutong::pipeline {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void set_timestamp(google::protobuf::Timestamp* ts, int64_t us) {
  ts->set_seconds(us / 1'000'000);
  ts->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
}

// For each message type reachable from the envelope, the fields worth visiting:
// enums (to check) and messages that are, or contain, enums or a Person. Built
// once; read-only afterwards, so every connector thread may use it.
class FieldPlan {
 public:
  static const FieldPlan& instance() {
    static const FieldPlan plan;
    return plan;
  }
  const std::vector<const FieldDescriptor*>& fields(const Descriptor* type) const {
    static const std::vector<const FieldDescriptor*> none;
    auto it = fields_.find(type);
    return it == fields_.end() ? none : it->second;
  }

 private:
  FieldPlan() { relevant(hutong::v1::Envelope::descriptor()); }
  // Whether `type` holds an enum or a Person anywhere; fills fields_ on the way.
  bool relevant(const Descriptor* type) {
    if (auto known = memo_.find(type); known != memo_.end()) return known->second;
    memo_[type] = false;  // cycles count as irrelevant until proven otherwise
    bool any = type == hutong::v1::Person::descriptor();
    std::vector<const FieldDescriptor*> fields;
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      if (field->type() == FieldDescriptor::TYPE_ENUM ||
          (field->type() == FieldDescriptor::TYPE_MESSAGE && relevant(field->message_type()))) {
        fields.push_back(field);
      }
    }
    any = any || !fields.empty();
    memo_[type] = any;
    if (any) fields_[type] = std::move(fields);
    return any;
  }
  std::unordered_map<const Descriptor*, bool> memo_;
  std::unordered_map<const Descriptor*, std::vector<const FieldDescriptor*>> fields_;
};

// Checks every enum value (it must be one the schema defines: proto3 keeps
// unknown numbers) and normalizes every hutong.v1.Person: the resident ID must
// be valid (its reason code rejects the record), the name is normalized; the
// people are collected so that their matching keys are computed together.
// `changed` is set when a value had to change (it is left alone otherwise).
Status visit(Message& message, domain::CivilDate reference,
             std::vector<hutong::v1::Person*>& people, bool& changed) {
  if (message.GetDescriptor() == hutong::v1::Person::descriptor()) {
    auto& person = static_cast<hutong::v1::Person&>(message);
    if (!person.resident_id().empty()) {
      Result<domain::ResidentId> id =
          domain::normalize_resident_id(person.resident_id(), reference);
      if (!id) return Status(id.code(), "resident_id: " + id.status().message());
      if (id->number() != person.resident_id()) {
        person.set_resident_id(std::string(id->number()));
        changed = true;
      }
    }
    if (!person.name().empty()) {
      Result<std::string> name = domain::normalize_name(person.name());
      if (name && *name != person.name()) {
        person.set_name(*name);
        changed = true;
      }
      people.push_back(&person);
    }
  }
  const Reflection* reflection = message.GetReflection();
  for (const FieldDescriptor* field : FieldPlan::instance().fields(message.GetDescriptor())) {
    if (field->type() == FieldDescriptor::TYPE_ENUM) {
      int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
      for (int i = 0; i < count; ++i) {
        int value = field->is_repeated() ? reflection->GetRepeatedEnumValue(message, field, i)
                                         : reflection->GetEnumValue(message, field);
        if (field->enum_type()->FindValueByNumber(value) == nullptr) {
          return Status(kRecordEnum, field->name() + " holds " + std::to_string(value) +
                                         ", which is no value of " +
                                         field->enum_type()->full_name());
        }
      }
    } else if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        Status s = visit(*reflection->MutableRepeatedMessage(&message, field, i), reference, people,
                         changed);
        if (!s)
          return Status(s.code(), field->name() + "[" + std::to_string(i) + "]." + s.message());
      }
    } else if (reflection->HasField(message, field)) {
      Status s = visit(*reflection->MutableMessage(&message, field), reference, people, changed);
      if (!s) return Status(s.code(), field->name() + "." + s.message());
    }
  }
  return Status::ok();
}

// Fills the matching key of every collected person with one OpenCC call; calls
// changed(i) for each person i whose key was not already that.
template <typename OnChange>
void fill_match_keys(const std::vector<hutong::v1::Person*>& people, OnChange changed) {
  if (people.empty()) return;
  std::vector<std::string_view> names;
  names.reserve(people.size());
  for (const hutong::v1::Person* person : people)
    names.push_back(person->name());
  Result<std::vector<std::string>> keys = domain::name_match_keys(names);
  if (!keys) return;
  for (size_t i = 0; i < people.size(); ++i) {
    if (people[i]->name_match_key() == (*keys)[i]) continue;
    people[i]->set_name_match_key(std::move((*keys)[i]));
    changed(i);
  }
}

}  // namespace

// What identifies a rejected row's content: the same row rejected again for the
// same reason is a re-delivery, not a new quarantine entry.
uint64_t quarantine_content(std::string_view reason, std::string_view message,
                            std::string_view original) {
  std::string content(reason);
  content += '\0';
  content += message;
  content += '\0';
  content += original;
  return content_hash(journal::Op::kUpsert, content);
}

uint64_t content_hash(journal::Op op, std::string_view payload) {
  uint64_t h = std::hash<std::string_view>{}(payload);
  return h ^ (static_cast<uint64_t>(op) * 0x9E3779B97F4A7C15ull);
}

std::string quarantine_key(std::string_view connector, const OwnedRejected& row) {
  return std::string(connector) + "|" + row.source_name + "|" + std::to_string(row.row_number);
}

TopicRegistry::TopicRegistry() {
  const auto* oneof = hutong::v1::Envelope::descriptor()->FindOneofByName("payload");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* field = oneof->field(i);
    const auto& options = field->message_type()->options().GetExtension(hutong::v1::record);
    if (!options.topic().empty()) fields_[options.topic()] = field;
  }
}

const FieldDescriptor* TopicRegistry::field_for(std::string_view topic) const {
  auto it = fields_.find(std::string(topic));
  return it == fields_.end() ? nullptr : it->second;
}

std::vector<std::string> TopicRegistry::topics() const {
  std::vector<std::string> out;
  for (const auto& [topic, field] : fields_)
    out.push_back(topic);
  return out;
}

DedupIndex::KeyId DedupIndex::key_id(std::string_view composite) {
  uint64_t fnv = 0xcbf29ce484222325ull;  // FNV-1a, independent of std::hash
  for (char ch : composite) {
    fnv ^= static_cast<unsigned char>(ch);
    fnv *= 0x100000001b3ull;
  }
  uint64_t a = std::hash<std::string_view>{}(composite);
  return {a == 0 ? 1 : a, fnv};  // a == 0 is reserved for empty and erased slots
}

size_t DedupIndex::FlatIndex::slot_of(const KeyId& id) const {
  size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>(id.a * 0x9E3779B97F4A7C15ull) & mask;
  std::optional<size_t> reusable;
  for (;; i = (i + 1) & mask) {
    const KeyId& here = slots_[i].id;
    if (here == id) return i;
    if (here.a == 0 && here.b == 0) return reusable.value_or(i);
    if (here == kErased && !reusable) reusable = i;
  }
}

void DedupIndex::FlatIndex::prefetch(const KeyId& id) const {
  if (slots_.empty()) return;
  size_t i = static_cast<size_t>(id.a * 0x9E3779B97F4A7C15ull) & (slots_.size() - 1);
  __builtin_prefetch(&slots_[i]);
}

const uint64_t* DedupIndex::FlatIndex::find(const KeyId& id) const {
  if (slots_.empty()) return nullptr;
  const Slot& slot = slots_[slot_of(id)];
  return slot.id == id ? &slot.content : nullptr;
}

void DedupIndex::FlatIndex::assign(const KeyId& id, uint64_t content) {
  if ((used_ + 1) * 2 > slots_.size()) grow();
  Slot& slot = slots_[slot_of(id)];
  if (!(slot.id == id)) {
    if (slot.id.a == 0 && slot.id.b == 0) ++used_;
    slot.id = id;
    ++size_;
  }
  slot.content = content;
}

void DedupIndex::FlatIndex::erase(const KeyId& id) {
  if (slots_.empty()) return;
  Slot& slot = slots_[slot_of(id)];
  if (!(slot.id == id)) return;
  slot.id = kErased;
  --size_;
}

void DedupIndex::FlatIndex::clear() {
  slots_.clear();
  size_ = used_ = 0;
}

void DedupIndex::FlatIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::bit_ceil(std::max<size_t>(1024, size_ * 4)), Slot{});  // a power of two
  size_ = used_ = 0;
  for (const Slot& slot : old) {
    if (slot.id.a != 0) assign(slot.id, slot.content);
  }
}

Status DedupIndex::rebuild(const journal::Journal& journal) {
  std::lock_guard lock(mu_);
  content_.clear();
  first_seen_.clear();
  auto reader = journal.read_from(0);
  hutong::v1::Envelope envelope;
  for (;;) {
    Result<std::optional<journal::RecordView>> record = reader->next();
    if (!record) return record.status();
    if (!*record) break;
    const journal::RecordView& r = **record;
    if (r.topic == journal::kTopicConnectorPosition || r.topic == journal::kTopicSubscriberCursor ||
        r.topic == journal::kTopicAudit) {
      continue;
    }
    std::string composite = composite_key(r.topic, r.key);
    if (r.op == journal::Op::kDelete) {
      content_.erase(key_id(composite));
      first_seen_.erase(composite);
      continue;
    }
    if (r.topic == journal::kTopicQuarantine) {
      envelope.Clear();
      if (!journal::from_record(r, envelope) || !envelope.has_quarantined_row()) continue;
      const auto& q = envelope.quarantined_row();
      first_seen_[composite] = q.first_seen().seconds() * 1'000'000 + q.first_seen().nanos() / 1000;
      content_.assign(key_id(composite),
                      quarantine_content(q.reason_code(), q.message(), q.original()));
    } else {
      // The payload's bytes as stored: what the ingest hashed (no parsing).
      content_.assign(key_id(composite), content_hash(r.op, journal::payload_bytes(r.value)));
    }
  }
  return Status::ok();
}

bool DedupIndex::unchanged(const KeyId& id, uint64_t content) const {
  std::lock_guard lock(mu_);
  if (auto staged = staged_.find(id); staged != staged_.end()) {
    return !staged->second.removed && staged->second.content == content;
  }
  const uint64_t* kept = content_.find(id);
  return kept && *kept == content;
}

bool DedupIndex::contains(const KeyId& id) const {
  std::lock_guard lock(mu_);
  if (auto staged = staged_.find(id); staged != staged_.end()) return !staged->second.removed;
  return content_.find(id) != nullptr;
}

void DedupIndex::lookup(std::span<const KeyId> ids,
                        std::vector<std::optional<uint64_t>>& out) const {
  constexpr size_t kAhead = 8;
  out.assign(ids.size(), std::nullopt);
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < std::min(kAhead, ids.size()); ++i)
    content_.prefetch(ids[i]);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kAhead < ids.size()) content_.prefetch(ids[i + kAhead]);
    if (auto staged = staged_.find(ids[i]); staged != staged_.end()) {
      if (!staged->second.removed) out[i] = staged->second.content;
      continue;
    }
    if (const uint64_t* kept = content_.find(ids[i])) out[i] = *kept;
  }
}

void DedupIndex::stage(std::span<const Change> changes, uint64_t batch) {
  std::lock_guard lock(mu_);
  staged_.reserve(staged_.size() + changes.size());
  for (const Change& c : changes)
    staged_[c.id] = Staged{c.content, c.removed, batch};
}

void DedupIndex::commit_staged(uint64_t batch, std::span<const Change> changes) {
  std::lock_guard lock(mu_);
  for (const Change& c : changes) {
    auto it = staged_.find(c.id);
    if (it == staged_.end() || it->second.batch != batch) continue;  // a later batch's now
    if (it->second.removed) {
      content_.erase(it->first);
    } else {
      content_.assign(it->first, it->second.content);
    }
    staged_.erase(it);
  }
}

void DedupIndex::discard_staged(uint64_t batch, std::span<const Change> changes) {
  std::lock_guard lock(mu_);
  for (const Change& c : changes) {
    auto it = staged_.find(c.id);
    if (it != staged_.end() && it->second.batch == batch) staged_.erase(it);
  }
}

int64_t DedupIndex::first_seen(const std::string& composite) const {
  std::lock_guard lock(mu_);
  auto it = first_seen_.find(composite);
  return it == first_seen_.end() ? 0 : it->second;
}

void DedupIndex::set_first_seen(const std::string& composite, int64_t when) {
  std::lock_guard lock(mu_);
  first_seen_.emplace(composite, when);
}

size_t DedupIndex::size() const {
  std::lock_guard lock(mu_);
  return content_.size();
}

Ingest::Ingest(journal::Journal& journal, DedupIndex& dedup, size_t helpers)
    : journal_(journal), dedup_(dedup), workers_(helpers) {}

Ingest::~Ingest() = default;

struct Ingest::Staged {
  uint64_t id = 0;
  BatchOutcome outcome;
  // Per chunk of the batch: the topic, key and value bytes of its records, one
  // after another (the RecordIn views point into them).
  std::vector<std::string> chunk_bytes;
  std::deque<journal::RecordStorage> values;  // quarantined rows and the position
  std::vector<journal::RecordIn> records;
  std::vector<DedupIndex::Change> changes;  // staged in the dedup index
};

// What the parallel part of stage() makes of one record.
struct Ingest::PreparedRecord {
  Status status;  // not ok: the record is quarantined with this reason
  DedupIndex::KeyId id;
  uint64_t content = 0;
  // Where the record's topic, key and journal value are in its chunk's bytes.
  size_t topic_at = 0, key_at = 0, value_at = 0, end = 0;
};

namespace {
constexpr size_t kChunkRecords = 256;  // records per chunk of a batch's parallel work
}  // namespace

google::protobuf::Arena* Ingest::take_arena() {
  {
    std::lock_guard lock(arenas_mu_);
    if (!arenas_.empty()) {
      google::protobuf::Arena* arena = arenas_.back().release();
      arenas_.pop_back();
      return arena;
    }
  }
  // A chunk's envelopes take a few hundred kilobytes: large blocks, few mallocs.
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 << 10;
  options.max_block_size = 1 << 20;
  return new google::protobuf::Arena(options);
}

void Ingest::give_back_arena(google::protobuf::Arena* arena) {
  std::lock_guard lock(arenas_mu_);
  arenas_.emplace_back(arena);
}

// Validates and normalizes records [begin, end) of the batch, and writes the
// journal value of each valid one into `bytes`: the envelope without topic,
// key and payload, then the payload's bytes (docs/journal-format.md). A payload
// that normalization left as it was goes in as the connector sent it; one it
// changed is serialized again.
void Ingest::prepare_chunk(const std::string& connector, const Batch& batch, size_t begin,
                           size_t end, int64_t now, domain::CivilDate today,
                           google::protobuf::Arena& arena, std::string& bytes,
                           PreparedRecord* prepared) const {
  arena.Reset();
  bytes.clear();
  // The envelope around each payload; only op, location and event time vary.
  auto* header = google::protobuf::Arena::CreateMessage<hutong::v1::Envelope>(&arena);
  header->set_schema_version(1);
  header->mutable_source()->set_connector(connector);
  header->mutable_source()->set_position(batch.position);
  set_timestamp(header->mutable_ingest_time(), now);

  const size_t n = end - begin;
  std::vector<const FieldDescriptor*> fields(n, nullptr);
  std::vector<Message*> payloads(n, nullptr);
  std::vector<char> changed(n, 0);
  std::vector<hutong::v1::Person*> people;  // their matching keys are filled at once
  std::vector<size_t> owners;               // the record of each person
  std::string composite;
  for (size_t i = 0; i < n; ++i) {
    const OwnedRecord& record = batch.records[begin + i];
    PreparedRecord& p = prepared[begin + i];
    composite.assign(record.topic);
    composite += '\0';
    composite += record.key;
    p.id = DedupIndex::key_id(composite);
    const FieldDescriptor* field = topics_.field_for(record.topic);
    if (field == nullptr) {
      p.status = Status(kRecordTopic, "topic \"" + record.topic +
                                          "\" is not a record type of the hutong.v1 schemas");
      continue;
    }
    if (record.key.empty()) {
      p.status = Status(kRecordKey, "the record has an empty key");
      continue;
    }
    if (size_t valid = domain::valid_utf8_prefix(record.key); valid != record.key.size()) {
      p.status = Status(kRecordKey, "the key is not valid UTF-8 (byte " + std::to_string(valid) +
                                        " of " + std::to_string(record.key.size()) + ")");
      continue;
    }
    fields[i] = field;
    if (record.op == journal::Op::kDelete) continue;
    Message* payload = google::protobuf::MessageFactory::generated_factory()
                           ->GetPrototype(field->message_type())
                           ->New(&arena);
    if (!payload->ParseFromString(record.payload)) {
      p.status = Status(kRecordInvalid, "the payload is not a serialized " +
                                            field->message_type()->full_name() + " (" +
                                            std::to_string(record.payload.size()) + " bytes)");
      continue;
    }
    size_t first_person = people.size();
    bool normalized = false;
    Status visited = visit(*payload, today, people, normalized);
    if (!visited) {
      p.status = visited;
      people.resize(first_person);
      continue;
    }
    owners.resize(people.size(), i);
    payloads[i] = payload;
    changed[i] = normalized;
  }
  fill_match_keys(people, [&](size_t person) { changed[owners[person]] = 1; });

  for (size_t i = 0; i < n; ++i) {
    const OwnedRecord& record = batch.records[begin + i];
    PreparedRecord& p = prepared[begin + i];
    if (!p.status) continue;
    p.topic_at = bytes.size();
    bytes += record.topic;
    p.key_at = bytes.size();
    bytes += record.key;
    p.value_at = bytes.size();
    bool removed = record.op == journal::Op::kDelete;
    header->set_op(removed ? hutong::v1::OP_DELETE : hutong::v1::OP_UPSERT);
    if (domain::is_valid_utf8(record.location)) {
      header->mutable_source()->set_location(record.location);
    } else {
      header->mutable_source()->set_location(domain::repair_utf8(record.location));
    }
    if (record.event_time_us != 0) {
      set_timestamp(header->mutable_event_time(), record.event_time_us);
    } else {
      header->clear_event_time();
    }
    header->AppendToString(&bytes);
    if (removed) {
      p.content = content_hash(record.op, {});
      p.end = bytes.size();
      continue;
    }
    journal::put_varint(bytes, (static_cast<uint64_t>(fields[i]->number()) << 3) | 2);
    size_t payload_at;
    if (changed[i]) {
      size_t size = payloads[i]->ByteSizeLong();
      journal::put_varint(bytes, size);
      payload_at = bytes.size();
      bytes.resize(payload_at + size);
      payloads[i]->SerializeWithCachedSizesToArray(
          reinterpret_cast<uint8_t*>(bytes.data() + payload_at));
    } else {
      journal::put_varint(bytes, record.payload.size());
      payload_at = bytes.size();
      bytes += record.payload;
    }
    p.content = content_hash(record.op, std::string_view(bytes).substr(payload_at));
    p.end = bytes.size();
  }
}

Status Ingest::prepare(const std::string& connector, const OwnedRecord& record,
                       const std::string& position, hutong::v1::Envelope& envelope) const {
  // The batch path on a batch of one, so that both say the same.
  Batch one;
  one.records.push_back(record);
  one.position = position;
  google::protobuf::Arena arena;
  std::string bytes;
  PreparedRecord prepared;
  prepare_chunk(connector, one, 0, 1, journal::now_micros(), domain::today(), arena, bytes,
                &prepared);
  if (!prepared.status) return prepared.status;
  envelope.Clear();
  if (!envelope.ParseFromArray(bytes.data() + prepared.value_at,
                               static_cast<int>(prepared.end - prepared.value_at))) {
    return Status(kRecordInvalid, "the prepared envelope does not parse");
  }
  envelope.set_topic(record.topic);
  envelope.set_key(record.key);
  return Status::ok();
}

Result<BatchOutcome> Ingest::commit(const std::string& connector, const Batch& batch) {
  Result<std::shared_ptr<Staged>> staged = stage(connector, batch);
  if (!staged) return staged.status();
  std::promise<Result<BatchOutcome>> done;
  std::future<Result<BatchOutcome>> result = done.get_future();
  submit(*staged, [&done](Result<BatchOutcome> outcome) { done.set_value(std::move(outcome)); });
  return result.get();
}

void Ingest::discard(const std::shared_ptr<Staged>& staged) {
  dedup_.discard_staged(staged->id, staged->changes);
}

void Ingest::submit(std::shared_ptr<Staged> staged,
                    std::function<void(Result<BatchOutcome>)> done) {
  if (staged->records.empty()) {
    dedup_.commit_staged(staged->id, staged->changes);
    done(staged->outcome);
    return;
  }
  std::span<const journal::RecordIn> records = staged->records;
  journal_.append_async(
      records, [this, staged, done = std::move(done)](Result<journal::AppendResult> appended) {
        if (!appended) {
          dedup_.discard_staged(staged->id, staged->changes);
          done(appended.status());
          return;
        }
        dedup_.commit_staged(staged->id, staged->changes);
        staged->outcome.appended = appended->count;
        done(staged->outcome);
      });
}

Result<std::shared_ptr<Ingest::Staged>> Ingest::stage(const std::string& connector,
                                                      const Batch& batch) {
  auto staged = std::make_shared<Staged>();
  staged->id = next_batch_++;
  BatchOutcome& outcome = staged->outcome;
  outcome.read = batch.records.size() + batch.rejected.size();
  outcome.repaired = batch.repaired;
  std::deque<journal::RecordStorage>& values = staged->values;
  std::vector<journal::RecordIn>& records = staged->records;
  records.reserve(batch.records.size() + batch.rejected.size() + 1);
  // What the batch changes in the dedup index, staged once it is prepared.
  std::vector<DedupIndex::Change>& updates = staged->changes;
  updates.reserve(batch.records.size() + batch.rejected.size());
  int64_t now = journal::now_micros();

  auto quarantine = [&](const OwnedRejected& sent) {
    // Its text fields become protobuf strings: bytes that are not UTF-8 (a
    // plugin's mistake) are replaced, so that every reader can parse the entry.
    const OwnedRejected* valid = &sent;
    OwnedRejected repaired;
    for (const std::string* text : {&sent.source_name, &sent.original_encoding, &sent.reason_code,
                                    &sent.message, &sent.field, &sent.intended_topic}) {
      if (domain::is_valid_utf8(*text)) continue;
      repaired = sent;
      for (std::string* t :
           {&repaired.source_name, &repaired.original_encoding, &repaired.reason_code,
            &repaired.message, &repaired.field, &repaired.intended_topic})
        *t = domain::repair_utf8(*t);
      valid = &repaired;
      break;
    }
    const OwnedRejected& row = *valid;
    std::string key = quarantine_key(connector, row);
    std::string composite = composite_key(journal::kTopicQuarantine, key);
    DedupIndex::KeyId id = DedupIndex::key_id(composite);
    uint64_t content = quarantine_content(row.reason_code, row.message, row.original);
    ++outcome.rejected;
    if (dedup_.unchanged(id, content)) {
      ++outcome.duplicate;  // the same row rejected for the same reason again
      return;
    }
    int64_t first = dedup_.first_seen(composite);
    hutong::v1::Envelope q;
    q.set_topic(std::string(journal::kTopicQuarantine));
    q.set_key(key);
    q.set_op(hutong::v1::OP_UPSERT);
    q.set_schema_version(1);
    q.mutable_source()->set_connector(connector);
    q.mutable_source()->set_position(batch.position);
    q.mutable_source()->set_location(
        row.source_name + (row.row_number ? " row " + std::to_string(row.row_number) : ""));
    set_timestamp(q.mutable_ingest_time(), now);
    auto* r = q.mutable_quarantined_row();
    r->set_connector(connector);
    r->set_source_position(batch.position);
    copy_rejected(row, *r);
    set_timestamp(r->mutable_first_seen(), first ? first : now);
    set_timestamp(r->mutable_last_seen(), now);
    r->set_times_seen(1);
    values.emplace_back();
    records.push_back(journal::to_record_consuming(q, values.back()));
    updates.push_back({id, content, false});
    if (!first) dedup_.set_first_seen(composite, now);
    ++outcome.quarantined;
  };

  // Validating, normalizing and encoding the records is most of the work, and
  // each record's is its own: it is shared out in chunks (workers.h). The
  // envelopes of a chunk live on an arena of its own, so a record's dozen
  // messages and strings cost no malloc/free pairs of their own.
  const size_t n = batch.records.size();
  const size_t chunks = (n + kChunkRecords - 1) / kChunkRecords;
  std::vector<PreparedRecord> prepared(n);
  staged->chunk_bytes.resize(chunks);
  std::vector<google::protobuf::Arena*> arenas(chunks);
  for (google::protobuf::Arena*& arena : arenas)
    arena = take_arena();
  domain::CivilDate today = domain::today();
  workers_.run(chunks, [&](size_t c) {
    prepare_chunk(connector, batch, c * kChunkRecords, std::min(n, (c + 1) * kChunkRecords), now,
                  today, *arenas[c], staged->chunk_bytes[c], prepared.data());
  });
  for (google::protobuf::Arena* arena : arenas)
    give_back_arena(arena);

  // Then, in order: what the index holds for every key of the batch (in one
  // pass), and whether each record changes it.
  std::vector<DedupIndex::KeyId> ids(n);
  for (size_t r = 0; r < n; ++r)
    ids[r] = prepared[r].id;
  std::vector<std::optional<uint64_t>> kept;
  dedup_.lookup(ids, kept);
  // Later rows of the batch supersede earlier ones.
  std::unordered_map<DedupIndex::KeyId, uint64_t, DedupIndex::KeyIdHash> in_batch;
  in_batch.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    const OwnedRecord& record = batch.records[r];
    const PreparedRecord& p = prepared[r];
    if (!p.status) {
      OwnedRejected row;
      row.source_name = record.location.empty() ? record.topic : record.location;
      row.original = record.payload;
      row.original_encoding = "protobuf";
      row.reason_code = std::string(p.status.code());
      row.message = p.status.message();
      row.intended_topic = record.topic;
      row.field = record.key;
      quarantine(row);
      continue;
    }
    auto earlier = in_batch.find(p.id);
    bool same_as_kept =
        earlier != in_batch.end() ? earlier->second == p.content : kept[r] == p.content;
    bool deleting_nothing =
        record.op == journal::Op::kDelete &&
        (earlier != in_batch.end() ? earlier->second == p.content : !kept[r].has_value());
    if (same_as_kept || deleting_nothing) {
      ++outcome.duplicate;
      continue;
    }
    in_batch[p.id] = p.content;
    std::string_view bytes = staged->chunk_bytes[r / kChunkRecords];
    records.push_back({record.op, bytes.substr(p.topic_at, p.key_at - p.topic_at),
                       bytes.substr(p.key_at, p.value_at - p.key_at),
                       bytes.substr(p.value_at, p.end - p.value_at)});
    updates.push_back({p.id, p.content, record.op == journal::Op::kDelete});
    ++outcome.accepted;
  }
  for (const OwnedRejected& row : batch.rejected)
    quarantine(row);
  if (batch.has_position) {
    values.push_back({std::string(journal::kTopicConnectorPosition), connector, batch.position});
    const journal::RecordStorage& p = values.back();
    records.push_back({journal::Op::kUpsert, p.topic, p.key, p.value});
  }
  dedup_.stage(updates, staged->id);
  return staged;
}

}  // namespace hutong::pipeline
