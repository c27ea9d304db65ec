// Tables (CSV/XLSX), defect injection helpers and the truth/ writers.
#include "output.h"

#include <iconv.h>
#include <xlsxwriter.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "domain/resident_id.h"

namespace county {
namespace {

const char* const kDefectNames[] = {"none",
                                    "id.checksum",
                                    "id.lower_x",
                                    "id.full_width",
                                    "id.legacy15",
                                    "id.spaces",
                                    "id.scientific",
                                    "name.spaces",
                                    "name.traditional",
                                    "birth_date.mismatch",
                                    "encoding.stray_utf8",
                                    "encoding.invalid",
                                    "row.fewer_cells",
                                    "row.more_cells",
                                    "row.duplicate",
                                    "amount.thousands",
                                    "date.slash",
                                    "text.formula",
                                    "ref.invalid_id",
                                    "file.empty",
                                    "file.header_only",
                                    "file.truncated",
                                    "snapshot.partial"};
static_assert(sizeof(kDefectNames) / sizeof(kDefectNames[0]) == static_cast<int>(Defect::kCount));

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

}  // namespace

std::string_view defect_name(Defect d) {
  return kDefectNames[static_cast<int>(d)];
}

Defect defect_by_name(std::string_view name) {
  for (int i = 1; i < static_cast<int>(Defect::kCount); ++i)
    if (name == kDefectNames[i]) return static_cast<Defect>(i);
  return Defect::kNone;
}

DefectPicker::DefectPicker(const Options& options) : base_(options.defect_rate) {
  for (double& r : overrides_)
    r = 0;
  for (const auto& [name, rate] : options.defect_overrides) {
    Defect d = defect_by_name(name);
    if (d == Defect::kNone) throw std::invalid_argument("unknown defect kind: " + name);
    overrides_[static_cast<int>(d)] = rate;
    has_override_[static_cast<int>(d)] = true;
  }
}

double DefectPicker::rate(Defect d) const {
  int i = static_cast<int>(d);
  return has_override_[i] ? overrides_[i] : base_;
}

Defect DefectPicker::pick(Rng& rng, const std::vector<Defect>& applicable) const {
  double u = rng.uniform();
  double acc = 0;
  int free_kinds = 0;
  for (Defect d : applicable) {
    if (has_override_[static_cast<int>(d)]) {
      acc += overrides_[static_cast<int>(d)];
      if (u < acc) return d;
    } else {
      ++free_kinds;
    }
  }
  if (free_kinds == 0 || u >= acc + base_) return Defect::kNone;
  int k = static_cast<int>(rng.next() % static_cast<uint64_t>(free_kinds));
  for (Defect d : applicable) {
    if (has_override_[static_cast<int>(d)]) continue;
    if (k-- == 0) return d;
  }
  return Defect::kNone;
}

bool id_defect_applies(Defect d, std::string_view id) {
  switch (d) {
    case Defect::kIdLowerX:
      return id.size() == 18 && id[17] == 'X';
    case Defect::kIdLegacy15:
      return id.size() == 18 && id.substr(6, 2) == "19";
    case Defect::kIdChecksum:
    case Defect::kIdFullWidth:
    case Defect::kIdSpaces:
    case Defect::kIdScientific:
      return id.size() == 18;
    default:
      return false;
  }
}

std::string pad_blanks(std::string_view value, Rng& rng) {
  static const char* kBlanks[] = {" ", "  ", "\xC2\xA0", "\xE3\x80\x80"};
  std::string out;
  int where = rng.range(0, 2);  // 0 leading, 1 trailing, 2 both
  if (where != 1) out += kBlanks[rng.range(0, 3)];
  out += value;
  if (where != 0) out += kBlanks[rng.range(0, 3)];
  return out;
}

std::string scientific_text(std::string_view id) {
  // Excel shows six significant digits: 6.10523E+17 (rounded).
  std::string digits(id.substr(0, 7));
  int64_t v = std::stoll(digits);
  v = (v + 5) / 10;  // round to six digits
  std::string s = std::to_string(v);
  std::string mantissa = s.substr(0, 1) + "." + s.substr(1);
  while (mantissa.back() == '0')
    mantissa.pop_back();
  if (mantissa.back() == '.') mantissa.pop_back();
  return mantissa + "E+17";
}

std::string apply_id_defect(Defect d, std::string_view id, Rng& rng) {
  switch (d) {
    case Defect::kIdChecksum: {
      static const char kChars[] = "0123456789X";
      char right = id[17];
      char wrong = right;
      while (wrong == right)
        wrong = kChars[rng.range(0, 10)];
      return std::string(id.substr(0, 17)) + wrong;
    }
    case Defect::kIdLowerX:
      return std::string(id.substr(0, 17)) + "x";
    case Defect::kIdFullWidth: {
      std::string out;
      for (char ch : id) {
        if (ch >= '0' && ch <= '9') {
          out += "\xEF\xBC";
          out += static_cast<char>(0x90 + (ch - '0'));
        } else {
          out += "\xEF\xBC\xB8";  // Ｘ
        }
      }
      return out;
    }
    case Defect::kIdLegacy15:
      return std::string(id.substr(0, 6)) + std::string(id.substr(8, 9));
    case Defect::kIdSpaces:
      return pad_blanks(id, rng);
    case Defect::kIdScientific:
      return scientific_text(id);
    default:
      return std::string(id);
  }
}

std::string_view id_defect_reason(Defect d) {
  if (d == Defect::kIdChecksum) return hutong::domain::kIdChecksum;
  if (d == Defect::kIdScientific) return hutong::domain::kIdScientific;
  return {};
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
}

void Json::key(std::string_view k) {
  if (!body_.empty()) body_ += ',';
  append_json_string(body_, k);
  body_ += ':';
}
Json& Json::str(std::string_view k, std::string_view v) {
  key(k);
  append_json_string(body_, v);
  return *this;
}
Json& Json::num(std::string_view k, int64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}
Json& Json::boolean(std::string_view k, bool v) {
  key(k);
  body_ += v ? "true" : "false";
  return *this;
}
Json& Json::null(std::string_view k) {
  key(k);
  body_ += "null";
  return *this;
}
Json& Json::obj(std::string_view k, const Json& v) {
  return raw(k, v.done());
}
Json& Json::raw(std::string_view k, std::string_view json) {
  key(k);
  body_ += json;
  return *this;
}

std::string date_text(CivilDate d) {
  return d.empty() ? "" : d.to_string();
}

std::string cst_to_utc_rfc3339(std::string_view cst) {
  auto ts = hutong::domain::parse_timestamp(cst);
  if (!ts) return "";
  int64_t t = ts->date.days_since_epoch() * 86400 + ts->hour * 3600 + ts->minute * 60 + ts->second -
              8 * 3600;
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t rest = t - days * 86400;
  CivilDate d = CivilDate::from_days_since_epoch(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", d.year, d.month, d.day,
                static_cast<int>(rest / 3600), static_cast<int>(rest % 3600 / 60),
                static_cast<int>(rest % 60));
  return buf;
}

Cell cst_stamp(CivilDate day, Rng& rng) {
  Cell c(Cell::kDateTime, "");
  c.date = day;
  c.hour = rng.range(8, 18);
  c.minute = rng.range(0, 59);
  c.second = rng.range(0, 59);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s %02d:%02d:%02d", day.to_string().c_str(), c.hour, c.minute,
                c.second);
  c.text = buf;
  return c;
}

