// The generator's output machinery: tables written as CSV (GB18030 or UTF-8
// with BOM, CRLF, RFC 4180) or XLSX, defect choice and injection, and the
// truth/ files (JSON lines) that say what a correct hub must conclude.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model.h"

namespace county {

// Every defect kind the generator can inject (names used by --defect KIND=RATE).
enum class Defect {
  kNone,
  kIdChecksum,
  kIdLowerX,
  kIdFullWidth,
  kIdLegacy15,
  kIdSpaces,
  kIdScientific,
  kNameSpaces,
  kNameTraditional,
  kBirthDate,
  kStrayUtf8,
  kEncodingInvalid,
  kFewerCells,
  kMoreCells,
  kDuplicate,
  kAmountThousands,
  kDateSlash,
  kFormula,
  kRefInvalid,
  kEmptyFile,
  kHeaderOnly,
  kTruncated,
  kPartialSnapshot,
  kCount
};
std::string_view defect_name(Defect d);
// Defect::kNone when the name is unknown.
Defect defect_by_name(std::string_view name);

// Chooses at most one defect per row: each kind with an explicit --defect rate
// at that rate; otherwise, with probability --defect-rate, one kind drawn
// uniformly from the applicable kinds without an explicit rate.
class DefectPicker {
 public:
  explicit DefectPicker(const Options& options);
  Defect pick(Rng& rng, const std::vector<Defect>& applicable) const;
  // The rate for a per-entity property (traditional names) or a file-level defect.
  double rate(Defect d) const;
  bool enabled(Defect d) const { return rate(d) > 0; }

