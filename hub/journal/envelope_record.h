// How an Envelope is kept in the journal: topic and key travel in the record
// header (so readers filter and compaction dedups without parsing protobuf), the
// offset is the record's own; the value is the rest of the Envelope, serialized.
#pragma once

#include <string>

#include "hutong/v1/envelope.pb.h"
#include "journal/format.h"

namespace hutong::journal {

// What a RecordIn made from an envelope points into.
struct RecordStorage {
  std::string topic;
  std::string key;
  std::string value;
};

// The record for `envelope`; `storage` receives its topic, key and serialized
// remainder, and must outlive the RecordIn (the envelope need not).
RecordIn to_record(const hutong::v1::Envelope& envelope, RecordStorage& storage);

// The same without copying the envelope: its topic and key move into `storage`
// (the envelope is left without them).
RecordIn to_record_consuming(hutong::v1::Envelope& envelope, RecordStorage& storage);

// The serialized payload record in a journal record's value, as it is stored
// (empty when the envelope has none, or the value is not an envelope): what
// the ingest hashed to recognize a re-delivered record.
std::string_view payload_bytes(std::string_view value);

// The envelope's payload record (whichever record type it is), or null.
const google::protobuf::Message* payload_of(const hutong::v1::Envelope& envelope);

// The Envelope a record holds, with topic, key and offset restored; false when
// the value is not a serialized Envelope.
bool from_record(const RecordView& record, hutong::v1::Envelope& envelope);

}  // namespace hutong::journal
