#include "feed/server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include <cstring>
#include <deque>

#include "domain/division.h"
#include "feed/keys.h"
#include "feed/render_cache.h"
#include "feed/wire.h"
#include "hutong/feed/v1/feed.pb.h"
#include "journal/internal_topics.h"

namespace hutong::feed {

namespace v1 = hutong::feed::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kMaxInflight = 2;  // batches per subscription waiting for their audit entry

bool valid_subscription_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      return false;
  }
  return true;
}

std::string serialize(const v1::FeedReply& reply) {
  std::string bytes;
  reply.SerializeToString(&bytes);
  return bytes;
}

int64_t wall_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct FeedServer::Session {
  uint64_t generation = 0;
  std::string routing_id;
  std::string department;
  std::shared_ptr<const Policy> policy;
  std::string subscription;
  std::string cursor_key;  // department/subscription
  bool subscribed = false;
  std::unique_ptr<journal::JournalReader> reader;
  std::vector<std::string> prefixes;
  uint64_t credit_records = 0;
  uint64_t credit_bytes = 0;
  bool byte_credit = false;  // the subscriber has granted bytes: they count
  bool in_snapshot = false;
  uint64_t snapshot_end = 0;
  bool caught_up = false;
  uint64_t scanned_to = 0;
  uint32_t inflight =
      0;  // batches built and not yet sent (waiting for their audit entry or the pipe)
  struct Outgoing {
    std::shared_ptr<std::string> bytes;  // the message is bytes[start...]
    uint64_t records = 0;
    bool batch = false;
    size_t start = 0;
  };
  std::deque<Outgoing> outbox;  // in order, waiting for room in the connection's pipe
  bool dead = false;            // the connection is gone; removed at the end of the turn
  std::optional<uint64_t> ack_pending;
  bool cursor_writing = false;
  uint64_t records_sent = 0;
  uint64_t batches_sent = 0;
  Clock::time_point last_heard;
  Clock::time_point last_sent;
};

struct FeedServer::Completion {
  enum class Kind { kBatch, kCursor } kind = Kind::kBatch;
  uint64_t generation = 0;
  std::string routing_id;
  std::string cursor_key;
  std::shared_ptr<std::string> reply;  // the batch to send once its audit entry is durable...
  size_t reply_start = 0;              // ...from this byte of `reply` on
  uint64_t records = 0;
  uint64_t offset = 0;  // the cursor stored
  Status status;
};

FeedServer::FeedServer(journal::Journal& journal, FeedServerOptions options, Policies policies,
                       std::shared_ptr<AuditChain> audit)
    : journal_(journal),
      options_(std::move(options)),
      policies_(std::move(policies)),
      audit_(std::move(audit)) {}

FeedServer::~FeedServer() {
  stop();
}

Status FeedServer::start() {
  auto key = ensure_hub_key(options_.keys_dir);
  if (!key) return key.status();
  public_key_ = key->public_key;
  secret_key_ = key->secret_key;
  {
    auto reader = journal_.read_from(0, {std::string(journal::kTopicSubscriberCursor)});
    for (;;) {
      auto record = reader->next();
      if (!record) return record.status();
      if (!*record) break;
      cursors_[std::string((*record)->key)] = std::stoull(std::string((*record)->value));
    }
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status(kFeedStart, std::string("eventfd: ") + std::strerror(errno));
  context_ = zmq_ctx_new();
  // CURVE encryption runs on ZeroMQ's I/O threads: two, so that several
  // subscribers are encrypted for in parallel.
  zmq_ctx_set(context_, ZMQ_IO_THREADS, 2);
  // The ZAP handler is bound before any CURVE server socket: without one,
  // libzmq lets every client key in.
  void* zap = zmq_socket(context_, ZMQ_REP);
  if (zmq_bind(zap, "inproc://zeromq.zap.01") != 0) {
    zmq_close(zap);
    return Status(kFeedStart,
                  std::string("cannot bind the ZAP handler: ") + zmq_strerror(zmq_errno()));
  }
  router_ = zmq_socket(context_, ZMQ_ROUTER);
  int one = 1;
  int zero = 0;
  int hwm = 8;
  int64_t max_message = 1 << 20;
  zmq_setsockopt(router_, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(router_, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(router_, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(router_, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message);
  zmq_setsockopt(router_, ZMQ_CURVE_SERVER, &one, sizeof one);
  zmq_setsockopt(router_, ZMQ_CURVE_SECRETKEY, secret_key_.c_str(), 40);
  zmq_setsockopt(router_, ZMQ_ZAP_DOMAIN, "hutong", 6);
  if (zmq_bind(router_, options_.endpoint.c_str()) != 0) {
    std::string error = zmq_strerror(zmq_errno());
    zmq_close(router_);
    router_ = nullptr;
    zmq_close(zap);
    zmq_ctx_term(context_);
    context_ = nullptr;
    return Status(kFeedStart, "cannot listen on " + options_.endpoint + ": " + error);
  }
  zap_thread_ = std::thread([this, zap] {
    pthread_setname_np(pthread_self(), "feed-zap");
    zap_loop(zap);
  });
  watcher_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "feed-watch");
    watch_journal();
  });
  server_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "feed-server");
    serve();
  });
  spdlog::info("feed: listening on {} (CURVE, hub key {})", options_.endpoint, public_key_);
  return Status::ok();
}

