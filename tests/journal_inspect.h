// Reading a hub's journal from a test: every record of a topic, as
// (key, op, payload bytes), in journal order; or its current state per key.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "journal/envelope_record.h"
#include "journal/journal.h"

namespace hutong::testing {

// Calls fn(envelope) for every decodable record of `topic`, in journal order
// (nothing when there is no journal yet).
template <typename Fn>
void for_each_envelope(const std::string& data_dir, const std::string& topic, Fn&& fn) {
  journal::JournalOptions ro;
  ro.directory = data_dir + "/journal";
  ro.read_only = true;
  auto opened = journal::Journal::open(ro);
  if (!opened) return;
  auto reader = (*opened)->read_from(0, {topic});
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    v1::Envelope e;
    if (journal::from_record(**r, e)) fn(e);
  }
}

using JournaledRecord = std::tuple<std::string, int, std::string>;

inline std::vector<JournaledRecord> journal_sequence(const std::string& data_dir,
                                                     const std::string& topic) {
  std::vector<JournaledRecord> out;
  for_each_envelope(data_dir, topic, [&](const v1::Envelope& e) {
    const google::protobuf::Message* payload = journal::payload_of(e);
    out.emplace_back(e.key(), static_cast<int>(e.op()),
                     payload ? payload->SerializeAsString() : std::string());
  });
  return out;
}

// The latest envelope of every key of `topic` whose latest record is not a
// delete: what the journal says holds now.
inline std::map<std::string, v1::Envelope> journal_state(const std::string& data_dir,
                                                         const std::string& topic) {
  std::map<std::string, v1::Envelope> out;
  for_each_envelope(data_dir, topic, [&](v1::Envelope& e) {
    if (e.op() == v1::OP_DELETE) {
      out.erase(e.key());
    } else {
      out[e.key()] = std::move(e);
    }
  });
  return out;
}

}  // namespace hutong::testing
