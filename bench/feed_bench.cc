// bench/feed: the change feed against raw ZeroMQ on this machine.
//
//   1. Baseline: raw ZeroMQ DEALER -> ROUTER throughput of 300-byte messages
//      with CURVE (a ZAP handler admitting the client), one message per record.
//   2. Hub feed throughput (FeedServer with a department policy, CURVE, audit
//      trail, credit) to 1 and to 4 subscribers (FeedClient), replaying a
//      journal and live while records are appended; each per-subscriber rate as
//      a ratio to the baseline (goal >= 0.6). Each figure is the median of three
//      rounds, each against a baseline measured just before it.
//   3. Source-to-subscriber latency p50 / p99 at a paced 20 k records/s with
//      group commit: from just before the append to the subscriber's receipt
//      (goal: p99 <= 5 ms).
//   4. Resident memory while one subscriber is stopped (subscribed, heartbeating,
//      granting no more credit) and 5 M records flow (goal: flat).
//
// Usage: feed_bench [--records N] [--dir DIR] [--quick]
//        feed_bench --fanout | --fanout-mask [--live]   (4 subscribers only, for profiling)
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "feed/client.h"
#include "feed/keys.h"
#include "feed/server.h"
#include "journal/envelope_record.h"

namespace {

using namespace hutong;
using bench::Clock;

using bench::rss_kib;
using bench::seconds_since;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A roster record whose envelope is about 300 bytes.
v1::Envelope sample(uint64_t n) {
  v1::Envelope e;
  e.set_topic("education.enrollment");
  e.set_key("6105232015081" + std::to_string(50000 + n % 50000));
  e.set_op(v1::OP_UPSERT);
  e.set_schema_version(1);
  e.mutable_source()->set_connector("education_files");
  e.mutable_source()->set_position("学籍名册_20251019.csv#" + std::to_string(n));
  auto* r = e.mutable_student_enrollment();
  r->mutable_student()->set_resident_id(e.key());
  r->mutable_student()->set_name("张伟");
  r->set_national_student_number("G" + e.key());
  r->set_school_code("2161002320");
  r->set_school_name("城关镇第一小学");
  r->set_grade("三年级");
  r->set_class_name("三年级（2）班");
  r->set_hukou_division("610523100000");
  r->mutable_guardian()->set_name("张建国");
  r->mutable_guardian()->set_phone("13912345678");
  r->mutable_guardian()->set_resident_id("610523198001012345");
  return e;
}

// Appends `count` records in appends of 512, as a busy connector would: up to
// four appends in flight, so that group commits overlap. Unstamped records come
// from a pool prepared once (the writer must not be what is measured).
void append_records(journal::Journal& journal, uint64_t first, uint64_t count, bool stamp) {
  static std::vector<journal::RecordStorage> pool = [] {
    std::vector<journal::RecordStorage> prepared(4096);
    for (size_t i = 0; i < prepared.size(); ++i) {
      v1::Envelope e = sample(i);
      journal::to_record_consuming(e, prepared[i]);
    }
    return prepared;
  }();
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::vector<journal::RecordStorage> storage(512);
  std::vector<journal::RecordIn> records;
  for (uint64_t done = 0; done < count;) {
    records.clear();
    uint64_t n = std::min<uint64_t>(512, count - done);
    for (uint64_t i = 0; i < n; ++i) {
      if (!stamp) {
        const journal::RecordStorage& p = pool[(first + done + i) % pool.size()];
        records.push_back({journal::Op::kUpsert, p.topic, p.key, p.value});
        continue;
      }
      v1::Envelope e = sample(first + done + i);
      int64_t us = now_us();  // when the source handed it over, for the latency measurement
      e.mutable_event_time()->set_seconds(us / 1'000'000);
      e.mutable_event_time()->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
      records.push_back(journal::to_record_consuming(e, storage[i]));
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < 4; });
      ++in_flight;
    }
    journal.append_async(records, [&](auto) {
      std::lock_guard lock(mu);
      --in_flight;
      cv.notify_all();
    });
    done += n;
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
}

