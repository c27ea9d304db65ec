// poverty_snapshot: turns the poverty-alleviation office's monthly full
// snapshots (建档立卡人口_<yyyymm>.csv, one row per registered member) into
// changes: the members added or changed since the last applied snapshot
// (upserts) and those no longer in it (deletes), keyed 户编号|人编号.
//
// - A snapshot that would remove more than `max_delete_percent` of the
//   registered members is held (the connector reports snapshot.held and the
//   previous snapshot stays in force) until an operator confirms it with
//   `hutong connector confirm <connector> <file>`, which the hub passes in as
//   `confirmed`. A partial export must never wipe the registry.
// - The diff is computed from the two files themselves (the previous one stays
//   in the folder), in key order, so it is the same after a restart; the
//   position is "applied file|target file|operations done|last file seen".
// - Rows are read as the spec's reading rules say (GB18030 or UTF-8 per line,
//   cell count, truncated last row, ID number); a rejected row is quarantined
//   with its text and never deletes the member it names.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/date.h"
#include "domain/encoding.h"
#include "domain/name.h"
#include "domain/resident_id.h"
#include "domain/text.h"
#include "hutong/labels.hpp"
#include "hutong/plugin.hpp"
#include "hutong/v1/poverty.pb.h"

namespace {

namespace fs = std::filesystem;
using hutong::sdk::enum_by_label;
using hutong::sdk::Failure;

const hutong_config_key kKeys[] = {
    {"folder", HUTONG_CONFIG_PATH, nullptr, "where the monthly snapshots are delivered"},
    {"max_delete_percent", HUTONG_CONFIG_INT, "20",
     "hold a snapshot that would remove more than this share of the registered members"},
    {"confirmed", HUTONG_CONFIG_STRING, "",
     "a held snapshot the operator confirmed (set by `hutong connector confirm`)"},
};

constexpr const char* kColumns[] = {
    "省",           "市",         "县",         "乡(镇)",       "行政村", "行政区划代码",
    "户编号",       "人编号",     "姓名",       "证件号码",     "性别",   "与户主关系",
    "民族",         "在校生状况", "贫困户属性", "主要致贫原因", "户类型", "监测对象类型",
    "风险是否消除", "脱贫年度",   "联系电话"};
enum Column {
  kProvince,
  kCity,
  kCounty,
  kTownship,
  kVillage,
  kDivision,
  kHousehold,
  kMember,
  kName,
  kId,
  kSex,
  kRelation,
  kEthnicity,
  kSchooling,
  kAttribute,
  kCause,
  kType,
  kMonitoring,
  kRisk,
  kExitYear,
  kPhone,
  kColumnCount
};

// Splits one CSV record (RFC 4180 quoting) into trimmed cells, reusing the
// cells' storage from row to row.
void split_csv(std::string_view line, std::vector<std::string>& cells) {
  size_t count = 0;
  auto next_cell = [&]() -> std::string& {
    if (count == cells.size()) cells.emplace_back();
    std::string& cell = cells[count++];
    cell.clear();
    return cell;
  };
  if (line.find('"') == std::string_view::npos) {  // the usual row: no quoting
    size_t start = 0;
    for (;;) {
      size_t comma = line.find(',', start);
      std::string_view cell =
          line.substr(start, comma == std::string_view::npos ? comma : comma - start);
      next_cell().assign(hutong::domain::trim_spaces(cell));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    cells.resize(count);
    return;
  }
  std::string* cell = &next_cell();
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        *cell += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        *cell += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      cell = &next_cell();
    } else {
      *cell += ch;
    }
  }
  cells.resize(count);
  for (std::string& c : cells) {
    std::string_view trimmed = hutong::domain::trim_spaces(c);
    if (trimmed.size() != c.size()) c = std::string(trimmed);
  }
}

// A member as a snapshot has it: the record (without its month) and its row.
struct Member {
  std::string bytes;
  uint64_t row = 0;
};

struct Snapshot {
  std::string file;
  int month = 0;                                    // yyyymm
  std::unordered_map<std::string, Member> members;  // key -> PovertyMember (no month), row
  std::unordered_set<std::string> rejected_keys;    // members named by rejected rows
  std::vector<hutong::sdk::RejectedRow> rejected;
};

