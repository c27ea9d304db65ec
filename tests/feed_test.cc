// Change feeds end to end with real processes: a source connector -> hutongd ->
// departments with different policies over CurveZMQ. Each department receives
// exactly its allowed rows with its masking (computed here independently from
// the source's synthetic data), and no byte it receives holds a value it may
// not see. Unknown keys and plaintext clients get nothing; protocol errors
// reach only the offending client; cursors resume; the audit chain detects a
// modified and a deleted entry.
#include <gtest/gtest.h>
#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "domain/privacy.h"
#include "feed/client.h"
#include "feed/keys.h"
#include "hub_process.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "plugins/synthetic_person.h"

namespace {

using hutong::feed::FeedClient;
using hutong::feed::FeedClientOptions;
using hutong::testing::HubProcess;
using hutong::testing::run_command;
namespace fv1 = hutong::feed::v1;

constexpr int kRows = 3000;

std::string config(const std::string& data_dir, const std::string& endpoint, int rows = kRows) {
  return "hub:\n  data_dir: " + data_dir + R"(
connectors:
  - name: roster
    plugin: test_source
    settings:
      total: ")" +
         std::to_string(rows) +
         R"("
      per_poll: "256"
      personal: "true"
feed:
  endpoint: )" +
         endpoint +
         R"(
  heartbeat_interval_ms: 200
  max_batch_records: 100
departments:
  - name: education
    topics: [education.enrollment]
    fields:
      id_number: pass
      name: pass
      phone: mask
  - name: charity
    topics: [education.enrollment]
    division_prefixes: ["610523"]
    fields:
      id_number: mask
      name: mask
      phone: drop
      "education.enrollment:national_student_number": hash
)";
}

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(hutong::testing::free_tcp_port());
    hub_ = std::make_unique<HubProcess>(dir_.path(), config(dir_.path() + "/data", endpoint_));
    ASSERT_TRUE(hub_->wait_ready()) << hub_->log();
    ASSERT_TRUE(hub_->wait_for([](const nlohmann::json& s) {
      return s.contains("roster") && s["roster"]["accepted"].get<int>() == kRows;
    })) << hub_->log();
  }

  std::string key_for(const std::string& department) {
    std::string path = dir_.path() + "/" + department + ".key";
    auto r = run_command(std::string(HUTONG_CLI) + " keys new " + department + " --config " +
                         hub_->config_path() + " --out " + path + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return path;
  }

  FeedClientOptions options(const std::string& key_file, const std::string& subscription) {
    FeedClientOptions o;
    EXPECT_TRUE(hutong::feed::apply_key_file(key_file, o));
    o.subscription = subscription;
    o.connect_timeout = std::chrono::milliseconds(3000);
    return o;
  }

  // Receives until `count` records came or 60 s passed.
  static std::vector<hutong::v1::Envelope> receive(FeedClient& client, size_t count) {
    std::vector<hutong::v1::Envelope> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto r = client.next(std::chrono::milliseconds(200));
      EXPECT_TRUE(r) << r.status().to_string();
      if (!r) break;
      if (*r) out.push_back(**r);
    }
    return out;
  }

  std::shared_ptr<const hutong::domain::KeyedHasher> hub_hasher() {
    std::ifstream in(hub_->data_dir() + "/keys/hash.key");
    std::string key;
    std::getline(in, key);
    return *hutong::domain::KeyedHasher::create(hutong::domain::HashAlgorithm::kHmacSha256, key);
  }

  hutong::journal::testing::TempDir dir_;
  std::string endpoint_;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(FeedTest, EachDepartmentReceivesExactlyItsRowsWithItsMasking) {
  std::string education_bytes;
  std::string charity_bytes;
  FeedClientOptions edu = options(key_for("education"), "roster-copy");
  edu.on_message = [&](std::string_view bytes) { education_bytes.append(bytes); };
  FeedClientOptions cha = options(key_for("charity"), "eligible");
  cha.on_message = [&](std::string_view bytes) { charity_bytes.append(bytes); };
  FeedClient education(edu);
  FeedClient charity(cha);
  ASSERT_TRUE(education.connect());
  ASSERT_TRUE(charity.connect());
  EXPECT_EQ(education.welcome().department(), "education");
  EXPECT_EQ(charity.welcome().department(), "charity");

  std::vector<hutong::v1::Envelope> edu_records = receive(education, kRows);
  std::vector<hutong::v1::Envelope> cha_records = receive(charity, kRows / 2);
  ASSERT_EQ(edu_records.size(), static_cast<size_t>(kRows));
  ASSERT_EQ(cha_records.size(), static_cast<size_t>(kRows / 2));
  // Nothing more for charity: the odd rows are another county's.
  auto extra = charity.next(std::chrono::milliseconds(500));
  ASSERT_TRUE(extra);
  EXPECT_FALSE(*extra);

  auto hasher = hub_hasher();
  for (int n = 0; n < kRows; ++n) {
    using namespace hutong::testing;
    const auto& e = edu_records[n].student_enrollment();
    ASSERT_EQ(edu_records[n].key(), synthetic_student_id(n));
    EXPECT_EQ(e.student().resident_id(), synthetic_student_id(n));
    EXPECT_EQ(e.student().name(), "学生" + std::to_string(n));
    EXPECT_EQ(e.guardian().phone(),
              synthetic_phone(n).substr(0, 3) + "****" + synthetic_phone(n).substr(7));
    EXPECT_EQ(e.national_student_number(), "G" + synthetic_student_id(n));
  }
  for (int i = 0; i < kRows / 2; ++i) {
    using namespace hutong::testing;
    int n = 2 * i;
    const hutong::v1::Envelope& envelope = cha_records[i];
    const auto& e = envelope.student_enrollment();
    std::string id = synthetic_student_id(n);
    EXPECT_EQ(envelope.key(), hasher->hex_digest(id)) << "the key holds an ID: hashed";
    EXPECT_EQ(e.student().resident_id(), id.substr(0, 6) + "********" + id.substr(14));
    EXPECT_EQ(e.student().name(), hutong::domain::mask_name("学生" + std::to_string(n)));
    EXPECT_TRUE(e.student().name().starts_with("学*"));
    EXPECT_EQ(e.guardian().name(), hutong::domain::mask_name("家长" + std::to_string(n)));
    EXPECT_TRUE(e.guardian().phone().empty());
    EXPECT_EQ(e.national_student_number(), hasher->hex_digest("G" + id));
    EXPECT_EQ(e.hukou_division(), synthetic_division(n));
  }
  // Every byte either department received: no value it may not see.
  for (int n = 0; n < kRows; ++n) {
    using namespace hutong::testing;
    ASSERT_EQ(education_bytes.find(synthetic_phone(n)), std::string::npos) << n;
    for (const std::string& secret :
         {synthetic_student_id(n), synthetic_guardian_id(n), synthetic_phone(n)}) {
      ASSERT_EQ(charity_bytes.find(secret), std::string::npos) << secret;
    }
  }
  EXPECT_EQ(charity_bytes.find("学生"), std::string::npos);
  EXPECT_EQ(charity_bytes.find("家长"), std::string::npos);
  EXPECT_EQ(charity_bytes.find("610524"), std::string::npos) << "another county's rows";

  auto verify = run_command(std::string(HUTONG_CLI) + " audit verify --config " +
                            hub_->config_path() + " 2>&1");
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_NE(verify.out.find("chain intact"), std::string::npos) << verify.out;
  auto list = run_command(std::string(HUTONG_CLI) + " audit list --config " + hub_->config_path() +
                          " --department charity");
  uint64_t audited = 0;
  std::istringstream lines(list.out);
  for (std::string line; std::getline(lines, line);)
    audited += nlohmann::json::parse(line)["records"].get<uint64_t>();
  EXPECT_EQ(audited, static_cast<uint64_t>(kRows / 2)) << "every record sent is audited";
}

