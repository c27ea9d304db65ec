#include "privacy.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>

#include "text.h"

namespace hutong::domain {

struct KeyedHasher::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;  // initialized with the key; duplicated per digest
  ~State() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
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
  const char* digest = algorithm == HashAlgorithm::kHmacSm3 ? "SM3" : "SHA256";
  auto state = std::make_unique<State>();
  state->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (state->mac == nullptr) return Status(kHashUnavailable, "OpenSSL provides no HMAC");
  state->keyed = EVP_MAC_CTX_new(state->mac);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end()};
  if (state->keyed == nullptr ||
      EVP_MAC_init(state->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params.data()) != 1) {
    return Status(kHashUnavailable, std::string("OpenSSL cannot compute HMAC-") + digest);
  }
  return std::shared_ptr<const KeyedHasher>(new KeyedHasher(algorithm, std::move(state)));
}

std::string KeyedHasher::hex_digest(std::string_view value) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(state_->keyed);
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(value.data()), value.size());
  EVP_MAC_final(ctx, out, &out_len, sizeof out);
  EVP_MAC_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(out_len * 2, '0');
  for (size_t i = 0; i < out_len; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 0xF];
  }
  return hex;
}

std::string mask_middle(std::string_view value, size_t keep_front, size_t keep_back) {
  // On every record a policy masks (IDs and phones are ASCII): no allocation
  // but the result's.
  size_t count = 0;
  bool ascii = true;
  for (char c : value) {
    ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  }
  if (ascii) {
    count = value.size();
    if (count <= keep_front + keep_back) return std::string(count, '*');
    std::string out(value);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(keep_front),
              out.end() - static_cast<std::ptrdiff_t>(keep_back), '*');
    return out;
  }
  for (size_t pos = 0; pos < value.size(); ++count)
    next_code_point(value, pos);
  if (count <= keep_front + keep_back) return std::string(count, '*');
  std::string out;
  out.reserve(value.size());
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
  return out;
}

std::string mask_name(std::string_view name) {
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
  for (size_t pos = 0; pos < trimmed.size(); ++count)
    next_code_point(trimmed, pos);
  if (count <= 1) return std::string(count, '*');
  return mask_middle(trimmed, surname, 0);
}

}  // namespace hutong::domain
