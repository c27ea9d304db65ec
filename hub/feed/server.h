// The change-feed server (docs/feed-protocol.md): a ZeroMQ ROUTER over CurveZMQ
// whose ZAP handler maps each client's public key to a department. Each
// subscription reads the journal at its own pace through its own reader, gets
// records only as far as its credit goes, with its department's policy applied;
// a batch leaves the hub only once its audit entry is durable. Cursors are
// stored in the journal (hub.cursor). One thread serves every subscription; a
// subscriber that stops reading costs one reader and at most two batches.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "feed/audit.h"
#include "feed/policy.h"
#include "journal/journal.h"

namespace hutong::feed {

inline constexpr std::string_view kFeedStart = "feed.start";

struct FeedServerOptions {
  std::string endpoint;
  std::string keys_dir;
  std::chrono::milliseconds heartbeat_interval{1000};
  uint32_t max_batch_records = 1024;
  uint32_t max_batch_bytes = 1 << 20;
  uint32_t max_request_bytes = 64 << 10;  // larger requests: error request.too_large
  // Per department policy: the records it rendered last, shared by the
  // department's subscriptions reading the same stretch (0: none kept).
  uint64_t render_cache_bytes = 64ull << 20;
};

struct SubscriptionStatus {
  std::string department;
  std::string subscription;
  bool connected = false;
  std::optional<uint64_t> cursor;  // the durably stored cursor
  uint64_t scanned_to = 0;         // the session's reader position
  uint64_t records_sent = 0;
  uint64_t batches_sent = 0;
  uint64_t credit_records = 0;
};

class RenderCache;

using Policies = std::map<std::string, std::shared_ptr<const Policy>, std::less<>>;

class FeedServer {
 public:
  // `audit`: resumed from the journal (AuditChain::resume), shared with the
  // hub's department sinks.
  FeedServer(journal::Journal& journal, FeedServerOptions options, Policies policies,
             std::shared_ptr<AuditChain> audit);
  ~FeedServer();
  FeedServer(const FeedServer&) = delete;
  FeedServer& operator=(const FeedServer&) = delete;

  // Loads cursors from the journal, starts the ZAP handler,
  // then binds the ROUTER. An endpoint that cannot be bound is an error.
  Status start();
  void stop();

  // New policies (after a configuration reload). Connected subscriptions of a
  // department whose policy changed or was removed are told (policy.changed)
  // and must start again.
  void set_policies(Policies policies);

  std::vector<SubscriptionStatus> status() const;
  const std::string& public_key() const { return public_key_; }

  struct Session;
  struct Completion;

 private:
  void serve();
  void zap_loop(void* zap);  // owns the ZAP socket
  void watch_journal();
  void handle(const std::string& routing_id, const std::string& department, const void* data,
              size_t size);
  void pump(Session& session);
  int transmit(const std::string& routing_id, std::string_view bytes);
  void send(const std::string& routing_id, const std::string& bytes);
  void flush(Session& session);
  void send_error(const std::string& routing_id, std::string_view code, const std::string& message,
                  bool fatal);
  void drop(const std::string& routing_id);
  void complete(Completion& completion);
  void write_cursor(Session& session);
  void append_then_complete(const journal::RecordIn& record, Completion completion);
  void notify();

  journal::Journal& journal_;
  FeedServerOptions options_;
  std::string public_key_;
  std::string secret_key_;

  mutable std::mutex policies_mu_;
  Policies policies_;
  bool policies_changed_ = false;

  // Server-thread state.
  std::map<std::string, std::unique_ptr<Session>> sessions_;  // by routing id
  std::map<std::string, uint64_t> cursors_;                   // department/subscription -> offset
  std::shared_ptr<AuditChain> audit_;
  std::map<const Policy*, std::unique_ptr<RenderCache>> render_caches_;  // render_cache.h
  uint64_t generation_ = 0;

  // Completions of journal appends (audit entries, cursors), from the writer thread.
  std::mutex completions_mu_;
  std::vector<Completion> completions_;
  int wake_fd_ = -1;

  mutable std::mutex status_mu_;
  mutable std::condition_variable status_cv_;
  mutable uint64_t status_requested_ = 0;
  uint64_t status_published_ = 0;
  std::vector<SubscriptionStatus> status_;  // published by the server thread on request

  void* context_ = nullptr;
  void* router_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread server_thread_;
  std::thread zap_thread_;
  std::thread watcher_thread_;
};

}  // namespace hutong::feed
