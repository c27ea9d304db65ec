// education_files: the XLSX side. Reads the first worksheet of a workbook
// (libzip for the package, expat for the XML), streaming: the sheet is parsed
// in chunks and handed out a row at a time, so a big sheet never sits in
// memory as a whole. Shared strings, inline strings, numbers, booleans, errors
// and date cells (a number whose cell style has a date format: the built-in
// date formats or a custom one with y/m/d) are told apart; the cell's value is
// given as the workbook stores it (a number as its decimal text).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "domain/status.h"

namespace hutong::education {

inline constexpr std::string_view kFileUnreadable = "file.unreadable";

enum class CellKind { kText, kNumber, kDate, kBool, kError };

struct XlsxCell {
  uint32_t column = 0;  // 0 for column A
  CellKind kind = CellKind::kText;
  std::string text;  // the text, or a number's decimal text (a date cell: its serial)
};

struct XlsxRow {
  uint64_t number = 0;          // the sheet's row number (1-based)
  uint64_t offset = 0;          // of the <row> element in the uncompressed sheet XML
  std::vector<XlsxCell> cells;  // non-empty cells, left to right
};

class XlsxReader {
 public:
  XlsxReader();
  ~XlsxReader();
  XlsxReader(const XlsxReader&) = delete;
  XlsxReader& operator=(const XlsxReader&) = delete;

  // Opens the workbook (the file's bytes, which must outlive the reader) and
  // reads its shared strings and styles; the first sheet is then read by
  // next_row(). file.unreadable when the bytes are not a readable workbook.
  Status open(std::string_view workbook);
  // The next row with at least one cell; false at the end of the sheet or on
  // an error (then status() says what).
  bool next_row(XlsxRow& row);
  const Status& status() const { return status_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  Status status_;
};

// "A" -> 0, "AB" -> 27: the column of a cell reference such as "AB12"
// (letters only are read); -1 when it has none.
int64_t column_of_reference(std::string_view reference);

// Whether a number format (its format code) shows dates.
bool is_date_format(uint32_t id, std::string_view code);

}  // namespace hutong::education
