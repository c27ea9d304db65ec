// education_files: the first worksheet of an XLSX workbook (see xlsx_reader.h).
#include "xlsx_reader.h"

#include <expat.h>
#include <zip.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>

namespace hutong::education {
namespace {

constexpr size_t kChunk = size_t{64} * 1024;

// The local part of an element or attribute name ("x:sheet" -> "sheet").
std::string_view local(const char* name) {
  std::string_view n(name);
  size_t colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

const char* attribute(const char** attributes, std::string_view name) {
  for (size_t i = 0; attributes[i]; i += 2) {
    if (local(attributes[i]) == name) return attributes[i + 1];
  }
  return nullptr;
}

// Parses a whole (small) XML part with the given handlers; the error says why not.
template <typename State>
Status parse_part(const std::string& part, std::string_view xml, State& state,
                  XML_StartElementHandler start, XML_EndElementHandler end,
                  XML_CharacterDataHandler text) {
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &state);
  XML_SetElementHandler(parser, start, end);
  if (text) XML_SetCharacterDataHandler(parser, text);
  Status status;
  if (XML_Parse(parser, xml.data(), static_cast<int>(xml.size()), XML_TRUE) == XML_STATUS_ERROR) {
    status = Status(kFileUnreadable, part + " is not well-formed XML (line " +
                                         std::to_string(XML_GetCurrentLineNumber(parser)) +
                                         "): " + XML_ErrorString(XML_GetErrorCode(parser)));
  }
  XML_ParserFree(parser);
  return status;
}

struct WorkbookState {
  std::string first_sheet_rid;
};

struct RelsState {
  std::map<std::string, std::pair<std::string, std::string>> targets;  // id -> (type, target)
};

struct SharedStringsState {
  std::vector<std::string>* strings;
  int in_si = 0;
  int in_t = 0;
  int in_rph = 0;
};

struct StylesState {
  std::map<uint32_t, std::string> formats;  // custom numFmtId -> formatCode
  std::vector<uint32_t> xf_formats;         // cellXfs index -> numFmtId
  bool in_cell_xfs = false;
};

}  // namespace

int64_t column_of_reference(std::string_view reference) {
  int64_t column = 0;
  size_t i = 0;
  for (; i < reference.size() && reference[i] >= 'A' && reference[i] <= 'Z'; ++i) {
    column = column * 26 + (reference[i] - 'A' + 1);
  }
  return i == 0 ? -1 : column - 1;
}

bool is_date_format(uint32_t id, std::string_view code) {
  // Built-in: 14-22 everywhere; 27-36 and 50-58 are the East Asian date formats.
  if ((id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 50 && id <= 58)) return true;
  if (code.empty()) return false;
  bool date = false;
  bool time = false;
  for (size_t i = 0; i < code.size(); ++i) {
    char ch = code[i];
    if (ch == '"') {  // literal text
      size_t close = code.find('"', i + 1);
      if (close == std::string_view::npos) break;
      i = close;
    } else if (ch == '\\' || ch == '_' || ch == '*') {
      ++i;                   // an escaped or padding character
    } else if (ch == '[') {  // colour, locale or elapsed-time section
      size_t close = code.find(']', i + 1);
      if (close == std::string_view::npos) break;
      i = close;
    } else if (ch == ';') {
      break;  // the first section decides
    } else {
      char lower = static_cast<char>(ch | 0x20);
      if (lower == 'y' || lower == 'd') date = true;
      if (lower == 'h' || lower == 's') time = true;
      if (lower == 'm' && !time) date = true;  // months, unless next to hours (minutes)
    }
  }
  return date;
}

struct XlsxReader::Impl {
  zip_t* archive = nullptr;
  zip_file_t* sheet = nullptr;
  std::string sheet_name;
  XML_Parser parser = nullptr;
  bool finished = false;
  std::vector<std::string> shared;
  std::vector<bool> xf_is_date;
  std::deque<XlsxRow> ready;
  std::unique_ptr<char[]> chunk;
  Status error;  // raised inside a handler