// Raw ZeroMQ with CURVE: one DEALER sends `count` 300-byte messages to a ROUTER.
double raw_curve_rate(uint64_t count) {
  void* context = zmq_ctx_new();
  void* zap = zmq_socket(context, ZMQ_REP);
  zmq_bind(zap, "inproc://zeromq.zap.01");
  std::atomic<bool> stop{false};
  std::thread handler([&] {
    int timeout = 100;
    zmq_setsockopt(zap, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    while (!stop) {
      std::vector<std::string> frames;
      for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, zap, 0) < 0) {
          zmq_msg_close(&m);
          break;
        }
        frames.emplace_back(static_cast<char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (!more) break;
      }
      if (frames.size() < 2) continue;
      const std::string reply[] = {"1.0", frames[1], "200", "OK", "bench", ""};
      for (int i = 0; i < 6; ++i)
        zmq_send(zap, reply[i].data(), reply[i].size(), i < 5 ? ZMQ_SNDMORE : 0);
    }
    zmq_close(zap);
  });
  auto server = *feed::generate_key_pair();
  auto client = *feed::generate_key_pair();
  void* router = zmq_socket(context, ZMQ_ROUTER);
  int one = 1;
  zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
  zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, server.secret_key.c_str(), 40);
  zmq_bind(router, "tcp://127.0.0.1:*");
  char endpoint[256];
  size_t size = sizeof endpoint;
  zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &size);
  void* dealer = zmq_socket(context, ZMQ_DEALER);
  zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, server.public_key.c_str(), 40);
  zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, client.public_key.c_str(), 40);
  zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, client.secret_key.c_str(), 40);
  zmq_connect(dealer, endpoint);
  std::string payload(300, 'x');
  // One round trip first, so the handshake is not timed.
  zmq_send(dealer, payload.data(), payload.size(), 0);
  zmq_msg_t m;
  zmq_msg_init(&m);
  zmq_msg_recv(&m, router, 0);
  zmq_msg_recv(&m, router, 0);
  std::thread sender([&] {
    for (uint64_t i = 0; i < count; ++i)
      zmq_send(dealer, payload.data(), payload.size(), 0);
  });
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    zmq_msg_recv(&m, router, 0);  // routing id
    zmq_msg_recv(&m, router, 0);  // the message
  }
  double rate = count / seconds_since(start);
  sender.join();
  zmq_msg_close(&m);
  int zero = 0;
  zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
  zmq_close(dealer);
  zmq_close(router);
  stop = true;
  handler.join();
  zmq_ctx_term(context);
  return rate;
}

// A loopback port that was free a moment ago (the feed is measured over TCP,
// like the baseline).
int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct Bench {
  std::string dir;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<feed::FeedServer> server;
  std::string endpoint;
  std::string key_file;
  std::string keys_dir;
  feed::Policies policies;
};

// A fresh feed server (nothing rendered yet) on the bench's journal.
void start_server(Bench& b) {
  if (b.server) b.server->stop();
  b.server.reset();
  feed::FeedServerOptions server_options;
  server_options.endpoint = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  server_options.keys_dir = b.keys_dir;
  b.endpoint = server_options.endpoint;
  auto audit = std::make_shared<feed::AuditChain>();
  (void)audit->resume(*b.journal);
  b.server = std::make_unique<feed::FeedServer>(*b.journal, server_options, b.policies, audit);
  (void)b.server->start();
}

void open_hub(Bench& b, const std::string& dir, const std::string& policy_kind) {
  std::filesystem::remove_all(dir);
  b.dir = dir;
  journal::JournalOptions options;
  options.directory = dir + "/journal";
  auto opened = journal::Journal::open(options);
  b.journal = std::move(*opened);
  std::string keys = dir + "/keys";
  auto hub_key = *feed::ensure_hub_key(keys);
  auto client = *feed::generate_key_pair();
  client.department = "bench";
  client.hub_public_key = hub_key.public_key;
  b.key_file = dir + "/bench.key";
  (void)feed::write_key_file(b.key_file, client, true);
  feed::KeyFile pub = client;
  pub.secret_key.clear();
  (void)feed::write_key_file(keys + "/authorized/bench.pub", pub, false);
  config::DepartmentConfig department;
  department.name = "bench";
  department.topics = {"education.enrollment"};
  if (policy_kind == "pass") {
    department.fields = {{"id_number", config::FieldAction::kPass},
                         {"name", config::FieldAction::kPass},
                         {"phone", config::FieldAction::kPass}};
  } else {
    department.fields = {{"id_number", config::FieldAction::kMask},
                         {"name", config::FieldAction::kMask},
                         {"phone", config::FieldAction::kDrop}};
  }
  auto hasher = *domain::KeyedHasher::create(domain::HashAlgorithm::kHmacSha256,
                                             "bench-hash-key-0123456789abcdef");
  b.policies["bench"] = *feed::Policy::compile(department, 0, hasher);
  b.keys_dir = keys;
  start_server(b);
}

