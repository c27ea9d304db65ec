// postgres_sink with a real hub, real PostgreSQL servers (tests/pg_server.h),
// the poverty_snapshot adapter on the sample snapshots (whose later months
// delete members) and test_source: each record type's table holds exactly the
// journal's current state per key, with the offset of its last version;
// tables are created, and extended when columns are missing; SIGKILLs of the
// hub during delivery and a restart of the database mid-stream leave exactly
// the tables of an uninterrupted run; an unreachable database is reported
// with sink.unreachable and retried.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "hub_process.h"
#include "journal/test_util.h"
#include "pg_server.h"
#include "sink_test_util.h"

namespace {

namespace fs = std::filesystem;
using hutong::sinks::ColumnType;
using hutong::sinks::RecordLayout;
using hutong::testing::HubProcess;
using hutong::testing::PgServer;
using hutong::testing::sources_done;

using hutong::testing::kTopics;
constexpr char kSep = '\x1f';
constexpr const char* kNull = "\x02";

// A second sink for the charity fund, into its own schema.
std::string fund_yaml(const std::string& conninfo) {
  return R"(  - name: fund_db
    plugin: postgres_sink
    department: charity
    poll_interval_ms: 10
    settings:
      conninfo: ")" +
         conninfo + R"("
      schema: fund
)" + hutong::testing::kCharityDepartment;
}

std::string hub_yaml(const std::string& dir, const std::string& conninfo, int64_t rows,
                     int per_poll, int batch, const std::string& isolation = "process") {
  return hutong::testing::sources_yaml(dir, rows, per_poll) + R"(  - name: department_db
    plugin: postgres_sink
    isolation: )" +
         isolation + R"(
    topics: [poverty.member, education.enrollment]
    poll_interval_ms: 10
    restart_backoff_ms: 20
    max_backoff_ms: 200
    batch_records: )" +
         std::to_string(batch) + R"(
    settings:
      conninfo: ")" +
         conninfo + R"("
      schema: dept
)";
}

void drop_snapshots(const std::string& dir, std::initializer_list<const char*> months) {
  fs::create_directories(dir + "/drop");
  for (const char* month : months)
    hutong::testing::drop_snapshot(month, dir + "/drop");
}

std::string normalized_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? text : j.dump();
}

// One line per row: _key, _offset (when asked), then every column as text,
// kNull for NULL; times in China Standard Time; JSON re-serialized.
std::vector<std::string> table_rows(const PgServer& pg, const std::string& db,
                                    const std::string& topic, bool with_offset) {
  const RecordLayout* layout = RecordLayout::for_topic(topic);
  std::string sql = "SELECT \"_key\"";
  if (with_offset) sql += " || E'\\x1f' || \"_offset\"::text";
  for (const auto& c : layout->columns()) {
    std::string value =
        c.type == ColumnType::kTimestamp
            ? "to_char(\"" + c.name + "\" AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')"
            : "\"" + c.name + "\"::text";
    sql += " || E'\\x1f' || coalesce(" + value + ", E'\\x02')";
  }
  sql +=
      " FROM dept.\"" + hutong::sinks::table_name_of(topic) + "\" ORDER BY \"_key\" COLLATE \"C\"";
  std::vector<std::string> rows;
  std::string out = pg.psql(sql, db);
  for (size_t start = 0; start < out.size();) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(start, end - start);
    start = end + 1;
    // Normalize JSON cells.
    std::vector<std::string> cells;
    for (size_t a = 0;;) {
      size_t b = line.find(kSep, a);
      cells.push_back(line.substr(a, b == std::string::npos ? std::string::npos : b - a));
      if (b == std::string::npos) break;
      a = b + 1;
    }
    size_t first = with_offset ? 2 : 1;
    for (size_t i = 0; i < layout->columns().size() && first + i < cells.size(); ++i) {
      if (layout->columns()[i].type == ColumnType::kJson && cells[first + i] != kNull)
        cells[first + i] = normalized_json(cells[first + i]);
    }
    std::string joined;
    for (size_t i = 0; i < cells.size(); ++i)
      joined += (i ? std::string(1, kSep) : "") + cells[i];
    rows.push_back(joined);
  }
  return rows;
}