  // The row and cell being read.
  XlsxRow row;
  bool in_row = false;
  bool in_cell = false;
  bool in_value = false;
  int in_inline = 0;
  int in_t = 0;
  int in_rph = 0;
  uint64_t last_row = 0;
  int64_t last_column = -1;
  std::string cell_type;
  int64_t cell_style = -1;
  int64_t cell_column = 0;
  std::string value;
  bool has_value = false;

  ~Impl() {
    if (parser) XML_ParserFree(parser);
    if (sheet) zip_fclose(sheet);
    if (archive) zip_discard(archive);
  }

  Result<std::string> read_entry(const std::string& name, bool required) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(archive, name.c_str(), 0, &st) != 0) {
      if (!required) return std::string();
      return Status(kFileUnreadable, "the workbook has no " + name);
    }
    zip_file_t* f = zip_fopen(archive, name.c_str(), 0);
    if (!f) {
      return Status(kFileUnreadable,
                    "cannot open " + name + " in the workbook: " + zip_strerror(archive));
    }
    std::string out;
    char buffer[16384];
    for (;;) {
      zip_int64_t n = zip_fread(f, buffer, sizeof buffer);
      if (n < 0) {
        std::string why = zip_file_strerror(f);
        zip_fclose(f);
        return Status(kFileUnreadable, "cannot read " + name + " in the workbook: " + why);
      }
      if (n == 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    zip_fclose(f);
    return out;
  }

  void fail(Status status) {
    if (error.is_ok()) error = std::move(status);
    XML_StopParser(parser, XML_FALSE);
  }

  void finish_cell() {
    if (!has_value) return;
    XlsxCell cell;
    cell.column = static_cast<uint32_t>(cell_column);
    if (cell_type == "s") {
      char* end = nullptr;
      unsigned long index = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || index >= shared.size()) {
        fail(Status(kFileUnreadable, sheet_name + ": cell in row " + std::to_string(row.number) +
                                         " names shared string \"" + value +
                                         "\", which does not exist"));
        return;
      }
      cell.text = shared[index];
    } else if (cell_type == "inlineStr" || cell_type == "str" || cell_type == "d") {
      cell.text = std::move(value);
    } else if (cell_type == "b") {
      cell.kind = CellKind::kBool;
      cell.text = value == "1" ? "TRUE" : "FALSE";
    } else if (cell_type == "e") {
      cell.kind = CellKind::kError;
      cell.text = std::move(value);
    } else {
      bool date = cell_style >= 0 && static_cast<size_t>(cell_style) < xf_is_date.size() &&
                  xf_is_date[cell_style];
      cell.kind = date ? CellKind::kDate : CellKind::kNumber;
      cell.text = std::move(value);
    }
    if (cell.text.empty() && cell.kind == CellKind::kText) return;
    row.cells.push_back(std::move(cell));
  }

  static void on_start(void* data, const char* name, const char** attributes) {
    auto* self = static_cast<Impl*>(data);
    std::string_view element = local(name);
    if (element == "row") {
      self->in_row = true;
      self->row.cells.clear();
      self->row.offset = static_cast<uint64_t>(XML_GetCurrentByteIndex(self->parser));
      const char* r = attribute(attributes, "r");
      self->row.number = r ? std::strtoull(r, nullptr, 10) : self->last_row + 1;
      if (self->row.number <= self->last_row) self->row.number = self->last_row + 1;
      self->last_column = -1;
    } else if (element == "c" && self->in_row) {
      self->in_cell = true;
      self->has_value = false;
      self->value.clear();
      const char* t = attribute(attributes, "t");
      self->cell_type = t ? t : "n";
      const char* s = attribute(attributes, "s");
      self->cell_style = s ? std::strtol(s, nullptr, 10) : -1;
      const char* r = attribute(attributes, "r");
      int64_t column = r ? column_of_reference(r) : -1;
      self->cell_column = column >= 0 ? column : self->last_column + 1;
      self->last_column = self->cell_column;
    } else if (self->in_cell) {
      if (element == "v") {
        self->in_value = true;
        self->has_value = true;
      } else if (element == "is") {
        ++self->in_inline;
        self->has_value = true;
      } else if (element == "rPh") {
        ++self->in_rph;
      } else if (element == "t" && self->in_inline) {
        ++self->in_t;
      }
    }
  }