void FeedServer::stop() {
  if (stopping_.exchange(true)) return;
  notify();
  {
    std::lock_guard lock(status_mu_);
    status_cv_.notify_all();
  }
  if (server_thread_.joinable()) server_thread_.join();
  if (watcher_thread_.joinable()) watcher_thread_.join();
  if (zap_thread_.joinable()) zap_thread_.join();
  if (context_) zmq_ctx_term(context_);
  context_ = nullptr;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void FeedServer::set_policies(Policies policies) {
  std::lock_guard lock(policies_mu_);
  policies_ = std::move(policies);
  policies_changed_ = true;
  notify();
}

std::vector<SubscriptionStatus> FeedServer::status() const {
  std::unique_lock lock(status_mu_);
  uint64_t wanted = ++status_requested_;
  const_cast<FeedServer*>(this)->notify();
  // The server thread answers at its next turn; a stopped server answers nothing new.
  status_cv_.wait_for(lock, std::chrono::seconds(2),
                      [&] { return status_published_ >= wanted || stopping_; });
  return status_;
}

void FeedServer::notify() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void FeedServer::watch_journal() {
  uint64_t seen = journal_.durable_end();
  while (!stopping_) {
    uint64_t end = journal_.wait_durable_beyond(seen, std::chrono::milliseconds(200));
    if (end > seen) {
      seen = end;
      notify();
    }
  }
}

// ZAP (RFC 27): CURVE clients whose public key is authorized for a configured
// department get in, with the department as their user id; everyone else is
// refused before a single message of theirs reaches the feed.
void FeedServer::zap_loop(void* zap) {
  int timeout = 200;
  zmq_setsockopt(zap, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  int zero = 0;
  zmq_setsockopt(zap, ZMQ_LINGER, &zero, sizeof zero);
  while (!stopping_) {
    std::vector<std::string> frames;
    for (;;) {
      zmq_msg_t part;
      zmq_msg_init(&part);
      if (zmq_msg_recv(&part, zap, 0) < 0) {
        zmq_msg_close(&part);
        break;
      }
      frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
      bool more = zmq_msg_more(&part);
      zmq_msg_close(&part);
      if (!more) break;
    }
    if (frames.empty()) continue;
    std::string request_id = frames.size() > 1 ? frames[1] : "";
    std::string status = "400";
    std::string text = "refused";
    std::string user;
    if (frames.size() >= 7 && frames[0] == "1.0" && frames[5] == "CURVE" &&
        frames[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(frames[6].data()), 32);
      for (const AuthorizedKey& key : authorized_keys(options_.keys_dir)) {
        if (key.public_key != z85) continue;
        std::lock_guard lock(policies_mu_);
        if (policies_.contains(key.department)) {
          user = key.department;
          status = "200";
          text = "OK";
        } else {
          text = "department not configured";
        }
        break;
      }
      if (status != "200") {
        spdlog::warn("feed: refused a client from {} with key {}: {}", frames[3], z85,
                     text == "refused" ? "key not authorized" : text);
      }
    } else if (frames.size() >= 6) {
      spdlog::warn("feed: refused a {} client from {}: CURVE is required", frames[5], frames[3]);
    }
    const std::string reply[] = {"1.0", request_id, status, text, user, ""};
    for (size_t i = 0; i < 6; ++i)
      zmq_send(zap, reply[i].data(), reply[i].size(), i < 5 ? ZMQ_SNDMORE : 0);
  }
  zmq_close(zap);
}

// One message to one connection: 0 sent, 1 its pipe is full (try later),
// -1 the connection is gone.
int FeedServer::transmit(const std::string& routing_id, std::string_view bytes) {
  // With ROUTER_MANDATORY a full pipe or an unknown peer fails the first frame,
  // so a message is never cut in half.
  if (zmq_send(router_, routing_id.data(), routing_id.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    return zmq_errno() == EAGAIN ? 1 : -1;
  }
  if (zmq_send(router_, bytes.data(), bytes.size(), ZMQ_DONTWAIT) < 0) return -1;
  return 0;
}

void FeedServer::send(const std::string& routing_id, const std::string& bytes) {
  auto it = sessions_.find(routing_id);
  if (it == sessions_.end()) {
    transmit(routing_id, bytes);  // e.g. an error to a connection without a session
    return;
  }
  it->second->outbox.push_back({std::make_shared<std::string>(bytes), 0, false});
  flush(*it->second);
}

// Sends a session's messages in order until its connection cannot take more;
// the rest waits (at most kMaxInflight batches: pump builds no more meanwhile).
void FeedServer::flush(Session& session) {
  while (!session.outbox.empty() && !session.dead) {
    Session::Outgoing& next = session.outbox.front();
    int result = transmit(session.routing_id, std::string_view(*next.bytes).substr(next.start));
    if (result == 1) return;
    if (result < 0) {
      spdlog::warn("feed: {}: the connection is gone ({}); the subscription must reconnect",
                   session.cursor_key, zmq_strerror(zmq_errno()));
      session.dead = true;
      return;
    }
    session.last_sent = Clock::now();
    if (next.batch) {
      --session.inflight;
      session.records_sent += next.records;
      ++session.batches_sent;
    }
    session.outbox.pop_front();
  }
}

void FeedServer::send_error(const std::string& routing_id, std::string_view code,
                            const std::string& message, bool fatal) {
  v1::FeedReply reply;
  reply.mutable_error()->set_code(std::string(code));
  reply.mutable_error()->set_message(message);
  reply.mutable_error()->set_fatal(fatal);
  if (fatal) {  // the session ends: this goes out now, before anything it still had queued
    transmit(routing_id, serialize(reply));
    drop(routing_id);
    return;
  }
  send(routing_id, serialize(reply));
}

void FeedServer::drop(const std::string& routing_id) {
  sessions_.erase(routing_id);
}

void FeedServer::handle(const std::string& routing_id, const std::string& department,
                        const void* data, size_t size) {
  auto found = sessions_.find(routing_id);
  Session* session = found == sessions_.end() ? nullptr : found->second.get();
  if (session) session->last_heard = Clock::now();
  if (size > options_.max_request_bytes) {
    send_error(routing_id, "request.too_large",
               "a request of " + std::to_string(size) + " bytes; the limit is " +
                   std::to_string(options_.max_request_bytes),
               true);
    return;
  }
  v1::FeedRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size)) ||
      request.kind_case() == v1::FeedRequest::KIND_NOT_SET) {
    send_error(
        routing_id, "request.malformed",
        "the message is not a hutong.feed.v1.FeedRequest (" + std::to_string(size) + " bytes)",
        true);
    return;
  }
  if (request.has_hello()) {
    const v1::Hello& hello = request.hello();
    if (hello.protocol_version() != v1::PROTOCOL_VERSION_1) {
      send_error(routing_id, "protocol.version",
                 "this hub speaks feed protocol version 1; the client asked for version " +
                     std::to_string(hello.protocol_version()),
                 true);
      return;
    }
    if (!valid_subscription_name(hello.subscription())) {
      send_error(routing_id, "hello.subscription",
                 "a subscription name is 1 to 64 letters, digits, '.', '_' or '-'; found \"" +
                     hello.subscription() + "\"",
                 true);
      return;
    }
    std::shared_ptr<const Policy> policy;
    {
      std::lock_guard lock(policies_mu_);
      auto it = policies_.find(department);
      if (it != policies_.end()) policy = it->second;
    }
    if (!policy) {
      send_error(routing_id, "department.unknown",
                 "the department \"" + department + "\" has no policy on this hub", true);
      return;
    }
    std::string cursor_key = department + "/" + hello.subscription();
    std::vector<std::string> taken;
    for (const auto& [id, other] : sessions_) {
      if (id != routing_id && other->cursor_key == cursor_key) taken.push_back(id);
    }
    for (const std::string& id : taken) {
      spdlog::info("feed: {} taken over by a new connection", cursor_key);
      send_error(id, "subscription.taken_over",
                 "another connection opened subscription " + hello.subscription(), true);
    }
    auto fresh = std::make_unique<Session>();
    fresh->generation = ++generation_;
    fresh->routing_id = routing_id;
    fresh->department = department;
    fresh->policy = policy;
    fresh->subscription = hello.subscription();
    fresh->cursor_key = cursor_key;
    fresh->last_heard = fresh->last_sent = Clock::now();
    sessions_[routing_id] = std::move(fresh);
    v1::FeedReply reply;
    v1::Welcome* welcome = reply.mutable_welcome();
    welcome->set_protocol_version(v1::PROTOCOL_VERSION_1);
    welcome->set_department(department);
    welcome->set_subscription(hello.subscription());
    if (auto c = cursors_.find(cursor_key); c != cursors_.end()) welcome->set_cursor(c->second);
    for (const std::string& topic : policy->topics())
      welcome->add_topics(topic);
    welcome->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.heartbeat_interval.count()));
    spdlog::info("feed: {} connected ({})", cursor_key, hello.client());
    send(routing_id, serialize(reply));
    return;
  }
  if (!session) {
    send_error(routing_id, "session.unknown",
               "this connection has no session (the hub restarted or timed it out): send Hello",
               true);
    return;
  }
  switch (request.kind_case()) {
    case v1::FeedRequest::kSubscribe: {
      const v1::Subscribe& subscribe = request.subscribe();
      std::set<std::string, std::less<>> topics;
      for (const std::string& topic : subscribe.topics()) {
        if (!session->policy->allows(topic)) {
          send_error(routing_id, "subscribe.topic",
                     "department " + session->department + " may not read topic \"" + topic + "\"",
                     true);
          return;
        }
        topics.insert(topic);
      }
      if (topics.empty()) topics = session->policy->topics();
      for (const std::string& prefix : subscribe.filter().division_prefixes()) {
        if (!domain::is_division_prefix(prefix)) {
          send_error(routing_id, "subscribe.filter",
                     "a division prefix is 1 to 12 digits; found \"" + prefix + "\"", true);
          return;
        }
      }
      session->prefixes.assign(subscribe.filter().division_prefixes().begin(),
                               subscribe.filter().division_prefixes().end());
      v1::FeedReply reply;
      v1::Subscribed* subscribed = reply.mutable_subscribed();
      uint64_t start = 0;
      session->in_snapshot = false;
      switch (subscribe.start()) {
        case v1::START_UNSPECIFIED:
        case v1::START_CURSOR: {
          auto c = cursors_.find(session->cursor_key);
          start = c == cursors_.end() ? 0 : c->second + 1;
          break;
        }
        case v1::START_OFFSET:
          start = subscribe.offset();
          break;
        case v1::START_LIVE:
          start = journal_.durable_end();
          break;
        case v1::START_SNAPSHOT: {
          auto reader = journal_.snapshot_then_live(topics);
          if (!reader) {
            send_error(routing_id, "journal.read", reader.status().to_string(), true);
            return;
          }
          session->reader = std::move(*reader);
          session->in_snapshot = true;
          session->snapshot_end = journal_.durable_end();
          subscribed->set_snapshot(true);
          subscribed->set_snapshot_end(session->snapshot_end);
          break;
        }
        default:
          send_error(routing_id, "subscribe.start",
                     "unknown start " + std::to_string(subscribe.start()), true);
          return;
      }
      if (!session->in_snapshot) session->reader = journal_.read_from(start, topics);
      session->scanned_to = session->reader->position();
      session->subscribed = true;
      session->caught_up = false;
      subscribed->set_start_offset(session->scanned_to);
      for (const std::string& topic : topics)
        subscribed->add_topics(topic);
      send(routing_id, serialize(reply));
      return;
    }
    case v1::FeedRequest::kCredit:
      session->credit_records += request.credit().records();
      if (request.credit().bytes() > 0) {
        session->byte_credit = true;
        session->credit_bytes += request.credit().bytes();
      }
      return;
    case v1::FeedRequest::kAck: {
      uint64_t offset = request.ack().offset();
      if (!session->subscribed || offset >= session->scanned_to) {
        send_error(routing_id, "ack.offset",
                   "offset " + std::to_string(offset) +
                       " has not been sent on this connection (sent below " +
                       std::to_string(session->scanned_to) + ")",
                   false);
        return;
      }
      session->ack_pending = std::max(session->ack_pending.value_or(0), offset);
      write_cursor(*session);
      return;
    }
    case v1::FeedRequest::kHeartbeat:
      return;
    case v1::FeedRequest::kBye:
      spdlog::info("feed: {} said goodbye ({} records sent in {} batches)", session->cursor_key,
                   session->records_sent, session->batches_sent);
      drop(routing_id);
      return;
    default:
      return;
  }
}