std::vector<std::string> expected_rows(const std::string& topic,
                                       const hutong::testing::TopicState& state) {
  const RecordLayout* layout = RecordLayout::for_topic(topic);
  std::vector<std::string> rows;
  std::vector<hutong::sinks::Cell> cells;
  for (const auto& [key, record] : state) {
    layout->flatten(record.payload, cells);
    std::string row = key + kSep + std::to_string(record.offset);
    for (size_t i = 0; i < cells.size(); ++i) {
      row += kSep;
      if (!cells[i]) {
        row += kNull;
      } else if (layout->columns()[i].type == ColumnType::kJson) {
        row += normalized_json(*cells[i]);
      } else {
        row += *cells[i];
      }
    }
    rows.push_back(row);
  }
  return rows;
}

// "" when the department's tables hold the journal's current state.
std::string check_tables(const PgServer& pg, const std::string& db, const std::string& data_dir) {
  auto state = hutong::testing::journal_state(data_dir, kTopics);
  for (const std::string& topic : kTopics) {
    std::vector<std::string> got;
    try {
      got = table_rows(pg, db, topic, true);
    } catch (const std::exception& e) {
      return e.what();
    }
    auto want = expected_rows(topic, state[topic]);
    if (got.size() != want.size())
      return topic + ": " + std::to_string(got.size()) + " rows, expected " +
             std::to_string(want.size());
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != want[i])
        return topic + " row " + std::to_string(i) + ":\n" + got[i] + "\n" + want[i];
  }
  return "";
}

