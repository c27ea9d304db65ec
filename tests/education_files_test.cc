// education_files against real drop folders read by a real hutongd: the spec's
// sample deliveries; every defect of department-systems.md that an education
// export can carry, in GB18030 and UTF-8-with-BOM CSV files and in XLSX
// workbooks (written here with libxlsxwriter, and by hand with libzip), each
// with its quarantine reason or its repair; the order of files, re-deliveries,
// files that are not deliveries; replay after a fix; and SIGKILLs of the hub
// while it reads a folder, after which the journal holds exactly the records
// of an uninterrupted run.
#include <gtest/gtest.h>
#include <xlsxwriter.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/date.h"
#include "domain/encoding.h"
#include "hub_process.h"
#include "hutong/v1/education.pb.h"
#include "hutong/v1/options.pb.h"
#include "hutong/v1/quarantine.pb.h"
#include "journal/test_util.h"
#include "journal_inspect.h"
#include "plugins/synthetic_person.h"

namespace {

namespace fs = std::filesystem;
using hutong::testing::HubProcess;
using hutong::testing::resident_id_with_check;

const std::string kSamples = std::string(HUTONG_SOURCE_DIR) + "/tests/data/education";

std::string config(const std::string& dir, const std::string& drop, int batch_records = 512,
                   int poll_ms = 20) {
  return "hub:\n  data_dir: " + dir +
         "/data\nconnectors:\n  - name: edu\n"
         "    plugin: education_files\n    poll_interval_ms: " +
         std::to_string(poll_ms) + "\n    batch_records: " + std::to_string(batch_records) +
         "\n    restart_backoff_ms: 20\n    max_backoff_ms: 100\n    settings:\n      folder: " +
         drop + "\n";
}

// A valid student ID, born in 2015 (n < 1000).
std::string sid(int n) {
  char first17[32];
  std::snprintf(first17, sizeof first17, "61052320150%d%02d%03d", 1 + n / 28 % 9, 1 + n % 28, n);
  return resident_id_with_check(first17);
}

// A valid ID whose check character is X.
std::string sid_x(int from) {
  for (int n = from;; ++n) {
    if (sid(n).back() == 'X') return sid(n);
  }
}

std::string full_width(const std::string& ascii) {
  std::string out;
  for (char c : ascii) {
    char32_t cp = 0xFF00 + (c - 0x20);  // '0' -> U+FF10, 'X' -> U+FF38
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

std::string gb(const std::string& utf8) {
  auto bytes = hutong::domain::utf8_to_gb18030(utf8);
  EXPECT_TRUE(bytes) << bytes.status().to_string();
  return bytes ? *bytes : std::string();
}

// One CSV line (RFC 4180 quoting where needed), without its line break.
std::string csv_line(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) line += ',';
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
      line += c;
      continue;
    }
    line += '"';
    for (char ch : c) {
      if (ch == '"') line += '"';
      line += ch;
    }
    line += '"';
  }
  return line;
}

// Delivered by rename, as the drop folder receives files (never read half-written).
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path + ".part", std::ios::binary) << bytes;
  std::filesystem::rename(path + ".part", path);
}

const std::vector<std::string> kRosterColumns = {"全国学籍号",
                                                 "姓名",
                                                 "性别",
                                                 "身份证件类型",
                                                 "身份证件号",
                                                 "出生日期",
                                                 "民族",
                                                 "学校标识码",
                                                 "学校名称",
                                                 "学段",
                                                 "年级",
                                                 "班级",
                                                 "学籍状态",
                                                 "是否住宿",
                                                 "户籍所在地行政区划",
                                                 "监护人姓名",
                                                 "监护人身份证件号",
                                                 "联系电话",
                                                 "更新时间"};
enum RosterColumn {
  kNsn,
  kName,
  kSex,
  kIdType,
  kId,
  kBirth,
  kEthnicity,
  kSchoolCode,
  kSchoolName,
  kStage,
  kGrade,
  kClass,
  kStatus,
  kBoarding,
  kHukou,
  kGuardianName,
  kGuardianId,
  kPhone,
  kUpdated
};

std::vector<std::string> roster_row(const std::string& id, const std::string& name) {
  return {"G" + id,
          name,
          "男",
          "居民身份证",
          id,
          "2015-03-01",
          "汉族",
          "2161002320",
          "大荔县城关街道中心小学",
          "小学",
          "三年级",
          "三年级(2)班",
          "在读",
          "否",
          "610523001002",
          "张大山",
          resident_id_with_check("61052319800101123"),
          "13912345678",
          "2025-09-01 08:00:00"};
}

// The same row in another column order (`order` lists standard column indexes,
// -1 for an extra column the adapter must ignore).
std::vector<std::string> reorder(const std::vector<std::string>& row, const std::vector<int>& order,
                                 const std::string& extra = "备注") {
  std::vector<std::string> out;
  for (int i : order)
    out.push_back(i < 0 ? extra : row[i]);
  return out;
}

template <typename Message>
std::map<std::string, Message> records(const std::string& data_dir, const std::string& topic) {
  std::map<std::string, Message> out;
  for (const auto& [key, op, payload] : hutong::testing::journal_sequence(data_dir, topic)) {
    if (op == hutong::v1::OP_DELETE) {
      out.erase(key);
      continue;
    }
    Message m;
    m.ParseFromString(payload);
    out[key] = m;
  }
  return out;
}

std::map<std::string, hutong::v1::QuarantinedRow> quarantine(const std::string& data_dir) {
  return records<hutong::v1::QuarantinedRow>(data_dir, "hub.quarantine");
}

// Waits until the connector has processed `files` files and is inside none.
bool wait_processed(HubProcess& hub, size_t files,
                    std::chrono::seconds timeout = std::chrono::seconds(30)) {
  return hub.wait_for(
      [&](const nlohmann::json& s) {
        if (!s.contains("edu")) return false;
        std::string p = s["edu"]["last_position"];
        if (!p.starts_with("v1;-;")) return false;
        size_t count = p.size() > 5 ? 1 : 0;
        for (char c : p)
          count += c == ',';
        return count == files;
      },
      timeout);
}

std::string describe(const std::map<std::string, hutong::v1::QuarantinedRow>& q) {
  std::string out;
  for (const auto& [key, row] : q)
    out += key + " " + row.reason_code() + ": " + row.message() + "\n";
  return out;
}

// The reason a row (0: the whole file) is quarantined for, or "(not quarantined)".
std::string reason_of(const std::map<std::string, hutong::v1::QuarantinedRow>& q,
                      const std::string& file, int row) {
  auto it = q.find("edu|" + file + "|" + std::to_string(row));
  return it == q.end() ? std::string("(not quarantined)") : it->second.reason_code();
}