TEST_F(FeedTest, UnknownKeysAndPlaintextClientsReceiveNothing) {
  // A well-formed CURVE key pair the hub has never authorized.
  auto stranger = hutong::feed::generate_key_pair();
  ASSERT_TRUE(stranger);
  FeedClientOptions o;
  o.endpoint = endpoint_;
  o.hub_public_key = hutong::feed::read_key_file(hub_->data_dir() + "/keys/hub.pub")->public_key;
  o.public_key = stranger->public_key;
  o.secret_key = stranger->secret_key;
  o.subscription = "intruder";
  o.connect_timeout = std::chrono::milliseconds(1500);
  size_t messages = 0;
  o.on_message = [&](std::string_view) { ++messages; };
  FeedClient client(o);
  EXPECT_FALSE(client.connect());
  EXPECT_EQ(messages, 0u);

  // A plaintext client speaking the protocol correctly.
  void* context = zmq_ctx_new();
  void* dealer = zmq_socket(context, ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
  ASSERT_EQ(zmq_connect(dealer, endpoint_.c_str()), 0);
  fv1::FeedRequest hello;
  hello.mutable_hello()->set_protocol_version(1);
  hello.mutable_hello()->set_subscription("plain");
  fv1::FeedRequest subscribe;
  subscribe.mutable_subscribe()->set_start(fv1::START_OFFSET);
  fv1::FeedRequest credit;
  credit.mutable_credit()->set_records(100000);
  for (const auto* request : {&hello, &subscribe, &credit}) {
    std::string bytes = request->SerializeAsString();
    zmq_send(dealer, bytes.data(), bytes.size(), ZMQ_DONTWAIT);
  }
  zmq_pollitem_t item{dealer, 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq_poll(&item, 1, 1500), 0) << "a plaintext client received something";
  zmq_close(dealer);
  zmq_ctx_term(context);
  EXPECT_NE(hub_->log().find("refused"), std::string::npos);
}

// A raw CURVE client for protocol-level tests.
class RawClient {
 public:
  RawClient(const std::string& endpoint, const std::string& key_file) {
    auto key = hutong::feed::read_key_file(key_file);
    context_ = zmq_ctx_new();
    socket_ = zmq_socket(context_, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(socket_, ZMQ_CURVE_SERVERKEY, key->hub_public_key.c_str(), 40);
    zmq_setsockopt(socket_, ZMQ_CURVE_PUBLICKEY, key->public_key.c_str(), 40);
    zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, key->secret_key.c_str(), 40);
    zmq_connect(socket_, endpoint.c_str());
  }
  ~RawClient() {
    zmq_close(socket_);
    zmq_ctx_term(context_);
  }
  void send_bytes(const std::string& bytes) { zmq_send(socket_, bytes.data(), bytes.size(), 0); }
  void send(const fv1::FeedRequest& request) { send_bytes(request.SerializeAsString()); }
  // The next reply that is not a heartbeat, within 5 s.
  std::optional<fv1::FeedReply> reply() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      zmq_pollitem_t item{socket_, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 100) <= 0) continue;
      zmq_msg_t message;
      zmq_msg_init(&message);
      zmq_msg_recv(&message, socket_, 0);
      fv1::FeedReply r;
      r.ParseFromArray(zmq_msg_data(&message), static_cast<int>(zmq_msg_size(&message)));
      zmq_msg_close(&message);
      if (!r.has_heartbeat()) return r;
    }
    return std::nullopt;
  }

 private:
  void* context_;
  void* socket_;
};