std::string relation_label(const Person& p, bool poverty) {
  bool male = p.sex == 1;
  switch (p.role) {
    case Role::kHead:
      return "户主";
    case Role::kSpouse:
      return "配偶";
    case Role::kChild:
      return poverty ? (male ? "之子" : "之女") : "子女";
    case Role::kParent:
      return poverty ? (male ? "之父" : "之母") : "父母";
    case Role::kGrandchild:
      return poverty ? (male ? "之孙子" : "之孙女") : "孙子女";
    default:
      return "其他";
  }
}

// ---- TableWriter ----

TableWriter::TableWriter(const std::string& path, FileFormat format,
                         const std::vector<std::string>& header, bool typed_cells)
    : path_(path), format_(format), typed_(typed_cells) {
  if (format_ == FileFormat::kXlsx) {
    lxw_workbook_options options = {};
    options.constant_memory = LXW_TRUE;
    lxw_workbook* wb = workbook_new_opt(path.c_str(), &options);
    if (!wb) fail("cannot create " + path);
    // A fixed creation time makes the file reproducible byte for byte.
    lxw_doc_properties props = {};
    props.created = 1735660800;  // 2025-01-01
    props.author = const_cast<char*>("教育管理信息系统");
    workbook_set_properties(wb, &props);
    workbook_ = wb;
    sheet_ = workbook_add_worksheet(wb, "Sheet1");
    lxw_format* df = workbook_add_format(wb);
    format_set_num_format(df, "yyyy-mm-dd");
    date_format_ = df;
    lxw_format* dtf = workbook_add_format(wb);
    format_set_num_format(dtf, "yyyy-mm-dd hh:mm:ss");
    datetime_format_ = dtf;
    lxw_format* idf = workbook_add_format(wb);
    format_set_num_format(idf, "0");
    id_format_ = idf;
  } else {
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) fail("cannot create " + path);
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
    if (format_ == FileFormat::kCsvUtf8Bom) std::fputs("\xEF\xBB\xBF", file_);
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    if (cd == reinterpret_cast<iconv_t>(-1)) fail("iconv GB18030");
    iconv_ = cd;
  }
  std::vector<Cell> cells;
  for (const std::string& h : header)
    cells.push_back(Cell{Cell::kText, h});
  write(cells);
}