TEST(EducationFiles, SampleDeliveries) {
  hutong::journal::testing::TempDir dir;
  std::string drop = dir.path() + "/drop";
  fs::create_directories(drop);
  for (const auto& entry : fs::directory_iterator(kSamples))
    fs::copy_file(entry.path(), drop + "/" + entry.path().filename().string());
  HubProcess hub(dir.path(), config(dir.path(), drop));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, 11)) << hub.status().dump() << hub.log();

  auto q = quarantine(hub.data_dir());
  auto expect = [&](const std::string& key, const std::string& reason) {
    auto it = q.find("edu|" + key);
    ASSERT_NE(it, q.end()) << key << "\n" << describe(q);
    EXPECT_EQ(it->second.reason_code(), reason) << key;
  };
  expect("结对帮扶台账_20250916.csv|9", "id.scientific");
  expect("资助发放_20251004.csv|45", "row.truncated");
  expect("资助发放_20251108.csv|0", "file.redelivered");
  expect("学籍名册_20251110.csv|0", "file.header_only");
  expect("资助发放_20251111.csv|0", "file.empty");
  EXPECT_TRUE(q["edu|资助发放_20251004.csv|45"].original().starts_with("44,610523202208053891,"));
  EXPECT_EQ(q["edu|资助发放_20251004.csv|45"].original_encoding(), "GB18030");
  EXPECT_EQ(q["edu|资助发放_20251108.csv|0"].original().size(), 623u);

  auto roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  // 20251019 (a partial export) supersedes the earlier exports for its rows.
  ASSERT_TRUE(roster.contains("610523201803223336"));
  EXPECT_EQ(roster["610523201803223336"].status(), hutong::v1::ENROLLMENT_STATUS_DROPPED_OUT);
  EXPECT_EQ(roster["610523201803223336"].grade(), "二年级");
  EXPECT_EQ(roster["610523201508150680"].grade_year(), 5);
  // From the XLSX roster (inline strings, a yyyymmdd birth date).
  ASSERT_TRUE(roster.contains("610523202012299670"));
  EXPECT_EQ(roster["610523202012299670"].student().birth_date().year(), 2020);
  EXPECT_EQ(roster["610523202012299670"].student().birth_date().day(), 29);
  // 2019/2/7 in the February roster.
  ASSERT_TRUE(roster.contains("61052320190207847X"));
  EXPECT_EQ(roster["61052320190207847X"].student().birth_date().month(), 2);

  auto aid = records<hutong::v1::AidDisbursement>(hub.data_dir(), "education.aid");
  const std::string returned = "YY2025102301|610523201103189632|营养改善计划";
  ASSERT_TRUE(aid.contains(returned)) << aid.size();
  EXPECT_EQ(aid[returned].status(), hutong::v1::AID_STATUS_RETURNED);
  EXPECT_EQ(aid[returned].amount_fen(), 50000);
  EXPECT_EQ(aid[returned].student().name(), "黄博文");
  EXPECT_EQ(aid[returned].term().school_year_start(), 2025);
  // 20251027 supersedes 20251004's 待发放 for the same line.
  EXPECT_EQ(aid["YY2025092001|610523201012055364|营养改善计划"].status(),
            hutong::v1::AID_STATUS_PAID);

  auto pairing = records<hutong::v1::TeacherPairing>(hub.data_dir(), "education.pairing");
  ASSERT_TRUE(pairing.contains("JS00238501|61052320220617266X"));
  EXPECT_EQ(pairing["JS00238501|61052320220617266X"].measures(), "扶志,生活习惯养成");
  EXPECT_GT(pairing.size(), 30u);

  // Nothing is read twice after a restart.
  size_t journaled = hutong::testing::journal_sequence(hub.data_dir(), "education.aid").size();
  hub.kill(SIGKILL);
  hub.start();
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(hutong::testing::journal_sequence(hub.data_dir(), "education.aid").size(), journaled);
}

