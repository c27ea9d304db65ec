// Records rendered under one department's policy, shared by its
// subscriptions: several subscriptions of a department reading the same stretch
// of the journal (its PostgreSQL sink and its file sink both starting from a
// snapshot, say) pay for each record's policy once. A ring of bytes of a fixed
// budget, where the oldest records are overwritten, and an index by offset.
// Used by the feed server's thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "feed/policy.h"

namespace hutong::feed {

class RenderCache {
 public:
  struct Hit {
    Policy::Outcome outcome;
    std::string_view bytes;  // valid until the next store()
  };
  explicit RenderCache(uint64_t budget)
      : capacity_(std::max<uint64_t>(budget, 1)),
        ring_(new char[capacity_]),  // not touched (not resident) until written
        index_(std::max<uint64_t>(1024, capacity_ / 256)) {}

  std::optional<Hit> find(uint64_t offset) const {
    const Slot& slot = index_[offset % index_.size()];
    if (slot.offset != offset || written_ - slot.at > capacity_) return std::nullopt;
    return Hit{slot.outcome, std::string_view(ring_.get() + slot.at % capacity_, slot.size)};
  }

  void store(uint64_t offset, Policy::Outcome outcome, std::string_view bytes) {
    if (bytes.size() > capacity_ / 8) return;  // a huge record would evict too many others
    uint64_t at = written_ % capacity_;
    if (at + bytes.size() > capacity_) written_ += capacity_ - at;  // records never wrap
    if (!bytes.empty()) std::memcpy(ring_.get() + written_ % capacity_, bytes.data(), bytes.size());
    index_[offset % index_.size()] =
        Slot{offset, written_, static_cast<uint32_t>(bytes.size()), outcome};
    written_ += bytes.size();
  }

 private:
  struct Slot {
    uint64_t offset = UINT64_MAX;
    uint64_t at = 0;  // where its bytes start, counted from the first byte ever written
    uint32_t size = 0;
    Policy::Outcome outcome = Policy::Outcome::kFiltered;
  };
  const uint64_t capacity_;
  std::unique_ptr<char[]> ring_;
  std::vector<Slot> index_;
  uint64_t written_ = 0;  // bytes written (and skipped at the ring's end) so far
};

}  // namespace hutong::feed