void FeedServer::write_cursor(Session& session) {
  if (session.cursor_writing || !session.ack_pending) return;
  uint64_t offset = *session.ack_pending;
  session.ack_pending.reset();
  session.cursor_writing = true;
  std::string value = std::to_string(offset);
  journal::RecordIn record{journal::Op::kUpsert, journal::kTopicSubscriberCursor,
                           session.cursor_key, value};
  Completion completion;
  completion.kind = Completion::Kind::kCursor;
  completion.generation = session.generation;
  completion.routing_id = session.routing_id;
  completion.cursor_key = session.cursor_key;
  completion.offset = offset;
  append_then_complete(record, std::move(completion));
}

// Appends one record; once it is durable (or failed), `completion` reaches the
// server thread.
void FeedServer::append_then_complete(const journal::RecordIn& record, Completion completion) {
  journal_.append_async(std::span(&record, 1),
                        [this, completion = std::move(completion)](auto result) mutable {
                          completion.status = result.status();
                          std::lock_guard lock(completions_mu_);
                          completions_.push_back(std::move(completion));
                          notify();
                        });
}

void FeedServer::pump(Session& session) {
  std::string rendered;
  RenderCache* cache = nullptr;
  if (session.subscribed && session.prefixes.empty() && options_.render_cache_bytes > 0) {
    std::unique_ptr<RenderCache>& slot = render_caches_[session.policy.get()];
    if (!slot) slot = std::make_unique<RenderCache>(options_.render_cache_bytes);
    cache = slot.get();
  }
  while (session.subscribed && session.inflight < kMaxInflight && session.credit_records > 0 &&
         (!session.byte_credit || session.credit_bytes > 0)) {
    // The FeedReply is written in place: its batch field's tag and length go
    // in front of the batch once its size is known, in room kept for them.
    constexpr size_t kHeaderRoom = 11;  // a tag and a 64-bit varint at most
    auto reply = std::make_shared<std::string>();
    reply->reserve(std::min<size_t>(options_.max_batch_bytes, 1 << 20) + 4096);
    reply->assign(kHeaderRoom, '\0');
    std::string& body = *reply;  // the batch's fields, after the room
    uint64_t count = 0;
    uint64_t bytes = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    bool drained = false;
    uint64_t limit = std::min<uint64_t>(options_.max_batch_records, session.credit_records);
    while (count < limit && body.size() - kHeaderRoom < options_.max_batch_bytes &&
           (!session.byte_credit || bytes < session.credit_bytes)) {
      auto next = session.reader->next();
      if (!next) {
        spdlog::error("feed: {}: {}", session.cursor_key, next.status().to_string());
        send_error(session.routing_id, "journal.read", next.status().to_string(), true);
        return;
      }
      if (!*next) {
        drained = true;
        break;
      }
      const journal::RecordView& record = **next;
      Policy::Outcome outcome;
      std::string_view bytes_out;
      std::optional<feed::RenderCache::Hit> hit;
      if (cache && (hit = cache->find(record.offset))) {  // the department's view: shared
        outcome = hit->outcome;
        bytes_out = hit->bytes;
      } else {
        outcome = session.policy->render(record, session.prefixes, rendered);
        bytes_out = rendered;
        // A record the policy leaves as stored costs a copy either way: not kept.
        if (cache && !session.policy->copies(record.topic)) {
          cache->store(record.offset, outcome, rendered);
        }
      }
      if (outcome == Policy::Outcome::kUnreadable) {
        spdlog::warn("feed: record {} of topic {} is not an envelope; not sent", record.offset,
                     record.topic);
      }
      if (outcome != Policy::Outcome::kSend) continue;
      append_bytes_field(body, 1, bytes_out);
      if (count == 0) first = record.offset;
      last = record.offset;
      ++count;
      bytes += bytes_out.size();
    }
    session.caught_up = drained;
    session.scanned_to = session.reader->position();
    bool snapshot_done = false;
    if (session.in_snapshot && session.scanned_to >= session.snapshot_end) {
      snapshot_done = true;
      session.in_snapshot = false;
    }
    if (count == 0 && !snapshot_done) return;
    put_varint(body, (2 << 3) | 0);
    put_varint(body, session.scanned_to);
    if (snapshot_done) {
      put_varint(body, (3 << 3) | 0);
      put_varint(body, 1);
    }
    std::string header;
    put_varint(header, (2 << 3) | 2);  // FeedReply.batch
    put_varint(header, body.size() - kHeaderRoom);
    size_t reply_start = kHeaderRoom - header.size();
    body.replace(reply_start, header.size(), header);
    session.credit_records -= count;
    session.credit_bytes -= std::min(bytes, session.credit_bytes);
    ++session.inflight;
    Completion completion;
    completion.kind = Completion::Kind::kBatch;
    completion.generation = session.generation;
    completion.routing_id = session.routing_id;
    completion.reply = std::move(reply);
    completion.reply_start = reply_start;
    completion.records = count;
    if (count == 0) {
      std::lock_guard lock(completions_mu_);
      completions_.push_back(std::move(completion));
      notify();
    } else {
      AuditEntry entry;
      entry.department = session.department;
      entry.subscription = session.subscription;
      entry.first_offset = first;
      entry.last_offset = last;
      entry.records = count;
      entry.sent_at_us = wall_micros();
      audit_->record(journal_, entry,
                     [this, completion = std::move(completion)](auto result) mutable {
                       completion.status = result.status();
                       std::lock_guard lock(completions_mu_);
                       completions_.push_back(std::move(completion));
                       notify();
                     });
    }
    if (drained) return;
  }
}