TEST_F(FeedTest, ProtocolErrorsReachOnlyTheOffendingClient) {
  std::string key = key_for("education");
  FeedClientOptions o = options(key, "bystander");
  o.credit_records = 50;  // so that it keeps needing the hub throughout
  FeedClient bystander(o);
  ASSERT_TRUE(bystander.connect());
  size_t received = receive(bystander, 500).size();

  {
    RawClient raw(endpoint_, key);
    raw.send_bytes(std::string("\xff\xff\xff\xff garbage", 13));
    auto r = raw.reply();
    ASSERT_TRUE(r && r->has_error());
    EXPECT_EQ(r->error().code(), "request.malformed");
    EXPECT_TRUE(r->error().fatal());
  }
  {
    RawClient raw(endpoint_, key);
    fv1::FeedRequest hello;
    hello.mutable_hello()->set_protocol_version(7);
    hello.mutable_hello()->set_subscription("future");
    raw.send(hello);
    auto r = raw.reply();
    ASSERT_TRUE(r && r->has_error());
    EXPECT_EQ(r->error().code(), "protocol.version");
    EXPECT_NE(r->error().message().find("version 1"), std::string::npos);
  }
  {
    RawClient raw(endpoint_, key);
    fv1::FeedRequest hello;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->set_subscription(std::string(200 * 1024, 'x'));
    raw.send(hello);
    auto r = raw.reply();
    ASSERT_TRUE(r && r->has_error());
    EXPECT_EQ(r->error().code(), "request.too_large");
  }
  {
    RawClient raw(endpoint_, key);
    fv1::FeedRequest credit;
    credit.mutable_credit()->set_records(10);
    raw.send(credit);
    auto r = raw.reply();
    ASSERT_TRUE(r && r->has_error());
    EXPECT_EQ(r->error().code(), "session.unknown");
  }
  {
    RawClient raw(endpoint_, key);
    fv1::FeedRequest hello;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->set_subscription("nosy");
    raw.send(hello);
    ASSERT_TRUE(raw.reply()->has_welcome());
    fv1::FeedRequest subscribe;
    subscribe.mutable_subscribe()->add_topics("civil_affairs.dibao_member");
    raw.send(subscribe);
    auto r = raw.reply();
    ASSERT_TRUE(r && r->has_error());
    EXPECT_EQ(r->error().code(), "subscribe.topic");
  }
  // The bystander got everything, undisturbed.
  received += receive(bystander, kRows - received).size();
  EXPECT_EQ(received, static_cast<size_t>(kRows));
}

