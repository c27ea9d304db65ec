// The audit trail of the change feeds: which department received which records
// (offset ranges) and when, one entry per batch sent, in the journal's hub.audit
// topic. Entries are hash-chained (each holds the SHA-256 of its content and the
// previous entry's hash), so that a modified, inserted or deleted entry breaks
// the chain: `hutong audit verify`.
#pragma once

#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "domain/status.h"
#include "journal/journal.h"

namespace hutong::feed {

struct AuditEntry {
  uint64_t sequence = 0;  // 0, 1, 2, ... across all departments
  std::string department;
  std::string subscription;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  uint64_t records = 0;
  int64_t sent_at_us = 0;     // microseconds since the epoch
  std::string previous_hash;  // empty for the first entry
  std::string hash;           // SHA-256 (hex) of everything above, see audit_hash
};

// SHA-256 (lower-case hex) of the entry's canonical text:
// "hutong-audit-v1|sequence|department|subscription|first|last|records|sent_at|previous_hash".
std::string audit_hash(const AuditEntry& entry);
std::string audit_key(uint64_t sequence);  // 20 digits, zero-padded
std::string audit_to_json(const AuditEntry& entry);
Result<AuditEntry> audit_from_json(std::string_view text);

// Links new entries to the chain and appends them to hub.audit. Shared by the
// feed server and the sinks that deliver to departments: entries reach the
// journal in chain order whichever thread records them.
class AuditChain {
 public:
  // Continues after the last entry in the journal (reads the hub.audit topic).
  Status resume(const journal::Journal& journal);
  // Fills in sequence, previous_hash and hash, and appends the entry; `done`
  // runs on the journal's writer thread once it is durable (or failed).
  void record(journal::Journal& journal, AuditEntry& entry, journal::Journal::AppendCallback done);
  // The same, waiting until the entry is durable.
  Status record(journal::Journal& journal, AuditEntry& entry);

 private:
  std::mutex mu_;
  uint64_t next_sequence_ = 0;
  std::string last_hash_;
};

struct AuditVerifyReport {
  uint64_t entries = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  std::vector<std::string> problems;  // empty: the chain is intact
};

AuditVerifyReport verify_audit(const journal::Journal& journal);

}  // namespace hutong::feed