TEST(EducationFiles, EveryCsvDefect) {
  hutong::journal::testing::TempDir dir;
  std::string drop = dir.path() + "/drop";
  fs::create_directories(drop);

  // The roster, GB18030, columns in another order with an extra column.
  std::vector<int> order = {18, 4, 1, -1, 0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
  std::vector<std::string> header;
  for (int i : order)
    header.push_back(i < 0 ? "备注" : kRosterColumns[i]);
  std::vector<std::string> lines;  // UTF-8, one per row from row 2
  std::map<int, std::string> raw;  // rows whose bytes are written as given
  auto add = [&](const std::vector<std::string>& row) {
    lines.push_back(csv_line(reorder(row, order)));
    return static_cast<int>(lines.size()) + 1;
  };
  const int good = add(roster_row(sid(1), "王小明"));
  std::string wrong = sid(2);
  wrong.back() = wrong.back() == '1' ? '2' : '1';
  const int checksum = add(roster_row(wrong, "李四"));
  std::string upper_x = sid_x(10);
  std::string lower_x = upper_x;
  lower_x.back() = 'x';
  const int lower = add(roster_row(lower_x, "赵六"));
  std::string fw = sid_x(upper_x == sid_x(10) ? 200 : 10);
  auto fw_row = roster_row(fw, "钱七");
  fw_row[kId] = full_width(fw);
  const int full = add(fw_row);
  std::string legacy15 = "610523850301123";
  std::string legacy18 = resident_id_with_check("61052319850301123");
  auto legacy_row = roster_row(legacy15, "孙八");
  legacy_row[kBirth] = "1985-03-01";
  const int legacy = add(legacy_row);
  auto spaced_row = roster_row(sid(4), "周九");
  spaced_row[kId] = "\u3000 " + sid(4) + "\u00a0";
  const int spaced = add(spaced_row);
  const int stray = add(roster_row(sid(5), "吴十"));
  raw[stray] = lines.back();  // this row stays UTF-8 in the GB18030 file
  auto fewer = roster_row(sid(6), "郑一");
  fewer.pop_back();
  lines.push_back(csv_line(reorder(roster_row(sid(6), "郑一"), order)));
  lines.back() = lines.back().substr(0, lines.back().rfind(','));
  const int fewer_cells = static_cast<int>(lines.size()) + 1;
  lines.push_back(csv_line(reorder(roster_row(sid(7), "郑二"), order)) + ",多余");
  const int more_cells = static_cast<int>(lines.size()) + 1;
  auto sci_row = roster_row("6.10523E+17", "冯三");
  const int scientific = add(sci_row);
  lines.push_back(lines[good - 2]);
  const int repeated = static_cast<int>(lines.size()) + 1;
  auto disagree = roster_row(sid(8), "陈四");
  disagree[kBirth] = "2016-01-01";
  const int birth_disagrees = add(disagree);
  const int bad_birth = add(roster_row(resident_id_with_check("61052320151345123"), "褚五"));
  const int malformed = add(roster_row("61052320150301ABCD", "卫六"));
  auto missing_row = roster_row("", "蒋七");
  missing_row[kNsn] = "G" + sid(9);
  const int missing = add(missing_row);
  auto no_id_row = roster_row("", "沈八");
  no_id_row[kIdType] = "无";
  no_id_row[kNsn] = "L123456789012345678";
  const int no_id = add(no_id_row);
  auto slash_row = roster_row(sid(11), "韩九");
  slash_row[kBirth] = "2015/9/1";
  slash_row[kUpdated] = "2025/9/1 8:05:00";
  const int slash_dates = add(slash_row);
  auto bad_date_row = roster_row(sid(12), "杨十");
  bad_date_row[kBirth] = "2015-02-30";
  const int bad_date = add(bad_date_row);
  auto guardian_row = roster_row(sid(13), "朱一");
  guardian_row[kGuardianId] = "610523198001011230X";
  const int bad_guardian = add(guardian_row);
  auto quoted_row = roster_row(sid(14), "秦二");
  quoted_row[kClass] = "三年级\"2\"班,\r\n实验";
  const int quoted = add(quoted_row);
  auto formula_row = roster_row(sid(15), "尤三");
  formula_row[kSchoolName] = "=HYPERLINK(\"http://example.invalid\",\"点我\")";
  const int formula = add(formula_row);
  const int traditional = add(roster_row(sid(18), "葉曦嫣"));
  const std::string permit = resident_id_with_check("81000020150301123");
  auto permit_row = roster_row(permit, "陈港生");
  permit_row[kIdType] = "港澳台居民居住证";
  const int residence_permit = add(permit_row);
  lines.push_back(csv_line(reorder(roster_row(sid(16), "许四"), order)));
  const int undecodable = static_cast<int>(lines.size()) + 1;
  raw[undecodable] = lines.back().replace(lines.back().find("许四"), 6, "\xFF\xFE\xFF");
  lines.push_back(csv_line(reorder(roster_row(sid(17), "何五"), order)));
  const int truncated = static_cast<int>(lines.size()) + 1;

  std::string bytes = gb(csv_line(header)) + "\r\n";
  std::map<int, std::string> written;
  for (size_t i = 0; i < lines.size(); ++i) {
    int row = static_cast<int>(i) + 2;
    std::string line = raw.contains(row) ? raw[row] : gb(lines[i]);
    written[row] = line;
    bytes += line;
    if (row != truncated) bytes += "\r\n";
  }
  write_file(drop + "/学籍名册_20250901.csv", bytes);

  // Aid, UTF-8 with a BOM, another column order, extra columns.
  std::vector<std::string> aid_header = {"序号", "发放状态",   "金额(元)", "身份证件号",
                                         "姓名", "发放批次号", "资助项目", "学年",
                                         "学期", "学校标识码", "发放日期", "备注"};
  auto aid_line = [&](int n, const std::string& id, const std::string& amount,
                      const std::string& paid) {
    return csv_line({std::to_string(n), "已发放", amount, id, "王小明", "B00" + std::to_string(n),
                     "国家助学金", "2025-2026", "秋季学期", "2161002320", paid, ""});
  };
  write_file(drop + "/资助发放_20250902.csv",
             std::string(hutong::domain::kUtf8Bom) + csv_line(aid_header) + "\r\n" +
                 aid_line(1, sid(1), "1,250.00", "2025/9/1") + "\r\n" +
                 aid_line(2, sid(2), "12.5元x", "2025-09-01") + "\r\n" +
                 aid_line(3, sid(3), "86", "2025-13-01") + "\r\n" +
                 aid_line(4, wrong, "86", "2025-09-01") + "\r\n");

  // Pairing, GB18030: formula-looking free text, a lower-case x.
  std::vector<std::string> pairing_header = {"教师工号",       "教师姓名", "学校标识码",
                                             "学生身份证件号", "学生姓名", "结对日期",
                                             "解除日期",       "帮扶措施", "最近走访日期"};
  const std::string injection = "=HYPERLINK(\"http://evil.invalid\",\"点击\")";
  write_file(drop + "/结对帮扶台账_20250903.csv",
             gb(csv_line(pairing_header) + "\r\n" +
                csv_line({"JS001", "许凯", "2161002320", sid(1), "王小明", "2025-02-01", "",
                          injection, "2025/9/16"}) +
                "\r\n" +
                csv_line({"JS001", "许凯", "2161002320", lower_x, "赵六", "2025-02-01",
                          "2025-07-01", "扶学", ""}) +
                "\r\n"));

  // A roster without its 身份证件号 column; an empty aid file; a header-only pairing file.
  std::vector<std::string> short_header(kRosterColumns.begin(), kRosterColumns.end());
  short_header.erase(short_header.begin() + kId);
  write_file(drop + "/学籍名册_20250904.csv",
             gb(csv_line(short_header) + "\r\n" + "G" + sid(20) + ",某某\r\n"));
  write_file(drop + "/资助发放_20250905.csv", "");
  write_file(drop + "/结对帮扶台账_20250906.csv", gb(csv_line(pairing_header) + "\r\n"));

  HubProcess hub(dir.path(), config(dir.path(), drop));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, 6)) << hub.status().dump() << hub.log();

  auto q = quarantine(hub.data_dir());
  auto reason = [&](const std::string& file, int row) { return reason_of(q, file, row); };
  const std::string roster_file = "学籍名册_20250901.csv";
  EXPECT_EQ(reason(roster_file, checksum), "id.checksum");
  EXPECT_EQ(reason(roster_file, fewer_cells), "row.cell_count");
  EXPECT_EQ(reason(roster_file, more_cells), "row.cell_count");
  EXPECT_EQ(reason(roster_file, scientific), "id.scientific");
  EXPECT_EQ(reason(roster_file, bad_birth), "id.birth_date");
  EXPECT_EQ(reason(roster_file, malformed), "id.malformed");
  EXPECT_EQ(reason(roster_file, missing), "id.missing");
  EXPECT_EQ(reason(roster_file, bad_date), "value.date");
  EXPECT_EQ(reason(roster_file, undecodable), "row.encoding");
  EXPECT_EQ(reason(roster_file, truncated), "row.truncated");
  for (int row : {good, lower, full, legacy, spaced, stray, repeated, birth_disagrees, no_id,
                  slash_dates, bad_guardian, quoted, formula, traditional, residence_permit}) {
    EXPECT_EQ(reason(roster_file, row), "(not quarantined)") << "row " << row;
  }
  // Rejected rows keep their original bytes, encoding, row and offset.
  const auto& sci = q["edu|" + roster_file + "|" + std::to_string(scientific)];
  EXPECT_EQ(sci.original(), written[scientific]);
  EXPECT_EQ(sci.original_encoding(), "GB18030");
  EXPECT_EQ(sci.field(), "身份证件号");
  EXPECT_EQ(sci.intended_topic(), "education.enrollment");
  EXPECT_EQ(bytes.substr(sci.byte_offset(), written[scientific].size()), written[scientific]);
  const auto& enc = q["edu|" + roster_file + "|" + std::to_string(undecodable)];
  EXPECT_EQ(enc.original(), written[undecodable]);
  EXPECT_EQ(bytes.substr(enc.byte_offset(), enc.original().size()), enc.original());
  EXPECT_EQ(q["edu|" + roster_file + "|" + std::to_string(truncated)].original(),
            written[truncated]);

  auto roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  EXPECT_TRUE(roster.contains(sid(1)));
  EXPECT_TRUE(roster.contains(upper_x)) << "lower-case x";
  EXPECT_TRUE(roster.contains(fw)) << "full-width digits and Ｘ";
  ASSERT_TRUE(roster.contains(legacy18)) << "15-digit legacy ID";
  EXPECT_EQ(roster[legacy18].student().resident_id(), legacy18);
  EXPECT_TRUE(roster.contains(sid(4))) << "spaces, NBSP, U+3000";
  ASSERT_TRUE(roster.contains(sid(5))) << "stray UTF-8 row";
  EXPECT_EQ(roster[sid(5)].student().name(), "吴十");
  EXPECT_EQ(roster[sid(1)].student().name(), "王小明");
  EXPECT_EQ(roster[sid(1)].school_name(), "大荔县城关街道中心小学");
  EXPECT_EQ(roster[sid(1)].status(), hutong::v1::ENROLLMENT_STATUS_ENROLLED);
  EXPECT_EQ(roster[sid(1)].guardian().resident_id(), resident_id_with_check("61052319800101123"));
  // 2025-09-01 08:00:00 China Standard Time is midnight UTC.
  EXPECT_EQ(roster[sid(1)].updated_at().seconds(), 1756684800);
  EXPECT_EQ(roster[sid(8)].student().birth_date().year(), 2016) << "the birth date as stated";
  ASSERT_TRUE(roster.contains("L123456789012345678")) << "a student without an ID";
  EXPECT_EQ(roster["L123456789012345678"].student().resident_id(), "");
  EXPECT_EQ(roster["L123456789012345678"].student().id_type(), hutong::v1::ID_TYPE_NONE);
  EXPECT_FALSE(roster.contains("G" + sid(9))) << "全国学籍号 never rescues a row";
  EXPECT_FALSE(roster.contains(sid(9)));
  EXPECT_EQ(roster[sid(11)].student().birth_date().month(), 9);
  EXPECT_EQ(roster[sid(11)].student().birth_date().day(), 1);
  ASSERT_TRUE(roster.contains(sid(13))) << "a bad guardian ID never rejects";
  EXPECT_EQ(roster[sid(13)].guardian().resident_id(), "");
  EXPECT_EQ(roster[sid(14)].class_name(), "三年级\"2\"班,\r\n实验");
  EXPECT_EQ(roster[sid(15)].school_name(), formula_row[kSchoolName]) << "kept verbatim";
  // A traditional-character name is kept as written; the hub folds its matching key.
  EXPECT_EQ(roster[sid(18)].student().name(), "葉曦嫣");
  EXPECT_EQ(roster[sid(18)].student().name_match_key(), "叶曦嫣");
  ASSERT_TRUE(roster.contains(permit)) << "港澳台居民居住证 numbers validate the same way";
  EXPECT_EQ(roster[permit].student().id_type(), hutong::v1::ID_TYPE_HMT_RESIDENCE_PERMIT);
  // A repeated row and a stray UTF-8 row are repairs.
  EXPECT_EQ(hub.status()["edu"]["repaired"], 2) << hub.status().dump();

  const std::string aid_file = "资助发放_20250902.csv";
  EXPECT_EQ(reason(aid_file, 3), "value.amount");
  EXPECT_EQ(reason(aid_file, 4), "value.date");
  EXPECT_EQ(reason(aid_file, 5), "id.checksum");
  EXPECT_EQ(q["edu|" + aid_file + "|5"].original_encoding(), "UTF-8");
  auto aid = records<hutong::v1::AidDisbursement>(hub.data_dir(), "education.aid");
  ASSERT_TRUE(aid.contains("B001|" + sid(1) + "|国家助学金")) << aid.size();
  const auto& paid = aid["B001|" + sid(1) + "|国家助学金"];
  EXPECT_EQ(paid.amount_fen(), 125000);
  EXPECT_EQ(paid.paid_on().year(), 2025);
  EXPECT_EQ(paid.paid_on().month(), 9);
  EXPECT_EQ(paid.paid_on().day(), 1);
  EXPECT_EQ(paid.programme(), hutong::v1::AID_PROGRAMME_NATIONAL_GRANT);
  EXPECT_EQ(paid.term().season(), hutong::v1::TERM_SEASON_AUTUMN);
  EXPECT_EQ(aid.size(), 1u);

  auto pairing = records<hutong::v1::TeacherPairing>(hub.data_dir(), "education.pairing");
  ASSERT_TRUE(pairing.contains("JS001|" + sid(1)));
  EXPECT_EQ(pairing["JS001|" + sid(1)].measures(), injection) << "formula text kept verbatim";
  EXPECT_EQ(pairing["JS001|" + sid(1)].last_visit_on().day(), 16);
  ASSERT_TRUE(pairing.contains("JS001|" + upper_x));
  EXPECT_EQ(pairing["JS001|" + upper_x].ended_on().month(), 7);

  EXPECT_EQ(reason("学籍名册_20250904.csv", 0), "file.header");
  EXPECT_NE(q["edu|学籍名册_20250904.csv|0"].message().find("身份证件号"), std::string::npos);
  EXPECT_EQ(reason("资助发放_20250905.csv", 0), "file.empty");
  EXPECT_EQ(reason("结对帮扶台账_20250906.csv", 0), "file.header_only");
}

