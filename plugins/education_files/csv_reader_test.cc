// Unit tests of the CSV record and cell splitting (RFC 4180 on raw bytes).
#include "csv_reader.h"

#include <gtest/gtest.h>

namespace hutong::education {
namespace {

std::vector<CsvRecord> all(std::string_view data, uint64_t start = 0) {
  CsvRecords records(data, start, 1);
  std::vector<CsvRecord> out;
  CsvRecord r;
  while (records.next(r))
    out.push_back(r);
  return out;
}

TEST(CsvRecords, SplitsOnLineBreaksOutsideQuotes) {
  std::string data = "a,b\r\n\"x,\r\ny\",\"say \"\"hi\"\"\"\r\n\r\nlast,row\r\n";
  auto r = all(data);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].bytes, "a,b");
  EXPECT_EQ(r[0].number, 1u);
  EXPECT_EQ(r[1].bytes, "\"x,\r\ny\",\"say \"\"hi\"\"\"");
  EXPECT_EQ(r[1].offset, 5u);
  EXPECT_EQ(r[2].bytes, "last,row");
  EXPECT_EQ(r[2].number, 4u) << "the empty line counts as a row";
  for (const auto& rec : r)
    EXPECT_FALSE(rec.truncated);
}

TEST(CsvRecords, TheLastRecordWithoutLineBreakIsTruncated) {
  auto r = all("h\r\n1,2\r\n3,");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[2].truncated);
  EXPECT_EQ(r[2].bytes, "3,");
  // An open quote runs to the end of the file: truncated too.
  r = all("h\r\n\"open,1\r\n2,3\r\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[1].truncated);
}

TEST(CsvRecords, AQuoteInsideAnUnquotedCellIsText) {
  auto r = all("h\r\nab\"c,d\r\ne,f\r\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].bytes, "ab\"c,d");
}

TEST(CsvRecords, ResumesAtAnOffset) {
  std::string data = "\xEF\xBB\xBFh\r\n1\r\n2\r\n";
  auto r = all(data, 3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].bytes, "h");
  CsvRecords from(data, r[1].offset + 3, 3);
  CsvRecord rec;
  ASSERT_TRUE(from.next(rec));
  EXPECT_EQ(rec.bytes, "2");
  EXPECT_EQ(rec.number, 3u);
  EXPECT_FALSE(from.next(rec));
}

TEST(SplitCells, UnquotesAndTrims) {
  std::vector<std::string_view> cells;
  std::string text =
      " a ,\"b,\"\"c\"\"\", \"d\" ,,\xC2\xA0"
      "e\xE3\x80\x80,";
  split_cells(text, cells);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0], "a");
  EXPECT_EQ(cells[1], "b,\"c\"");
  EXPECT_EQ(cells[2], "d");
  EXPECT_EQ(cells[3], "");
  EXPECT_EQ(cells[4], "e");
  EXPECT_EQ(cells[5], "");
  text = "plain,张三,=HYPERLINK(1)";
  split_cells(text, cells);
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[1], "张三");
  EXPECT_EQ(cells[2], "=HYPERLINK(1)");
  text = "\"multi\r\nline\"";
  split_cells(text, cells);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0], "multi\r\nline");
}

}  // namespace
}  // namespace hutong::education
