#include "feed/keys.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hutong::feed {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string text) {
  size_t begin = text.find_first_not_of(" \t\r\"");
  size_t end = text.find_last_not_of(" \t\r\"");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

bool valid_z85_key(const std::string& key) {
  uint8_t raw[32];
  return key.size() == 40 && zmq_z85_decode(raw, key.c_str()) != nullptr;
}

Status write_file(const std::string& path, const std::string& content, mode_t mode) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status(kKeyFile, "cannot write " + temporary + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return Status(kKeyFile, "cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

Result<KeyFile> generate_key_pair() {
  char public_key[41];
  char secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return Status(kKeyFile, std::string("libzmq cannot make CURVE keys: ") +
                                zmq_strerror(zmq_errno()) + " (is it built with libsodium?)");
  }
  KeyFile key;
  key.public_key = public_key;
  key.secret_key = secret_key;
  return key;
}

Result<KeyFile> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(kKeyFile, "cannot read " + path + ": " + std::strerror(errno));
  KeyFile key;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    size_t colon = text.find(':');
    if (colon == std::string::npos) {
      return Status(kKeyFile, path + ":" + std::to_string(number) +
                                  ": expected \"name: value\", found \"" + text + "\"");
    }
    std::string name = trim(text.substr(0, colon));
    std::string value = trim(text.substr(colon + 1));
    if (name == "department")
      key.department = value;
    else if (name == "public-key")
      key.public_key = value;
    else if (name == "secret-key")
      key.secret_key = value;
    else if (name == "hub-public-key")
      key.hub_public_key = value;
    else if (name == "endpoint")
      key.endpoint = value;
    else
      return Status(kKeyFile,
                    path + ":" + std::to_string(number) + ": unknown entry \"" + name + "\"");
  }
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"public-key", &key.public_key},
        {"secret-key", &key.secret_key},
        {"hub-public-key", &key.hub_public_key}}) {
    if (!value->empty() && !valid_z85_key(*value)) {
      return Status(kKeyFile, path + ": " + name + " is not a 40-character Z85 CURVE key");
    }
  }
  if (key.public_key.empty()) return Status(kKeyFile, path + ": no public-key");
  return key;
}

Status write_key_file(const std::string& path, const KeyFile& key, bool secret) {
  std::ostringstream out;
  out << (secret ? "# Hutong CurveZMQ key pair. SECRET: whoever holds this file reads the feed "
                   "as this department.\n"
                 : "# Hutong CurveZMQ public key.\n");
  if (!key.department.empty()) out << "department: " << key.department << "\n";
  out << "public-key: \"" << key.public_key << "\"\n";
  if (secret && !key.secret_key.empty()) out << "secret-key: \"" << key.secret_key << "\"\n";
  if (!key.hub_public_key.empty()) out << "hub-public-key: \"" << key.hub_public_key << "\"\n";
  if (!key.endpoint.empty()) out << "endpoint: " << key.endpoint << "\n";
  return write_file(path, out.str(), secret ? 0600 : 0644);
}

Result<KeyFile> ensure_hub_key(const std::string& keys_dir) {
  std::string secret_path = keys_dir + "/hub.key";
  if (fs::exists(secret_path)) {
    auto key = read_key_file(secret_path);
    if (key && key->secret_key.empty()) return Status(kKeyFile, secret_path + ": no secret-key");
    return key;
  }
  auto key = generate_key_pair();
  if (!key) return key;
  key->department.clear();
  if (Status s = write_key_file(secret_path, *key, true); !s) return s;
  KeyFile pub = *key;
  pub.secret_key.clear();
  if (Status s = write_key_file(keys_dir + "/hub.pub", pub, false); !s) return s;
  return key;
}

std::vector<AuthorizedKey> authorized_keys(const std::string& keys_dir,
                                           std::vector<std::string>* problems) {
  std::vector<AuthorizedKey> keys;
  std::error_code ec;
  fs::path dir = fs::path(keys_dir) / "authorized";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pub") continue;
    auto key = read_key_file(entry.path().string());
    if (!key || key->department.empty()) {
      if (problems) {
        problems->push_back(key ? entry.path().string() + ": no department"
                                : key.status().message());
      }
      continue;
    }
    keys.push_back({entry.path().string(), key->department, key->public_key});
  }
  std::sort(keys.begin(), keys.end(),
            [](const AuthorizedKey& a, const AuthorizedKey& b) { return a.file < b.file; });
  return keys;
}

Result<std::string> ensure_hash_key(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::string key;
    std::getline(in, key);
    key = trim(key);
    if (key.size() < 32) {
      return Status(kKeyFile, path + ": the hash key must be at least 32 hex characters");
    }
    return key;
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status(kKeyFile, "no random bytes from OpenSSL");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  for (unsigned char b : raw) {
    key.push_back(kHex[b >> 4]);
    key.push_back(kHex[b & 15]);
  }
  if (Status s = write_file(path, key + "\n", 0600); !s) return s;
  return key;
}

}  // namespace hutong::feed
