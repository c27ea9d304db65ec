// What the sink tests share. The hub they run: the poverty_snapshot adapter on
// the sample snapshots (whose later months delete members), test_source with
// personal data, the charity fund's department policy. What a sink should
// hold, computed from the hub's journal: the current version of every key of
// a topic (upserts replace, deletes remove), flattened the way the sinks'
// record layout defines columns (plugins/common/record_layout.h). Readers for
// what the sinks wrote: an RFC 4180 CSV parser and an XLSX sheet reader
// (libzip + expat) that keeps each cell's type.
#pragma once

#include <expat.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/encoding.h"
#include "domain/spreadsheet.h"
#include "hub_process.h"
#include "journal/envelope_record.h"
#include "journal/journal.h"
#include "record_layout.h"

namespace hutong::testing {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Today's local date as yyyymmdd (what the files sink puts in its file names).
inline std::string today() {
  time_t now = time(nullptr);
  std::tm parts{};
  localtime_r(&now, &parts);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d", &parts);
  return text;
}

// Delivers a sample snapshot (tests/data/poverty) into the drop folder,
// replacing text in it. The samples hold a deliberately undecodable row, so the
// GB18030 bytes are edited, not the file re-encoded.
inline void drop_snapshot(const std::string& month, const std::string& drop,
                          const std::vector<std::pair<std::string, std::string>>& replace = {}) {
  std::string name = "建档立卡人口_" + month + ".csv";
  std::string bytes = read_file(std::string(HUTONG_SOURCE_DIR) + "/tests/data/poverty/" + name);
  for (const auto& [from, to] : replace) {
    std::string f = *domain::utf8_to_gb18030(from);
    std::string t = *domain::utf8_to_gb18030(to);
    for (size_t at = bytes.find(f); at != std::string::npos; at = bytes.find(f, at + t.size()))
      bytes.replace(at, f.size(), t);
  }
  // Delivered as the office's system delivers: written under another name, then
  // renamed, so the adapter never reads a half-written (or still empty) file.
  std::string part = drop + "/." + name + ".part";
  std::ofstream(part, std::ios::binary) << bytes;
  std::filesystem::rename(part, drop + "/" + name);
}

// The topics the two sources publish (and the sinks under test receive).
inline const std::set<std::string> kTopics = {"education.enrollment", "poverty.member"};

// The start of a hub configuration with the two sources: poverty_snapshot on
// <dir>/drop and test_source with `rows` personal rows; sinks follow.
inline std::string sources_yaml(const std::string& dir, int64_t rows, int per_poll) {
  return "hub:\n  data_dir: " + dir + R"(/data
connectors:
  - name: poverty
    plugin: poverty_snapshot
    poll_interval_ms: 10
    settings:
      folder: )" +
         dir + R"(/drop
  - name: roster
    plugin: test_source
    poll_interval_ms: 10
    settings:
      total: )" +
         std::to_string(rows) + R"(
      per_poll: )" +
         std::to_string(per_poll) + R"(
      personal: true
)";
}

// The charity fund sees the roster of division 610523 only (test_source's even
// rows), with masked IDs and names, no phones, and a keyed hash of the
// national student number.
inline const std::string kCharityDepartment = R"(departments:
  - name: charity
    topics: [education.enrollment]
    division_prefixes: ["610523"]
    fields:
      id_number: mask
      name: mask
      phone: drop
      "education.enrollment:national_student_number": hash
)";

// Whether both sources have read everything: `rows` roster rows and the
// snapshot of `last_month`.
inline bool sources_done(HubProcess& hub, const std::string& rows, const std::string& last_month) {
  nlohmann::json s = hub.status();
  return s["roster"]["last_position"] == rows &&
         s["poverty"]["last_position"].get<std::string>().starts_with("建档立卡人口_" + last_month +
                                                                      ".csv||0|");
}

struct CurrentRecord {
  uint64_t offset = 0;
  std::string payload;
};
using TopicState = std::map<std::string, CurrentRecord>;  // by key, in byte order

// The current state of each of `topics` in the journal of `data_dir`.
inline std::map<std::string, TopicState> journal_state(const std::string& data_dir,
                                                       const std::set<std::string>& topics) {
  journal::JournalOptions ro;
  ro.directory = data_dir + "/journal";
  ro.read_only = true;
  std::map<std::string, TopicState> out;
  for (const std::string& t : topics)
    out[t];
  auto opened = journal::Journal::open(ro);
  if (!opened) return out;
  std::set<std::string, std::less<>> wanted(topics.begin(), topics.end());
  auto reader = (*opened)->read_from(0, wanted);
  v1::Envelope e;
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    const journal::RecordView& v = **r;
    TopicState& state = out[std::string(v.topic)];
    if (v.op == journal::Op::kDelete) {
      state.erase(std::string(v.key));
      continue;
    }
    e.Clear();
    if (!journal::from_record(v, e)) continue;
    const google::protobuf::Message* payload = journal::payload_of(e);
    state[std::string(v.key)] = {v.offset, payload ? payload->SerializeAsString() : ""};
  }
  return out;
}

using Rows = std::vector<std::vector<std::string>>;

// The files sink's header (its default, `header: titles`) for a column of the
// topic's layout named `name` ("_key": the key column), and back.
inline std::string title_of(const std::string& topic, const std::string& name) {
  if (name == "_key") return "记录键";
  for (const sinks::Column& c : sinks::RecordLayout::for_topic(topic)->columns()) {
    if (c.name == name) return c.title;
  }
  return "(no column " + name + ")";
}
inline std::string name_of(const std::string& topic, const std::string& title) {
  if (title == "记录键") return "_key";
  for (const sinks::Column& c : sinks::RecordLayout::for_topic(topic)->columns()) {
    if (c.title == title) return c.name;
  }
  return "(no column titled " + title + ")";
}