feed::FeedClientOptions client_options(const Bench& b, const std::string& name,
                                       feed::v1::Start start) {
  feed::FeedClientOptions o;
  (void)feed::apply_key_file(b.key_file, o);
  o.endpoint = b.endpoint;
  o.subscription = name;
  o.start = start;
  o.credit_records = 8192;
  return o;
}

// Subscribers each receive `count` records; the rate of each.
std::vector<double> subscriber_rates(const Bench& b, int subscribers, uint64_t count,
                                     feed::v1::Start start,
                                     const std::function<void()>& meanwhile = {}) {
  std::vector<double> rates(subscribers);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  static int round = 0;
  ++round;
  for (int s = 0; s < subscribers; ++s) {
    threads.emplace_back([&, s] {
      pthread_setname_np(pthread_self(), "subscriber");
      feed::FeedClient client(
          client_options(b, "r" + std::to_string(round) + "s" + std::to_string(s), start));
      if (!client.connect()) return;
      ++ready;
      Clock::time_point first;
      uint64_t got = 0;
      while (got < count) {
        auto r = client.next(std::chrono::milliseconds(1000));
        if (!r || !*r) break;
        if (got++ == 0) first = Clock::now();
      }
      rates[s] = got > 1 ? (got - 1) / seconds_since(first) : 0;
    });
  }
  while (ready < subscribers)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (meanwhile) meanwhile();
  for (auto& t : threads)
    t.join();
  return rates;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t records = 1'000'000;
  uint64_t flow = 5'000'000;
  bool fanout_only = false;
  bool fanout_live = false;
  std::string fanout_policy = "pass";
  std::string base = std::filesystem::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--records" && i + 1 < argc) {
      records = std::stoull(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (arg == "--fanout" || arg == "--fanout-mask") {  // only 4 subscribers (profiling)
      fanout_only = true;
      fanout_policy = arg == "--fanout" ? "pass" : "mask";
    } else if (arg == "--live") {  // with --fanout: live instead of replaying
      fanout_live = true;
    } else if (arg == "--quick") {
      records = 50'000;
      flow = 200'000;
    } else {
      std::fprintf(stderr,
                   "usage: feed_bench [--records N] [--dir DIR] [--quick] "
                   "[--fanout | --fanout-mask [--live]]\n");
      return 2;
    }
  }
  std::string dir = base + "/hutong-feed-bench-" + std::to_string(::getpid());
  std::printf("feed benchmark: %llu records of ~300 bytes, journal in %s\n",
              static_cast<unsigned long long>(records), base.c_str());

  if (fanout_only) {  // only 4 subscribers replaying (for profiling)
    Bench b;
    open_hub(b, dir, fanout_policy);
    std::vector<double> rates;
    if (fanout_live) {
      rates = subscriber_rates(b, 4, records, feed::v1::START_LIVE,
                               [&] { append_records(*b.journal, 0, records, false); });
    } else {
      append_records(*b.journal, 0, records, false);
      rates = subscriber_rates(b, 4, records, feed::v1::START_OFFSET);
    }
    std::printf("4 subscribers %s: slowest %.0f k rec/s\n", fanout_live ? "live" : "replaying",
                *std::min_element(rates.begin(), rates.end()) / 1e3);
    b.server->stop();
    std::filesystem::remove_all(dir);
    return 0;
  }
  // This machine's speed drifts from second to second: every figure is the
  // median of three rounds, each round's ratio taken against a baseline run
  // just before it, on a fresh server (nothing rendered yet).
  constexpr int kRounds = 3;
  const uint64_t baseline_messages = std::min<uint64_t>(records, 300'000);
  std::vector<double> baselines;
  std::vector<std::string> lines;
  for (const char* policy : {"pass", "mask"}) {
    Bench b;
    open_hub(b, dir, policy);
    append_records(*b.journal, 0, records, false);
    for (bool live : {false, true}) {
      for (int subscribers : {1, 4}) {
        std::vector<double> rates, ratios;
        for (int round = 0; round < kRounds; ++round) {
          double baseline = raw_curve_rate(baseline_messages);
          baselines.push_back(baseline);
          start_server(b);
          std::vector<double> each;
          if (live) {
            uint64_t count = records / 2;
            uint64_t first = b.journal->next_offset();
            each = subscriber_rates(b, subscribers, count, feed::v1::START_LIVE,
                                    [&] { append_records(*b.journal, first, count, false); });
          } else {
            each = subscriber_rates(b, subscribers, records, feed::v1::START_OFFSET);
          }
          double slowest = *std::min_element(each.begin(), each.end());
          rates.push_back(slowest);
          ratios.push_back(slowest / baseline);
        }
        char line[256];
        int n = std::snprintf(
            line, sizeof line,
            "hutong    feed %-10s policy %-4s, %d subscriber(s)  %8.0f k rec/s each (slowest)   "
            "ratio %.2f (goal >= 0.6)   rounds:",
            live ? "live," : "replaying,", policy, subscribers, median(rates) / 1e3,
            median(ratios));
        std::string text(line, static_cast<size_t>(n));
        for (double r : ratios) {
          std::snprintf(line, sizeof line, " %.2f", r);
          text += line;
        }
        lines.push_back(text);
      }
    }
    b.server->stop();
    b.server.reset();
    b.journal.reset();
    std::filesystem::remove_all(dir);
  }
  std::printf(
      "baseline  raw ZeroMQ DEALER->ROUTER, CURVE, 300 B    %8.0f k msg/s (median of %zu)\n",
      median(baselines) / 1e3, baselines.size());
  for (const std::string& line : lines)
    std::printf("%s\n", line.c_str());

  {  // Latency at a paced 20 k records/s: 20 records every millisecond.
    Bench b;
    open_hub(b, dir, "pass");
    uint64_t total = std::min<uint64_t>(records, 200'000);
    std::vector<double> latencies;
    latencies.reserve(total);
    std::atomic<bool> subscribed{false};
    std::thread subscriber([&] {
      feed::FeedClient client(client_options(b, "latency", feed::v1::START_LIVE));
      if (!client.connect()) return;
      subscribed = true;
      while (latencies.size() < total) {
        auto r = client.next(std::chrono::milliseconds(2000));
        if (!r || !*r) break;
        const auto& t = (*r)->event_time();
        int64_t sent_us = t.seconds() * 1'000'000 + t.nanos() / 1000;
        latencies.push_back((now_us() - sent_us) / 1000.0);
      }
    });
    while (!subscribed)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto start = Clock::now();
    for (uint64_t sent = 0; sent < total; sent += 20) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(sent * 50));
      append_records(*b.journal, sent, 20, true);
    }
    subscriber.join();
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
      return latencies.empty() ? 0.0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
    };
    std::printf(
        "hutong    source->subscriber latency at 20 k rec/s, group commit: p50 %.2f ms, p99 %.2f "
        "ms (goal p99 <= 5 ms; %zu records)\n",
        pct(0.5), pct(0.99), latencies.size());
    b.server->stop();
    b.server.reset();
    b.journal.reset();
    std::filesystem::remove_all(dir);
  }

  {  // Memory with a stopped subscriber while records flow: connected, heartbeating,
     // granted 4096 records once and reading nothing.
    Bench b;
    open_hub(b, dir, "pass");
    auto key = *feed::read_key_file(b.key_file);
    void* context = zmq_ctx_new();
    void* dealer = zmq_socket(context, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, key.hub_public_key.c_str(), 40);
    zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, key.public_key.c_str(), 40);
    zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, key.secret_key.c_str(), 40);
    zmq_connect(dealer, b.endpoint.c_str());
    auto say = [&](const feed::v1::FeedRequest& request) {
      std::string bytes = request.SerializeAsString();
      zmq_send(dealer, bytes.data(), bytes.size(), 0);
    };
    feed::v1::FeedRequest hello, subscribe, credit, heartbeat;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->set_subscription("stopped");
    subscribe.mutable_subscribe()->set_start(feed::v1::START_OFFSET);
    credit.mutable_credit()->set_records(4096);
    heartbeat.mutable_heartbeat();
    say(hello);
    say(subscribe);
    say(credit);
    long before = 0;
    long peak = 0;
    for (uint64_t done = 0; done < flow; done += 100'000) {
      append_records(*b.journal, done, std::min<uint64_t>(100'000, flow - done), false);
      say(heartbeat);
      long rss = rss_kib();
      if (done == 0) before = rss;
      peak = std::max(peak, rss);
    }
    uint64_t sent = 0;
    bool connected = false;
    for (const auto& s : b.server->status()) {
      if (s.subscription != "stopped") continue;
      sent = s.records_sent;
      connected = s.connected;
    }
    std::printf(
        "hutong    resident memory, 1 stopped subscriber, %llu records flowing: %ld MiB after the "
        "first 100 k, peak %ld MiB (growth %ld MiB; goal: flat); the subscriber %s, was sent %llu "
        "records\n",
        static_cast<unsigned long long>(flow), before / 1024, peak / 1024, (peak - before) / 1024,
        connected ? "stayed connected" : "was dropped", static_cast<unsigned long long>(sent));
    zmq_close(dealer);
    zmq_ctx_term(context);
    b.server->stop();
    b.server.reset();
    b.journal.reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}
