// files_sink with a real hub, the poverty_snapshot adapter on the sample
// snapshots (whose later months delete members) and test_source: the dated
// CSV and XLSX files hold exactly the journal's current state per key; the
// GB18030 CSV decoded by iconv reads as expected; formula text is neutralized
// in both formats and IDs are text cells in XLSX; SIGKILLs of the hub during
// delivery leave exactly the files of an uninterrupted run.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "domain/encoding.h"
#include "hub_process.h"
#include "hutong/plugin.h"
#include "hutong/v1/education.pb.h"
#include "journal/test_util.h"
#include "sink_test_util.h"

namespace {

namespace fs = std::filesystem;
using hutong::testing::drop_snapshot;
using hutong::testing::HubProcess;
using hutong::testing::read_file;
using hutong::testing::Rows;
using hutong::testing::today;

using hutong::testing::kTopics;

std::string hub_yaml(const std::string& dir, const std::string& sinks, int64_t rows) {
  return hutong::testing::sources_yaml(dir, rows, 50) + sinks;
}

std::string sink_yaml(
    const std::string& name, const std::string& folder, const std::string& extra_settings,
    int batch, const std::string& selection = "topics: [poverty.member, education.enrollment]") {
  return "  - name: " + name + R"(
    plugin: files_sink
    )" + selection +
         R"(
    poll_interval_ms: 10
    restart_backoff_ms: 20
    max_backoff_ms: 200
    batch_records: )" +
         std::to_string(batch) + R"(
    settings:
      folder: )" +
         folder + R"(
      flush_interval_ms: 100
)" + extra_settings;
}

Rows sheet_texts(const hutong::testing::Sheet& sheet) {
  Rows rows;
  for (const auto& row : sheet) {
    std::vector<std::string> texts;
    for (const auto& cell : row)
      texts.push_back(cell.text);
    rows.push_back(std::move(texts));
  }
  return rows;
}

// Pads every row to the header's width (an XLSX row ends at its last value).
Rows padded(Rows rows) {
  if (rows.empty()) return rows;
  for (auto& row : rows)
    row.resize(rows[0].size());
  return rows;
}

std::string describe_difference(const Rows& got, const Rows& want) {
  if (got.size() != want.size())
    return std::to_string(got.size()) + " rows, expected " + std::to_string(want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      std::string g, w;
      for (const auto& c : got[i])
        g += c + "|";
      for (const auto& c : want[i])
        w += c + "|";
      return "row " + std::to_string(i) + " is\n  " + g + "\nexpected\n  " + w;
    }
  }
  return "";
}

// "" when the folder's files for today hold the journal's current state.
std::string check_files(const std::string& data_dir, const std::string& folder, bool gb18030,
                        bool xlsx) {
  auto state = hutong::testing::journal_state(data_dir, kTopics);
  for (const std::string& topic : kTopics) {
    Rows want = hutong::testing::expected_sheet(topic, state[topic]);
    std::string csv = folder + "/" + topic + "_" + today() + ".csv";
    if (!fs::exists(csv)) return csv + " is missing";
    std::string text;
    if (gb18030) {
      auto decoded = hutong::testing::run_command("iconv -f GB18030 -t UTF-8 " +
                                                  hutong::testing::shell_quote(csv));
      if (decoded.exit_code != 0) return csv + " is not GB18030";
      text = decoded.out;
    } else {
      text = read_file(csv);
      if (!text.starts_with(hutong::domain::kUtf8Bom)) return csv + " has no BOM";
      text.erase(0, hutong::domain::kUtf8Bom.size());
    }
    auto rows = hutong::testing::parse_csv(text);
    if (!rows) return csv + " is not RFC 4180 CSV with CRLF";
    if (std::string d = describe_difference(*rows, want); !d.empty()) return csv + ": " + d;
    if (!xlsx) continue;
    std::string book = folder + "/" + topic + "_" + today() + ".xlsx";
    auto sheet = hutong::testing::read_xlsx(book);
    if (!sheet) return book + " is missing or unreadable";
    if (std::string d = describe_difference(padded(sheet_texts(*sheet)), want); !d.empty())
      return book + ": " + d;
  }
  return "";
}