// libxlsxwriter cells the tests write.
struct XlsxBook {
  explicit XlsxBook(const std::string& path) {
    book = workbook_new(path.c_str());
    sheet = workbook_add_worksheet(book, "名册");
    date_format = workbook_add_format(book);
    format_set_num_format(date_format, "yyyy-mm-dd");
    builtin_date = workbook_add_format(book);
    format_set_num_format_index(builtin_date, 14);
    chinese_date = workbook_add_format(book);
    format_set_num_format(chinese_date, "yyyy\"年\"m\"月\"d\"日\"");
    datetime_format = workbook_add_format(book);
    format_set_num_format(datetime_format, "yyyy/m/d h:mm:ss");
  }
  void text(int row, int col, const std::string& s) {
    worksheet_write_string(sheet, row, col, s.c_str(), nullptr);
  }
  void number(int row, int col, double v) { worksheet_write_number(sheet, row, col, v, nullptr); }
  void date(int row, int col, int y, int m, int d, lxw_format* format, int h = 0, int mi = 0,
            double s = 0) {
    lxw_datetime when = {y, m, d, h, mi, s};
    worksheet_write_datetime(sheet, row, col, &when, format);
  }
  void row(int row, const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (!cells[c].empty()) text(row, static_cast<int>(c), cells[c]);
    }
  }
  void close() {
    lxw_worksheet* notes = workbook_add_worksheet(book, "填表说明");
    worksheet_write_string(notes, 0, 0, "身份证件号", nullptr);
    worksheet_write_string(notes, 1, 0, "this sheet is not read", nullptr);
    ASSERT_EQ(workbook_close(book), LXW_NO_ERROR);
  }
  lxw_workbook* book;
  lxw_worksheet* sheet;
  lxw_format* date_format;
  lxw_format* builtin_date;
  lxw_format* chinese_date;
  lxw_format* datetime_format;
};

