// civil_affairs_pg against a real PostgreSQL (tests/pg_server.h) loaded with
// the sample civil-affairs database, read by a real hutongd through a
// SELECT-only role (sending only reading statements): the initial load,
// updates, many rows sharing one updated_at, a transaction that commits late
// with an older updated_at, hard deletes (also across a hub restart, and
// deletes the hub counts as duplicates), the database restarting and being
// down, defective IDs and replay, operator-facing errors, and hub SIGKILLs
// while rows change. The tests compare the journal's current state per key
// with what the database holds, and count how often each key was journaled.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "domain/date.h"
#include "hub_process.h"
#include "journal/envelope_record.h"
#include "journal/journal.h"
#include "journal/test_util.h"
#include "journal_inspect.h"
#include "pg_server.h"
#include "plugins/synthetic_person.h"

namespace {

using hutong::testing::HubProcess;
using hutong::testing::PgServer;

const std::string kSource = HUTONG_SOURCE_DIR;
const std::string kData = kSource + "/tests/data/civil_affairs";

const std::vector<std::string> kTopics = {
    "civil_affairs.dibao_household", "civil_affairs.dibao_member", "civil_affairs.tekun_person",
    "civil_affairs.orphan_child"};

// The sample database and a role that may only read it.
struct County {
  PgServer pg{kSource};
  County() {
    pg.psql_file(kData + "/civil_affairs.sql");
    pg.psql(
        "CREATE ROLE hub_reader LOGIN PASSWORD 'reader-secret';"
        "GRANT USAGE ON SCHEMA public TO hub_reader;"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO hub_reader;");
  }
  std::string reader_conninfo() const {
    std::string c = pg.conninfo();
    c.replace(c.find("user=postgres"), 13, "user=hub_reader");
    return c;
  }
};

// hutong.yaml for one civil_affairs_pg connector named "civil".
std::string hub_yaml(const std::string& dir, const std::string& conninfo,
                     const std::string& extra_settings = "", int poll_ms = 20,
                     const std::string& isolation = "process") {
  std::ofstream(dir + "/reader.pass") << "reader-secret\n";
  return "hub:\n  data_dir: " + dir + "/data\nconnectors:\n  - name: civil\n" +
         "    plugin: civil_affairs_pg\n    isolation: " + isolation +
         "\n    poll_interval_ms: " + std::to_string(poll_ms) +
         "\n    restart_backoff_ms: 100\n    max_backoff_ms: 400\n    settings:\n" +
         "      conninfo: \"" + conninfo + "\"\n      password_file: " + dir + "/reader.pass\n" +
         "      reconcile_interval: \"200\"\n" + extra_settings;
}

using hutong::testing::journal_state;

// What each key should hold, as one comparable text per key: from the
// database (by SQL) and from the journal (from the records).
using State = std::map<std::string, std::map<std::string, std::string>>;

State database_state(const PgServer& pg) {
  State out;
  auto rows = [&](const std::string& topic, const std::string& sql) {
    std::string text = pg.psql(sql);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      std::string line = text.substr(start, end - start);
      start = end == std::string::npos ? text.size() : end + 1;
      size_t tab = line.find('\t');
      if (tab != std::string::npos) out[topic][line.substr(0, tab)] = line.substr(tab + 1);
    }
  };
  // psql -A separates with '|' by default; ask for tabs.
  rows("civil_affairs.dibao_household",
       "\\pset fieldsep '\\t'\nSELECT household_id, (monthly_amount * 100)::int8 || ' ' || "
       "member_count || ' ' || status FROM dibao_household");
  rows("civil_affairs.dibao_member",
       "\\pset fieldsep '\\t'\nSELECT household_id || '|' || id_no, name FROM dibao_member");
  rows("civil_affairs.tekun_person",
       "\\pset fieldsep '\\t'\nSELECT id_no, name || ' ' || status FROM tekun_person");
  rows("civil_affairs.orphan_child",
       "\\pset fieldsep '\\t'\nSELECT id_no, name || ' ' || status FROM orphan_child");
  return out;
}

std::string status_label(const google::protobuf::Message& m, const char* field) {
  const auto* f = m.GetDescriptor()->FindFieldByName(field);
  const auto* v = m.GetReflection()->GetEnum(m, f);
  const auto& o = v->options();
  return o.ExtensionSize(hutong::v1::label) ? o.GetExtension(hutong::v1::label, 0) : "";
}

State hub_state(const std::string& data_dir) {
  State out;
  for (const auto& [key, e] : journal_state(data_dir, kTopics[0])) {
    const auto& h = e.dibao_household();
    out[kTopics[0]][key] = std::to_string(h.monthly_amount_fen()) + " " +
                           std::to_string(h.member_count()) + " " + status_label(h, "status");
  }
  for (const auto& [key, e] : journal_state(data_dir, kTopics[1]))
    out[kTopics[1]][key] = e.dibao_member().person().name();
  for (const auto& [key, e] : journal_state(data_dir, kTopics[2]))
    out[kTopics[2]][key] =
        e.tekun_person().person().name() + " " + status_label(e.tekun_person(), "status");
  for (const auto& [key, e] : journal_state(data_dir, kTopics[3]))
    out[kTopics[3]][key] =
        e.orphan_child().child().name() + " " + status_label(e.orphan_child(), "status");
  return out;
}

// Waits until the journal holds `wanted`; returns the last state seen.
State wait_for_state(const std::string& data_dir, const State& wanted,
                     std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  State got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = hub_state(data_dir);
    if (got == wanted) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

std::string diff(const State& a, const State& b) {
  std::string out;
  for (const auto& topic : kTopics) {
    auto ia = a.find(topic), ib = b.find(topic);
    std::map<std::string, std::string> ma = ia == a.end() ? decltype(ma)() : ia->second;
    std::map<std::string, std::string> mb = ib == b.end() ? decltype(mb)() : ib->second;
    for (const auto& [k, v] : ma) {
      if (!mb.contains(k))
        out += topic + " " + k + " only in the journal\n";
      else if (mb[k] != v)
        out += topic + " " + k + ": journal " + v + ", database " + mb[k] + "\n";
    }
    for (const auto& [k, v] : mb)
      if (!ma.contains(k)) out += topic + " " + k + " only in the database\n";
  }
  return out.empty() ? "(same)" : out;
}

// Every record of a topic per key: how often it was journaled.
std::map<std::string, int> times_journaled(const std::string& data_dir, const std::string& topic) {
  std::map<std::string, int> out;
  for (const auto& [key, op, payload] : hutong::testing::journal_sequence(data_dir, topic))
    ++out[key];
  return out;
}

// Has the server log every statement with its application name.
void log_every_statement(const PgServer& pg) {
  pg.psql("ALTER SYSTEM SET log_statement = 'all'");
  pg.psql("ALTER SYSTEM SET log_line_prefix = '[%a] '");
  pg.psql("SELECT pg_reload_conf()");
}

// The statements the connector's sessions sent (application "hutong civil").
std::vector<std::string> connector_statements(const PgServer& pg) {
  std::string log = pg.psql(
      "SELECT pg_read_file(regexp_replace(current_setting('data_directory'), '/data$', "
      "'/server.log'))");
  std::vector<std::string> out;
  const std::string prefix = "[hutong civil] LOG:  statement: ";
  const std::string execute = "[hutong civil] LOG:  execute <unnamed>: ";
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    std::string line = log.substr(start, end - start);
    start = end == std::string::npos ? log.size() : end + 1;
    if (line.starts_with(prefix)) out.push_back(line.substr(prefix.size()));
    if (line.starts_with(execute)) out.push_back(line.substr(execute.size()));
  }
  return out;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

std::string tekun_row(int n, const std::string& stamp_sql) {
  return "('" + hutong::testing::synthetic_guardian_id(n) + "', '特困" + std::to_string(n) +
         "', '610523001002', '分散供养', '全自理', '在册', " + stamp_sql + ")";
}

// In a runner process (the default) and in process.
class CivilAffairsPgIsolation : public ::testing::TestWithParam<std::string> {};

TEST_P(CivilAffairsPgIsolation, LoadsTheSampleThenItsChangesAndDeletes) {
  County county;
  hutong::journal::testing::TempDir dir;
  log_every_statement(county.pg);
  HubProcess hub(dir.path(), hub_yaml(dir.path(), county.reader_conninfo(), "", 20, GetParam()));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  State wanted = database_state(county.pg);
  ASSERT_EQ(wanted[kTopics[1]].size(), 35u);
  State got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();

  auto households = journal_state(hub.data_dir(), kTopics[0]);
  const auto& h = households["DB610523-2016-00124"].dibao_household();
  EXPECT_EQ(h.monthly_amount_fen(), 135000);
  EXPECT_EQ(h.head_resident_id(), "610523200004271214");
  EXPECT_EQ(h.category(), hutong::v1::DIBAO_CATEGORY_RURAL);
  EXPECT_EQ(h.status(), hutong::v1::DIBAO_STATUS_STOPPED);
  EXPECT_EQ(h.stopped_on().month(), 2);
  EXPECT_EQ(h.approved_on().year(), 2016);
  // 2025-05-31 09:20:44+08
  EXPECT_EQ(h.updated_at().seconds(), 1748654444);
  auto members = journal_state(hub.data_dir(), kTopics[1]);
  const auto& m = members["DB610523-2024-00118|610523199307291575"].dibao_member();
  EXPECT_EQ(m.disability_grade(), hutong::v1::DISABILITY_GRADE_1);
  EXPECT_EQ(m.relation(), hutong::v1::RELATION_HEAD);
  EXPECT_EQ(m.person().resident_id(), "610523199307291575");
  EXPECT_FALSE(m.person().name_match_key().empty());
  auto orphans = journal_state(hub.data_dir(), kTopics[3]);
  EXPECT_EQ(orphans["610523202307146145"].orphan_child().guardian_resident_id(),
            "610523196411043017");
  EXPECT_EQ(orphans["610523202307146145"].orphan_child().kind(),
            hutong::v1::ORPHAN_KIND_DE_FACTO_UNSUPPORTED);

  // The bureau's later changes: updates, an insert, hard deletes.
  county.pg.psql_file(kData + "/civil_affairs_changes.sql");
  wanted = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  EXPECT_EQ(journal_state(hub.data_dir(), kTopics[0])["DB610523-2020-00109"]
                .dibao_household()
                .monthly_amount_fen(),
            283000);
  int deletes = 0;
  for (const auto& topic : kTopics) {
    for (const auto& [key, op, payload] :
         hutong::testing::journal_sequence(hub.data_dir(), topic)) {
      if (op == hutong::v1::OP_DELETE) {
        ++deletes;
        EXPECT_TRUE(payload.empty());
      }
    }
  }
  EXPECT_EQ(deletes, 4) << "three members and their household, each deleted once";
  auto s = hub.status();
  EXPECT_EQ(s["civil"]["state"], "running") << s.dump();
  EXPECT_EQ(s["civil"]["quarantined"].get<int>(), 0) << s.dump();

  // The role can only read, and every statement the connector sent reads.
  EXPECT_EQ(hub.log().find("the role can write"), std::string::npos);
  auto statements = connector_statements(county.pg);
  EXPECT_GT(statements.size(), 10u);
  for (const std::string& statement : statements) {
    EXPECT_TRUE(statement.starts_with("SELECT ") || statement == "BEGIN READ ONLY" ||
                statement.starts_with("DECLARE hutong_keys NO SCROLL CURSOR FOR SELECT ") ||
                statement.starts_with("FETCH ") || statement == "COMMIT")
        << statement;
  }
}

INSTANTIATE_TEST_SUITE_P(CivilAffairsPg, CivilAffairsPgIsolation,
                         ::testing::Values("process", "in_process"));

// More rows share one updated_at than fit in a page; a second group differs
// only in the microsecond. Each is published once. One UPDATE of them all
// stamps every row with one now(): each is published once more, while the
// window behind the watermark (more rows than it reads per page) is read
// again every poll and its published rows are skipped.
TEST(CivilAffairsPg, ManyRowsShareOneTimestamp) {
  County county;
  for (int chunk = 0; chunk < 1200; chunk += 200) {  // psql gets its input as one argument
    std::string values;
    for (int i = chunk; i < chunk + 200; ++i) {
      values += (i > chunk ? "," : "") + tekun_row(i, i < 1100 ? "'2025-11-20 10:00:00.123456+08'"
                                                               : "'2025-11-20 10:00:00.123457+08'");
    }
    county.pg.psql("INSERT INTO tekun_person VALUES " + values);
  }
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(),
                 hub_yaml(dir.path(), county.reader_conninfo(), "      batch_rows: \"37\"\n"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  State wanted = database_state(county.pg);
  ASSERT_EQ(wanted[kTopics[2]].size(), 1201u);
  State got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  for (const auto& [key, n] : times_journaled(hub.data_dir(), kTopics[2]))
    EXPECT_EQ(n, 1) << key;

  county.pg.psql("UPDATE tekun_person SET status = '注销'");
  wanted = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  auto counts = times_journaled(hub.data_dir(), kTopics[2]);
  EXPECT_EQ(counts.size(), 1201u);
  for (const auto& [key, n] : counts)
    EXPECT_EQ(n, 2) << key;
}

// A transaction opened with an older updated_at commits after newer rows were
// read (and the watermark moved past its rows): its insert and its update are
// still published, exactly once; so is a row inserted with an updated_at far
// behind the watermark.
TEST(CivilAffairsPg, ALateCommitIsPublishedOnce) {
  County county;
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(),
                 hub_yaml(dir.path(), county.reader_conninfo(), "      overlap_seconds: \"60\"\n"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  State got = wait_for_state(hub.data_dir(), database_state(county.pg));

  PGconn* late = PQconnectdb(county.pg.conninfo().c_str());
  ASSERT_EQ(PQstatus(late), CONNECTION_OK) << PQerrorMessage(late);
  auto exec = [&](const std::string& sql) {
    PGresult* r = PQexec(late, sql.c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r) << sql;
    PQclear(r);
  };
  exec("BEGIN");
  // now() is the transaction's start: the trigger stamps the update with it.
  exec("UPDATE orphan_child SET name = '黄梦遥' WHERE id_no = '610523202307146145'");
  exec("INSERT INTO tekun_person VALUES " + tekun_row(7, "now()"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Newer rows, committed first and published.
  std::string newer;
  for (int i = 10; i < 15; ++i)
    newer += (i > 10 ? "," : "") + tekun_row(i, "clock_timestamp()");
  county.pg.psql("INSERT INTO tekun_person VALUES " + newer);
  county.pg.psql("UPDATE orphan_child SET status = '注销' WHERE id_no = '610523201111286037'");
  State before_commit = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), before_commit);
  ASSERT_EQ(got, before_commit) << diff(got, before_commit);
  exec("COMMIT");
  PQfinish(late);
  // Written with an updated_at long behind the watermark (beyond any overlap):
  // found by the key comparison.
  county.pg.psql("INSERT INTO tekun_person VALUES " + tekun_row(8, "'2020-01-01 00:00:00+08'"));

  State wanted = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  // Let the connector poll (and re-read its overlap window) a while longer.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto tekun = times_journaled(hub.data_dir(), kTopics[2]);
  EXPECT_EQ(tekun[hutong::testing::synthetic_guardian_id(7)], 1);
  EXPECT_EQ(tekun[hutong::testing::synthetic_guardian_id(12)], 1);
  EXPECT_EQ(tekun[hutong::testing::synthetic_guardian_id(8)], 1);
  auto orphans = times_journaled(hub.data_dir(), kTopics[3]);
  EXPECT_EQ(orphans["610523202307146145"], 2) << "the initial row and the late update";
  EXPECT_EQ(orphans["610523201111286037"], 2);
  EXPECT_EQ(hub_state(hub.data_dir()), wanted);
}

// Rows hard-deleted while the hub is down are deleted in the journal after it
// comes back (and so are rows deleted while it runs). A key the published-key
// file holds but the journal never had, or one whose delete is journaled
// already, costs a delete the hub counts as a duplicate: nothing is journaled.
TEST(CivilAffairsPg, HardDeletesReachTheJournalAcrossAHubRestart) {
  County county;
  std::string values;
  for (int i = 0; i < 20; ++i)
    values += (i ? "," : "") + tekun_row(i, "clock_timestamp()");
  county.pg.psql("INSERT INTO tekun_person VALUES " + values);
  hutong::journal::testing::TempDir dir;
  // Four records a poll: the deletes of one reconciliation pass span polls.
  auto hub = std::make_unique<HubProcess>(
      dir.path(), hub_yaml(dir.path(), county.reader_conninfo(), "      batch_rows: \"4\"\n"));
  ASSERT_TRUE(hub->wait_ready()) << hub->log();
  State wanted = database_state(county.pg);
  State got = wait_for_state(hub->data_dir(), wanted);
  ASSERT_EQ(got, wanted) << diff(got, wanted);
  // The newest row, so its key is in the position kept at the stop: a key
  // with the position's separators in it.
  const std::string odd_key = "DB,;=%|x";
  county.pg.psql("INSERT INTO dibao_household VALUES ('" + odd_key +
                 "', '', '610523101202', '农村低保', 1, 0.01, '在保', '2025-01-01', NULL, "
                 "clock_timestamp())");
  wanted = database_state(county.pg);
  got = wait_for_state(hub->data_dir(), wanted);
  ASSERT_EQ(got, wanted) << diff(got, wanted);
  std::string data_dir = hub->data_dir();
  hub->kill(SIGTERM);

  county.pg.psql(
      "DELETE FROM dibao_member WHERE household_id = 'DB610523-2019-00110';"
      "DELETE FROM dibao_household WHERE household_id = 'DB610523-2019-00110';"
      "DELETE FROM tekun_person;");
  sqlite3* keys = nullptr;
  const std::string keys_file = data_dir + "/connectors/civil/published_keys.sqlite";
  ASSERT_EQ(sqlite3_open(keys_file.c_str(), &keys), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(keys,
                         "INSERT INTO published VALUES ('orphan_child', 'never-published', '', "
                         "NULL)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(keys);
  sqlite3_close(keys);

  hub->start();
  ASSERT_TRUE(hub->wait_ready()) << hub->log();
  wanted = database_state(county.pg);
  got = wait_for_state(data_dir, wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub->log();

  county.pg.psql("DELETE FROM orphan_child WHERE id_no = '610523201111286037'");
  wanted = database_state(county.pg);
  got = wait_for_state(data_dir, wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub->log();

  int deletes = 0;
  for (const auto& topic : kTopics) {
    for (const auto& [key, op, payload] : hutong::testing::journal_sequence(data_dir, topic)) {
      EXPECT_NE(key, "never-published");
      deletes += op == hutong::v1::OP_DELETE;
    }
  }
  EXPECT_EQ(times_journaled(data_dir, kTopics[0])[odd_key], 1);
  EXPECT_EQ(deletes, 1 + 4 + 21 + 1) << "household, its members, the tekun persons, the orphan";
  auto s = hub->status();
  EXPECT_GE(s["civil"]["duplicate"].get<int>(), 1) << s.dump();

  // A key whose delete is journaled already, put back into the file: its
  // delete is emitted again and is a duplicate too (still one delete).
  hub->kill(SIGTERM);
  ASSERT_EQ(sqlite3_open(keys_file.c_str(), &keys), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(
          keys,
          "INSERT OR REPLACE INTO published VALUES ('orphan_child', '610523201111286037', '', "
          "NULL)",
          nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(keys);
  sqlite3_close(keys);
  size_t passes_before = count_of(hub->log(), "rows hard-deleted");
  hub->start();
  ASSERT_TRUE(hub->wait_ready()) << hub->log();
  for (int i = 0; i < 400 && count_of(hub->log(), "rows hard-deleted") == passes_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(count_of(hub->log(), "rows hard-deleted"), passes_before) << hub->log();
  auto orphan_records = hutong::testing::journal_sequence(data_dir, kTopics[3]);
  EXPECT_EQ(std::count_if(orphan_records.begin(), orphan_records.end(),
                          [](const auto& r) { return std::get<1>(r) == hutong::v1::OP_DELETE; }),
            1);
  EXPECT_EQ(hub_state(data_dir), database_state(county.pg));
}

// The database restarts under the connector, then is down for a while: the
// connector shows the error (with host and port) and backs off, then catches
// up; nothing is lost or journaled twice.
TEST(CivilAffairsPg, SurvivesADatabaseRestartAndAnOutage) {
  County county;
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(), hub_yaml(dir.path(), county.reader_conninfo()));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  State wanted = database_state(county.pg);
  State got = wait_for_state(hub.data_dir(), wanted);
  ASSERT_EQ(got, wanted) << diff(got, wanted);

  county.pg.restart();
  county.pg.psql("UPDATE tekun_person SET name = '赵常根'");
  wanted = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();

  county.pg.halt();
  std::string port = county.pg.conninfo().substr(county.pg.conninfo().find("port=") + 5);
  port = port.substr(0, port.find(' '));
  nlohmann::json seen;
  EXPECT_TRUE(hub.wait_for([&](const nlohmann::json& s) {
    seen = s;
    return s["civil"]["state"] == "failed" &&
           s["civil"]["last_error"].get<std::string>().find("source.unreachable") !=
               std::string::npos &&
           s["civil"]["backoff_ms"].get<int>() > 0;
  })) << seen.dump();
  std::string error = seen["civil"]["last_error"];
  EXPECT_NE(error.find("127.0.0.1:" + port), std::string::npos) << error;
  auto status = hub.cli("connector status");
  EXPECT_NE(status.out.find("source.unreachable"), std::string::npos) << status.out;

  county.pg.resume();
  county.pg.psql(
      "UPDATE tekun_person SET status = '注销';"
      "INSERT INTO tekun_person VALUES " +
      tekun_row(3, "now()"));
  wanted = database_state(county.pg);
  got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  EXPECT_TRUE(
      hub.wait_for([](const nlohmann::json& s) { return s["civil"]["state"] == "running"; }));
  auto counts = times_journaled(hub.data_dir(), kTopics[2]);
  EXPECT_EQ(counts["610523193711124798"], 3) << "loaded, renamed, cancelled: once each";
  EXPECT_EQ(counts[hutong::testing::synthetic_guardian_id(3)], 1);
  for (const auto& [key, n] : times_journaled(hub.data_dir(), kTopics[1]))
    EXPECT_EQ(n, 1) << key;
}

std::string full_width(const std::string& digits) {
  std::string out;
  for (char c : digits) {
    if (c >= '0' && c <= '9') {
      out += "\xEF\xBC";
      out += static_cast<char>(0x90 + (c - '0'));
    } else {
      out += c;
    }
  }
  return out;
}

// Rule 5: a member, 特困 person or orphan whose own ID is unusable is
// quarantined with its row as the database returned it and the id.* reason;
// IDs that only need normalizing go through. Rule 6: an unusable head or
// guardian ID leaves the reference empty. Amounts are kept to the fen. A
// quarantined row can be replayed: it is read again from the table.
TEST(CivilAffairsPg, DefectiveIdsAreQuarantinedWithTheirReasons) {
  County county;
  std::string valid = hutong::testing::synthetic_guardian_id(50);
  std::string wrong_check = valid.substr(0, 17) + (valid[17] == '1' ? "2" : "1");
  std::string lower_x;
  for (int seq = 100; lower_x.empty() || lower_x.back() != 'X'; ++seq)
    lower_x = hutong::testing::resident_id_with_check("61052319800101" + std::to_string(seq));
  lower_x.back() = 'x';
  std::string legacy = "610523650101123";  // 15 digits: 1965-01-01
  std::string wide = full_width(hutong::testing::synthetic_guardian_id(51));
  std::string future = hutong::testing::resident_id_with_check("61052320990101123");
  county.pg.psql(
      "INSERT INTO dibao_household VALUES "
      "('DB-HEAD-BAD', 'not an id', '610523101202', '农村低保', 2, 1234.56, '在保', "
      "'2025-01-01', NULL, now()),"
      "('DB-NAN', '" +
      valid +
      "', '610523101202', '农村低保', 2, 'NaN', '在保', "
      "'2025-01-01', NULL, now());"
      "INSERT INTO dibao_member VALUES "
      "('DB-HEAD-BAD', '" +
      wrong_check +
      "', '错校验', '户主', NULL, now()),"
      "('DB-HEAD-BAD', '" +
      lower_x +
      "', '小写', '配偶', '二级', now()),"
      "('DB-HEAD-BAD', '" +
      legacy +
      "', '老号', '父母', NULL, now()),"
      "('DB-HEAD-BAD', '" +
      wide +
      "', '全角', '子女', NULL, now());"
      "INSERT INTO tekun_person VALUES "
      "('6.10523E+17', '科学', '610523001002', '分散供养', '全自理', '在册', now()),"
      "('" +
      future +
      "', '未来', '610523001002', '集中供养', '全护理', '在册', now());"
      "INSERT INTO orphan_child VALUES "
      "('', '无号', '孤儿', NULL, '610523101201', '在册', now()),"
      "('" +
      hutong::testing::synthetic_student_id(60) +
      "', '监护无效', '孤儿', '12345', "
      "'610523101201', '在册', now());");
  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(), hub_yaml(dir.path(), county.reader_conninfo()));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["civil"]["quarantined"].get<int>() == 5 && s["civil"]["accepted"].get<int>() >= 47;
  })) << hub.status().dump()
      << hub.log();

  auto households = journal_state(hub.data_dir(), kTopics[0]);
  EXPECT_EQ(households["DB-HEAD-BAD"].dibao_household().head_resident_id(), "");
  EXPECT_EQ(households["DB-HEAD-BAD"].dibao_household().monthly_amount_fen(), 123456);
  EXPECT_FALSE(households.contains("DB-NAN"));
  auto members = journal_state(hub.data_dir(), kTopics[1]);
  EXPECT_FALSE(members.contains("DB-HEAD-BAD|" + wrong_check));
  std::string upper_x = lower_x;
  upper_x.back() = 'X';
  EXPECT_EQ(members["DB-HEAD-BAD|" + lower_x].dibao_member().person().resident_id(), upper_x)
      << "the key is the row's as stored; the person's ID is normalized";
  EXPECT_EQ(members["DB-HEAD-BAD|" + lower_x].dibao_member().disability_grade(),
            hutong::v1::DISABILITY_GRADE_2);
  EXPECT_EQ(members["DB-HEAD-BAD|" + legacy].dibao_member().person().resident_id(),
            hutong::testing::resident_id_with_check("61052319650101123"));
  EXPECT_EQ(members["DB-HEAD-BAD|" + wide].dibao_member().person().resident_id(),
            hutong::testing::synthetic_guardian_id(51));
  auto orphans = journal_state(hub.data_dir(), kTopics[3]);
  EXPECT_EQ(
      orphans[hutong::testing::synthetic_student_id(60)].orphan_child().guardian_resident_id(), "");
  EXPECT_FALSE(orphans.contains(""));

  std::map<std::string, hutong::v1::QuarantinedRow> quarantine;
  for (const auto& [key, e] : journal_state(hub.data_dir(), "hub.quarantine"))
    quarantine[key] = e.quarantined_row();
  ASSERT_EQ(quarantine.size(), 5u);
  const auto& checksum = quarantine["civil|dibao_member:DB-HEAD-BAD|" + wrong_check + "|0"];
  EXPECT_EQ(checksum.reason_code(), "id.checksum");
  EXPECT_EQ(checksum.intended_topic(), "civil_affairs.dibao_member");
  EXPECT_TRUE(checksum.original().starts_with("household_id=DB-HEAD-BAD\tid_no=" + wrong_check +
                                              "\tname=错校验\t"))
      << checksum.original();
  EXPECT_NE(checksum.original().find("relation=户主\tdisability_grade=NULL\tupdated_at="),
            std::string::npos)
      << checksum.original();
  EXPECT_EQ(quarantine["civil|tekun_person:6.10523E+17|0"].reason_code(), "id.scientific");
  EXPECT_EQ(quarantine["civil|tekun_person:" + future + "|0"].reason_code(), "id.birth_date");
  EXPECT_EQ(quarantine["civil|orphan_child:|0"].reason_code(), "id.missing");
  EXPECT_EQ(quarantine["civil|dibao_household:DB-NAN|0"].reason_code(), "value.amount");
  EXPECT_NE(quarantine["civil|dibao_household:DB-NAN|0"].original().find("monthly_amount=NaN"),
            std::string::npos);
  auto list = hub.cli("quarantine list");
  EXPECT_NE(list.out.find("id.scientific"), std::string::npos) << list.out;

  // Replay reads the row again from the table: still rejected (its ID is
  // its key), now with the row as it is today; a row fixed in the table is
  // published and leaves quarantine; a deleted row cannot be replayed. (The
  // changes carry an old updated_at, so that only the replay reads them.)
  county.pg.psql(
      "UPDATE tekun_person SET name = '科学二', updated_at = '2020-01-01 00:00:00+08' "
      "WHERE id_no = '6.10523E+17';"
      "UPDATE dibao_household SET monthly_amount = 99.99, updated_at = '2020-01-01 00:00:00+08' "
      "WHERE household_id = 'DB-NAN';"
      "DELETE FROM orphan_child WHERE id_no = ''");
  auto replay = hub.cli("quarantine replay 'civil|tekun_person:6.10523E+17|0'");
  EXPECT_NE(replay.out.find("still rejected"), std::string::npos) << replay.out;
  auto shown = hub.cli("quarantine show 'civil|tekun_person:6.10523E+17|0'");
  EXPECT_NE(shown.out.find("name=科学二"), std::string::npos) << shown.out;
  auto fixed = hub.cli("quarantine replay 'civil|dibao_household:DB-NAN|0'");
  EXPECT_NE(fixed.out.find("replayed: 1 record(s) accepted"), std::string::npos) << fixed.out;
  EXPECT_EQ(
      journal_state(hub.data_dir(), kTopics[0])["DB-NAN"].dibao_household().monthly_amount_fen(),
      9999);
  EXPECT_FALSE(
      journal_state(hub.data_dir(), "hub.quarantine").contains("civil|dibao_household:DB-NAN|0"));
  auto gone = hub.cli("quarantine replay 'civil|orphan_child:|0'");
  EXPECT_NE(gone.out.find("replay.row_gone"), std::string::npos) << gone.out;
}

// SIGKILL of the hub at random moments while it ingests and while the bureau
// inserts, updates (some in transactions that commit late) and hard-deletes
// rows: afterwards the journal's current state per key is the database's.
TEST(CivilAffairsPg, HubKillsWhileRowsChangeLeaveTheDatabaseState) {
  County county;
  std::string values;
  for (int i = 0; i < 300; ++i)
    values += (i ? "," : "") + tekun_row(i, "clock_timestamp()");
  county.pg.psql("INSERT INTO tekun_person VALUES " + values);
  values.clear();
  for (int i = 0; i < 200; ++i) {
    values += std::string(i ? "," : "") + "('DB610523-2017-00136', '" +
              hutong::testing::synthetic_student_id(i) + "', '成员" + std::to_string(i) +
              "', '子女', NULL, clock_timestamp())";
  }
  county.pg.psql("INSERT INTO dibao_member VALUES " + values);

  hutong::journal::testing::TempDir dir;
  HubProcess hub(dir.path(),
                 hub_yaml(dir.path(), county.reader_conninfo(),
                          "      batch_rows: \"10\"\n      overlap_seconds: \"30\"\n", 5));
  std::atomic<bool> stop = false;
  std::thread bureau([&] {
    PGconn* c = PQconnectdb(county.pg.conninfo().c_str());
    std::mt19937 rng(11);
    std::vector<int> tekun, members;
    for (int i = 0; i < 300; ++i)
      tekun.push_back(i);
    for (int i = 0; i < 200; ++i)
      members.push_back(i);
    int next = 1000;
    auto run = [&](const std::string& sql) { PQclear(PQexec(c, sql.c_str())); };
    auto take = [&](std::vector<int>& from) {
      size_t at = rng() % from.size();
      int n = from[at];
      from.erase(from.begin() + static_cast<long>(at));
      return n;
    };
    for (int op = 0; !stop; ++op) {
      std::string t = hutong::testing::synthetic_guardian_id(tekun[rng() % tekun.size()]);
      std::string m = hutong::testing::synthetic_student_id(members[rng() % members.size()]);
      switch (rng() % 6) {
        case 0:
          run("UPDATE tekun_person SET name = '改" + std::to_string(op) + "' WHERE id_no = '" + t +
              "'");
          break;
        case 1:
          tekun.push_back(next);
          run("INSERT INTO tekun_person VALUES " + tekun_row(next++, "clock_timestamp()"));
          break;
        case 2:
          if (tekun.size() > 50) {
            run("DELETE FROM tekun_person WHERE id_no = '" +
                hutong::testing::synthetic_guardian_id(take(tekun)) + "'");
          }
          break;
        case 3:
          run("UPDATE dibao_member SET name = '改" + std::to_string(op) + "' WHERE id_no = '" + m +
              "'");
          break;
        case 4:
          if (members.size() > 50) {
            run("DELETE FROM dibao_member WHERE id_no = '" +
                hutong::testing::synthetic_student_id(take(members)) + "'");
          }
          break;
        case 5:  // a transaction that commits after others with an older now()
          run("BEGIN");
          run("UPDATE tekun_person SET status = CASE status WHEN '在册' THEN '注销' ELSE '在册' "
              "END WHERE id_no = '" +
              t + "'");
          std::this_thread::sleep_for(std::chrono::milliseconds(40));
          tekun.push_back(next);
          run("INSERT INTO tekun_person VALUES " + tekun_row(next++, "now()"));
          run("COMMIT");
          break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    PQfinish(c);
  });
  std::mt19937 rng(7);
  bool came_back = hub.kill_at_random_moments(12, rng);
  stop = true;
  bureau.join();
  ASSERT_TRUE(came_back) << hub.log();
  State wanted = database_state(county.pg);
  State got = wait_for_state(hub.data_dir(), wanted, std::chrono::seconds(60));
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
  EXPECT_GT(wanted[kTopics[2]].size(), 50u);
}

// What operators see: a role that may not read a table, and a password
// written into the configuration, each fail with their code, saying where;
// once the grant is made the connector catches up by itself. A role that
// could write gets a warning.
TEST(CivilAffairsPg, ErrorsNameTheirCauseAndPlace) {
  County county;
  county.pg.psql("REVOKE SELECT ON orphan_child FROM hub_reader");
  hutong::journal::testing::TempDir dir;
  std::string yaml = hub_yaml(dir.path(), county.reader_conninfo()) +
                     "  - name: leaky\n    plugin: civil_affairs_pg\n    settings:\n" +
                     "      conninfo: \"" + county.pg.conninfo() + " password=secret\"\n" +
                     "  - name: admin\n    plugin: civil_affairs_pg\n    settings:\n" +
                     "      conninfo: \"" + county.pg.conninfo() + "\"\n";
  HubProcess hub(dir.path(), yaml);
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  nlohmann::json seen;
  EXPECT_TRUE(hub.wait_for([&](const nlohmann::json& s) {
    seen = s;
    return s["civil"]["last_error"].get<std::string>().find("source.permission") !=
               std::string::npos &&
           s["leaky"]["last_error"].get<std::string>().find("config.invalid") != std::string::npos;
  })) << seen.dump();
  std::string permission = seen["civil"]["last_error"];
  EXPECT_NE(permission.find("orphan_child"), std::string::npos) << permission;
  EXPECT_NE(permission.find("as hub_reader"), std::string::npos) << permission;
  std::string leaky = seen["leaky"]["last_error"];
  EXPECT_NE(leaky.find("password_file"), std::string::npos) << leaky;
  EXPECT_EQ(leaky.find("secret"), std::string::npos) << "the password is not repeated: " << leaky;
  // A role that could write is used all the same, with a warning.
  EXPECT_TRUE(hub.wait_for([](const nlohmann::json& s) { return s["admin"]["accepted"] > 40; }));
  EXPECT_NE(hub.log().find("the role can write to \"public\".\"dibao_household\""),
            std::string::npos)
      << hub.log();

  county.pg.psql("GRANT SELECT ON orphan_child TO hub_reader");
  State wanted = database_state(county.pg);
  State got = wait_for_state(hub.data_dir(), wanted);
  EXPECT_EQ(got, wanted) << diff(got, wanted) << hub.log();
}

// A record as the county generator's truth writes it: protobuf JSON field
// names, default values left out, enumerations by their Chinese label, dates
// yyyy-mm-dd, timestamps RFC 3339 UTC. Empty strings are left out on both
// sides (the truth writes an empty reference ID).
nlohmann::json truth_json(const google::protobuf::Message& m) {
  using google::protobuf::FieldDescriptor;
  const auto* type = m.GetDescriptor();
  const auto* reflection = m.GetReflection();
  if (type == google::protobuf::Timestamp::descriptor()) {
    const auto& ts = static_cast<const google::protobuf::Timestamp&>(m);
    int64_t days = ts.seconds() / 86400 - (ts.seconds() % 86400 < 0 ? 1 : 0);
    int64_t rest = ts.seconds() - days * 86400;
    auto date = hutong::domain::CivilDate::from_days_since_epoch(days);
    char text[40];
    std::snprintf(text, sizeof text, "%sT%02d:%02d:%02dZ", date.to_string().c_str(),
                  static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                  static_cast<int>(rest % 60));
    return text;
  }
  if (type == hutong::v1::Date::descriptor()) {
    const auto& d = static_cast<const hutong::v1::Date&>(m);
    return hutong::domain::CivilDate{d.year(), d.month(), d.day()}.to_string();
  }
  nlohmann::json out = nlohmann::json::object();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (!reflection->GetString(m, f).empty()) out[f->name()] = reflection->GetString(m, f);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        out[f->name()] = reflection->GetInt32(m, f);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        out[f->name()] = reflection->GetInt64(m, f);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        out[f->name()] = reflection->GetBool(m, f);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        out[f->name()] = status_label(m, f->name().c_str());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        out[f->name()] = truth_json(reflection->GetMessage(m, f));
        break;
      default:
        out[f->name()] = "(unexpected type)";
    }
  }
  return out;
}

void drop_empty_strings(nlohmann::json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    if (it->is_string() && it->get<std::string>().empty()) {
      it = j.erase(it);
    } else {
      drop_empty_strings(*it);
      ++it;
    }
  }
}

using JsonState = std::map<std::string, std::map<std::string, nlohmann::json>>;

JsonState truth_state(const std::string& truth_dir, const std::string& suffix) {
  JsonState out;
  for (const auto& topic : kTopics) {
    std::ifstream in(truth_dir + "/" + topic + suffix);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      drop_empty_strings(j["value"]);
      out[topic][j["key"]] = j["value"];
    }
  }
  return out;
}

JsonState hub_json_state(const std::string& data_dir) {
  JsonState out;
  for (const auto& topic : kTopics) {
    for (const auto& [key, e] : journal_state(data_dir, topic)) {
      const google::protobuf::Message* payload = hutong::journal::payload_of(e);
      if (payload) out[topic][key] = truth_json(*payload);
    }
  }
  return out;
}

std::string json_diff(const JsonState& got, const JsonState& wanted) {
  std::string out;
  for (const auto& topic : kTopics) {
    auto g = got.count(topic) ? got.at(topic) : std::map<std::string, nlohmann::json>();
    auto w = wanted.count(topic) ? wanted.at(topic) : std::map<std::string, nlohmann::json>();
    for (const auto& [k, v] : w) {
      if (!g.contains(k)) {
        out += topic + " " + k + " missing\n";
      } else if (g[k] != v) {
        out += topic + " " + k + ":\n  journal " + g[k].dump() + "\n  truth   " + v.dump() + "\n";
      }
    }
    for (const auto& [k, v] : g)
      if (!w.contains(k)) out += topic + " " + k + " not in the truth\n";
    if (out.size() > 4000) break;
  }
  return out.empty() ? "(same)" : out;
}

// The demo county's generator (deploy/county) writes the civil-affairs
// database with defects, and what a correct hub concludes from it: the
// journal holds exactly its truth, value for value, before and after the
// bureau's changes, and quarantines exactly its rows with their reasons.
TEST(CivilAffairsPg, MatchesTheGeneratedCountysTruth) {
  hutong::journal::testing::TempDir dir;
  std::string county = dir.path() + "/county";
  auto generated =
      hutong::testing::run_command(std::string(HUTONG_COUNTY) + " --out " + county +
                                   " --households 300 --seed 3 --defect-rate 0.1 2>&1");
  ASSERT_EQ(generated.exit_code, 0) << generated.out;
  PgServer pg(kSource);
  pg.psql_file(county + "/civil_affairs/civil_affairs.sql");
  pg.psql(
      "CREATE ROLE hub_reader LOGIN; GRANT USAGE ON SCHEMA public TO hub_reader;"
      "GRANT SELECT ON ALL TABLES IN SCHEMA public TO hub_reader;");
  std::string conninfo = pg.conninfo();
  conninfo.replace(conninfo.find("user=postgres"), 13, "user=hub_reader");
  HubProcess hub(dir.path(), hub_yaml(dir.path(), conninfo));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();

  for (const std::string suffix : {".initial.jsonl", ".jsonl"}) {
    if (suffix == ".jsonl") pg.psql_file(county + "/civil_affairs/civil_affairs_changes.sql");
    JsonState wanted = truth_state(county + "/truth", suffix);
    ASSERT_GT(wanted[kTopics[1]].size(), 50u);
    JsonState got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      got = hub_json_state(hub.data_dir());
      if (got == wanted) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(got == wanted) << suffix << "\n" << json_diff(got, wanted);
  }

  std::set<std::string> wanted_quarantine, got_quarantine;
  std::ifstream in(county + "/truth/quarantine.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["system"] != "civil_affairs") continue;
    std::string source = j["source"];
    wanted_quarantine.insert(source.substr(source.find(':') + 1) + ":" +
                             j["key"].get<std::string>() + " " + j["reason"].get<std::string>());
  }
  ASSERT_FALSE(wanted_quarantine.empty());
  for (const auto& [key, e] : journal_state(hub.data_dir(), "hub.quarantine"))
    got_quarantine.insert(e.quarantined_row().source_name() + " " +
                          e.quarantined_row().reason_code());
  EXPECT_EQ(got_quarantine, wanted_quarantine);
}

}  // namespace