// What a spreadsheet file of the topic should show: the header (the key, then
// the columns, by title) and one row per current key, with the files sink's
// cell rules written out independently: no value is an empty cell, booleans
// read 是 / 否, formula-like text is neutralized by the domain library.
inline Rows expected_sheet(const std::string& topic, const TopicState& state) {
  const sinks::RecordLayout* layout = sinks::RecordLayout::for_topic(topic);
  Rows rows;
  std::vector<std::string> header = {"记录键"};
  for (const sinks::Column& c : layout->columns())
    header.push_back(c.title);
  rows.push_back(header);
  std::vector<sinks::Cell> cells;
  for (const auto& [key, record] : state) {
    layout->flatten(record.payload, cells);
    std::vector<std::string> row = {domain::neutralize_formula(key)};
    for (size_t i = 0; i < cells.size(); ++i) {
      if (!cells[i]) {
        row.emplace_back();
      } else if (layout->columns()[i].type == sinks::ColumnType::kBoolean) {
        row.push_back(*cells[i] == "true" ? "是" : "否");
      } else {
        row.push_back(domain::neutralize_formula(*cells[i]));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// RFC 4180 with CRLF line ends; nullopt when the text is not well-formed.
inline std::optional<Rows> parse_csv(std::string_view text) {
  Rows rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"' && cell.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
      was_quoted = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(std::move(cell));
      rows.push_back(std::move(row));
      cell.clear();
      row.clear();
      was_quoted = false;
      ++i;
    } else if (c == '\r' || c == '\n') {
      return std::nullopt;  // a bare line break outside quotes
    } else {
      cell += c;
    }
  }
  if (quoted || !cell.empty() || !row.empty()) return std::nullopt;  // no final CRLF
  return rows;
}

struct SheetCell {
  std::string type;  // the cell's t attribute: inlineStr, s, str, or "" for a number
  std::string text;
};
using Sheet = std::vector<std::vector<SheetCell>>;

namespace internal {
struct SheetParser {
  Sheet sheet;
  bool in_value = false;
  int column = -1;
  std::string type, text;
  static int column_of(const char* ref) {
    int n = 0;
    for (; *ref >= 'A' && *ref <= 'Z'; ++ref)
      n = n * 26 + (*ref - 'A' + 1);
    return n - 1;
  }
  static void start(void* data, const char* name, const char** attrs) {
    auto* p = static_cast<SheetParser*>(data);
    std::string_view n(name);
    if (n == "row") {
      p->sheet.emplace_back();
    } else if (n == "c") {
      p->type.clear();
      p->text.clear();
      for (int i = 0; attrs[i]; i += 2) {
        if (std::string_view(attrs[i]) == "t") p->type = attrs[i + 1];
        if (std::string_view(attrs[i]) == "r") p->column = column_of(attrs[i + 1]);
      }
    } else if (n == "v" || n == "t") {
      p->in_value = true;
    }
  }
  static void end(void* data, const char* name) {
    auto* p = static_cast<SheetParser*>(data);
    std::string_view n(name);
    if (n == "v" || n == "t") {
      p->in_value = false;
    } else if (n == "c" && !p->sheet.empty()) {
      auto& row = p->sheet.back();
      if (static_cast<int>(row.size()) <= p->column) row.resize(p->column + 1);
      row[p->column] = {p->type, p->text};
    }
  }
  static void chars(void* data, const char* s, int len) {
    auto* p = static_cast<SheetParser*>(data);
    if (p->in_value) p->text.append(s, len);
  }
};
}  // namespace internal

// The first worksheet of an XLSX file, cell by cell; nullopt when unreadable.
inline std::optional<Sheet> read_xlsx(const std::string& path) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (archive == nullptr) return std::nullopt;
  std::string xml;
  if (zip_file_t* f = zip_fopen(archive, "xl/worksheets/sheet1.xml", 0)) {
    char buf[65536];
    zip_int64_t n;
    while ((n = zip_fread(f, buf, sizeof buf)) > 0)
      xml.append(buf, static_cast<size_t>(n));
    zip_fclose(f);
  }
  zip_close(archive);
  if (xml.empty()) return std::nullopt;
  internal::SheetParser parser;
  XML_Parser p = XML_ParserCreate("UTF-8");
  XML_SetUserData(p, &parser);
  XML_SetElementHandler(p, &internal::SheetParser::start, &internal::SheetParser::end);
  XML_SetCharacterDataHandler(p, &internal::SheetParser::chars);
  bool ok = XML_Parse(p, xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  if (!ok) return std::nullopt;
  return parser.sheet;
}

// The offsets (other than 0) a sink connector was started from, per the hub's
// log: where it resumed after each restart.
inline std::set<uint64_t> sink_resume_offsets(const std::string& log,
                                              const std::string& connector) {
  std::set<uint64_t> out;
  std::string marker = "connector " + connector + ": sink running from offset ";
  for (size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    uint64_t offset = std::stoull(log.substr(at + marker.size(), 20));
    if (offset > 0) out.insert(offset);
  }
  return out;
}

// Polls `check` until it returns an empty string (true) or the timeout passes
// (false, with the last complaint in `why`). Between checks it waits at least
// twice as long as a check took, so that an expensive check (slow under the
// sanitizers) never starves the hub it waits for.
template <typename Check>
bool eventually(Check check, std::string& why,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto started = std::chrono::steady_clock::now();
    why = check();
    if (why.empty()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now > deadline) return false;
    std::this_thread::sleep_for(std::max<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), 2 * (now - started)));
  }
}

}  // namespace hutong::testing