void FeedServer::complete(Completion& completion) {
  auto it = sessions_.find(completion.routing_id);
  Session* session = it != sessions_.end() && it->second->generation == completion.generation
                         ? it->second.get()
                         : nullptr;
  if (completion.kind == Completion::Kind::kCursor) {
    if (completion.status) cursors_[completion.cursor_key] = completion.offset;
    if (!session) return;
    session->cursor_writing = false;
    if (!completion.status) {
      send_error(session->routing_id, "cursor.unavailable",
                 "the cursor could not be stored: " + completion.status.to_string(), true);
      return;
    }
    v1::FeedReply reply;
    reply.mutable_ack_stored()->set_offset(completion.offset);
    send(session->routing_id, serialize(reply));
    auto again = sessions_.find(completion.routing_id);
    if (again != sessions_.end()) write_cursor(*again->second);
    return;
  }
  if (!session) return;
  if (!completion.status) {
    send_error(session->routing_id, "audit.unavailable",
               "the hub cannot record deliveries (" + completion.status.to_string() +
                   "): nothing is sent until it can",
               true);
    return;
  }
  session->outbox.push_back(
      {std::move(completion.reply), completion.records, true, completion.reply_start});
  flush(*session);
}

void FeedServer::serve() {
  zmq_pollitem_t items[2] = {{router_, 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
  while (!stopping_) {
    bool busy = false;
    bool blocked = false;
    for (const auto& [id, session] : sessions_) {
      busy = busy || (session->subscribed && !session->caught_up && session->credit_records > 0 &&
                      session->inflight < kMaxInflight);
      blocked = blocked || !session->outbox.empty();
    }
    // Busy: more to read now. Blocked: a connection's pipe is full, and ZeroMQ
    // does not say when it drains, so look again soon.
    long timeout = busy      ? 0
                   : blocked ? 1
                             : std::max<long>(10, options_.heartbeat_interval.count() / 4);
    if (zmq_poll(items, 2, timeout) < 0 && zmq_errno() == ETERM) break;
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t value;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &value, sizeof value);
      for (auto& [id, session] : sessions_)
        session->caught_up = false;
    }
    {
      std::vector<Completion> done;
      {
        std::lock_guard lock(completions_mu_);
        done.swap(completions_);
      }
      for (Completion& completion : done)
        complete(completion);
    }
    {
      std::lock_guard lock(policies_mu_);
      if (policies_changed_) {
        policies_changed_ = false;
        render_caches_.clear();  // keyed by policy: the old ones go away
        std::vector<std::string> changed;
        for (const auto& [id, session] : sessions_) {
          auto it = policies_.find(session->department);
          if (it == policies_.end() || it->second != session->policy) changed.push_back(id);
        }
        for (const std::string& id : changed) {
          v1::FeedReply reply;
          reply.mutable_error()->set_code("policy.changed");
          reply.mutable_error()->set_message(
              "the department's policy changed: subscribe again to receive under the new one");
          reply.mutable_error()->set_fatal(true);
          transmit(id, serialize(reply));
          sessions_.erase(id);
        }
      }
    }
    for (int received = 0; received < 256; ++received) {
      zmq_msg_t identity;
      zmq_msg_init(&identity);
      if (zmq_msg_recv(&identity, router_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&identity);
        break;
      }
      std::string routing_id(static_cast<const char*>(zmq_msg_data(&identity)),
                             zmq_msg_size(&identity));
      zmq_msg_close(&identity);
      zmq_msg_t payload;
      zmq_msg_init(&payload);
      if (zmq_msg_recv(&payload, router_, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&payload);
        continue;
      }
      const char* user = zmq_msg_gets(&payload, "User-Id");
      std::string department = user ? user : "";
      bool more = zmq_msg_more(&payload);
      if (more) {  // a subscriber sends one frame per message
        while (more) {
          zmq_msg_t extra;
          zmq_msg_init(&extra);
          zmq_msg_recv(&extra, router_, ZMQ_DONTWAIT);
          more = zmq_msg_more(&extra);
          zmq_msg_close(&extra);
        }
        send_error(routing_id, "request.malformed", "a request is exactly one frame", true);
      } else {
        handle(routing_id, department, zmq_msg_data(&payload), zmq_msg_size(&payload));
      }
      zmq_msg_close(&payload);
    }
    std::vector<std::string> ids;
    for (const auto& [id, session] : sessions_)
      ids.push_back(id);
    Clock::time_point now = Clock::now();
    for (const std::string& id : ids) {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      Session& session = *it->second;
      if (now - session.last_heard > 3 * options_.heartbeat_interval) {
        spdlog::info("feed: {}: no word from the subscriber for {} ms; session closed",
                     session.cursor_key, 3 * options_.heartbeat_interval.count());
        sessions_.erase(it);
        continue;
      }
      flush(session);
      if (!session.dead) pump(session);
      it = sessions_.find(id);
      if (it == sessions_.end() || it->second->dead) continue;
      // A heartbeat only when nothing else is on its way (a full pipe keeps the
      // connection alive as far as the subscriber can tell anyway).
      if (now - it->second->last_sent >= options_.heartbeat_interval &&
          it->second->outbox.empty()) {
        v1::FeedReply reply;
        reply.mutable_heartbeat()->set_sent_at_micros(wall_micros());
        send(id, serialize(reply));
      }
    }
    std::erase_if(sessions_, [](const auto& entry) { return entry.second->dead; });
    uint64_t requested = 0;
    {
      std::lock_guard lock(status_mu_);
      requested = status_requested_;
    }
    if (requested > status_published_) {
      std::vector<SubscriptionStatus> status;
      std::set<std::string> connected;
      for (const auto& [id, session] : sessions_) {
        SubscriptionStatus s;
        s.department = session->department;
        s.subscription = session->subscription;
        s.connected = true;
        if (auto c = cursors_.find(session->cursor_key); c != cursors_.end()) s.cursor = c->second;
        s.scanned_to = session->scanned_to;
        s.records_sent = session->records_sent;
        s.batches_sent = session->batches_sent;
        s.credit_records = session->credit_records;
        connected.insert(session->cursor_key);
        status.push_back(std::move(s));
      }
      for (const auto& [key, offset] : cursors_) {
        if (connected.contains(key)) continue;
        SubscriptionStatus s;
        size_t slash = key.find('/');
        s.department = key.substr(0, slash);
        s.subscription = slash == std::string::npos ? "" : key.substr(slash + 1);
        s.cursor = offset;
        status.push_back(std::move(s));
      }
      std::lock_guard lock(status_mu_);
      status_ = std::move(status);
      status_published_ = requested;
      status_cv_.notify_all();
    }
  }
  zmq_close(router_);
  router_ = nullptr;
}

}  // namespace hutong::feed