TEST_F(FeedTest, AStoppedSubscriberHoldsNothingUpAndResumesFromItsCursor) {
  std::string key = key_for("education");
  // A subscriber that subscribes and then grants no credit at all.
  RawClient stalled(endpoint_, key);
  fv1::FeedRequest hello;
  hello.mutable_hello()->set_protocol_version(1);
  hello.mutable_hello()->set_subscription("stalled");
  stalled.send(hello);
  fv1::FeedRequest subscribe;
  subscribe.mutable_subscribe()->set_start(fv1::START_OFFSET);
  stalled.send(subscribe);
  ASSERT_TRUE(stalled.reply()->has_welcome());
  ASSERT_TRUE(stalled.reply()->has_subscribed());

  // Another subscription takes 1000 records, acks them, and goes away.
  uint64_t acked = 0;
  {
    FeedClient first(options(key, "ledger"));
    ASSERT_TRUE(first.connect());
    auto records = receive(first, 1000);
    ASSERT_EQ(records.size(), 1000u);
    acked = records.back().offset();
    first.ack(acked);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (first.stored_cursor() != acked && std::chrono::steady_clock::now() < deadline)
      ASSERT_TRUE(first.next(std::chrono::milliseconds(50)));
    ASSERT_EQ(first.stored_cursor(), acked);
  }
  // The same subscription again resumes right after its cursor.
  FeedClient second(options(key, "ledger"));
  ASSERT_TRUE(second.connect());
  ASSERT_TRUE(second.welcome().has_cursor());
  EXPECT_EQ(second.welcome().cursor(), acked);
  auto rest = receive(second, kRows - 1000);
  ASSERT_EQ(rest.size(), static_cast<size_t>(kRows - 1000));
  EXPECT_GT(rest.front().offset(), acked);
  EXPECT_EQ(rest.front().key(), hutong::testing::synthetic_student_id(1000));

  auto status = run_command(std::string(HUTONG_CLI) + " subscriptions --json --config " +
                            hub_->config_path());
  nlohmann::json list = nlohmann::json::parse(status.out);
  bool saw_stalled = false;
  for (const auto& s : list) {
    if (s["subscription"] == "stalled") {
      saw_stalled = true;
      EXPECT_EQ(s["records_sent"], 0);
    }
  }
  EXPECT_TRUE(saw_stalled) << status.out;
  // The stalled subscriber was sent no record.
  fv1::FeedRequest heartbeat;
  heartbeat.mutable_heartbeat();
  stalled.send(heartbeat);
  auto r = stalled.reply();
  EXPECT_FALSE(r && r->has_batch());
}

TEST_F(FeedTest, SnapshotThenLiveDeliversEveryCurrentKeyOnce) {
  FeedClientOptions o = options(key_for("education"), "bootstrap");
  o.start = fv1::START_SNAPSHOT;
  FeedClient client(o);
  ASSERT_TRUE(client.connect());
  EXPECT_TRUE(client.subscribed().snapshot());
  auto records = receive(client, kRows);
  ASSERT_EQ(records.size(), static_cast<size_t>(kRows));
  std::set<std::string> keys;
  for (const auto& r : records)
    keys.insert(r.key());
  EXPECT_EQ(keys.size(), static_cast<size_t>(kRows));
  auto more = client.next(std::chrono::milliseconds(300));
  ASSERT_TRUE(more);
  EXPECT_TRUE(client.snapshot_done());
}