// A workbook put together by hand: inline strings, no styles, no shared
// strings, an absolute sheet target, and the sheet XML given.
void handmade_xlsx(const std::string& path, const std::string& sheet_xml) {
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(z, nullptr);
  static std::vector<std::string> keep;  // libzip reads the buffers at zip_close
  auto add = [&](const char* name, const std::string& content) {
    keep.push_back(content);
    zip_source_t* source = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
    ASSERT_GE(zip_file_add(z, name, source, ZIP_FL_ENC_UTF_8), 0);
  };
  add("[Content_Types].xml",
      "<?xml version=\"1.0\"?><Types "
      "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>");
  add("xl/workbook.xml",
      "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
      "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
      "<sheets><sheet name=\"台账\" sheetId=\"1\" r:id=\"rId7\"/></sheets></workbook>");
  add("xl/_rels/workbook.xml.rels",
      "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
      "<Relationship Id=\"rId7\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
      "relationships/worksheet\" Target=\"/xl/worksheets/ledger.xml\"/></Relationships>");
  add("xl/worksheets/ledger.xml", sheet_xml);
  ASSERT_EQ(zip_close(z), 0);
}

std::string inline_cell(const std::string& ref, const std::string& text) {
  return "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t>" + text + "</t></is></c>";
}

TEST(EducationFiles, XlsxWorkbooks) {
  hutong::journal::testing::TempDir dir;
  std::string drop = dir.path() + "/drop";
  fs::create_directories(drop);

  // Roster: shared strings (libxlsxwriter's default), date cells, a number
  // where the ID should be, a value right of the header, a repeated row.
  {
    XlsxBook book(drop + "/学籍名册_20250901.xlsx");
    std::vector<int> order = {-1, 4, 1, 0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    std::vector<std::string> header;
    for (int i : order)
      header.push_back(i < 0 ? "序号" : kRosterColumns[i]);
    book.row(0, header);
    auto put = [&](int r, std::vector<std::string> cells) {
      cells[kBirth] = "";
      cells[kUpdated] = "";
      book.row(r, reorder(cells, order, std::to_string(r)));
    };
    const int birth = 6;  // column of 出生日期 in `order`
    const int updated = 19;
    put(1, roster_row(sid(1), "王小明"));
    book.date(1, birth, 2015, 3, 1, book.date_format);
    book.date(1, updated, 2025, 9, 1, book.datetime_format, 8, 30, 15);
    put(2, roster_row("", "李四"));
    book.number(2, 1, 610523201503010011.0);  // the ID as a number
    put(3, roster_row("6.10523E+17", "赵六"));
    put(4, roster_row(sid(2), "钱七"));
    book.text(4, 20, "右边多出");
    auto formula = roster_row(sid(3), "孙八");
    formula[kSchoolName] = "=HYPERLINK(\"http://example.invalid\",\"点我\")";
    put(5, formula);
    book.date(5, birth, 2015, 3, 2, book.builtin_date);
    put(6, roster_row(sid(4), "周九"));
    book.date(6, birth, 2015, 3, 3, book.chinese_date);
    // Row 8 repeats row 2 exactly (序号 included).
    book.row(7, reorder(roster_row(sid(1), "王小明"), order, "1"));
    put(7, roster_row(sid(1), "王小明"));
    book.text(7, 0, "1");
    book.text(1, 0, "1");
    book.date(7, birth, 2015, 3, 1, book.date_format);
    book.date(7, updated, 2025, 9, 1, book.datetime_format, 8, 30, 15);
    book.close();
  }
  // Aid: amounts as numbers and text, a built-in date format.
  {
    XlsxBook book(drop + "/资助发放_20250902.xlsx");
    book.row(0, {"发放批次号", "身份证件号", "姓名", "学校标识码", "资助项目", "学年", "学期",
                 "金额(元)", "发放日期", "发放状态"});
    book.row(1, {"B1", sid(1), "王小明", "2161002320", "营养改善计划", "2025-2026", "秋季学期", "",
                 "", "已发放"});
    book.number(1, 7, 1250.5);
    book.date(1, 8, 2025, 9, 20, book.builtin_date);
    book.row(2, {"B1", sid(2), "钱七", "2161002320", "营养改善计划", "2025-2026", "秋季学期",
                 "1,250.00", "2025/9/1", "待发放"});
    book.row(3, {"B1", sid(3), "孙八", "2161002320", "营养改善计划", "2025-2026", "秋季学期", "",
                 "2025-09-01", "已发放"});
    book.number(3, 7, 86);
    book.close();
  }
  // A workbook cut off mid-upload: unreadable, quarantined whole.
  std::string cut;
  {
    XlsxBook book(dir.path() + "/whole.xlsx");
    book.row(0, kRosterColumns);
    book.row(1, roster_row(sid(5), "吴十"));
    book.close();
    std::ifstream in(dir.path() + "/whole.xlsx", std::ios::binary);
    std::string whole((std::istreambuf_iterator<char>(in)), {});
    cut = whole.substr(0, whole.size() / 2);
    write_file(drop + "/学籍名册_20250903.xlsx", cut);
  }
  // Hand-made: a sheet whose XML breaks off; and a valid one with a number ID.
  std::string pairing_header;
  const char* columns[] = {"教师工号", "教师姓名", "学校标识码", "学生身份证件号", "学生姓名",
                           "结对日期", "解除日期", "帮扶措施",   "最近走访日期"};
  for (int c = 0; c < 9; ++c)
    pairing_header += inline_cell(std::string(1, static_cast<char>('A' + c)) + "1", columns[c]);
  const std::string sheet_head =
      "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
      "<sheetData><row r=\"1\">" +
      pairing_header + "</row>";
  handmade_xlsx(drop + "/结对帮扶台账_20250904.xlsx",
                sheet_head + "<row r=\"2\">" + inline_cell("A2", "JS1") + "<c r=\"B2\"");
  handmade_xlsx(drop + "/结对帮扶台账_20250905.xlsx",
                sheet_head + "<row r=\"2\">" + inline_cell("A2", "JS1") +
                    inline_cell("B2", "许凯") + inline_cell("D2", sid(1)) +
                    inline_cell("F2", "2025-02-01") + inline_cell("H2", "扶学&amp;扶志") +
                    "</row><row r=\"3\">" + inline_cell("A3", "JS1") +
                    "<c r=\"D3\"><v>6.1052320150301E+17</v></c>" + inline_cell("F3", "2025-02-01") +
                    "</row></sheetData></worksheet>");

  HubProcess hub(dir.path(), config(dir.path(), drop));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, 5)) << hub.status().dump() << hub.log();

  auto q = quarantine(hub.data_dir());
  auto reason = [&](const std::string& file, int row) { return reason_of(q, file, row); };
  const std::string roster_file = "学籍名册_20250901.xlsx";
  EXPECT_EQ(reason(roster_file, 3), "id.scientific") << describe(q);
  EXPECT_NE(q["edu|" + roster_file + "|3"].message().find("spreadsheet cell holds the ID"),
            std::string::npos);
  EXPECT_EQ(reason(roster_file, 4), "id.scientific");
  EXPECT_EQ(reason(roster_file, 5), "row.cell_count");
  EXPECT_NE(q["edu|" + roster_file + "|5"].original().find("U=右边多出"), std::string::npos);
  EXPECT_EQ(reason(roster_file, 8), "(not quarantined)");
  EXPECT_EQ(hub.status()["edu"]["repaired"], 1) << "row 8 repeats row 2";

  auto roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  ASSERT_TRUE(roster.contains(sid(1))) << describe(q);
  EXPECT_EQ(roster[sid(1)].student().birth_date().day(), 1);
  EXPECT_EQ(roster[sid(1)].student().name(), "王小明");
  EXPECT_EQ(roster[sid(1)].updated_at().seconds(), 1756684800 + 8 * 3600 + 30 * 60 + 15 - 8 * 3600);
  ASSERT_TRUE(roster.contains(sid(3)));
  EXPECT_EQ(roster[sid(3)].school_name(), "=HYPERLINK(\"http://example.invalid\",\"点我\")");
  EXPECT_EQ(roster[sid(3)].student().birth_date().day(), 2) << "built-in date format 14";
  EXPECT_EQ(roster[sid(4)].student().birth_date().day(), 3) << "custom 年月日 date format";
  EXPECT_FALSE(roster.contains(sid(2)));

  auto aid = records<hutong::v1::AidDisbursement>(hub.data_dir(), "education.aid");
  EXPECT_EQ(aid["B1|" + sid(1) + "|营养改善计划"].amount_fen(), 125050);
  EXPECT_EQ(aid["B1|" + sid(1) + "|营养改善计划"].paid_on().day(), 20);
  EXPECT_EQ(aid["B1|" + sid(2) + "|营养改善计划"].amount_fen(), 125000);
  EXPECT_EQ(aid["B1|" + sid(2) + "|营养改善计划"].status(), hutong::v1::AID_STATUS_PENDING);
  EXPECT_EQ(aid["B1|" + sid(3) + "|营养改善计划"].amount_fen(), 8600);

  EXPECT_EQ(reason("学籍名册_20250903.xlsx", 0), "file.unreadable");
  EXPECT_EQ(q["edu|学籍名册_20250903.xlsx|0"].original(), cut) << "the whole file is kept";
  EXPECT_EQ(reason("结对帮扶台账_20250904.xlsx", 0), "file.unreadable");
  EXPECT_NE(q["edu|结对帮扶台账_20250904.xlsx|0"].message().find("not well-formed"),
            std::string::npos);
  EXPECT_EQ(reason("结对帮扶台账_20250905.xlsx", 3), "id.scientific");
  auto pairing = records<hutong::v1::TeacherPairing>(hub.data_dir(), "education.pairing");
  ASSERT_EQ(pairing.size(), 1u) << describe(q);
  EXPECT_EQ(pairing["JS1|" + sid(1)].measures(), "扶学&扶志");
  EXPECT_EQ(pairing["JS1|" + sid(1)].teacher_name(), "许凯");
}