TEST(FilesSink, FilesHoldTheCurrentStateWithFormulasNeutralizedAndIdsAsText) {
  hutong::journal::testing::TempDir dir;
  std::string drop = dir.path() + "/drop";
  fs::create_directories(drop);
  // Free text that Excel would run: in the village names of every month.
  const std::vector<std::pair<std::string, std::string>> formulas = {
      {"西城社区", "\"=HYPERLINK(\"\"http://evil.example\"\")\""}, {"石槽村", "@SUM(1+1)"}};
  drop_snapshot("202509", drop, formulas);
  drop_snapshot("202510", drop, formulas);
  // Files of long ago (removed once a newer one is written: keep_days is 7) and
  // a file of the staff's own (never touched).
  fs::create_directories(dir.path() + "/out_gb18030");
  for (const char* name :
       {"poverty.member_20200101.csv", "poverty.member_20200101.xlsx", "说明.txt"})
    std::ofstream(dir.path() + "/out_gb18030/" + name) << "old";
  std::string gb = dir.path() + "/out_gb18030", utf8 = dir.path() + "/out_utf8",
              fund = dir.path() + "/out_fund";
  // The GB18030 sink writes its files only when the hub says it has caught up
  // (its interval is an hour); the UTF-8 one, in the hub's process, also on its
  // 100 ms interval.
  HubProcess hub(
      dir.path(),
      hub_yaml(
          dir.path(),
          sink_yaml("files", gb, "      flush_interval_ms: 3600000\n      min_rewrite_ms: 300\n",
                    40) +
              sink_yaml(
                  "files_utf8", utf8,
                  "      encoding: utf-8\n      formats: csv\n"
                  "      flush_interval_ms: 100\n",
                  500,
                  "topics: [poverty.member, education.enrollment]\n    isolation: in_process") +
              sink_yaml("files_fund", fund, "      encoding: utf-8\n      formats: csv\n", 64,
                        "department: charity"),
          300) +
          hutong::testing::kCharityDepartment);
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::string why;
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        return hutong::testing::sources_done(hub, "300", "202510")
                   ? check_files(hub.data_dir(), gb, true, true)
                   : std::string("the sources are still being read");
      },
      why))
      << why << hub.log();

  // November's half-size export, confirmed: many members are deleted.
  drop_snapshot("202511", drop, formulas);
  ASSERT_TRUE(hub.wait_for([](const nlohmann::json& s) {
    return s["poverty"]["last_error"].get<std::string>().find("snapshot.held") != std::string::npos;
  })) << hub.log();
  size_t before = hutong::testing::journal_state(hub.data_dir(), kTopics)["poverty.member"].size();
  ASSERT_EQ(hub.cli("connector confirm poverty 建档立卡人口_202511.csv").exit_code, 0);
  ASSERT_TRUE(hutong::testing::eventually(
      [&] {
        auto state = hutong::testing::journal_state(hub.data_dir(), kTopics);
        if (state["poverty.member"].size() >= before * 8 / 10)
          return std::string("November is not applied yet");
        std::string a = check_files(hub.data_dir(), gb, true, true);
        return a.empty() ? check_files(hub.data_dir(), utf8, false, false) : a;
      },
      why))
      << why << hub.log();

  // Formula text shows as written, neutralized, in CSV and XLSX alike.
  std::string csv_name = "poverty.member_" + today();
  auto csv = hutong::testing::parse_csv(
      hutong::testing::run_command("iconv -f GB18030 -t UTF-8 " + gb + "/" + csv_name + ".csv")
          .out);
  auto sheet = hutong::testing::read_xlsx(gb + "/" + csv_name + ".xlsx");
  ASSERT_TRUE(csv && sheet);
  std::set<std::string> csv_cells, sheet_cells;
  for (const auto& row : *csv)
    csv_cells.insert(row.begin(), row.end());
  for (const auto& row : sheet_texts(*sheet))
    sheet_cells.insert(row.begin(), row.end());
  for (const auto* cells : {&csv_cells, &sheet_cells}) {
    EXPECT_TRUE(cells->contains("'=HYPERLINK(\"http://evil.example\")")) << "formula not kept";
    EXPECT_TRUE(cells->contains("'@SUM(1+1)"));
    for (const std::string& cell : *cells) {
      EXPECT_FALSE(hutong::domain::is_formula_like(cell)) << cell;
    }
  }

  // In XLSX, every text column (IDs, codes, phones) holds text cells, never numbers.
  const auto* layout = hutong::sinks::RecordLayout::for_topic("poverty.member");
  size_t id_cells = 0;
  for (size_t r = 1; r < sheet->size(); ++r) {
    for (size_t c = 0; c < layout->columns().size(); ++c) {
      if (!layout->columns()[c].text_only || c + 1 >= (*sheet)[r].size()) continue;
      const auto& cell = (*sheet)[r][c + 1];
      if (cell.text.empty()) continue;
      EXPECT_EQ(cell.type, "inlineStr") << layout->columns()[c].name << " = " << cell.text;
      if (layout->columns()[c].name == "person_resident_id") {
        EXPECT_EQ(cell.text.size(), 18u) << cell.text;
        ++id_cells;
      }
    }
  }
  EXPECT_GT(id_cells, 10u);
  // Enumerations read as the departments' labels.
  EXPECT_TRUE(csv_cells.contains("户主") && csv_cells.contains("男")) << "labels, not enum names";
  // The fund's file: its rows only, as its policy shows them.
  auto state = hutong::testing::journal_state(hub.data_dir(), kTopics);
  std::string fund_csv = read_file(fund + "/education.enrollment_" + today() + ".csv");
  ASSERT_TRUE(fund_csv.starts_with(hutong::domain::kUtf8Bom));
  auto fund_rows = hutong::testing::parse_csv(fund_csv.substr(3));
  ASSERT_TRUE(fund_rows.has_value());
  EXPECT_EQ(fund_rows->size(), 1 + 150u) << "the even rows (division 610523) of 300";
  const auto& head = (*fund_rows)[0];
  auto column = [&](const std::string& name) {  // the header holds the columns' titles
    std::string title = hutong::testing::title_of("education.enrollment", name);
    return std::find(head.begin(), head.end(), title) - head.begin();
  };
  const std::regex masked_id(R"(\d{6}\*{8}[\dX]{4})"), hashed(R"([0-9a-f]{64})");
  for (size_t r = 1; r < fund_rows->size(); ++r) {
    const auto& row = (*fund_rows)[r];
    EXPECT_TRUE(std::regex_match(row[column("student_resident_id")], masked_id)) << row[1];
    EXPECT_TRUE(std::regex_match(row[column("national_student_number")], hashed));
    EXPECT_EQ(row[column("guardian_phone")], "");
    EXPECT_TRUE(row[column("hukou_division")].starts_with("610523"));
  }
  for (const auto& [key, record] : state["education.enrollment"])
    EXPECT_EQ(fund_csv.find(key), std::string::npos) << "a full ID in the fund's file: " << key;
  EXPECT_FALSE(fs::exists(fund + "/poverty.member_" + today() + ".csv"));

  EXPECT_FALSE(fs::exists(gb + "/poverty.member_20200101.csv"));
  EXPECT_FALSE(fs::exists(gb + "/poverty.member_20200101.xlsx"));
  EXPECT_TRUE(fs::exists(gb + "/说明.txt"));

  // Nothing half-written is left beside the files.
  for (const auto& entry : fs::directory_iterator(gb))
    EXPECT_FALSE(entry.path().filename().string().ends_with(".tmp")) << entry.path();

  // The files derive from the sink's state (in its state_dir): a folder the
  // staff emptied is refilled when the hub starts again.
  hub.kill(SIGTERM);
  fs::remove_all(gb);
  hub.start();
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(
      hutong::testing::eventually([&] { return check_files(hub.data_dir(), gb, true, true); }, why))
      << why << hub.log();
}

