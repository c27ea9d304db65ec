// education_files: the CSV side. Splits an export held in memory into records
// (RFC 4180: a quoted cell may hold commas, quotes and line breaks) on the raw
// bytes, and a decoded record into cells, in place. Knows nothing of the
// department's columns; allocates nothing per record once its buffers are warm.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hutong::education {

// One record of a CSV file: its bytes without the line break.
struct CsvRecord {
  std::string_view bytes;
  uint64_t offset = 0;     // of bytes[0] in the file
  uint64_t number = 0;     // 1-based record number (the header is 1)
  bool truncated = false;  // the file ends inside or right after it without a line break
};

// Walks the records of a whole file. GB18030 and UTF-8 never use the bytes of
// '"', ',', CR or LF inside a multi-byte character, so records can be found
// before they are decoded.
class CsvRecords {
 public:
  // `data` outlives the reader; `start` is the offset of the first record to
  // read (after a BOM, or where a previous reader stopped) and `number` the
  // record number it has.
  CsvRecords(std::string_view data, uint64_t start, uint64_t number)
      : data_(data), pos_(start), number_(number) {}

  // The next record; false at the end of the file. Empty lines are skipped
  // (they still count as records, like spreadsheet rows).
  bool next(CsvRecord& record);
  // The offset just past the last record returned (its line break included).
  uint64_t position() const { return pos_; }
  // The number the next record will have.
  uint64_t next_number() const { return number_; }

 private:
  std::string_view data_;
  uint64_t pos_;
  uint64_t number_;
};

// Splits one decoded record into cells: quotes removed ("" becomes "), spaces
// around every cell trimmed. The views point into `text`, which is rewritten.
void split_cells(std::string& text, std::vector<std::string_view>& cells);

}  // namespace hutong::education