  static void on_end(void* data, const char* name) {
    auto* self = static_cast<Impl*>(data);
    std::string_view element = local(name);
    if (element == "row" && self->in_row) {
      self->in_row = false;
      self->last_row = self->row.number;
      if (!self->row.cells.empty()) self->ready.push_back(self->row);
    } else if (element == "c" && self->in_cell) {
      self->finish_cell();
      self->in_cell = false;
      self->in_value = false;
      self->in_inline = self->in_t = self->in_rph = 0;
    } else if (element == "v") {
      self->in_value = false;
    } else if (element == "is") {
      --self->in_inline;
    } else if (element == "rPh") {
      --self->in_rph;
    } else if (element == "t" && self->in_t) {
      --self->in_t;
    }
  }

  static void on_text(void* data, const char* text, int length) {
    auto* self = static_cast<Impl*>(data);
    if (self->in_value || (self->in_t && !self->in_rph)) self->value.append(text, length);
  }

  // Parses the next chunk of the sheet; false when nothing more can be read.
  bool feed() {
    if (finished) return false;
    zip_int64_t n = zip_fread(sheet, chunk.get(), kChunk);
    if (n < 0) {
      error = Status(kFileUnreadable,
                     "cannot read " + sheet_name + " in the workbook: " + zip_file_strerror(sheet));
      finished = true;
      return false;
    }
    bool last = n == 0;
    if (XML_Parse(parser, chunk.get(), static_cast<int>(n), last) == XML_STATUS_ERROR) {
      if (error.is_ok()) {
        error = Status(kFileUnreadable, sheet_name + " is not well-formed XML (line " +
                                            std::to_string(XML_GetCurrentLineNumber(parser)) +
                                            "): " + XML_ErrorString(XML_GetErrorCode(parser)));
      }
      finished = true;
      return false;
    }
    if (last) finished = true;
    return true;
  }
};

XlsxReader::XlsxReader() = default;
XlsxReader::~XlsxReader() = default;

