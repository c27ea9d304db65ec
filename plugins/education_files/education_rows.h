// education_files: the education bureau's three exports (department-systems.md
// §1): their file names, their columns, and turning one row (cells mapped by
// header name) into a record of the shared schemas, or into the reason it is
// rejected (reading rules 2, 4, 5, 6, 8). Knows nothing of files or positions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/date.h"
#include "domain/status.h"
#include "hutong/v1/education.pb.h"
#include "xlsx_reader.h"

namespace hutong::education {

inline constexpr std::string_view kFileHeader = "file.header";

enum class Kind { kRoster = 0, kAid = 1, kPairing = 2 };

// A delivery's name: <prefix>_<yyyymmdd>.csv|xlsx.
struct FileName {
  Kind kind = Kind::kRoster;
  std::string date;  // yyyymmdd, a real date
  bool xlsx = false;
  // date + kind letter + format letter ("20251019Rc"): sorts files by the date
  // in their names, and names the file in the source position.
  std::string code() const;
  std::string file() const;
};
// The delivery a file name stands for; nullopt for anything else (temporary
// names, dotfiles, *.tmp, *.part, other files).
std::optional<FileName> parse_file_name(std::string_view name);
std::optional<FileName> parse_file_code(std::string_view code);

std::string_view topic_of(Kind kind);

// One cell of a row, as read: text, or (XLSX) a typed value as text.
struct Cell {
  std::string_view text;
  CellKind kind = CellKind::kText;
};

// What a row became.
struct BuiltRow {
  bool ok = false;
  // ok: the record.
  std::string key;
  std::string payload;  // serialized
  // not ok: why.
  std::string_view reason;
  std::string message;
  std::string field;
};

// Maps a file's header to the kind's columns and builds records from rows.
class RowBuilder {
 public:
  explicit RowBuilder(Kind kind);
  // Maps the header cells (names trimmed and full-width folded); file.header
  // when a column the kind needs is missing or appears twice. Columns the kind
  // does not know are ignored.
  Status map_header(const std::vector<std::string_view>& header);
  // Header positions the kind reads (the rest are ignored); valid after map_header.
  const std::vector<int>& header_fields() const { return header_fields_; }
  size_t field_count() const { return columns_.size(); }
  // Builds the record of one row; `cells` are indexed by field (see
  // header_fields: cells[f] is the cell under column columns_[f]).
  void build(const Cell* cells, domain::CivilDate reference, BuiltRow& out);

 private:
  void roster(const Cell* cells, domain::CivilDate reference, BuiltRow& out);
  void aid(const Cell* cells, domain::CivilDate reference, BuiltRow& out);
  void pairing(const Cell* cells, domain::CivilDate reference, BuiltRow& out);

  Kind kind_;
  std::vector<std::string_view> columns_;  // the kind's column names, by field
  std::vector<int> header_fields_;         // header position -> field, or -1
  hutong::v1::StudentEnrollment enrollment_;
  hutong::v1::AidDisbursement aid_;
  hutong::v1::TeacherPairing pairing_;
};

}  // namespace hutong::education
