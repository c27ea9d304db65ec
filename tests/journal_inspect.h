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

using JournaledRecord = std::tuple<std::string, int, std::string>;

inline std::vector<JournaledRecord> journal_sequence(const std::string& data_dir,
                                                     const std::string& topic) {
  journal::JournalOptions ro;
  ro.directory = data_dir + "/journal";
  ro.read_only = true;
  std::vector<JournaledRecord> out;
  auto opened = journal::Journal::open(ro);
  if (!opened) return out;
  auto reader = (*opened)->read_from(0, {topic});
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    v1::Envelope e;
    if (!journal::from_record(**r, e)) continue;
    const google::protobuf::Message* payload = journal::payload_of(e);
    out.emplace_back(e.key(), static_cast<int>(e.op()),
                     payload ? payload->SerializeAsString() : std::string());
  }
  return out;
}

// The latest envelope of every key of `topic` whose latest record is not a
// delete: what the journal says holds now.
inline std::map<std::string, v1::Envelope> journal_state(const std::string& data_dir,
                                                         const std::string& topic) {
  journal::JournalOptions ro;
  ro.directory = data_dir + "/journal";
  ro.read_only = true;
  std::map<std::string, v1::Envelope> out;
  auto opened = journal::Journal::open(ro);
  if (!opened) return out;
  auto reader = (*opened)->read_from(0, {topic});
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    v1::Envelope e;
    if (!journal::from_record(**r, e)) continue;
    if (e.op() == v1::OP_DELETE) {
      out.erase(e.key());
    } else {
      out[e.key()] = std::move(e);
    }
  }
  return out;
}

}  // namespace hutong::testing