Status XlsxReader::open(std::string_view bytes) {
  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source) {
    m.archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (!m.archive) zip_source_free(source);
  }
  if (!m.archive) {
    status_ = Status(kFileUnreadable, "not a readable XLSX workbook (zip): " +
                                          std::string(zip_error_strerror(&error)));
    zip_error_fini(&error);
    return status_;
  }
  zip_error_fini(&error);
  // The first sheet: workbook.xml names it, its relationships locate it.
  Result<std::string> workbook = m.read_entry("xl/workbook.xml", true);
  if (!workbook) return status_ = workbook.status();
  WorkbookState wb;
  Status parsed = parse_part(
      "xl/workbook.xml", *workbook, wb,
      [](void* data, const char* name, const char** attributes) {
        auto* state = static_cast<WorkbookState*>(data);
        if (local(name) != "sheet" || !state->first_sheet_rid.empty()) return;
        const char* id = attribute(attributes, "id");
        if (id) state->first_sheet_rid = id;
      },
      [](void*, const char*) {}, nullptr);
  if (!parsed) return status_ = parsed;
  Result<std::string> rels_xml = m.read_entry("xl/_rels/workbook.xml.rels", false);
  if (!rels_xml) return status_ = rels_xml.status();
  RelsState rels;
  parsed = parse_part(
      "xl/_rels/workbook.xml.rels", *rels_xml, rels,
      [](void* data, const char* name, const char** attributes) {
        if (local(name) != "Relationship") return;
        const char* id = attribute(attributes, "Id");
        const char* type = attribute(attributes, "Type");
        const char* target = attribute(attributes, "Target");
        if (id && target) {
          static_cast<RelsState*>(data)->targets[id] = {type ? type : "", target};
        }
      },
      [](void*, const char*) {}, nullptr);
  if (!parsed) return status_ = parsed;
  auto resolve = [](const std::string& target) {
    return target.starts_with("/") ? target.substr(1) : "xl/" + target;
  };
  m.sheet_name = "xl/worksheets/sheet1.xml";
  std::string shared_name = "xl/sharedStrings.xml";
  std::string styles_name = "xl/styles.xml";
  for (const auto& [id, entry] : rels.targets) {
    if (id == wb.first_sheet_rid) m.sheet_name = resolve(entry.second);
    if (entry.first.ends_with("/sharedStrings")) shared_name = resolve(entry.second);
    if (entry.first.ends_with("/styles")) styles_name = resolve(entry.second);
  }

  Result<std::string> shared_xml = m.read_entry(shared_name, false);
  if (!shared_xml) return status_ = shared_xml.status();
  if (!shared_xml->empty()) {
    SharedStringsState ss{&m.shared};
    parsed = parse_part(
        shared_name, *shared_xml, ss,
        [](void* data, const char* name, const char**) {
          auto* s = static_cast<SharedStringsState*>(data);
          std::string_view element = local(name);
          if (element == "si") {
            ++s->in_si;
            s->strings->emplace_back();
          } else if (element == "rPh") {
            ++s->in_rph;
          } else if (element == "t" && s->in_si) {
            ++s->in_t;
          }
        },
        [](void* data, const char* name) {
          auto* s = static_cast<SharedStringsState*>(data);
          std::string_view element = local(name);
          if (element == "si") --s->in_si;
          if (element == "rPh") --s->in_rph;
          if (element == "t" && s->in_t) --s->in_t;
        },
        [](void* data, const char* text, int length) {
          auto* s = static_cast<SharedStringsState*>(data);
          if (s->in_si && s->in_t && !s->in_rph) s->strings->back().append(text, length);
        });
    if (!parsed) return status_ = parsed;
  }

  Result<std::string> styles_xml = m.read_entry(styles_name, false);
  if (!styles_xml) return status_ = styles_xml.status();
  if (!styles_xml->empty()) {
    StylesState st;
    parsed = parse_part(
        styles_name, *styles_xml, st,
        [](void* data, const char* name, const char** attributes) {
          auto* s = static_cast<StylesState*>(data);
          std::string_view element = local(name);
          if (element == "numFmt") {
            const char* id = attribute(attributes, "numFmtId");
            const char* code = attribute(attributes, "formatCode");
            if (id && code) s->formats[std::strtoul(id, nullptr, 10)] = code;
          } else if (element == "cellXfs") {
            s->in_cell_xfs = true;
          } else if (element == "xf" && s->in_cell_xfs) {
            const char* id = attribute(attributes, "numFmtId");
            s->xf_formats.push_back(id ? std::strtoul(id, nullptr, 10) : 0);
          }
        },
        [](void* data, const char* name) {
          if (local(name) == "cellXfs") static_cast<StylesState*>(data)->in_cell_xfs = false;
        },
        nullptr);
    if (!parsed) return status_ = parsed;
    for (uint32_t id : st.xf_formats) {
      auto custom = st.formats.find(id);
      m.xf_is_date.push_back(
          is_date_format(id, custom == st.formats.end() ? std::string_view() : custom->second));
    }
  }

  m.sheet = zip_fopen(m.archive, m.sheet_name.c_str(), 0);
  if (!m.sheet) {
    return status_ = Status(kFileUnreadable, "the workbook's first sheet " + m.sheet_name +
                                                 " cannot be opened: " + zip_strerror(m.archive));
  }
  m.parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(m.parser, &m);
  XML_SetElementHandler(m.parser, &Impl::on_start, &Impl::on_end);
  XML_SetCharacterDataHandler(m.parser, &Impl::on_text);
  m.chunk = std::make_unique<char[]>(kChunk);
  return status_ = Status::ok();
}

bool XlsxReader::next_row(XlsxRow& row) {
  if (!impl_ || !status_) return false;
  Impl& m = *impl_;
  while (m.ready.empty()) {
    if (!m.feed()) {
      if (!m.error.is_ok()) status_ = m.error;
      return false;
    }
    if (!m.error.is_ok()) {
      status_ = m.error;
      return false;
    }
  }
  row = std::move(m.ready.front());
  m.ready.pop_front();
  return true;
}

}  // namespace hutong::education
