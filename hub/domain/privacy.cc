#include "privacy.h"

// SHA256_CTX and its functions: see KeyedHasher::State. OpenSSL 3 marks them
// deprecated (in favour of EVP) but keeps them; this file alone uses them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

#include "text.h"

namespace hutong::domain {

struct KeyedHasher::State {
  // HMAC-SHA256 (RFC 2104) from the SHA-256 states after the key's inner and
  // outer pads, computed once: a digest of a short value then costs two
  // compressions, a copy of each state and no allocation. (Through EVP, a MAC
  // context keyed once had to be duplicated per digest: allocations and
  // provider calls, a quarter of a masked change feed's time.)
  SHA256_CTX inner{};
  SHA256_CTX outer{};
  // HMAC-SM3 (OpenSSL has no low-level SM3): an EVP MAC context keyed once,
  // duplicated per digest.
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;
  ~State() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
};

KeyedHasher::KeyedHasher(HashAlgorithm algorithm, std::unique_ptr<State> state)
    : algorithm_(algorithm), state_(std::move(state)) {}

KeyedHasher::~KeyedHasher() = default;

Result<std::shared_ptr<const KeyedHasher>> KeyedHasher::create(HashAlgorithm algorithm,
                                                               std::string_view key) {
  if (key.size() < 16) {
    return Status(kHashKey, "the hashing key has " + std::to_string(key.size()) +
                                " bytes; at least 16 are required");
  }
  auto state = std::make_unique<State>();
  if (algorithm == HashAlgorithm::kHmacSha256) {
    std::array<unsigned char, SHA256_CBLOCK> block{};  // the key, zero-padded to a block
    if (key.size() > block.size()) {
      SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), block.data());
    } else {
      std::copy(key.begin(), key.end(), block.begin());
    }
    std::array<unsigned char, SHA256_CBLOCK> pad;
    for (auto [ctx, byte] : {std::pair{&state->inner, 0x36}, std::pair{&state->outer, 0x5c}}) {
      for (size_t i = 0; i < pad.size(); ++i)
        pad[i] = static_cast<unsigned char>(block[i] ^ byte);
      if (SHA256_Init(ctx) != 1 || SHA256_Update(ctx, pad.data(), pad.size()) != 1) {
        return Status(kHashUnavailable, "OpenSSL cannot compute SHA-256");
      }
    }
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(pad.data(), pad.size());
    return std::shared_ptr<const KeyedHasher>(new KeyedHasher(algorithm, std::move(state)));
  }
  state->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (state->mac == nullptr) return Status(kHashUnavailable, "OpenSSL provides no HMAC");
  state->keyed = EVP_MAC_CTX_new(state->mac);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SM3"), 0),
      OSSL_PARAM_construct_end()};
  if (state->keyed == nullptr ||
      EVP_MAC_init(state->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params.data()) != 1) {
    return Status(kHashUnavailable, "OpenSSL cannot compute HMAC-SM3");
  }
  return std::shared_ptr<const KeyedHasher>(new KeyedHasher(algorithm, std::move(state)));
}

void KeyedHasher::append_hex_digest(std::string_view value, std::string& out) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t size = 0;
  if (algorithm_ == HashAlgorithm::kHmacSha256) {
    SHA256_CTX ctx = state_->inner;
    SHA256_Update(&ctx, value.data(), value.size());
    SHA256_Final(digest, &ctx);
    ctx = state_->outer;
    SHA256_Update(&ctx, digest, SHA256_DIGEST_LENGTH);
    SHA256_Final(digest, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    size = SHA256_DIGEST_LENGTH;
  } else {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(state_->keyed);
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(value.data()), value.size());
    EVP_MAC_final(ctx, digest, &size, sizeof digest);
    EVP_MAC_CTX_free(ctx);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  size_t at = out.size();
  out.resize(at + size * 2);
  for (size_t i = 0; i < size; ++i) {
    out[at + 2 * i] = kHex[digest[i] >> 4];
    out[at + 2 * i + 1] = kHex[digest[i] & 0xF];
  }
}

std::string KeyedHasher::hex_digest(std::string_view value) const {
  std::string hex;
  append_hex_digest(value, hex);
  return hex;
}

void append_masked(std::string_view value, size_t keep_front, size_t keep_back, std::string& out) {
  // On every record a policy masks: no allocation (IDs and phones are ASCII).
  bool ascii = true;
  for (char c : value)
    ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    size_t count = value.size();
    if (count <= keep_front + keep_back) {
      out.append(count, '*');
      return;
    }
    out.append(value.substr(0, keep_front));
    out.append(count - keep_front - keep_back, '*');
    out.append(value.substr(count - keep_back));
    return;
  }
  size_t count = 0;
  for (size_t pos = 0; pos < value.size(); ++count)
    next_code_point(value, pos);
  if (count <= keep_front + keep_back) {
    out.append(count, '*');
    return;
  }
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t at = pos;
    next_code_point(value, pos);
    if (i < keep_front || i >= count - keep_back) {
      out.append(value.substr(at, pos - at));
    } else {
      out += '*';
    }
  }
}

std::string mask_middle(std::string_view value, size_t keep_front, size_t keep_back) {
  std::string out;
  append_masked(value, keep_front, keep_back, out);
  return out;
}

void append_masked_name(std::string_view name, std::string& out) {
  // Compound surnames (复姓) seen in the county's registers and the common others.
  static constexpr std::string_view kCompound[] = {
      "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
      "宇文", "司徒", "夏侯", "轩辕", "令狐", "钟离", "澹台", "端木", "独孤", "南宫"};
  std::string_view trimmed = trim_spaces(name);
  size_t surname = 1;
  for (std::string_view compound : kCompound) {
    if (trimmed.starts_with(compound) && trimmed.size() > compound.size()) {
      surname = 2;
      break;
    }
  }
  size_t count = 0;
  for (size_t pos = 0; pos < trimmed.size() && count < 2; ++count)
    next_code_point(trimmed, pos);
  if (count <= 1) {
    out.append(count, '*');
    return;
  }
  append_masked(trimmed, surname, 0, out);
}

std::string mask_name(std::string_view name) {
  std::string out;
  append_masked_name(name, out);
  return out;
}

}  // namespace hutong::domain
