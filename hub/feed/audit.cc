#include "feed/audit.h"

#include <openssl/evp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "journal/internal_topics.h"

namespace hutong::feed {

std::string audit_hash(const AuditEntry& e) {
  std::string text = "hutong-audit-v1|" + std::to_string(e.sequence) + "|" + e.department + "|" +
                     e.subscription + "|" + std::to_string(e.first_offset) + "|" +
                     std::to_string(e.last_offset) + "|" + std::to_string(e.records) + "|" +
                     std::to_string(e.sent_at_us) + "|" + e.previous_hash;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

std::string audit_key(uint64_t sequence) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%020llu", static_cast<unsigned long long>(sequence));
  return buffer;
}

std::string audit_to_json(const AuditEntry& e) {
  nlohmann::ordered_json j;
  j["sequence"] = e.sequence;
  j["department"] = e.department;
  j["subscription"] = e.subscription;
  j["first_offset"] = e.first_offset;
  j["last_offset"] = e.last_offset;
  j["records"] = e.records;
  j["sent_at_us"] = e.sent_at_us;
  j["previous_hash"] = e.previous_hash;
  j["hash"] = e.hash;
  return j.dump();
}

Result<AuditEntry> audit_from_json(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status("audit.malformed", "not a JSON object");
  AuditEntry e;
  try {
    e.sequence = j.at("sequence").get<uint64_t>();
    e.department = j.at("department").get<std::string>();
    e.subscription = j.at("subscription").get<std::string>();
    e.first_offset = j.at("first_offset").get<uint64_t>();
    e.last_offset = j.at("last_offset").get<uint64_t>();
    e.records = j.at("records").get<uint64_t>();
    e.sent_at_us = j.at("sent_at_us").get<int64_t>();
    e.previous_hash = j.at("previous_hash").get<std::string>();
    e.hash = j.at("hash").get<std::string>();
  } catch (const std::exception& ex) {
    return Status("audit.malformed", std::string("missing or mistyped field: ") + ex.what());
  }
  return e;
}

Status AuditChain::resume(const journal::Journal& journal) {
  std::lock_guard lock(mu_);
  auto reader = journal.read_from(0, {std::string(journal::kTopicAudit)});
  for (;;) {
    auto record = reader->next();
    if (!record) return record.status();
    if (!*record) break;
    auto entry = audit_from_json((*record)->value);
    if (!entry) continue;  // verify reports it; the chain goes on from the last readable entry
    next_sequence_ = entry->sequence + 1;
    last_hash_ = entry->hash;
  }
  return Status::ok();
}

void AuditChain::record(journal::Journal& journal, AuditEntry& entry,
                        journal::Journal::AppendCallback done) {
  std::lock_guard lock(mu_);
  entry.sequence = next_sequence_++;
  entry.previous_hash = last_hash_;
  entry.hash = audit_hash(entry);
  last_hash_ = entry.hash;
  std::string key = audit_key(entry.sequence);
  std::string value = audit_to_json(entry);
  journal::RecordIn record{journal::Op::kUpsert, journal::kTopicAudit, key, value};
  journal.append_async(std::span(&record, 1), std::move(done));
}

Status AuditChain::record(journal::Journal& journal, AuditEntry& entry) {
  std::promise<Status> promise;
  std::future<Status> future = promise.get_future();
  record(journal, entry, [&promise](Result<journal::AppendResult> result) {
    promise.set_value(result ? Status::ok() : result.status());
  });
  return future.get();
}

AuditVerifyReport verify_audit(const journal::Journal& journal) {
  AuditVerifyReport report;
  auto reader = journal.read_from(0, {std::string(journal::kTopicAudit)});
  std::optional<AuditEntry> previous;
  for (;;) {
    auto record = reader->next();
    if (!record) {
      report.problems.push_back("cannot read the journal: " + record.status().to_string());
      break;
    }
    if (!*record) break;
    std::string where = "audit record at offset " + std::to_string((*record)->offset);
    auto entry = audit_from_json((*record)->value);
    if (!entry) {
      report.problems.push_back(where + ": " + entry.status().message());
      continue;
    }
    if ((*record)->key != audit_key(entry->sequence)) {
      report.problems.push_back(where + ": its key " + std::string((*record)->key) +
                                " does not match its sequence " + std::to_string(entry->sequence));
    }
    if (audit_hash(*entry) != entry->hash) {
      report.problems.push_back(where + " (sequence " + std::to_string(entry->sequence) +
                                "): modified: its content does not match its hash");
    }
    if (previous) {
      if (entry->sequence != previous->sequence + 1) {
        report.problems.push_back(where + ": sequence " + std::to_string(entry->sequence) +
                                  " follows " + std::to_string(previous->sequence) + ": " +
                                  std::to_string(entry->sequence - previous->sequence - 1) +
                                  " entr(ies) deleted or out of order");
      } else if (entry->previous_hash != previous->hash) {
        report.problems.push_back(where + " (sequence " + std::to_string(entry->sequence) +
                                  "): the previous entry was modified or replaced: the chain "
                                  "breaks here");
      }
    } else {
      report.first_sequence = entry->sequence;
      if (entry->sequence != 0) {
        report.problems.push_back(where + ": the chain starts at sequence " +
                                  std::to_string(entry->sequence) +
                                  ": the entries before it were deleted");
      } else if (!entry->previous_hash.empty()) {
        report.problems.push_back(where + ": the first entry names a previous hash");
      }
    }
    report.last_sequence = entry->sequence;
    ++report.entries;
    previous = std::move(*entry);
  }
  return report;
}

}  // namespace hutong::feed