std::string roster_file_bytes(const std::vector<std::vector<std::string>>& rows) {
  std::string text = csv_line(kRosterColumns) + "\r\n";
  for (const auto& row : rows)
    text += csv_line(row) + "\r\n";
  return gb(text);
}

std::vector<std::string> with_status(std::vector<std::string> row, const std::string& status) {
  row[kStatus] = status;
  return row;
}

// Rule 1 and 3: files apply by the date in their names; a late file is held
// (file.out_of_order) until replayed; a re-delivery changes nothing; names
// that are not deliveries are ignored; the processed files survive restarts.
TEST(EducationFiles, OrderRedeliveryAndReplay) {
  hutong::journal::testing::TempDir dir;
  std::string drop = dir.path() + "/drop";
  fs::create_directories(drop);
  const std::string a = sid(1);
  const std::string b = sid(2);
  write_file(drop + "/学籍名册_20251010.csv",
             roster_file_bytes({with_status(roster_row(a, "王小明"), "休学")}));
  write_file(
      drop + "/学籍名册_20251001.csv",
      roster_file_bytes({with_status(roster_row(a, "王小明"), "在读"), roster_row(b, "李四")}));
  // An empty file dated later: reported, and no reason to hold files dated before it.
  write_file(drop + "/学籍名册_20251201.csv", "");
  // Not deliveries: a temporary name, a dotfile, partial uploads, another date form.
  for (const char* name :
       {"学籍名册_20251030.csv.part", ".学籍名册_20251030.csv", "学籍名册_20251030.tmp",
        "学籍名册_202510.csv", "学籍名册_20251332.csv", "notes.txt"}) {
    write_file(drop + "/" + name,
               roster_file_bytes({with_status(roster_row(a, "王小明"), "死亡")}));
  }
  HubProcess hub(dir.path(), config(dir.path(), drop));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, 3)) << hub.status().dump() << hub.log();
  auto roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  EXPECT_EQ(roster[a].status(), hutong::v1::ENROLLMENT_STATUS_SUSPENDED) << "20251010 applies last";
  EXPECT_TRUE(roster.contains(b));

  // A file dated before the applied 20251010: held whole, nothing changes.
  write_file(drop + "/学籍名册_20251005.csv",
             roster_file_bytes({with_status(roster_row(a, "王小明"), "辍学")}));
  // The 20251010 content again under a later name: a re-delivery.
  fs::copy_file(drop + "/学籍名册_20251010.csv", drop + "/学籍名册_20251020.csv");
  ASSERT_TRUE(wait_processed(hub, 5)) << hub.status().dump() << hub.log();
  auto q = quarantine(hub.data_dir());
  ASSERT_TRUE(q.contains("edu|学籍名册_20251005.csv|0")) << describe(q);
  EXPECT_EQ(q["edu|学籍名册_20251005.csv|0"].reason_code(), "file.out_of_order");
  EXPECT_NE(q["edu|学籍名册_20251005.csv|0"].message().find("学籍名册_20251010.csv"),
            std::string::npos);
  ASSERT_TRUE(q.contains("edu|学籍名册_20251020.csv|0"));
  EXPECT_EQ(q["edu|学籍名册_20251020.csv|0"].reason_code(), "file.redelivered");
  EXPECT_NE(q["edu|学籍名册_20251020.csv|0"].message().find("学籍名册_20251010.csv"),
            std::string::npos);
  roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  EXPECT_EQ(roster[a].status(), hutong::v1::ENROLLMENT_STATUS_SUSPENDED);
  std::string position = hub.status()["edu"]["last_position"];
  EXPECT_EQ(position.find("20251030"), std::string::npos) << position;
  EXPECT_EQ(position.find("20251332"), std::string::npos) << position;

  // Restarted: nothing is read again.
  size_t journaled =
      hutong::testing::journal_sequence(hub.data_dir(), "education.enrollment").size();
  hub.kill(SIGKILL);
  hub.start();
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, 5)) << hub.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(hutong::testing::journal_sequence(hub.data_dir(), "education.enrollment").size(),
            journaled);
  EXPECT_EQ(quarantine(hub.data_dir()).size(), q.size());

  // The operator decides the late file is right: replayed, it applies now.
  auto replay = hub.cli("quarantine replay 'edu|学籍名册_20251005.csv|0'");
  EXPECT_EQ(replay.exit_code, 0) << replay.out;
  roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  EXPECT_EQ(roster[a].status(), hutong::v1::ENROLLMENT_STATUS_DROPPED_OUT);
  EXPECT_FALSE(quarantine(hub.data_dir()).contains("edu|学籍名册_20251005.csv|0"));

  // A row fixed in the file is replayed: it goes through and leaves quarantine.
  std::string wrong = b;
  wrong.back() = wrong.back() == '1' ? '2' : '1';
  write_file(drop + "/学籍名册_20251101.csv",
             roster_file_bytes({roster_row(sid(3), "赵六"), roster_row(wrong, "李四")}));
  ASSERT_TRUE(wait_processed(hub, 6)) << hub.log();
  q = quarantine(hub.data_dir());
  EXPECT_FALSE(q.contains("edu|学籍名册_20251101.csv|0")) << "not held: " << describe(q);
  ASSERT_TRUE(q.contains("edu|学籍名册_20251101.csv|3")) << describe(q);
  EXPECT_EQ(q["edu|学籍名册_20251101.csv|3"].reason_code(), "id.checksum");
  // Still wrong: rejected again, so it stays. (The CLI's exit status is not
  // checked here: a row rejected again with the same reason counts as a
  // duplicate rejection, which the CLI reports as having left quarantine.)
  hub.cli("quarantine replay 'edu|学籍名册_20251101.csv|3'");
  EXPECT_TRUE(quarantine(hub.data_dir()).contains("edu|学籍名册_20251101.csv|3"));
  write_file(
      drop + "/学籍名册_20251101.csv",
      roster_file_bytes({roster_row(sid(3), "赵六"), with_status(roster_row(b, "李四"), "转出")}));
  replay = hub.cli("quarantine replay 'edu|学籍名册_20251101.csv|3'");
  EXPECT_EQ(replay.exit_code, 0) << replay.out;
  EXPECT_FALSE(quarantine(hub.data_dir()).contains("edu|学籍名册_20251101.csv|3"));
  roster = records<hutong::v1::StudentEnrollment>(hub.data_dir(), "education.enrollment");
  EXPECT_EQ(roster[b].status(), hutong::v1::ENROLLMENT_STATUS_TRANSFERRED_OUT);

  // The content of the file held as out of order, delivered again under a
  // later name: it was never applied in order, so this is no re-delivery.
  fs::copy_file(drop + "/学籍名册_20251005.csv", drop + "/学籍名册_20251220.csv");
  ASSERT_TRUE(wait_processed(hub, 7)) << hub.log();
  EXPECT_FALSE(quarantine(hub.data_dir()).contains("edu|学籍名册_20251220.csv|0"));
  position = hub.status()["edu"]["last_position"];
  EXPECT_NE(position.find("20251220Rc:"), std::string::npos) << position;
  // <date><kind><format>:<16 hex digits of SHA-256>:a
  EXPECT_TRUE(position.substr(position.find("20251220Rc:"), 29).ends_with(":a")) << position;
}

