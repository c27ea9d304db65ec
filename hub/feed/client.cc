#include "feed/client.h"

#include <zmq.h>

#include <thread>

#include "feed/keys.h"

namespace hutong::feed {

namespace v1 = hutong::feed::v1;
using Clock = std::chrono::steady_clock;

Status apply_key_file(const std::string& path, FeedClientOptions& options) {
  auto key = read_key_file(path);
  if (!key) return key.status();
  if (key->secret_key.empty()) return Status(kKeyFile, path + ": no secret-key (a .pub file?)");
  if (key->hub_public_key.empty()) return Status(kKeyFile, path + ": no hub-public-key");
  options.public_key = key->public_key;
  options.secret_key = key->secret_key;
  options.hub_public_key = key->hub_public_key;
  if (options.endpoint.empty()) options.endpoint = key->endpoint;
  return Status::ok();
}

FeedClient::FeedClient(FeedClientOptions options) : options_(std::move(options)) {
  context_ = zmq_ctx_new();
}

FeedClient::~FeedClient() {
  close();
  zmq_ctx_term(context_);
}

void FeedClient::close() {
  if (!socket_) return;
  v1::FeedRequest bye;
  bye.mutable_bye();
  std::string bytes = bye.SerializeAsString();
  zmq_send(socket_, bytes.data(), bytes.size(), ZMQ_DONTWAIT);
  int linger = 200;
  zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(socket_);
  socket_ = nullptr;
}

Status FeedClient::open_socket() {
  if (socket_) {
    int zero = 0;
    zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(socket_);
  }
  socket_ = zmq_socket(context_, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
  if (!options_.hub_public_key.empty()) {
    zmq_setsockopt(socket_, ZMQ_CURVE_SERVERKEY, options_.hub_public_key.data(),
                   options_.hub_public_key.size());
    zmq_setsockopt(socket_, ZMQ_CURVE_PUBLICKEY, options_.public_key.data(),
                   options_.public_key.size());
    zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, options_.secret_key.data(),
                   options_.secret_key.size());
  }
  if (zmq_connect(socket_, options_.endpoint.c_str()) != 0) {
    return Status(kFeedClosed,
                  "cannot connect to " + options_.endpoint + ": " + zmq_strerror(zmq_errno()));
  }
  granted_ = received_ = 0;
  batch_active_ = false;
  return Status::ok();
}

Status FeedClient::send(const v1::FeedRequest& request) {
  std::string bytes = request.SerializeAsString();
  if (zmq_send(socket_, bytes.data(), bytes.size(), ZMQ_DONTWAIT) < 0 && zmq_errno() != EAGAIN) {
    return Status(kFeedClosed, std::string("cannot send: ") + zmq_strerror(zmq_errno()));
  }
  last_sent_ = Clock::now();
  return Status::ok();
}

Result<bool> FeedClient::receive(std::chrono::milliseconds timeout) {
  zmq_msg_t message;
  zmq_msg_init(&message);
  if (zmq_msg_recv(&message, socket_, ZMQ_DONTWAIT) < 0) {
    zmq_pollitem_t item{socket_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0 ||
        zmq_msg_recv(&message, socket_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&message);
      return false;
    }
  }
  if (options_.on_message) {
    options_.on_message(
        std::string_view(static_cast<const char*>(zmq_msg_data(&message)), zmq_msg_size(&message)));
  }
  batch_active_ = false;
  reply_ = nullptr;
  arena_.Reset();
  reply_ = google::protobuf::Arena::CreateMessage<v1::FeedReply>(&arena_);
  bool ok =
      reply_->ParseFromArray(zmq_msg_data(&message), static_cast<int>(zmq_msg_size(&message)));
  zmq_msg_close(&message);
  if (!ok) return Status(kFeedClosed, "the hub sent a message that is not a FeedReply");
  last_heard_ = Clock::now();
  return true;
}

Status FeedClient::handshake() {
  if (Status s = open_socket(); !s) return s;
  v1::FeedRequest hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  hello.mutable_hello()->set_subscription(options_.subscription);
  hello.mutable_hello()->set_client(options_.client_name);
  if (Status s = send(hello); !s) return s;
  v1::FeedRequest subscribe;
  v1::Subscribe* sub = subscribe.mutable_subscribe();
  for (const std::string& topic : options_.topics)
    sub->add_topics(topic);
  for (const std::string& prefix : options_.division_prefixes)
    sub->mutable_filter()->add_division_prefixes(prefix);
  if (last_delivered_) {
    sub->set_start(v1::START_OFFSET);
    sub->set_offset(*last_delivered_ + 1);
  } else {
    sub->set_start(options_.start);
    sub->set_offset(options_.offset);
  }
  if (Status s = send(subscribe); !s) return s;
  bool welcomed = false;
  bool subscribed = false;
  Clock::time_point deadline = Clock::now() + options_.connect_timeout;
  while (!(welcomed && subscribed)) {
    auto now = Clock::now();
    if (now >= deadline) {
      return Status(kFeedTimeout, "no answer from the hub at " + options_.endpoint + " within " +
                                      std::to_string(options_.connect_timeout.count()) +
                                      " ms (is it running? is this key authorized?)");
    }
    auto reply = receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!reply) return reply.status();
    if (!*reply) continue;
    const v1::FeedReply& r = *reply_;
    if (r.has_error()) {
      return Status(kFeedClosed,
                    "the hub refused: " + r.error().code() + ": " + r.error().message());
    }
    if (r.has_welcome()) {
      welcome_ = r.welcome();
      welcomed = true;
      heartbeat_ =
          std::chrono::milliseconds(std::max<uint32_t>(50, welcome_.heartbeat_interval_ms()));
    } else if (r.has_subscribed()) {
      subscribed_ = r.subscribed();
      subscribed = true;
    }
  }
  grant();
  return Status::ok();
}