// Copies a journal record by record, changing or leaving out audit entries.
void copy_journal(const std::string& from, const std::string& to,
                  const std::function<bool(uint64_t, std::string&)>& audit_edit) {
  hutong::journal::JournalOptions ro;
  ro.directory = from;
  ro.read_only = true;
  auto source = hutong::journal::Journal::open(ro);
  ASSERT_TRUE(source);
  hutong::journal::JournalOptions rw;
  rw.directory = to;
  auto target = hutong::journal::Journal::open(rw);
  ASSERT_TRUE(target);
  auto reader = (*source)->read_from(0);
  uint64_t audit_index = 0;
  for (;;) {
    auto r = reader->next();
    ASSERT_TRUE(r);
    if (!*r) break;
    std::string value((*r)->value);
    if ((*r)->topic == "hub.audit" && !audit_edit(audit_index++, value)) continue;
    hutong::journal::RecordIn in{(*r)->op, (*r)->topic, (*r)->key, value};
    ASSERT_TRUE((*target)->append(std::span(&in, 1)));
  }
}

TEST_F(FeedTest, AuditVerifyDetectsAModifiedAndADeletedEntry) {
  FeedClientOptions o = options(key_for("charity"), "audited");
  FeedClient client(o);
  ASSERT_TRUE(client.connect());
  ASSERT_EQ(receive(client, kRows / 2).size(), static_cast<size_t>(kRows / 2));
  client.close();
  hub_->kill(SIGTERM);
  std::string journal = hub_->data_dir() + "/journal";
  auto intact = run_command(std::string(HUTONG_CLI) + " audit verify --data-dir " +
                            hub_->data_dir() + " --json");
  ASSERT_EQ(intact.exit_code, 0) << intact.out;
  ASSERT_GE(nlohmann::json::parse(intact.out)["entries"].get<int>(), 5);

  std::string modified = dir_.path() + "/modified";
  copy_journal(journal, modified + "/journal", [](uint64_t index, std::string& value) {
    if (index == 2) {  // claim fewer records were sent
      auto j = nlohmann::json::parse(value);
      j["records"] = j["records"].get<int>() - 1;
      value = j.dump();
    }
    return true;
  });
  auto r1 = run_command(std::string(HUTONG_CLI) + " audit verify --data-dir " + modified);
  EXPECT_EQ(r1.exit_code, 1) << r1.out;
  EXPECT_NE(r1.out.find("sequence 2): modified"), std::string::npos) << r1.out;

  std::string deleted = dir_.path() + "/deleted";
  copy_journal(journal, deleted + "/journal",
               [](uint64_t index, std::string&) { return index != 3; });
  auto r2 = run_command(std::string(HUTONG_CLI) + " audit verify --data-dir " + deleted);
  EXPECT_EQ(r2.exit_code, 1) << r2.out;
  EXPECT_NE(r2.out.find("sequence 4 follows 2"), std::string::npos) << r2.out;
  EXPECT_NE(r2.out.find("deleted"), std::string::npos) << r2.out;
}

}  // namespace

namespace {

// The Python client of examples/python, written from docs/feed-protocol.md:
// subscribes, receives, acknowledges, and resumes from its cursor.
TEST_F(FeedTest, PythonClientSubscribesAcksAndResumes) {
  std::string generated = dir_.path() + "/py";
  std::filesystem::create_directories(generated);
  std::string src = HUTONG_SOURCE_DIR;
  auto gen = run_command(std::string(PROTOC) + " --python_out=" + generated + " -I " + src +
                         "/schemas " + src + "/schemas/hutong/v1/*.proto " + src +
                         "/schemas/hutong/feed/v1/feed.proto 2>&1");
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  std::string client = "/usr/bin/python3 " + src + "/examples/python/hutong_feed_client.py" +
                       " --proto-path " + generated + " --key-file " + key_for("charity") +
                       " --subscription py --topic education.enrollment";
  auto first = run_command(client + " --max-records 400 2>&1");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  auto second = run_command(client + " --max-records " + std::to_string(kRows / 2 - 400) +
                            " --idle-exit 5 2>&1");
  ASSERT_EQ(second.exit_code, 0) << second.out;
  std::vector<nlohmann::json> records;
  for (const std::string* out : {&first.out, &second.out}) {
    std::istringstream lines(*out);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << line;
      records.push_back(j);
    }
  }
  ASSERT_EQ(records.size(), static_cast<size_t>(kRows / 2));
  auto hasher = hub_hasher();
  for (int i = 0; i < kRows / 2; ++i) {
    std::string id = hutong::testing::synthetic_student_id(2 * i);
    EXPECT_EQ(records[i]["key"], hasher->hex_digest(id)) << "row " << 2 * i << ", in order";
    EXPECT_EQ(records[i]["student_enrollment"]["student"]["resident_id"],
              id.substr(0, 6) + "********" + id.substr(14));
    if (i > 0) {
      EXPECT_GT(std::stoull(records[i]["offset"].get<std::string>()),
                std::stoull(records[i - 1]["offset"].get<std::string>()));
    }
  }
  auto status = run_command(std::string(HUTONG_CLI) + " subscriptions --json --config " +
                            hub_->config_path());
  bool stored = false;
  for (const auto& s : nlohmann::json::parse(status.out)) {
    if (s["department"] == "charity" && s["subscription"] == "py") {
      stored =
          !s["cursor"].is_null() &&
          s["cursor"].get<uint64_t>() == std::stoull(records.back()["offset"].get<std::string>());
    }
  }
  EXPECT_TRUE(stored) << status.out;
}

}  // namespace

