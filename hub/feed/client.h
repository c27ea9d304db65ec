// A change-feed subscriber (docs/feed-protocol.md): connects over CurveZMQ,
// subscribes, grants credit as records are consumed, answers heartbeats, and
// after a hub restart or a lost session reconnects by itself and resumes right
// after the last record it delivered (records are never delivered twice by one
// client: anything at or below the last delivered offset is skipped).
#pragma once

#include <google/protobuf/arena.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/status.h"
#include "hutong/feed/v1/feed.pb.h"
#include "hutong/v1/envelope.pb.h"

namespace hutong::feed {

inline constexpr std::string_view kFeedClosed = "feed.closed";
inline constexpr std::string_view kFeedTimeout = "feed.timeout";

struct FeedClientOptions {
  std::string endpoint;
  std::string hub_public_key;
  std::string public_key;
  std::string secret_key;
  std::string subscription;
  std::string client_name = "hutong";
  std::vector<std::string> topics;  // empty: every topic the department may read
  hutong::feed::v1::Start start = hutong::feed::v1::START_CURSOR;
  uint64_t offset = 0;  // for START_OFFSET
  std::vector<std::string> division_prefixes;
  uint32_t credit_records = 4096;  // records granted ahead
  bool reconnect = true;
  std::chrono::milliseconds connect_timeout{10000};
  // Sees every message's bytes as received, before decoding (tests scan them).
  std::function<void(std::string_view)> on_message;
};

// Fills endpoint and keys from a client key file (hutong keys new).
Status apply_key_file(const std::string& path, FeedClientOptions& options);

class FeedClient {
 public:
  explicit FeedClient(FeedClientOptions options);
  ~FeedClient();
  FeedClient(const FeedClient&) = delete;
  FeedClient& operator=(const FeedClient&) = delete;

  // Hello and Subscribe; returns once the hub has answered both.
  Status connect();
  // The next record, or null when none came within `timeout`; it stays valid
  // until the next call. A fatal error from the hub (other than a lost
  // session, which reconnects) is returned.
  Result<const hutong::v1::Envelope*> next(std::chrono::milliseconds timeout);
  // Every record up to `offset` is durably processed (the hub stores the cursor).
  void ack(uint64_t offset);
  // Says goodbye and closes the connection.
  void close();

  const hutong::feed::v1::Welcome& welcome() const { return welcome_; }
  const hutong::feed::v1::Subscribed& subscribed() const { return subscribed_; }
  bool snapshot_done() const { return snapshot_done_; }
  std::optional<uint64_t> last_delivered() const { return last_delivered_; }
  std::optional<uint64_t> stored_cursor() const { return stored_cursor_; }
  uint64_t scanned_to() const { return scanned_to_; }
  uint64_t reconnects() const { return reconnects_; }

 private:
  Status open_socket();
  Status handshake();
  Status reconnect(const std::string& why);
  Status send(const hutong::feed::v1::FeedRequest& request);
  // Receives one reply into reply_ within `timeout`; false on timeout.
  Result<bool> receive(std::chrono::milliseconds timeout);
  Status handle();
  void grant();

  FeedClientOptions options_;
  void* context_ = nullptr;
  void* socket_ = nullptr;
  hutong::feed::v1::Welcome welcome_;
  hutong::feed::v1::Subscribed subscribed_;
  // The last reply received, reused (its records are handed out from it,
  // without copies or allocations per record).
  // Parsed on an arena reset for every message: a batch's thousand envelopes
  // cost a few block allocations, not thousands of small ones.
  static constexpr size_t kArenaBlock = 4 << 20;  // kept across resets: a batch fits
  std::unique_ptr<char[]> arena_block_{new char[kArenaBlock]};
  google::protobuf::Arena arena_{arena_options(arena_block_.get())};
  hutong::feed::v1::FeedReply* reply_ = nullptr;
  static google::protobuf::ArenaOptions arena_options(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kArenaBlock;
    return options;
  }
  bool batch_active_ = false;
  int batch_index_ = 0;
  std::optional<uint64_t> last_delivered_;
  std::optional<uint64_t> stored_cursor_;
  uint64_t scanned_to_ = 0;
  bool snapshot_done_ = false;
  uint64_t granted_ = 0;   // records granted on this connection
  uint64_t received_ = 0;  // records received on this connection
  uint64_t reconnects_ = 0;
  std::chrono::steady_clock::time_point last_heard_;
  std::chrono::steady_clock::time_point last_sent_;
  std::chrono::milliseconds heartbeat_{1000};
};

}  // namespace hutong::feed