TEST(FilesSink, HubKillsDuringDeliveryLeaveTheFilesOfAnUninterruptedRun) {
  auto run = [](int kills) {
    hutong::journal::testing::TempDir dir;
    std::string drop = dir.path() + "/drop";
    fs::create_directories(drop);
    drop_snapshot("202509", drop);
    drop_snapshot("202510", drop);
    std::string out = dir.path() + "/out";
    HubProcess hub(
        dir.path(),
        hub_yaml(dir.path(), sink_yaml("files", out, "      min_rewrite_ms: 200\n", 7), 1500));
    std::mt19937 rng(23);
    EXPECT_TRUE(hub.kill_at_random_moments(kills, rng)) << hub.log();
    std::string why;
    EXPECT_TRUE(hutong::testing::eventually(
        [&] {
          return hutong::testing::sources_done(hub, "1500", "202510")
                     ? check_files(hub.data_dir(), out, true, true)
                     : std::string("the sources are still being read");
        },
        why))
        << why << hub.log();
    if (kills > 0) {
      // The kills fell during delivery: the sink resumed from offsets in the middle.
      std::set<uint64_t> resumed = hutong::testing::sink_resume_offsets(hub.log(), "files");
      EXPECT_GE(resumed.size(), 4u) << hub.log();
    }
    std::map<std::string, Rows> files;
    for (const auto& entry : fs::directory_iterator(out)) {
      std::string name = entry.path().filename();
      if (name.ends_with(".csv"))
        files[name] = *hutong::testing::parse_csv(read_file(entry.path()));
      if (name.ends_with(".xlsx"))
        files[name] = sheet_texts(*hutong::testing::read_xlsx(entry.path()));
    }
    return files;
  };
  auto reference = run(0);
  ASSERT_EQ(reference.size(), 4u);
  EXPECT_GT(reference["education.enrollment_" + today() + ".csv"].size(), 1500u);
  auto killed = run(12);
  EXPECT_TRUE(killed == reference) << "not the files of an uninterrupted run";
}

