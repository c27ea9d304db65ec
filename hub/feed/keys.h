// CurveZMQ keys of the change feed. The hub's own key pair lives in
// <keys_dir>/hub.key (secret, mode 0600) and hub.pub; a department's key pair is
// a "client key file" handed to that department (secret, 0600), and the hub
// authorizes its public half by a file in <keys_dir>/authorized/. Key files are
// lines of "name: value"; keys are Z85 text (40 characters).
#pragma once

#include <string>
#include <vector>

#include "domain/status.h"

namespace hutong::feed {

inline constexpr std::string_view kKeyFile = "key.file";

struct KeyFile {
  std::string department;  // for client keys
  std::string public_key;
  std::string secret_key;      // empty in a .pub file
  std::string hub_public_key;  // client keys: the hub's public key, to check the server
  std::string endpoint;        // client keys: where the feed listens
};

struct AuthorizedKey {
  std::string file;
  std::string department;
  std::string public_key;
};

Result<KeyFile> generate_key_pair();
Result<KeyFile> read_key_file(const std::string& path);
// Writes atomically; `secret` files get mode 0600, others 0644.
Status write_key_file(const std::string& path, const KeyFile& key, bool secret);

// The hub's key pair, created on first use.
Result<KeyFile> ensure_hub_key(const std::string& keys_dir);
// Every readable <keys_dir>/authorized/*.pub, sorted by file name; unreadable
// files are reported in `problems`.
std::vector<AuthorizedKey> authorized_keys(const std::string& keys_dir,
                                           std::vector<std::string>* problems = nullptr);
// The secret of keyed hashes (32 random bytes, hex), created on first use, mode 0600.
Result<std::string> ensure_hash_key(const std::string& path);

}  // namespace hutong::feed
