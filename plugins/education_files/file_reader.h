// education_files: one delivered file, read row by row, whatever its format:
// CSV (reading rule 7's encodings, RFC 4180) or XLSX (the first sheet). Maps the
// header, finds rows identical to an earlier row of the same file (rule 3),
// checks cell counts and the truncated last row (rule 5) and hands each row to
// the RowBuilder. Knows nothing of the folder, the order of files or positions
// beyond "resume after row n".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "csv_reader.h"
#include "domain/encoding.h"
#include "education_rows.h"
#include "xlsx_reader.h"

namespace hutong::education {

inline constexpr std::string_view kRowCellCount = "row.cell_count";
inline constexpr std::string_view kRowTruncated = "row.truncated";

// A set of 64-bit row hashes: open addressing in one array (a file's rows
// cost no allocation each).
class RowHashes {
 public:
  // False when `hash` was there already.
  bool insert(uint64_t hash);
  // Room for about `count` hashes without growing.
  void reserve(size_t count);
  void clear();

 private:
  std::vector<uint64_t> slots_;  // 0 marks an empty slot (hash 0 is stored as 1)
  size_t size_ = 0;
};

struct RowResult {
  enum Type { kRecord, kRejected, kDuplicate } type = kRecord;
  uint64_t number = 0;        // 1-based row (the header is 1)
  uint64_t offset = 0;        // CSV: of the row in the file; XLSX: of <row> in the sheet XML
  bool stray = false;         // a CSV row in the file's minority encoding (a repair)
  std::string_view original;  // the row as read (CSV: its bytes; XLSX: A=…<TAB>B=…)
  std::string_view encoding;
  const BuiltRow* built = nullptr;  // kRecord and kRejected
};

class FileReader {
 public:
  // `bytes` is the whole file; it must outlive the reader.
  FileReader(const FileName& name, std::string_view bytes);
  ~FileReader();

  // Checks the file can be read (file.unreadable) and maps its header
  // (file.header). has_header() is false for a file without any row.
  Status open();
  bool has_header() const { return header_number_ != 0; }
  uint64_t header_number() const { return header_number_; }
  // Where the header ends: resume(header_number(), header_end()) reads all rows.
  uint64_t header_end() const { return header_end_; }

  // Continues after row `number` (whose end is at `offset` in a CSV file),
  // remembering the rows before it so that repeats are still recognized.
  Status resume(uint64_t number, uint64_t offset);

  // The next row after the header; false at the end of the file (status()
  // says whether the file broke off).
  bool next(RowResult& row, domain::CivilDate reference, bool find_repeats = true);
  const Status& status() const { return status_; }
  // After next(): the row to resume after, and (CSV) the offset past it.
  uint64_t last_number() const { return last_number_; }
  uint64_t last_offset() const { return last_offset_; }

 private:
  bool next_csv(RowResult& row, domain::CivilDate reference, bool find_repeats);
  bool next_xlsx(RowResult& row, domain::CivilDate reference, bool find_repeats);
  void build(RowResult& row, domain::CivilDate reference);
  void reject(RowResult& row, std::string_view reason, std::string message);

  FileName name_;
  std::string_view bytes_;
  RowBuilder builder_;
  Status status_;
  uint64_t header_number_ = 0;
  uint64_t header_end_ = 0;
  uint64_t last_number_ = 0;
  uint64_t last_offset_ = 0;
  size_t header_count_ = 0;
  RowHashes seen_;  // hashes of the rows read so far
  std::vector<Cell> by_field_;
  BuiltRow built_;

  // CSV
  std::unique_ptr<domain::TextDecoder> decoder_;
  std::unique_ptr<CsvRecords> records_;
  std::string text_;
  std::vector<std::string_view> cells_;
  // XLSX
  std::unique_ptr<XlsxReader> sheet_;
  XlsxRow xrow_;
  bool pending_ = false;  // xrow_ was read by resume() but not yet returned
  std::string original_;
};

}  // namespace hutong::education