TEST(PostgresSink, TablesHoldTheJournalsCurrentStateWithUpsertsAndDeletes) {
  PgServer pg(HUTONG_SOURCE_DIR);
  pg.psql("CREATE DATABASE dept_db");
  // A table the department made earlier, with only some columns: extended.
  pg.psql(
      "CREATE SCHEMA dept; CREATE TABLE dept.education_enrollment (\"_key\" text PRIMARY KEY, "
      "\"_offset\" bigint NOT NULL, student_name text)",
      "dept_db");
  hutong::journal::testing::TempDir dir;
  drop_snapshots(dir.path(), {"202509", "202510"});
  HubProcess hub(dir.path(), hub_yaml(dir.path(), pg.conninfo("dept_db"), 400, 50, 64) +
                                 fund_yaml(pg.conninfo("dept_db")));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::string why;
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        return sources_done(hub, "400", "202510") ? check_tables(pg, "dept_db", hub.data_dir())
                                                  : std::string("still reading");
      },
      why))
      << why << hub.log();

  // November's half-size export, confirmed: the deleted members leave the table.
  drop_snapshots(dir.path(), {"202511"});
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["poverty"]["last_error"].get<std::string>().find("snapshot.held") != std::string::npos;
  })) << hub.log();
  size_t before = std::stoul(pg.psql("SELECT count(*) FROM dept.poverty_member", "dept_db"));
  ASSERT_EQ(hub.cli("connector confirm poverty 建档立卡人口_202511.csv").exit_code, 0);
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        return sources_done(hub, "400", "202511") ? check_tables(pg, "dept_db", hub.data_dir())
                                                  : std::string("still reading");
      },
      why))
      << why << hub.log();
  size_t after = std::stoul(pg.psql("SELECT count(*) FROM dept.poverty_member", "dept_db"));
  EXPECT_LT(after, before * 8 / 10);

  // Enumerations are the departments' labels; the offset is stored beside the rows.
  EXPECT_EQ(pg.psql("SELECT DISTINCT person_sex FROM dept.poverty_member ORDER BY 1", "dept_db"),
            "女\n男\n");
  std::string offset =
      pg.psql("SELECT next_offset FROM dept._hutong_sink_offset WHERE connector = 'department_db'",
              "dept_db");
  auto state = hutong::testing::journal_state(hub.data_dir(), kTopics);
  uint64_t last = 0;
  for (const auto& [topic, rows] : state)
    for (const auto& [key, record] : rows)
      last = std::max(last, record.offset);
  EXPECT_GT(std::stoull(offset), last);
  // The fund's schema: its rows only, as its policy shows them.
  auto fund = [&](const std::string& where) {
    return pg.psql("SELECT count(*) FROM fund.education_enrollment" + where, "dept_db");
  };
  EXPECT_EQ(fund(""), "200\n") << "the even rows (division 610523) of 400";
  EXPECT_EQ(fund(" WHERE student_resident_id !~ '^[0-9]{6}[*]{8}[0-9X]{4}$'"), "0\n");
  EXPECT_EQ(fund(" WHERE national_student_number !~ '^[0-9a-f]{64}$'"), "0\n");
  EXPECT_EQ(fund(" WHERE \"_key\" ~ '^[0-9]{17}[0-9X]$' OR guardian_phone <> ''"), "0\n");
  EXPECT_EQ(fund(" WHERE hukou_division NOT LIKE '610523%'"), "0\n");
  EXPECT_EQ(pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'fund' AND tablename = "
                    "'poverty_member'",
                    "dept_db"),
            "0\n");

  // Typed columns: dates are dates, numbers numbers.
  EXPECT_EQ(pg.psql("SELECT data_type FROM information_schema.columns WHERE table_schema = 'dept' "
                    "AND table_name = 'poverty_member' AND column_name = 'household_exit_year'",
                    "dept_db"),
            "bigint\n");
  // Columns carry the titles staff know as comments.
  EXPECT_EQ(pg.psql("SELECT col_description('dept.poverty_member'::regclass, attnum) FROM "
                    "pg_attribute WHERE attrelid = 'dept.poverty_member'::regclass AND attname IN "
                    "('person_resident_id', 'household_place_village', '_key') ORDER BY attnum",
                    "dept_db"),
            "记录键\n身份证件号\n行政村\n");
}

TEST(PostgresSink, HubKillsDuringDeliveryLeaveTheTablesOfAnUninterruptedRun) {
  PgServer pg(HUTONG_SOURCE_DIR);
  auto run = [&](int kills) {
    std::string db = "run" + std::to_string(kills);
    pg.psql("CREATE DATABASE " + db);
    hutong::journal::testing::TempDir dir;
    drop_snapshots(dir.path(), {"202509", "202510"});
    HubProcess hub(dir.path(), hub_yaml(dir.path(), pg.conninfo(db), 3000, 50, 5, "in_process"));
    std::mt19937 rng(5);
    EXPECT_TRUE(hub.kill_at_random_moments(kills, rng)) << hub.log();
    std::string why;
    EXPECT_TRUE(hutong::testing::eventually(
        [&] {
          return sources_done(hub, "3000", "202510") ? check_tables(pg, db, hub.data_dir())
                                                     : std::string("still reading");
        },
        why))
        << why << hub.log();
    if (kills > 0) {
      std::set<uint64_t> resumed = hutong::testing::sink_resume_offsets(hub.log(), "department_db");
      EXPECT_GE(resumed.size(), 4u) << "the kills did not fall during delivery\n" << hub.log();
    }
    // The offsets depend on how the two sources interleaved; the rows must not.
    std::map<std::string, std::vector<std::string>> tables;
    for (const std::string& topic : kTopics)
      tables[topic] = table_rows(pg, db, topic, false);
    return tables;
  };
  auto reference = run(0);
  ASSERT_GT(reference["education.enrollment"].size(), 1000u);
  ASSERT_GT(reference["poverty.member"].size(), 50u);
  auto killed = run(12);
  EXPECT_TRUE(killed == reference) << "not the tables of an uninterrupted run";
}

