// charity_sqlite against a real SQLite ledger in WAL mode, written by another
// process while the hub reads it: many rows sharing one updated_at, a
// transaction that commits late with an older updated_at, updates; afterwards
// the journal holds exactly the ledger's current rows, normalized, and the
// defective rows are in quarantine with their reason codes.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <map>
#include <random>
#include <thread>

#include "hub_process.h"
#include "journal/envelope_record.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "journal_inspect.h"
#include "plugins/synthetic_person.h"

namespace {

using hutong::testing::HubProcess;

constexpr int kWriterGrants = 300;

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "") << "\n"
      << sql;
}

void create_ledger(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, R"(
CREATE TABLE donation (id INTEGER PRIMARY KEY, donor_name TEXT NOT NULL, donor_type TEXT NOT NULL,
  donor_credit_code TEXT, anonymous INTEGER NOT NULL DEFAULT 0, amount_fen INTEGER NOT NULL,
  received_on TEXT NOT NULL, restriction TEXT, receipt_no TEXT, updated_at TEXT NOT NULL);
CREATE TABLE grant_award (id INTEGER PRIMARY KEY, student_id_no TEXT NOT NULL,
  student_name TEXT NOT NULL, amount_fen INTEGER NOT NULL, purpose TEXT NOT NULL,
  approved_on TEXT NOT NULL, paid_on TEXT, donation_id INTEGER REFERENCES donation(id),
  status TEXT NOT NULL, updated_at TEXT NOT NULL);
INSERT INTO donation VALUES
  (1, '县农商银行', '企业', '91610523MA6Y12345X', 0, 5000000, '2025-09-01', '助学', 'R001', '2025-11-01 09:00:00'),
  (2, '张 伟', '个人', NULL, 1, 20000, '2025/9/3', NULL, 'R002', '2025-11-01 09:00:00'),
  (3, '某某协会', '社会组织', NULL, 0, '1,250.00', '2025-09-05', NULL, 'R003', '2025-11-01 09:00:01');
)");
  std::string valid = hutong::testing::synthetic_student_id(7);
  std::string lower_x;  // a valid ID whose check character is X, written in lower case
  for (int seq = 0; lower_x.empty() || lower_x.back() != 'X'; ++seq) {
    lower_x = hutong::testing::resident_id_with_check("61052320100101" + std::to_string(100 + seq));
  }
  lower_x.back() = 'x';
  std::string wrong_check = valid.substr(0, 17) + (valid[17] == '1' ? "2" : "1");
  exec(db,
       "INSERT INTO grant_award VALUES"
       "(1, '" +
           valid +
           "', '李明', 200000, '助学金', '2025-09-10', '2025-09-20', 1, '已发放', "
           "'2025-11-01 09:00:00'),"
           "(2, '" +
           lower_x +
           "', '王芳', 100000, '生活补助', '2025-09-11', NULL, 1, '已批准', "
           "'2025-11-01 09:00:00'),"
           "(3, '" +
           wrong_check +
           "', '赵强', 100000, '救急', '2025-09-12', NULL, NULL, '待审批', "
           "'2025-11-01 09:00:00'),"
           "(4, '6.10523E+17', '钱进', 50000, '助学金', '2025-09-12', NULL, NULL, '待审批', "
           "'2025-11-01 09:00:00')");
  sqlite3_close(db);
}