// A folder of several deliveries (CSV in both encodings, XLSX, defects,
// repeats, a re-delivery), read a few rows per batch; the hub is SIGKILLed at
// random moments. The journal then holds exactly the records and quarantine
// entries of an uninterrupted run, in the same order.
TEST(EducationFiles, HubKillsWhileReadingChangeNothing) {
  auto fill = [](const std::string& drop) {
    for (int f = 0; f < 3; ++f) {
      std::vector<std::vector<std::string>> rows;
      for (int n = 0; n < 120; ++n) {
        auto row = roster_row(sid(n), "学生" + std::to_string(n));
        row[kClass] = "班" + std::to_string(f);
        if (n % 37 == 5) row[kId] = "6.10523E+17";
        if (n % 41 == 7) row[kClass] = "\"引号\",\r\n换行";
        rows.push_back(row);
        if (n % 29 == 3) rows.push_back(row);  // a repeated row
      }
      write_file(drop + "/学籍名册_2025090" + std::to_string(f + 1) + ".csv",
                 roster_file_bytes(rows));
    }
    std::string aid =
        std::string(hutong::domain::kUtf8Bom) +
        "发放批次号,身份证件号,姓名,学校标识码,资助项目,学年,学期,金额(元),发放日期,发放状态\r\n";
    for (int n = 0; n < 150; ++n) {
      aid += "B" + std::to_string(n % 3) + "," + (n % 23 == 4 ? std::string("bad") : sid(n)) +
             ",学生,2161002320,营养改善计划,2025-2026,秋季学期,\"1,0" + std::to_string(n % 10) +
             "0.00\",2025-09-20,已发放\r\n";
    }
    write_file(drop + "/资助发放_20250905.csv", aid);
    write_file(drop + "/资助发放_20250906.csv", aid);  // a re-delivery
    XlsxBook book(drop + "/结对帮扶台账_20250907.xlsx");
    book.row(0, {"教师工号", "教师姓名", "学校标识码", "学生身份证件号", "学生姓名", "结对日期",
                 "解除日期", "帮扶措施", "最近走访日期"});
    for (int n = 0; n < 100; ++n) {
      book.row(n + 1, {"JS" + std::to_string(n % 7), "许凯", "2161002320",
                       n % 19 == 2 ? "" : sid(n), "学生", "2025-02-01", "", "扶学", ""});
    }
    book.close();
  };
  auto run = [&](int kills) {
    hutong::journal::testing::TempDir dir;
    std::string drop = dir.path() + "/drop";
    fs::create_directories(drop);
    fill(drop);
    HubProcess hub(dir.path(), config(dir.path(), drop, /*batch_records=*/7, /*poll_ms=*/5));
    std::mt19937 rng(23);
    EXPECT_TRUE(hub.kill_at_random_moments(kills, rng)) << hub.log();
    EXPECT_TRUE(wait_processed(hub, 6)) << hub.status().dump() << hub.log();
    std::string log = hub.log();
    size_t resumed = 0;
    for (size_t at = log.find("resuming "); at != std::string::npos;
         at = log.find("resuming ", at + 1)) {
      ++resumed;
    }
    if (kills > 0) {
      EXPECT_GE(resumed, 1u) << "some kills should land while a file is being read";
    }
    std::cerr << kills << " kills: " << resumed << " resumed mid-file\n";
    std::vector<std::vector<hutong::testing::JournaledRecord>> out;
    for (const char* topic : {"education.enrollment", "education.aid", "education.pairing"})
      out.push_back(hutong::testing::journal_sequence(hub.data_dir(), topic));
    // Quarantine entries carry times; their keys and rows must match.
    std::vector<hutong::testing::JournaledRecord> rejected;
    for (const auto& [key, op, payload] :
         hutong::testing::journal_sequence(hub.data_dir(), "hub.quarantine")) {
      hutong::v1::QuarantinedRow row;
      row.ParseFromString(payload);
      rejected.emplace_back(key, op, row.reason_code() + "|" + row.original());
    }
    out.push_back(rejected);
    return out;
  };
  auto reference = run(0);
  ASSERT_GT(reference[0].size(), 300u);
  ASSERT_GT(reference[1].size(), 100u);
  ASSERT_GT(reference[2].size(), 80u);
  ASSERT_GT(reference[3].size(), 10u);
  auto killed = run(12);
  for (size_t t = 0; t < reference.size(); ++t) {
    EXPECT_EQ(killed[t].size(), reference[t].size()) << "topic " << t;
    EXPECT_TRUE(killed[t] == reference[t])
        << "topic " << t << " differs from the uninterrupted run";
  }
}

}  // namespace