Status FeedClient::connect() {
  last_heard_ = Clock::now();
  return handshake();
}

Status FeedClient::reconnect(const std::string& why) {
  (void)why;
  ++reconnects_;
  return handshake();
}

void FeedClient::grant() {
  uint64_t outstanding = granted_ - received_;
  if (outstanding > options_.credit_records / 2) return;
  uint64_t more = options_.credit_records - outstanding;
  v1::FeedRequest credit;
  credit.mutable_credit()->set_records(more);
  if (send(credit)) granted_ += more;
}

Status FeedClient::handle() {
  const v1::FeedReply& reply = *reply_;
  switch (reply.kind_case()) {
    case v1::FeedReply::kBatch: {
      const v1::Batch& batch = reply.batch();
      received_ += batch.records_size();
      batch_active_ = true;
      batch_index_ = 0;
      scanned_to_ = std::max(scanned_to_, batch.scanned_to());
      if (batch.snapshot_done()) snapshot_done_ = true;
      return Status::ok();
    }
    case v1::FeedReply::kAckStored:
      stored_cursor_ = reply.ack_stored().offset();
      return Status::ok();
    case v1::FeedReply::kError:
      if (reply.error().code() == "session.unknown" || reply.error().code() == "policy.changed") {
        return Status("feed.session_lost", reply.error().message());
      }
      if (!reply.error().fatal()) return Status::ok();
      return Status(kFeedClosed, reply.error().code() + ": " + reply.error().message());
    default:
      return Status::ok();
  }
}

Result<const hutong::v1::Envelope*> FeedClient::next(std::chrono::milliseconds timeout) {
  std::optional<Clock::time_point> deadline_at;  // read the clock only when there is nothing ready
  for (;;) {
    while (batch_active_ && batch_index_ < reply_->batch().records_size()) {
      const hutong::v1::Envelope& envelope = reply_->batch().records(batch_index_++);
      if (last_delivered_ && envelope.offset() <= *last_delivered_) continue;
      last_delivered_ = envelope.offset();
      if (batch_index_ == reply_->batch().records_size()) grant();
      return &envelope;
    }
    if (batch_active_) {
      batch_active_ = false;
      grant();
    }
    Clock::time_point now = Clock::now();
    if (!deadline_at) deadline_at = now + timeout;
    Clock::time_point deadline = *deadline_at;
    if (!socket_ || now - last_heard_ > 3 * heartbeat_) {
      if (!options_.reconnect) return Status(kFeedClosed, "the hub went silent");
      Status s = reconnect("the hub went silent");
      if (!s) {
        if (s.code() == kFeedClosed && s.message().starts_with("the hub refused")) return s;
        last_heard_ = Clock::now() - 3 * heartbeat_;  // try again on the next call
        if (Clock::now() >= deadline) return static_cast<const hutong::v1::Envelope*>(nullptr);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      continue;
    }
    if (now - last_sent_ >= heartbeat_) {
      v1::FeedRequest heartbeat;
      heartbeat.mutable_heartbeat()->set_sent_at_micros(
          std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
      send(heartbeat);
    }
    if (now >= deadline) return static_cast<const hutong::v1::Envelope*>(nullptr);
    auto wait = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                         heartbeat_ / 2);
    auto reply = receive(std::max(wait, std::chrono::milliseconds(1)));
    if (!reply) return reply.status();
    if (!*reply) continue;
    Status s = handle();
    if (s.code() == "feed.session_lost") {
      if (!options_.reconnect) return s;
      if (Status r = reconnect(s.message()); !r) {
        last_heard_ = Clock::now() - 3 * heartbeat_;
      }
      continue;
    }
    if (!s) return s;
  }
}

void FeedClient::ack(uint64_t offset) {
  if (!socket_) return;
  v1::FeedRequest request;
  request.mutable_ack()->set_offset(offset);
  send(request);
}

}  // namespace hutong::feed
