#include "journal/envelope_record.h"

namespace hutong::journal {

RecordIn to_record(const hutong::v1::Envelope& envelope, RecordStorage& storage) {
  hutong::v1::Envelope copy = envelope;
  return to_record_consuming(copy, storage);
}

RecordIn to_record_consuming(hutong::v1::Envelope& envelope, RecordStorage& storage) {
  storage.topic.swap(*envelope.mutable_topic());
  storage.key.swap(*envelope.mutable_key());
  envelope.clear_topic();
  envelope.clear_key();
  envelope.clear_offset();
  storage.value.clear();
  envelope.SerializeToString(&storage.value);
  return RecordIn{envelope.op() == hutong::v1::OP_DELETE ? Op::kDelete : Op::kUpsert, storage.topic,
                  storage.key, storage.value};
}

RecordIn to_record_spliced(hutong::v1::Envelope& envelope, std::string_view payload,
                           RecordStorage& storage) {
  static const auto* oneof = hutong::v1::Envelope::descriptor()->FindOneofByName("payload");
  const auto* field = envelope.GetReflection()->GetOneofFieldDescriptor(envelope, oneof);
  if (field) envelope.GetReflection()->ClearOneof(&envelope, oneof);
  RecordIn record = to_record_consuming(envelope, storage);
  if (field) {
    put_varint(storage.value, (static_cast<uint64_t>(field->number()) << 3) | 2);
    put_varint(storage.value, payload.size());
    storage.value.append(payload);
    record.value = storage.value;
  }
  return record;
}

const google::protobuf::Message* payload_of(const hutong::v1::Envelope& envelope) {
  static const auto* oneof = hutong::v1::Envelope::descriptor()->FindOneofByName("payload");
  const auto* field = envelope.GetReflection()->GetOneofFieldDescriptor(envelope, oneof);
  return field ? &envelope.GetReflection()->GetMessage(envelope, field) : nullptr;
}

bool from_record(const RecordView& record, hutong::v1::Envelope& envelope) {
  if (!envelope.ParseFromArray(record.value.data(), static_cast<int>(record.value.size())))
    return false;
  envelope.set_topic(std::string(record.topic));
  envelope.set_key(std::string(record.key));
  envelope.set_offset(record.offset);
  if (envelope.op() == hutong::v1::OP_UNSPECIFIED) {
    envelope.set_op(record.op == Op::kDelete ? hutong::v1::OP_DELETE : hutong::v1::OP_UPSERT);
  }
  return true;
}

}  // namespace hutong::journal