namespace {

// A record as the county generator's truth writes it: schema field names,
// enumerations by their Chinese label, dates yyyy-mm-dd, timestamps RFC 3339
// UTC, empty strings (but resident_id), unset enumerations and false left
// out, numbers always.
nlohmann::json as_truth(const google::protobuf::Message& m) {
  using google::protobuf::FieldDescriptor;
  nlohmann::json out = nlohmann::json::object();
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  const google::protobuf::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    bool presence = f->has_presence();
    if (presence && !r->HasField(m, f)) continue;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const google::protobuf::Message& sub = r->GetMessage(m, f);
        const auto* sd = sub.GetDescriptor();
        const auto* sr = sub.GetReflection();
        if (sd->full_name() == "hutong.v1.Date") {
          int y = sr->GetInt32(sub, sd->FindFieldByName("year"));
          if (y == 0) break;
          char text[16];
          std::snprintf(text, sizeof text, "%04d-%02d-%02d", y,
                        sr->GetInt32(sub, sd->FindFieldByName("month")),
                        sr->GetInt32(sub, sd->FindFieldByName("day")));
          out[f->name()] = text;
        } else if (sd->full_name() == "google.protobuf.Timestamp") {
          int64_t s = sr->GetInt64(sub, sd->FindFieldByName("seconds"));
          auto day = hutong::domain::CivilDate::from_days_since_epoch(s / 86400);
          char text[32];
          std::snprintf(text, sizeof text, "%sT%02d:%02d:%02dZ", day.to_string().c_str(),
                        static_cast<int>(s % 86400 / 3600), static_cast<int>(s % 3600 / 60),
                        static_cast<int>(s % 60));
          out[f->name()] = text;
        } else {
          nlohmann::json j = as_truth(sub);
          if (!j.empty()) out[f->name()] = j;
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        // (The truth writes an empty resident_id: a student or guardian without one.)
        if (presence || !r->GetString(m, f).empty() || f->name() == "resident_id") {
          out[f->name()] = r->GetString(m, f);
        }
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* value = r->GetEnum(m, f);
        if (value->number() == 0) break;
        out[f->name()] = value->options().GetExtension(hutong::v1::label, 0);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32:  // the truth writes numbers even when 0
        out[f->name()] = r->GetInt32(m, f);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        out[f->name()] = r->GetInt64(m, f);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        if (presence || r->GetBool(m, f)) out[f->name()] = r->GetBool(m, f);
        break;
      default:
        break;
    }
  }
  return out;
}

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

template <typename Message>
void expect_truth(const std::string& data_dir, const std::string& truth_dir,
                  const std::string& topic) {
  std::map<std::string, nlohmann::json> truth;
  for (auto& line : json_lines(truth_dir + "/" + topic + ".jsonl")) {
    line["value"].erase("birth_date_disagrees_with_id");
    truth[line["key"]] = line["value"];
  }
  auto mine = records<Message>(data_dir, topic);
  EXPECT_EQ(mine.size(), truth.size()) << topic;
  int shown = 0;
  for (const auto& [key, value] : truth) {
    auto it = mine.find(key);
    if (it == mine.end()) {
      ADD_FAILURE() << topic << ": missing " << key;
      if (++shown > 5) return;
      continue;
    }
    nlohmann::json got = as_truth(it->second);
    if (got != value) {
      ADD_FAILURE() << topic << " " << key << "\n  truth: " << value.dump()
                    << "\n  hub:   " << got.dump();
      if (++shown > 5) return;
    }
  }
  for (const auto& [key, value] : mine) {
    if (!truth.contains(key)) ADD_FAILURE() << topic << ": not in the truth: " << key;
  }
}

}  // namespace

// A county written by hutong-county with `options`, read by the hub: it ends
// with exactly the truth's records, quarantine entries and repairs.
void check_county(const std::string& options) {
  SCOPED_TRACE(options);
  hutong::journal::testing::TempDir dir;
  std::string county = dir.path() + "/county";
  auto generated = hutong::testing::run_command(std::string(HUTONG_COUNTY) + " --out " + county +
                                                " " + options + " 2>&1");
  ASSERT_EQ(generated.exit_code, 0) << generated.out;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(county + "/education")) {
    (void)entry;
    ++files;
  }
  HubProcess hub(dir.path(), config(dir.path(), county + "/education"));
  ASSERT_TRUE(hub.wait_ready()) << hub.log();
  ASSERT_TRUE(wait_processed(hub, files)) << hub.status().dump() << hub.log();

  std::string truth = county + "/truth";
  expect_truth<hutong::v1::StudentEnrollment>(hub.data_dir(), truth, "education.enrollment");
  expect_truth<hutong::v1::AidDisbursement>(hub.data_dir(), truth, "education.aid");
  expect_truth<hutong::v1::TeacherPairing>(hub.data_dir(), truth, "education.pairing");

  auto q = quarantine(hub.data_dir());
  std::set<std::string> expected;
  for (const auto& line : json_lines(truth + "/quarantine.jsonl")) {
    if (line["system"] != "education") continue;
    std::string file = fs::path(line["source"].get<std::string>()).filename().string();
    int row = line["row"];
    expected.insert("edu|" + file + "|" + std::to_string(row));
    EXPECT_EQ(reason_of(q, file, row), line["reason"].get<std::string>())
        << file << " row " << row << " (" << line["defect"] << ")";
  }
  ASSERT_FALSE(expected.empty());
  // Beyond the truth's list: re-deliveries are reported; and a file cut off
  // inside its header (the truth counts it as an update without rows) is a
  // broken header, not silence.
  std::set<std::string> rowless;
  for (const auto& line : json_lines(truth + "/files.jsonl")) {
    if (line["system"] == "education" && line.value("data_rows", -1) == 0) {
      rowless.insert(fs::path(line["path"].get<std::string>()).filename().string());
    }
  }
  for (const auto& [key, row] : q) {
    if (expected.contains(key)) continue;
    if (row.reason_code() == "file.header" && rowless.contains(row.source_name())) continue;
    EXPECT_EQ(row.reason_code(), "file.redelivered") << key << ": " << row.message();
  }
  size_t repairs = 0;
  for (const auto& line : json_lines(truth + "/repairs.jsonl")) {
    if (line["system"] == "education" &&
        (line["defect"] == "row.duplicate" || line["defect"] == "encoding.stray_utf8")) {
      ++repairs;
    }
  }
  EXPECT_EQ(hub.status()["edu"]["repaired"].get<size_t>(), repairs);
}

// Every education defect at 10-15 %, CSV in both encodings, XLSX with text and
// with typed cells, updates and re-deliveries.
TEST(EducationFiles, GeneratedCountyMatchesTheTruth) {
  check_county(
      "--households 400 --seed 7 --defect-rate 0.1 --xlsx-share 0.5 --utf8-share 0.3 "
      "--education-files 5");
  check_county(
      "--households 600 --seed 22 --defect-rate 0.15 --xlsx-share 0.7 --education-files 6");
}
