#include "journal/envelope_record.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

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

std::string_view payload_bytes(std::string_view value) {
  static const auto* oneof = hutong::v1::Envelope::descriptor()->FindOneofByName("payload");
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(value.data()),
                                            static_cast<int>(value.size()));
  std::string_view found;
  for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
    const auto* field = hutong::v1::Envelope::descriptor()->FindFieldByNumber(
        static_cast<int>(google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag)));
    if (field && field->containing_oneof() == oneof &&
        google::protobuf::internal::WireFormatLite::GetTagWireType(tag) ==
            google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) return {};
      int at = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(size))) return {};
      found = value.substr(static_cast<size_t>(at), size);  // the last one counts, as in parsing
      continue;
    }
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return {};
  }
  return found;
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