class PovertySnapshot : public hutong::sdk::Source {
 public:
  PovertySnapshot(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        folder_(settings.string("folder")),
        max_delete_percent_(settings.integer("max_delete_percent")),
        confirmed_(settings.string("confirmed")) {}

  void start(std::string_view position) override {
    if (position.empty()) return;
    std::vector<std::string> parts(1);  // empty parts count: "applied||0|seen"
    for (char ch : position) {
      if (ch == '|')
        parts.emplace_back();
      else
        parts.back() += ch;
    }
    if (parts.size() != 4)
      throw Failure("position.invalid", "bad position " + std::string(position));
    applied_ = parts[0];
    target_ = parts[1];
    done_ = std::stoull(parts[2]);
    last_seen_ = parts[3];
  }

  bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override {
    if (target_.empty()) {
      std::optional<std::string> next = next_file();
      if (!next) return false;
      target_ = *next;
      done_ = 0;
      plan_.reset();
    }
    if (!plan_) plan(out);
    if (!plan_) {  // the file had no effect (reported); move past it
      last_seen_ = target_;
      target_.clear();
      emit_position(out);
      return true;
    }
    size_t end = std::min(plan_->size(), done_ + max_records);
    for (; done_ < end; ++done_) {
      const Operation& op = (*plan_)[done_];
      if (op.remove) {
        out.remove("poverty.member", op.key, target_);
      } else {
        out.upsert_bytes("poverty.member", op.key, op.bytes, op.location);
      }
    }
    if (done_ == plan_->size()) {
      host_.info(target_ + " applied: " + std::to_string(plan_->size()) + " change(s)");
      applied_ = last_seen_ = target_;
      target_.clear();
      done_ = 0;
      plan_.reset();
    }
    emit_position(out);
    return true;
  }

 private:
  struct Operation {
    std::string key;
    bool remove = false;
    std::string bytes;
    std::string location;
  };

  static int month_of(const std::string& file) {
    static const std::regex pattern("建档立卡人口_([0-9]{6})\\.csv");
    std::smatch m;
    return std::regex_match(file, m, pattern) ? std::stoi(m[1]) : 0;
  }

  // The first snapshot after the last one seen, by the month in its name.
  std::optional<std::string> next_file() const {
    std::map<int, std::string> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder_, ec)) {
      std::string name = entry.path().filename().string();
      if (int month = month_of(name); month > 0) files[month] = name;
    }
    if (ec) throw Failure("source.unavailable", "cannot list " + folder_ + ": " + ec.message());
    int after = last_seen_.empty() ? 0 : month_of(last_seen_);
    auto it = files.upper_bound(after);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }

  void emit_position(hutong::sdk::Emitter& out) {
    out.position(applied_ + "|" + target_ + "|" + std::to_string(done_) + "|" + last_seen_);
  }

  // Reads one snapshot; nullopt when the file has no effect (empty or header only).
  std::optional<Snapshot> load(const std::string& file, hutong::sdk::Emitter* report) {
    std::ifstream in(fs::path(folder_) / file, std::ios::binary);
    if (!in) throw Failure("source.unavailable", "cannot read " + folder_ + "/" + file);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    Snapshot s;
    s.file = file;
    s.month = month_of(file);
    auto reject_file = [&](std::string_view code, const std::string& message) {
      if (!report) return;
      hutong::sdk::RejectedRow r;
      r.source_name = file;
      r.original = bytes.substr(0, 4096);
      r.reason_code = std::string(code);
      r.message = file + ": " + message;
      r.intended_topic = "poverty.member";
      report->reject(r);
    };
    hutong::domain::TextDecoder decoder(bytes);
    size_t pos = decoder.bom_size();
    std::vector<std::string> header;
    uint64_t row = 0;
    std::string text;
    std::vector<std::string> cells;
    hutong::v1::PovertyMember m;
    while (pos < bytes.size()) {
      size_t newline = bytes.find('\n', pos);
      bool truncated = newline == std::string::npos;
      size_t end = truncated ? bytes.size() : newline;
      std::string_view line(bytes.data() + pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      uint64_t offset = pos;
      pos = truncated ? bytes.size() : newline + 1;
      ++row;
      if (line.empty()) continue;
      auto reject = [&](std::string_view code, const std::string& message, const char* field,
                        const std::vector<std::string>* cells) {
        if (cells && cells->size() > kMember && !(*cells)[kHousehold].empty()) {
          s.rejected_keys.insert((*cells)[kHousehold] + "|" + (*cells)[kMember]);
        }
        hutong::sdk::RejectedRow r;
        r.source_name = file;
        r.row_number = row;
        r.byte_offset = offset;
        r.original = std::string(line);
        r.original_encoding = std::string(hutong::domain::encoding_name(decoder.file_encoding()));
        r.reason_code = std::string(code);
        r.message = file + " row " + std::to_string(row) + ": " + message;
        r.field = field;
        r.intended_topic = "poverty.member";
        s.rejected.push_back(std::move(r));
      };
      if (hutong::Status d = decoder.decode_into(line, row, offset, text); !d) {
        reject(d.code(), d.message(), "", nullptr);
        continue;
      }
      split_csv(text, cells);
      if (header.empty()) {
        header = cells;
        std::vector<std::string> expected(std::begin(kColumns), std::end(kColumns));
        if (header != expected) {
          reject_file("file.header", "the header is not the snapshot's 21 columns");
          throw Failure("file.header", file + ": the header is not the 建档立卡 snapshot's");
        }
        continue;
      }
      if (truncated) {
        reject("row.truncated", "the last row does not end with a line break", "", &cells);
        continue;
      }
      if (cells.size() != header.size()) {
        reject("row.cell_count",
               std::to_string(cells.size()) + " cells; the header has " +
                   std::to_string(header.size()),
               "", &cells);
        continue;
      }
      auto id = hutong::domain::normalize_resident_id(cells[kId], hutong::domain::today());
      if (!id) {
        reject(id.code(), id.status().message(), "证件号码", &cells);
        continue;
      }
      m.Clear();
      m.set_member_no(cells[kMember]);
      auto* person = m.mutable_person();
      person->set_resident_id(std::string(id->number()));
      person->set_id_type(hutong::v1::ID_TYPE_RESIDENT_ID);
      auto name = hutong::domain::normalize_name(cells[kName]);
      person->set_name(name ? *name : cells[kName]);
      person->set_sex(
          static_cast<hutong::v1::Sex>(enum_by_label(hutong::v1::Sex_descriptor(), cells[kSex])));
      if (person->sex() == hutong::v1::SEX_UNSPECIFIED) person->set_sex_text(cells[kSex]);
      person->set_ethnicity(cells[kEthnicity]);
      person->set_phone(cells[kPhone]);
      m.set_relation(static_cast<hutong::v1::Relation>(
          enum_by_label(hutong::v1::Relation_descriptor(), cells[kRelation])));
      if (m.relation() == hutong::v1::RELATION_UNSPECIFIED) m.set_relation_text(cells[kRelation]);
      m.set_schooling(static_cast<hutong::v1::Schooling>(
          enum_by_label(hutong::v1::Schooling_descriptor(), cells[kSchooling])));
      if (m.schooling() == hutong::v1::SCHOOLING_UNSPECIFIED) {
        m.set_schooling_text(cells[kSchooling]);
      }
      auto* h = m.mutable_household();
      h->set_household_no(cells[kHousehold]);
      h->set_division_code(cells[kDivision]);
      auto* place = h->mutable_place();
      place->set_province(cells[kProvince]);
      place->set_city(cells[kCity]);
      place->set_county(cells[kCounty]);
      place->set_township(cells[kTownship]);
      place->set_village(cells[kVillage]);
      h->set_attribute(static_cast<hutong::v1::PovertyHouseholdAttribute>(
          enum_by_label(hutong::v1::PovertyHouseholdAttribute_descriptor(), cells[kAttribute])));
      if (!h->attribute()) h->set_attribute_text(cells[kAttribute]);
      h->set_main_cause(static_cast<hutong::v1::PovertyCause>(
          enum_by_label(hutong::v1::PovertyCause_descriptor(), cells[kCause])));
      if (!h->main_cause()) h->set_main_cause_text(cells[kCause]);
      h->set_household_type(static_cast<hutong::v1::PovertyHouseholdType>(
          enum_by_label(hutong::v1::PovertyHouseholdType_descriptor(), cells[kType])));
      if (!h->household_type()) h->set_household_type_text(cells[kType]);
      h->set_monitoring_type(static_cast<hutong::v1::MonitoringType>(
          enum_by_label(hutong::v1::MonitoringType_descriptor(), cells[kMonitoring])));
      if (!h->monitoring_type() && !cells[kMonitoring].empty()) {
        h->set_monitoring_type_text(cells[kMonitoring]);
      }
      if (cells[kRisk] == "是") h->set_risk_cleared(true);
      if (cells[kRisk] == "否") h->set_risk_cleared(false);
      if (!cells[kExitYear].empty()) {
        try {
          h->set_exit_year(std::stoi(cells[kExitYear]));
        } catch (const std::exception&) {
          reject(hutong::domain::kValueDate, "脱贫年度 \"" + cells[kExitYear] + "\" is not a year",
                 "脱贫年度", &cells);
          continue;
        }
      }
      Member& member = s.members[cells[kHousehold] + "|" + cells[kMember]];
      m.SerializeToString(&member.bytes);
      member.row = row;
    }
    if (header.empty() || (s.members.empty() && s.rejected.empty())) {
      host_.warn(file + (header.empty() ? " is empty" : " holds only its header") +
                 ": it has no effect");
      reject_file(header.empty() ? "file.empty" : "file.header_only",
                  header.empty() ? "the file is empty" : "the file holds only its header");
      return std::nullopt;
    }
    return s;
  }

  // The operations that turn the applied snapshot into the target, in key order.
  void plan(hutong::sdk::Emitter& out) {
    // The two snapshots are read side by side (two large files, two cores).
    std::future<std::optional<Snapshot>> earlier;
    if (!applied_.empty()) {
      earlier = std::async(std::launch::async, [this] { return load(applied_, nullptr); });
    }
    std::optional<Snapshot> next = load(target_, done_ == 0 ? &out : nullptr);
    std::optional<Snapshot> previous;
    if (earlier.valid()) previous = earlier.get();
    if (!next) return;
    std::vector<Operation> ops;
    size_t removals = 0;
    const decltype(next->members) none;
    const auto& before = previous ? previous->members : none;
    for (auto& [key, member] : next->members) {
      auto it = before.find(key);
      if (it != before.end() && it->second.bytes == member.bytes) continue;
      // The month appended as one more field: in protobuf's wire format the
      // last value of a field wins, so the record needs no parsing here.
      std::string bytes = std::move(member.bytes);
      bytes.push_back(static_cast<char>(8 << 3));  // snapshot_month, varint
      for (uint32_t v = static_cast<uint32_t>(next->month);; v >>= 7) {
        if (v < 0x80) {
          bytes.push_back(static_cast<char>(v));
          break;
        }
        bytes.push_back(static_cast<char>((v & 0x7F) | 0x80));
      }
      ops.push_back(
          {key, false, std::move(bytes), next->file + " row " + std::to_string(member.row)});
    }
    // Registered now: the applied snapshot's members, and those its rejected
    // rows kept at an earlier version.
    size_t registered = before.size();
    auto removed = [&](const std::string& key) {
      if (next->members.contains(key) || next->rejected_keys.contains(key)) return;
      ops.push_back({key, true, "", ""});
      ++removals;
    };
    for (const auto& [key, member] : before)
      removed(key);
    if (previous) {
      for (const std::string& key : previous->rejected_keys) {
        if (before.contains(key)) continue;
        ++registered;
        removed(key);
      }
    }
    std::sort(ops.begin(), ops.end(),
              [](const Operation& a, const Operation& b) { return a.key < b.key; });
    if (registered > 0 && removals * 100 > static_cast<size_t>(max_delete_percent_) * registered &&
        confirmed_ != target_) {
      throw Failure("snapshot.held",
                    target_ + " would remove " + std::to_string(removals) + " of the " +
                        std::to_string(registered) + " registered members (more than " +
                        std::to_string(max_delete_percent_) + " %): a partial export? " + applied_ +
                        " stays in force. If it is right, confirm it: hutong "
                        "connector confirm <connector> " +
                        target_);
    }
    if (done_ == 0) {
      for (const auto& r : next->rejected)
        out.reject(r);
    }
    plan_ = std::move(ops);
  }

  hutong::sdk::Host host_;
  std::string folder_;
  int64_t max_delete_percent_;
  std::string confirmed_;
  std::string applied_, target_, last_seen_;
  size_t done_ = 0;
  std::optional<std::vector<Operation>> plan_;
};

}  // namespace

HUTONG_SOURCE_PLUGIN(PovertySnapshot, "poverty_snapshot", "0.1.0",
                     "the poverty office's monthly 建档立卡 snapshots, as changes", kKeys)