TableWriter::~TableWriter() {
  if (!closed_) {
    try {
      close(false);
    } catch (...) {
    }
  }
  if (iconv_) iconv_close(static_cast<iconv_t>(iconv_));
}

void TableWriter::flush_pending() {
  if (!pending_.empty() &&
      std::fwrite(pending_.data(), 1, pending_.size(), file_) != pending_.size())
    fail("write " + path_);
  pending_.clear();
}

void TableWriter::write(const std::vector<Cell>& cells, bool stray_utf8, bool invalid_byte) {
  ++row_;
  if (format_ == FileFormat::kXlsx) {
    auto* ws = static_cast<lxw_worksheet*>(sheet_);
    lxw_row_t r = static_cast<lxw_row_t>(row_ - 1);
    for (size_t c = 0; c < cells.size(); ++c) {
      const Cell& cell = cells[c];
      lxw_col_t col = static_cast<lxw_col_t>(c);
      Cell::Type type = cell.type;
      if (!typed_ && type != Cell::kNumber) type = Cell::kText;
      if (!typed_ && type == Cell::kNumber && cell.text != "id") type = Cell::kText;
      switch (type) {
        case Cell::kText:
          if (!cell.text.empty()) worksheet_write_string(ws, r, col, cell.text.c_str(), nullptr);
          break;
        case Cell::kNumber:
          worksheet_write_number(
              ws, r, col, cell.number,
              cell.text == "id" ? static_cast<lxw_format*>(id_format_) : nullptr);
          break;
        case Cell::kDate:
        case Cell::kDateTime: {
          lxw_datetime dt = {cell.date.year,
                             static_cast<uint8_t>(cell.date.month),
                             static_cast<uint8_t>(cell.date.day),
                             static_cast<uint8_t>(cell.hour),
                             static_cast<uint8_t>(cell.minute),
                             static_cast<double>(cell.second)};
          worksheet_write_datetime(
              ws, r, col, &dt,
              static_cast<lxw_format*>(cell.type == Cell::kDate ? date_format_ : datetime_format_));
          break;
        }
      }
    }
    return;
  }
  line_.clear();
  for (size_t c = 0; c < cells.size(); ++c) {
    if (c) line_ += ',';
    const std::string& t = cells[c].text;
    if (t.find_first_of(",\"\r\n") != std::string::npos) {
      line_ += '"';
      for (char ch : t) {
        if (ch == '"') line_ += '"';
        line_ += ch;
      }
      line_ += '"';
    } else {
      line_ += t;
    }
  }
  flush_pending();
  if (format_ == FileFormat::kCsvGb18030 && !stray_utf8) {
    if (convert_.size() < line_.size() * 2 + 16) convert_.resize(line_.size() * 2 + 16);
    char* in = line_.data();
    size_t in_left = line_.size();
    char* out = convert_.data();
    size_t out_left = convert_.size();
    iconv(static_cast<iconv_t>(iconv_), nullptr, nullptr, nullptr, nullptr);
    if (iconv(static_cast<iconv_t>(iconv_), &in, &in_left, &out, &out_left) ==
        static_cast<size_t>(-1))
      fail("GB18030 conversion in " + path_);
    pending_.assign(convert_.data(), out - convert_.data());
  } else {
    pending_ = line_;
  }
  if (invalid_byte) {
    size_t comma = pending_.find(',');
    pending_.insert(comma == std::string::npos ? 0 : comma + 1, "\xFF");
  }
  pending_ += "\r\n";
}

