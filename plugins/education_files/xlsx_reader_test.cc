// Unit tests of the XLSX reader on workbooks written with libxlsxwriter, and of
// resuming a file (CSV and XLSX) mid-way: the same rows, repeats included.
#include "xlsx_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include <filesystem>
#include <fstream>

#include "file_reader.h"

namespace hutong::education {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("edu-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Xlsx, ColumnsOfReferences) {
  EXPECT_EQ(column_of_reference("A1"), 0);
  EXPECT_EQ(column_of_reference("Z9"), 25);
  EXPECT_EQ(column_of_reference("AA1"), 26);
  EXPECT_EQ(column_of_reference("AB12"), 27);
  EXPECT_EQ(column_of_reference("12"), -1);
}

TEST(Xlsx, DateFormats) {
  EXPECT_TRUE(is_date_format(14, ""));
  EXPECT_TRUE(is_date_format(22, ""));
  EXPECT_TRUE(is_date_format(57, ""));
  EXPECT_FALSE(is_date_format(0, ""));
  EXPECT_FALSE(is_date_format(2, ""));
  EXPECT_TRUE(is_date_format(164, "yyyy\"年\"m\"月\"d\"日\""));
  EXPECT_TRUE(is_date_format(165, "[$-409]d-mmm-yy"));
  EXPECT_TRUE(is_date_format(166, "yyyy/m/d h:mm:ss"));
  EXPECT_FALSE(is_date_format(167, "0.00"));
  EXPECT_FALSE(is_date_format(168, "[Red]#,##0.00"));
  EXPECT_FALSE(is_date_format(169, "h:mm:ss"));
  EXPECT_FALSE(is_date_format(170, "\"day\"0"));
}

TEST(Xlsx, ReadsTheFirstSheetWithItsCellTypes) {
  std::string path = temp_path("types.xlsx");
  lxw_workbook* book = workbook_new(path.c_str());
  lxw_worksheet* sheet = workbook_add_worksheet(book, "first");
  lxw_worksheet* second = workbook_add_worksheet(book, "second");
  lxw_format* date = workbook_add_format(book);
  format_set_num_format(date, "yyyy-mm-dd");
  worksheet_write_string(sheet, 0, 0, "名称", nullptr);
  worksheet_write_string(sheet, 0, 2, "名称", nullptr);  // a shared string used twice
  worksheet_write_number(sheet, 2, 1, 1250.5, nullptr);
  lxw_datetime when = {2025, 9, 1, 0, 0, 0};
  worksheet_write_datetime(sheet, 2, 2, &when, date);
  worksheet_write_boolean(sheet, 2, 3, 1, nullptr);
  worksheet_write_string(second, 0, 0, "not read", nullptr);
  ASSERT_EQ(workbook_close(book), LXW_NO_ERROR);

  std::string bytes = read_all(path);
  XlsxReader reader;
  ASSERT_TRUE(reader.open(bytes)) << reader.status().to_string();
  XlsxRow row;
  ASSERT_TRUE(reader.next_row(row));
  EXPECT_EQ(row.number, 1u);
  ASSERT_EQ(row.cells.size(), 2u);
  EXPECT_EQ(row.cells[0].text, "名称");
  EXPECT_EQ(row.cells[1].column, 2u);
  EXPECT_EQ(row.cells[1].text, "名称");
  ASSERT_TRUE(reader.next_row(row)) << "row 2 is empty and skipped";
  EXPECT_EQ(row.number, 3u);
  ASSERT_EQ(row.cells.size(), 3u);
  EXPECT_EQ(row.cells[0].column, 1u);
  EXPECT_EQ(row.cells[0].kind, CellKind::kNumber);
  EXPECT_EQ(row.cells[0].text, "1250.5");
  EXPECT_EQ(row.cells[1].kind, CellKind::kDate);
  EXPECT_EQ(row.cells[1].text, "45901");
  EXPECT_EQ(row.cells[2].kind, CellKind::kBool);
  EXPECT_FALSE(reader.next_row(row));
  EXPECT_TRUE(reader.status());
  std::filesystem::remove(path);
}

TEST(Xlsx, ABrokenZipIsUnreadable) {
  XlsxReader reader;
  Status s = reader.open("PK\x03\x04 not really a zip");
  EXPECT_EQ(s.code(), kFileUnreadable);
}

// Reads every row after the header, resuming after each row in turn: each
// resumed reader must give exactly the rows a straight read gives from there.
void check_resume(const FileName& name, const std::string& bytes) {
  struct Seen {
    uint64_t number;
    RowResult::Type type;
    std::string key;
    uint64_t last_offset;
  };
  domain::CivilDate reference{2025, 11, 15};
  FileReader straight(name, bytes);
  ASSERT_TRUE(straight.open());
  std::vector<Seen> rows;
  RowResult row;
  while (straight.next(row, reference)) {
    rows.push_back({row.number, row.type, row.type == RowResult::kRecord ? row.built->key : "",
                    straight.last_offset()});
  }
  ASSERT_GE(rows.size(), 4u);
  for (size_t stop = 0; stop < rows.size(); ++stop) {
    FileReader resumed(name, bytes);
    ASSERT_TRUE(resumed.open());
    ASSERT_TRUE(resumed.resume(rows[stop].number, rows[stop].last_offset));
    for (size_t i = stop + 1; i < rows.size(); ++i) {
      ASSERT_TRUE(resumed.next(row, reference)) << "stop " << stop << " row " << i;
      EXPECT_EQ(row.number, rows[i].number);
      EXPECT_EQ(row.type, rows[i].type) << "stop " << stop << " row " << rows[i].number;
      if (row.type == RowResult::kRecord) {
        EXPECT_EQ(row.built->key, rows[i].key);
      }
    }
    EXPECT_FALSE(resumed.next(row, reference));
  }
}

const char* kPairingHeader[] = {"教师工号", "教师姓名", "学校标识码", "学生身份证件号", "学生姓名",
                                "结对日期", "解除日期", "帮扶措施",   "最近走访日期"};

TEST(FileReader, ResumesACsvFileAfterAnyRow) {
  std::string header;
  for (const char* c : kPairingHeader)
    header += std::string(header.empty() ? "" : ",") + c;
  std::string row1 = "JS1,许凯,2161002320,11010519491231002X,王,2025-02-01,,\"扶学,\r\n扶志\",";
  std::string row2 = "JS2,许凯,2161002320,11010519491231002X,王,2025-02-01,,扶学,";
  std::string bytes = "\xEF\xBB\xBF" + header + "\r\n" + row1 + "\r\n\r\n" + row2 + "\r\n" + row1 +
                      "\r\nJS3,bad\r\n" + row2 + "\r\n";
  check_resume(FileName{Kind::kPairing, "20250901", false}, bytes);
}

TEST(FileReader, ResumesAnXlsxFileAfterAnyRow) {
  std::string path = temp_path("pairing.xlsx");
  lxw_workbook* book = workbook_new(path.c_str());
  lxw_worksheet* sheet = workbook_add_worksheet(book, nullptr);
  for (int c = 0; c < 9; ++c)
    worksheet_write_string(sheet, 0, c, kPairingHeader[c], nullptr);
  const char* staff[] = {"JS1", "JS2", "JS1", "JS3", "JS2"};
  for (int r = 1; r <= 5; ++r) {
    worksheet_write_string(sheet, r, 0, staff[r - 1], nullptr);
    worksheet_write_string(sheet, r, 3, r == 4 ? "bad" : "11010519491231002X", nullptr);
    worksheet_write_string(sheet, r, 5, "2025-02-01", nullptr);
  }
  ASSERT_EQ(workbook_close(book), LXW_NO_ERROR);
  check_resume(FileName{Kind::kPairing, "20250901", true}, read_all(path));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace hutong::education