namespace {

TEST_F(FeedTest, TailPrintsRecordsFromTheJournalOrAsADepartmentSeesThem) {
  auto local = run_command(std::string(HUTONG_CLI) +
                           " tail --topic education.enrollment --from 0 --count 5 --config " +
                           hub_->config_path());
  ASSERT_EQ(local.exit_code, 0) << local.out;
  std::istringstream lines(local.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["student_enrollment"]["student"]["resident_id"],
              hutong::testing::synthetic_student_id(n));
  }
  EXPECT_EQ(n, 5);
  auto fund = run_command(std::string(HUTONG_CLI) +
                          " tail --topic education.enrollment --from snapshot --count 3 "
                          "--key-file " +
                          key_for("charity") + " 2>&1");
  ASSERT_EQ(fund.exit_code, 0) << fund.out;
  std::istringstream fund_lines(fund.out);
  n = 0;
  for (std::string line; std::getline(fund_lines, line); ++n) {
    auto j = nlohmann::json::parse(line);
    std::string id = hutong::testing::synthetic_student_id(2 * n);
    EXPECT_EQ(j["student_enrollment"]["student"]["resident_id"],
              id.substr(0, 6) + "********" + id.substr(14));
  }
  EXPECT_EQ(n, 3);
}

TEST_F(FeedTest, ARevokedKeyIsRefused) {
  std::string key = key_for("charity");
  {
    FeedClient client(options(key, "before"));
    ASSERT_TRUE(client.connect());
  }
  auto list =
      run_command(std::string(HUTONG_CLI) + " keys list --json --config " + hub_->config_path());
  auto keys = nlohmann::json::parse(list.out)["keys"];
  ASSERT_EQ(keys.size(), 1u) << list.out;
  EXPECT_EQ(keys[0]["department"], "charity");
  auto revoke =
      run_command(std::string(HUTONG_CLI) + " keys revoke " + keys[0]["name"].get<std::string>() +
                  " --config " + hub_->config_path());
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out;
  FeedClient client(options(key, "after"));
  EXPECT_FALSE(client.connect());
}

TEST_F(FeedTest, APolicyChangeTakesEffectForConnectedSubscribers) {
  FeedClientOptions o = options(key_for("charity"), "reloaded");
  o.credit_records = 100;
  FeedClient client(o);
  ASSERT_TRUE(client.connect());
  auto before = receive(client, 100);
  ASSERT_EQ(before.size(), 100u);
  EXPECT_FALSE(before.back().student_enrollment().student().name().empty());
  // The fund no longer receives names.
  std::string yaml = config(hub_->data_dir(), endpoint_);
  size_t at = yaml.find("      name: mask\n", yaml.find("name: charity"));
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 17, "      name: drop\n");
  std::ofstream(hub_->config_path()) << yaml;
  auto reload = run_command(std::string(HUTONG_CLI) + " connector reload --config " +
                            hub_->config_path() + " 2>&1");
  ASSERT_EQ(reload.exit_code, 0) << reload.out;
  auto after = receive(client, kRows / 2 - 100);
  ASSERT_EQ(after.size(), static_cast<size_t>(kRows / 2 - 100)) << "resumed with no gap";
  EXPECT_GT(after.front().offset(), before.back().offset());
  EXPECT_GE(client.reconnects(), 1u);
  EXPECT_TRUE(after.back().student_enrollment().student().name().empty());
}

}  // namespace
