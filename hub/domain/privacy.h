// Personal information leaving the hub: keyed hashes that let departments join
// on an ID number without seeing it, and the masks the county's policies use.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "status.h"

namespace hutong::domain {

inline constexpr std::string_view kHashUnavailable = "hash.unavailable";
inline constexpr std::string_view kHashKey = "hash.key";

enum class HashAlgorithm { kHmacSha256, kHmacSm3 };

// HMAC over a value with a secret key (from the hub's configuration). The same
// key and value always give the same lower-case hex digest, so two departments
// given the same key can join on it; without the key the value cannot be found
// by trying every ID number. Thread-safe after construction.
class KeyedHasher {
 public:
  // The key must be at least 16 bytes (hash.key); hash.unavailable when
  // OpenSSL lacks the algorithm.
  static Result<std::shared_ptr<const KeyedHasher>> create(HashAlgorithm algorithm,
                                                           std::string_view key);
  ~KeyedHasher();
  KeyedHasher(const KeyedHasher&) = delete;
  KeyedHasher& operator=(const KeyedHasher&) = delete;

  // kHexDigestSize hex characters for both algorithms.
  static constexpr size_t kHexDigestSize = 64;
  std::string hex_digest(std::string_view value) const;
  // The same, appended to `out`.
  void append_hex_digest(std::string_view value, std::string& out) const;
  HashAlgorithm algorithm() const { return algorithm_; }

 private:
  struct State;
  KeyedHasher(HashAlgorithm algorithm, std::unique_ptr<State> state);
  HashAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

// Keeps the first `keep_front` and last `keep_back` characters (code points) and
// replaces each one between with '*'. A value too short to hide anything becomes
// all '*'.
std::string mask_middle(std::string_view value, size_t keep_front, size_t keep_back);
// The same, appended to `out`.
void append_masked(std::string_view value, size_t keep_front, size_t keep_back, std::string& out);

// An ID number keeps 6 + 4 characters: 610523********1234.
inline void append_masked_resident_id(std::string_view id, std::string& out) {
  append_masked(id, 6, 4, out);
}
inline std::string mask_resident_id(std::string_view id) {
  std::string out;
  append_masked_resident_id(id, out);
  return out;
}
// A phone number keeps 3 + 4: 138****5678.
inline void append_masked_phone(std::string_view phone, std::string& out) {
  append_masked(phone, 3, 4, out);
}
inline std::string mask_phone(std::string_view phone) {
  std::string out;
  append_masked_phone(phone, out);
  return out;
}
// A name keeps its surname (a two-character compound surname such as 欧阳 when it
// is one): 张** , 欧阳*.
std::string mask_name(std::string_view name);
void append_masked_name(std::string_view name, std::string& out);

}  // namespace hutong::domain