 private:
  double base_ = 0;
  double overrides_[static_cast<int>(Defect::kCount)];
  bool has_override_[static_cast<int>(Defect::kCount)] = {};
};

// ID defects applied to a clean 18-character ID; the returned text is what the
// system writes. Whether a kind applies: id_defect_applies().
bool id_defect_applies(Defect d, std::string_view id);
std::string apply_id_defect(Defect d, std::string_view id, Rng& rng);
// Leading/trailing blanks (space, NBSP, U+3000) around a value.
std::string pad_blanks(std::string_view value, Rng& rng);
// Excel's rendering of an 18-digit number: "6.10523E+17".
std::string scientific_text(std::string_view id);
std::string_view id_defect_reason(Defect d);  // empty for repairable kinds

// A minimal JSON object builder (UTF-8 strings, escaped).
class Json {
 public:
  Json& str(std::string_view key, std::string_view value);
  Json& num(std::string_view key, int64_t value);
  Json& boolean(std::string_view key, bool value);
  Json& null(std::string_view key);
  Json& obj(std::string_view key, const Json& value);
  Json& raw(std::string_view key, std::string_view json);
  std::string done() const { return body_.empty() ? "{}" : "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};
void append_json_string(std::string& out, std::string_view s);
std::string date_text(CivilDate d);  // yyyy-mm-dd, "" for no date
// "yyyy-mm-dd hh:mm:ss" in China Standard Time → RFC 3339 UTC ("...Z").
std::string cst_to_utc_rfc3339(std::string_view cst);

// A time of day on `day` (office hours, China Standard Time) as a
// date-time cell whose text is "yyyy-mm-dd hh:mm:ss".
struct Cell;
Cell cst_stamp(CivilDate day, Rng& rng);
// 与户主关系 in the poverty office's vocabulary (之子, 之女 …) or the civil
// affairs bureau's (子女, 父母 …).
std::string relation_label(const Person& p, bool poverty_vocabulary);

// A cell of a table row.
struct Cell {
  enum Type { kText, kNumber, kDate, kDateTime };
  Cell() = default;
  Cell(Type t, std::string s) : type(t), text(std::move(s)) {}
  Type type = kText;
  std::string text;   // the text (for kText), also the CSV rendering of others
  double number = 0;  // kNumber; for kDate/kDateTime the date below
  CivilDate date;
  int hour = 0, minute = 0, second = 0;
};

enum class FileFormat { kCsvGb18030, kCsvUtf8Bom, kXlsx };

// One output table. Rows are written in order; CSV rows are encoded and
// written through a buffer (the last row held back so that it can be cut when
// the file is to end truncated).
class TableWriter {
 public:
  // `typed_cells` (XLSX): dates, times and amounts as spreadsheet date and
  // number cells; otherwise every cell is text, as some exports write them.
  TableWriter(const std::string& path, FileFormat format, const std::vector<std::string>& header,
              bool typed_cells = true);
  ~TableWriter();
  TableWriter(const TableWriter&) = delete;
  TableWriter& operator=(const TableWriter&) = delete;

  FileFormat format() const { return format_; }
  // Whether cells keep their type (false for CSV and for all-text XLSX).
  bool typed() const { return format_ == FileFormat::kXlsx && typed_; }
  // The row number the next written row gets (the header is row 1).
  uint64_t next_row() const { return row_ + 1; }
  uint64_t data_rows() const { return row_ - 1; }
  // `stray_utf8`: write this CSV row in UTF-8 inside a GB18030 file.
  // `invalid_byte`: put a byte valid in neither encoding into this CSV row.
  void write(const std::vector<Cell>& cells, bool stray_utf8 = false, bool invalid_byte = false);
  // Cuts the last row in half (no line break after it).
  void close(bool truncate_last = false);

 private:
  void flush_pending();
  std::string path_;
  FileFormat format_;
  FILE* file_ = nullptr;
  void* iconv_ = nullptr;
  std::string pending_;  // the last encoded CSV row (with CRLF)
  std::string line_;
  std::vector<char> convert_;
  uint64_t row_ = 0;
  void* workbook_ = nullptr;
  void* sheet_ = nullptr;
  void* date_format_ = nullptr;
  void* datetime_format_ = nullptr;
  void* id_format_ = nullptr;
  bool closed_ = false;
  bool typed_ = true;
};

// The truth/ folder: per-topic expected state files are written by the
// systems; this class writes the quarantine and repair expectations and counts.
class Truth {
 public:
  explicit Truth(const std::string& dir);
  ~Truth();
  void quarantine(std::string_view system, std::string_view source, uint64_t row,
                  std::string_view key, std::string_view reason, Defect defect);
  void repair(std::string_view system, std::string_view source, uint64_t row, std::string_view key,
              Defect defect);
  // A data file written: its path under the output folder and what it holds.
  void file(const std::string& json_line);
  void count_defect(Defect d) { ++defects_[static_cast<int>(d)]; }
  // Writes one topic's state (key → JSON object) as JSON lines.
  void write_state(const std::string& name, const std::map<std::string, std::string>& state);
  std::string summary_json(const std::map<std::string, uint64_t>& topic_counts) const;
  const std::string& dir() const { return dir_; }
  uint64_t defects(Defect d) const { return defects_[static_cast<int>(d)]; }

 private:
  std::string dir_;
  FILE* quarantine_ = nullptr;
  FILE* repairs_ = nullptr;
  FILE* files_ = nullptr;
  uint64_t defects_[static_cast<int>(Defect::kCount)] = {};
  std::map<std::string, uint64_t> reasons_;
  std::map<std::string, uint64_t> repair_kinds_;
  uint64_t quarantined_ = 0, repaired_ = 0;
};

// One clean row about to be written (cells in the file's column order), and
// where its defect-prone cells are.
struct RowPlan {
  std::string key;
  std::vector<Cell> cells;
  int id_col = -1;  // the subject's ID (a rejecting column)
  std::string clean_id;
  int name_col = -1;
  int amount_col = -1;
  int64_t amount_fen = 0;
  int date_col = -1;
  CivilDate date;
};
enum class Outcome { kAccepted, kRejected };
// The kinds emit_row can apply to a row of this plan in this format.
std::vector<Defect> generic_kinds(const RowPlan& plan, FileFormat format, bool typed,
                                  bool allow_duplicate);
// Writes the row with its defect (the generic kinds; the caller applies the
// others to the clean values) and records the expected quarantine or repair.
Outcome emit_row(TableWriter& table, Truth& truth, std::string_view system, std::string_view source,
                 RowPlan& plan, Defect defect, Rng& rng);
// Whether a school-age child has dropped out (roster 辍学, snapshot 辍学).
bool is_dropout(const County& c, const Person& p);
Json person_json(const County& c, const Person& p, SystemBit system, bool with_phone);

// Writes the four systems' deliveries and their truth (systems.cc).
struct Summary {
  std::vector<std::string> lines;
};
Summary write_county(const County& county, const Options& options);

}  // namespace county