// The fund's desktop program: inserts grants (many in the same second),
// updates a donation now and then, and once holds a transaction open so that it
// commits after later ones with an older updated_at.
void writer(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_busy_timeout(db, 5000);
  auto run = [&](const std::string& sql) {
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  };
  for (int i = 0; i < kWriterGrants; ++i) {
    std::string id = hutong::testing::synthetic_student_id(1000 + i);
    std::string stamp = "2025-11-15 10:00:0" + std::to_string(i / 100);
    if (i == 150) {
      // Opened now with an older stamp, committed after others.
      sqlite3* late = nullptr;
      sqlite3_open(path.c_str(), &late);
      sqlite3_busy_timeout(late, 5000);
      sqlite3_exec(late,
                   ("BEGIN IMMEDIATE; INSERT INTO grant_award VALUES (9999, '" +
                    hutong::testing::synthetic_student_id(9999) +
                    "', '迟到', 300, '救急', '2025-11-15', NULL, NULL, '待审批', "
                    "'2025-11-15 09:59:58')")
                       .c_str(),
                   nullptr, nullptr, nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      sqlite3_exec(late, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(late);
    }
    run("INSERT INTO grant_award VALUES (" + std::to_string(100 + i) + ", '" + id + "', '学生" +
        std::to_string(i) + "', " + std::to_string(1000 + i) +
        ", '助学金', '2025-11-15', NULL, 1, '已批准', '" + stamp + "')");
    if (i % 50 == 0) {
      run("UPDATE donation SET amount_fen = amount_fen + 1, updated_at = '" + stamp +
          "' WHERE id = 1");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  sqlite3_close(db);
}

std::map<std::string, int64_t> ledger_amounts(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, (std::string("SELECT id, amount_fen FROM ") + table).c_str(), -1, &s,
                     nullptr);
  std::map<std::string, int64_t> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    if (sqlite3_column_type(s, 1) == SQLITE_INTEGER)
      out[std::to_string(sqlite3_column_int64(s, 0))] = sqlite3_column_int64(s, 1);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

using hutong::testing::journal_state;

TEST(CharitySqlite, ReadsALedgerWhileItsProgramWritesIt) {
  hutong::journal::testing::TempDir dir;
  std::string ledger = dir.path() + "/fund.sqlite";
  create_ledger(ledger);
  HubProcess hub(dir.path(), "hub:\n  data_dir: " + dir.path() + R"(/data
connectors:
  - name: fund
    plugin: charity_sqlite
    poll_interval_ms: 20
    settings:
      database: )" + ledger + "\n      overlap_seconds: \"5\"\n");
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  pid_t child = ::fork();
  if (child == 0) {
    writer(ledger);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto grants_wanted = ledger_amounts(ledger, "grant_award");
  grants_wanted.erase("3");                                    // wrong check character
  grants_wanted.erase("4");                                    // scientific notation
  auto donations_wanted = ledger_amounts(ledger, "donation");  // 3: amount is text
  std::map<std::string, int64_t> grants_got, donations_got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    grants_got.clear();
    donations_got.clear();
    for (const auto& [key, e] : journal_state(hub.data_dir(), "fund.grant"))
      grants_got[key] = e.grant_award().amount_fen();
    for (const auto& [key, e] : journal_state(hub.data_dir(), "fund.donation"))
      donations_got[key] = e.donation().amount_fen();
    if (grants_got == grants_wanted && donations_got == donations_wanted) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(grants_got.size(), grants_wanted.size());
  EXPECT_TRUE(grants_got == grants_wanted) << "the journal differs from the ledger";
  EXPECT_TRUE(donations_got == donations_wanted)
      << ::testing::PrintToString(donations_got) << " vs "
      << ::testing::PrintToString(donations_wanted);
  EXPECT_TRUE(grants_got.contains("9999")) << "the late commit was found";

  auto grants = journal_state(hub.data_dir(), "fund.grant");
  EXPECT_EQ(grants["2"].grant_award().student().resident_id().back(), 'X') << "x repaired";
  EXPECT_EQ(grants["1"].grant_award().status(), hutong::v1::GRANT_STATUS_PAID);
  EXPECT_EQ(grants["1"].grant_award().paid_on().day(), 20);
  EXPECT_FALSE(grants["2"].grant_award().has_paid_on());
  auto donations = journal_state(hub.data_dir(), "fund.donation");
  EXPECT_EQ(donations["2"].donation().received_on().day(), 3) << "2025/9/3 read";
  EXPECT_EQ(donations["2"].donation().donor_type(), hutong::v1::DONOR_TYPE_INDIVIDUAL);

  auto list = hutong::testing::run_command(std::string(HUTONG_CLI) +
                                           " quarantine list --json --data-dir " + hub.data_dir());
  EXPECT_NE(list.out.find("id.checksum"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("id.scientific"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("value.amount"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("1,250.00"), std::string::npos) << "the original row is kept";
  auto s = hub.status();
  EXPECT_EQ(s["fund"]["state"], "running") << s.dump();
  EXPECT_EQ(s["fund"]["quarantined"].get<int>(), 3) << s.dump();
}

}  // namespace

namespace {

// On a share where the ledger cannot be opened in place, a private copy of the
// ledger and its -wal file is read: committed rows that live only in the WAL
// are there too.
TEST(CharitySqlite, APrivateCopyIncludesTheWal) {
  hutong::journal::testing::TempDir dir;
  std::string ledger = dir.path() + "/fund.sqlite";
  create_ledger(ledger);
  // Keep a connection open so the WAL is not checkpointed into the main file.
  sqlite3* holder = nullptr;
  sqlite3_open(ledger.c_str(), &holder);
  exec(holder, "PRAGMA wal_autocheckpoint=0");
  exec(holder,
       "UPDATE donation SET amount_fen = 7777, updated_at = '2025-11-20 08:00:00' "
       "WHERE id = 2");
  HubProcess hub(dir.path(), "hub:\n  data_dir: " + dir.path() + R"(/data
connectors:
  - name: fund
    plugin: charity_sqlite
    poll_interval_ms: 20
    settings:
      database: )" + ledger + "\n      private_copy: \"true\"\n");
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::map<std::string, hutong::v1::Envelope> donations;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    donations = journal_state(hub.data_dir(), "fund.donation");
    if (donations.size() == 2 && donations["2"].donation().amount_fen() == 7777) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(donations["2"].donation().amount_fen(), 7777) << hub.log();
  EXPECT_EQ(journal_state(hub.data_dir(), "fund.grant").size(), 2u);
  // The copy is in the connector's own folder, one per connector, reused by
  // every read and every start: a runner killed mid-read leaves nothing to
  // pile up in the system's temporary folder.
  EXPECT_TRUE(
      std::filesystem::exists(hub.data_dir() + "/connectors/fund/private-copy/ledger.sqlite"));
  sqlite3_close(holder);
}

}  // namespace

namespace {

// SIGKILL of the hub at random moments while a ledger is read ten rows a poll:
// the journal ends with exactly the records of an uninterrupted run (rows read
// again after a restart, within the overlap window, are recognized as
// duplicates and not journaled twice).
TEST(CharitySqlite, HubKillsDuringTheReadChangeNothing) {
  auto run = [](int kills) {
    hutong::journal::testing::TempDir dir;
    std::string ledger = dir.path() + "/fund.sqlite";
    create_ledger(ledger);
    sqlite3* db = nullptr;
    sqlite3_open(ledger.c_str(), &db);
    exec(db, "BEGIN");
    for (int i = 0; i < 400; ++i) {
      exec(db, "INSERT INTO grant_award VALUES (" + std::to_string(100 + i) + ", '" +
                   hutong::testing::synthetic_student_id(2000 + i) + "', '学生', " +
                   std::to_string(500 + i) + ", '助学金', '2025-11-15', NULL, 1, '已批准', " +
                   "'2025-11-15 10:00:0" + std::to_string(i / 100) + "')");
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
    HubProcess hub(dir.path(), "hub:\n  data_dir: " + dir.path() + R"(/data
connectors:
  - name: fund
    plugin: charity_sqlite
    poll_interval_ms: 5
    settings:
      database: )" + ledger + "\n      batch_rows: \"10\"\n");
    std::mt19937 rng(5);
    EXPECT_TRUE(hub.kill_at_random_moments(kills, rng)) << hub.log();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (journal_state(hub.data_dir(), "fund.grant").size() < 402 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return hutong::testing::journal_sequence(hub.data_dir(), "fund.grant");
  };
  auto reference = run(0);
  ASSERT_EQ(reference.size(), 402u);
  auto killed = run(10);
  EXPECT_EQ(killed.size(), reference.size());
  EXPECT_TRUE(killed == reference) << "not the uninterrupted run's records";
}

}  // namespace