// Without the hub's caught-up call (a host built for ABI 1 never sends it), the
// files still appear: the sink's own interval writes them. The plugin is
// driven directly through its C descriptor, as a host would.
TEST(FilesSink, WritesOnItsIntervalWithoutTheCaughtUpCall) {
  hutong::journal::testing::TempDir dir;
  void* library = dlopen(FILES_SINK_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  auto* plugin = static_cast<const hutong_plugin_descriptor*>(dlsym(library, "hutong_plugin"));
  ASSERT_NE(plugin, nullptr);
  std::string folder = dir.path() + "/out", state = dir.path() + "/state";
  hutong_config_entry entries[] = {
      {"folder", folder.c_str()}, {"encoding", "utf-8"},        {"formats", "csv"},
      {"header", "titles"},       {"flush_interval_ms", "200"}, {"min_rewrite_ms", "2000"},
      {"keep_days", "7"}};
  hutong_config config{"files", entries, 7};
  hutong_host host{nullptr, nullptr, state.c_str()};
  hutong_error error{};
  void* sink = nullptr;
  ASSERT_EQ(plugin->create(&host, &config, &sink, &error), HUTONG_OK) << error.message;
  uint64_t committed = 99;
  ASSERT_EQ(plugin->committed_offset(sink, &committed, &error), HUTONG_OK) << error.message;
  EXPECT_EQ(committed, 0u);

  // Two records in two calls: the first is written at once (files are
  // rewritten at start), the second only by the sink's interval, since no
  // other call comes.
  std::string csv = folder + "/education.enrollment_" + today() + ".csv";
  const char* ids[] = {"11010519491231002X", "440524188001010014"};
  for (int i = 0; i < 2; ++i) {
    hutong::v1::StudentEnrollment record;
    record.mutable_student()->set_resident_id(ids[i]);
    record.set_school_name("=cmd|' /C calc'!A" + std::to_string(i));
    std::string payload = record.SerializeAsString();
    hutong_record r{};
    r.topic = "education.enrollment";
    r.topic_len = 20;
    r.key = ids[i];
    r.key_len = 18;
    r.op = HUTONG_OP_UPSERT;
    r.payload = reinterpret_cast<const uint8_t*>(payload.data());
    r.payload_len = payload.size();
    r.offset = 41 + i;
    ASSERT_EQ(plugin->deliver(sink, &r, 1, &committed, &error), HUTONG_OK) << error.message;
    EXPECT_EQ(committed, 42u + i);
    std::string why;
    EXPECT_TRUE(hutong::testing::eventually(
        [&] {
          auto rows = hutong::testing::parse_csv(read_file(csv).substr(3));
          if (!rows || rows->size() != 2u + i) return std::string("not written yet");
          const auto& row = rows->back();
          return std::find(row.begin(), row.end(), "'=cmd|' /C calc'!A" + std::to_string(i)) !=
                         row.end()
                     ? std::string()
                     : std::string("the formula is not neutralized");
        },
        why, std::chrono::seconds(10)))
        << why;
  }
  EXPECT_TRUE(fs::exists(state + "/.hutong-files-sink.sqlite")) << "state in state_dir";
  plugin->destroy(sink);
  dlclose(library);
}

}  // namespace