TEST(PostgresSink, SurvivesTheDatabaseRestartingMidStream) {
  PgServer pg(HUTONG_SOURCE_DIR);
  pg.psql("CREATE DATABASE dept_db");
  hutong::journal::testing::TempDir dir;
  drop_snapshots(dir.path(), {"202509"});
  HubProcess hub(dir.path(), hub_yaml(dir.path(), pg.conninfo("dept_db"), 4000, 20, 20));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::string why;
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        try {
          return std::stoul(pg.psql("SELECT count(*) FROM dept.education_enrollment", "dept_db")) >
                         100
                     ? std::string()
                     : std::string("no rows yet");
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      },
      why))
      << why << hub.log();
  size_t at_restart =
      std::stoul(pg.psql("SELECT count(*) FROM dept.education_enrollment", "dept_db"));
  EXPECT_LT(at_restart, 4000u) << "the restart came after the stream";
  pg.restart();
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        return sources_done(hub, "4000", "202509") ? check_tables(pg, "dept_db", hub.data_dir())
                                                   : std::string("still reading");
      },
      why))
      << why << hub.log();
  std::string log = hub.log();
  size_t at = log.find("sink.unreachable");
  ASSERT_NE(at, std::string::npos) << "the restart went unnoticed?\n" << log;
  EXPECT_NE(log.find("lost PostgreSQL at 127.0.0.1"), std::string::npos) << log;
  EXPECT_TRUE(hub.wait_for(
      [](const nlohmann::json& s) { return s["department_db"]["state"] == "running"; }));
}

TEST(PostgresSink, AColumnOfAnotherTypeIsReportedWithTableColumnAndField) {
  PgServer pg(HUTONG_SOURCE_DIR);
  pg.psql(
      "CREATE SCHEMA dept; CREATE TABLE dept.education_enrollment (\"_key\" text PRIMARY KEY, "
      "\"_offset\" bigint NOT NULL, grade_year date)");
  hutong::journal::testing::TempDir dir;
  drop_snapshots(dir.path(), {});
  HubProcess hub(dir.path(), hub_yaml(dir.path(), pg.conninfo(), 10, 10, 10));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["department_db"]["last_error"].get<std::string>().find("sink.schema") !=
           std::string::npos;
  })) << hub.status().dump();
  std::string error = hub.status()["department_db"]["last_error"];
  EXPECT_NE(error.find("dept.education_enrollment.grade_year is date"), std::string::npos) << error;
  EXPECT_NE(error.find("needs bigint"), std::string::npos) << error;
  // Nothing of the failed batches was kept: no rows, no offset.
  EXPECT_EQ(pg.psql("SELECT count(*) FROM dept.education_enrollment"), "0\n");
  EXPECT_EQ(pg.psql("SELECT count(*) FROM dept._hutong_sink_offset"), "0\n");
}

TEST(PostgresSink, AnUnreachableDatabaseIsReportedAndRetried) {
  hutong::journal::testing::TempDir dir;
  drop_snapshots(dir.path(), {"202509"});
  int port = hutong::testing::free_tcp_port();  // nothing listens there
  HubProcess hub(dir.path(), hub_yaml(dir.path(),
                                      "host=127.0.0.1 port=" + std::to_string(port) +
                                          " user=postgres dbname=postgres connect_timeout=2",
                                      10, 10, 10));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(hub.wait_for([&](const nlohmann::json& s) {
    return s["department_db"]["restarts"].get<uint64_t>() >= 2;
  })) << hub.status().dump();
  std::string error = hub.status()["department_db"]["last_error"];
  EXPECT_NE(error.find("sink.unreachable"), std::string::npos) << error;
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << error;
}

}  // namespace