void TableWriter::close(bool truncate_last) {
  closed_ = true;
  if (format_ == FileFormat::kXlsx) {
    auto* wb = static_cast<lxw_workbook*>(workbook_);
    lxw_worksheet* notes = workbook_add_worksheet(wb, "说明");
    worksheet_write_string(notes, 0, 0, "本表由系统导出", nullptr);
    if (workbook_close(wb) != LXW_NO_ERROR) fail("cannot write " + path_);
    return;
  }
  if (truncate_last && !pending_.empty()) {
    // Cut about half way, after an ASCII byte so no character is split.
    size_t cut = pending_.size() / 2;
    while (cut > 1 && static_cast<unsigned char>(pending_[cut - 1]) >= 0x80)
      --cut;
    pending_.resize(cut);
  }
  flush_pending();
  if (std::fclose(file_) != 0) fail("cannot write " + path_);
  file_ = nullptr;
}

// ---- Truth ----

Truth::Truth(const std::string& dir) : dir_(dir) {
  quarantine_ = std::fopen((dir + "/quarantine.jsonl").c_str(), "wb");
  repairs_ = std::fopen((dir + "/repairs.jsonl").c_str(), "wb");
  files_ = std::fopen((dir + "/files.jsonl").c_str(), "wb");
  if (!quarantine_ || !repairs_ || !files_) fail("cannot create the truth files in " + dir);
}

Truth::~Truth() {
  for (FILE* f : {quarantine_, repairs_, files_})
    if (f) std::fclose(f);
}

void Truth::quarantine(std::string_view system, std::string_view source, uint64_t row,
                       std::string_view key, std::string_view reason, Defect defect) {
  Json j;
  j.str("system", system).str("source", source).num("row", static_cast<int64_t>(row));
  j.str("key", key).str("reason", reason).str("defect", defect_name(defect));
  std::string line = j.done() + "\n";
  std::fwrite(line.data(), 1, line.size(), quarantine_);
  ++reasons_[std::string(reason)];
  ++quarantined_;
}

void Truth::repair(std::string_view system, std::string_view source, uint64_t row,
                   std::string_view key, Defect defect) {
  Json j;
  j.str("system", system).str("source", source).num("row", static_cast<int64_t>(row));
  j.str("key", key).str("defect", defect_name(defect));
  std::string line = j.done() + "\n";
  std::fwrite(line.data(), 1, line.size(), repairs_);
  ++repair_kinds_[std::string(defect_name(defect))];
  ++repaired_;
}

void Truth::file(const std::string& json_line) {
  std::fwrite(json_line.data(), 1, json_line.size(), files_);
  std::fputc('\n', files_);
}

void Truth::write_state(const std::string& name, const std::map<std::string, std::string>& state) {
  std::string path = dir_ + "/" + name + ".jsonl";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot create " + path);
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  std::string line;
  for (const auto& [key, json] : state) {
    line.clear();
    line += "{\"key\":";
    append_json_string(line, key);
    line += ",\"value\":";
    line += json;
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), f);
  }
  if (std::fclose(f) != 0) fail("cannot write " + path);
}

std::string Truth::summary_json(const std::map<std::string, uint64_t>& topic_counts) const {
  Json topics, reasons, repairs, defects;
  for (const auto& [k, v] : topic_counts)
    topics.num(k, static_cast<int64_t>(v));
  for (const auto& [k, v] : reasons_)
    reasons.num(k, static_cast<int64_t>(v));
  for (const auto& [k, v] : repair_kinds_)
    repairs.num(k, static_cast<int64_t>(v));
  for (int i = 1; i < static_cast<int>(Defect::kCount); ++i)
    defects.num(kDefectNames[i], static_cast<int64_t>(defects_[i]));
  Json j;
  j.obj("topics", topics).num("quarantined", static_cast<int64_t>(quarantined_));
  j.obj("quarantine_reasons", reasons).num("repaired", static_cast<int64_t>(repaired_));
  j.obj("repairs", repairs).obj("defects", defects);
  return j.done();
}

}  // namespace county
