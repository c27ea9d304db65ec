// The four department systems' deliveries for one county, with their truth:
// poverty snapshots (CSV), civil affairs (PostgreSQL SQL scripts), education
// exports (CSV/XLSX) and the charity fund's SQLite ledger.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include "domain/amount.h"
#include "domain/encoding.h"
#include "domain/resident_id.h"
#include "output.h"

namespace county {

void write_civil_affairs(const County& county, const DefectPicker& picker, Truth& truth,
                         std::map<std::string, uint64_t>& topics);
void write_education(const County& county, const DefectPicker& picker, Truth& truth,
                     std::map<std::string, uint64_t>& topics);
void write_fund(const County& county, const DefectPicker& picker, Truth& truth,
                std::map<std::string, uint64_t>& topics);

// ---- shared row machinery ----

// The kinds the generic emitter can apply to a row of this plan and format.
std::vector<Defect> generic_kinds(const RowPlan& plan, FileFormat format, bool typed,
                                  bool allow_duplicate) {
  std::vector<Defect> kinds;
  if (plan.id_col >= 0) {
    for (Defect d : {Defect::kIdChecksum, Defect::kIdLowerX, Defect::kIdFullWidth,
                     Defect::kIdLegacy15, Defect::kIdSpaces, Defect::kIdScientific})
      if (id_defect_applies(d, plan.clean_id)) kinds.push_back(d);
  }
  if (plan.name_col >= 0) kinds.push_back(Defect::kNameSpaces);
  kinds.push_back(Defect::kMoreCells);
  if (allow_duplicate) kinds.push_back(Defect::kDuplicate);
  if (format != FileFormat::kXlsx) {
    kinds.push_back(Defect::kFewerCells);
    if (format == FileFormat::kCsvGb18030) kinds.push_back(Defect::kStrayUtf8);
  }
  if (!typed) {
    if (plan.amount_col >= 0 && plan.amount_fen >= 100000)
      kinds.push_back(Defect::kAmountThousands);
    if (plan.date_col >= 0) kinds.push_back(Defect::kDateSlash);
  }
  return kinds;
}

// Writes the row with its defect (generic kinds; others were applied by the
// caller) and records the expected quarantine entry or repair.
Outcome emit_row(TableWriter& table, Truth& truth, std::string_view system, std::string_view source,
                 RowPlan& plan, Defect defect, Rng& rng) {
  uint64_t row = table.next_row();
  bool stray = false, invalid = false;
  std::string_view reason;
  bool repaired = false;
  std::vector<Cell>& cells = plan.cells;
  switch (defect) {
    case Defect::kIdChecksum:
    case Defect::kIdLowerX:
    case Defect::kIdFullWidth:
    case Defect::kIdLegacy15:
    case Defect::kIdSpaces:
      cells[plan.id_col].text = apply_id_defect(defect, plan.clean_id, rng);
      reason = id_defect_reason(defect);
      repaired = reason.empty();
      break;
    case Defect::kIdScientific:
      if (table.format() == FileFormat::kXlsx) {
        cells[plan.id_col].type = Cell::kNumber;
        cells[plan.id_col].number = std::stod(plan.clean_id.substr(0, 17) + "0");
        cells[plan.id_col].text = "id";
      } else {
        cells[plan.id_col].text = scientific_text(plan.clean_id);
      }
      reason = hutong::domain::kIdScientific;
      break;
    case Defect::kNameSpaces:
      cells[plan.name_col].text = pad_blanks(cells[plan.name_col].text, rng);
      repaired = true;
      break;
    case Defect::kStrayUtf8:
      stray = true;
      repaired = true;
      break;
    case Defect::kEncodingInvalid:
      invalid = true;
      reason = hutong::domain::kRowEncoding;
      break;
    case Defect::kFewerCells:
      cells.pop_back();
      reason = "row.cell_count";
      break;
    case Defect::kMoreCells:
      cells.push_back(Cell{Cell::kText, "补录"});
      reason = "row.cell_count";
      break;
    case Defect::kAmountThousands: {
      std::string plain = hutong::domain::format_fen_as_yuan(plan.amount_fen);
      std::string with;
      size_t dot = plain.find('.');
      for (size_t i = 0; i < dot; ++i) {
        if (i && (dot - i) % 3 == 0) with += ',';
        with += plain[i];
      }
      cells[plan.amount_col].text = with + plain.substr(dot);
      repaired = true;
      break;
    }
    case Defect::kDateSlash:
      cells[plan.date_col].text = std::to_string(plan.date.year) + "/" +
                                  std::to_string(plan.date.month) + "/" +
                                  std::to_string(plan.date.day);
      repaired = true;
      break;
    case Defect::kTruncated:
      reason = "row.truncated";
      break;
    default:
      break;
  }
  if (defect != Defect::kNone) truth.count_defect(defect);
  table.write(cells, stray, invalid);
  if (defect == Defect::kDuplicate) {
    table.write(cells, false);
    truth.repair(system, source, row + 1, plan.key, defect);
  }
  if (!reason.empty()) {
    truth.quarantine(system, source, row, plan.key, reason, defect);
    return Outcome::kRejected;
  }
  if (repaired) truth.repair(system, source, row, plan.key, defect);
  return Outcome::kAccepted;
}

Json person_json(const County& c, const Person& p, SystemBit system, bool with_phone) {
  Json j;
  j.str("resident_id", p.id_view()).str("id_type", "居民身份证");
  j.str("name", c.name_in(p, system)).str("name_match_key", p.name);
  j.str("sex", p.sex == 1 ? "男" : "女").str("ethnicity", kEthnicities[p.ethnicity]);
  if (with_phone) j.str("phone", c.phone(c.households[p.household]));
  return j;
}

// Whether a school-age child has dropped out (roster 辍学, snapshot 辍学).
bool is_dropout(const County& c, const Person& p) {
  CivilDate ref = c.options().reference;
  int a = c.age(p, ref);
  return a >= 11 && a <= 16 && mix64(std::strtoull(p.id, nullptr, 10) ^ 0xD209) % 200 == 0;
}

// ---- poverty snapshots ----

namespace {

const std::vector<std::string> kPovertyHeader = {
    "省",           "市",         "县",         "乡(镇)",       "行政村", "行政区划代码",
    "户编号",       "人编号",     "姓名",       "证件号码",     "性别",   "与户主关系",
    "民族",         "在校生状况", "贫困户属性", "主要致贫原因", "户类型", "监测对象类型",
    "风险是否消除", "脱贫年度",   "联系电话"};

struct HouseholdAttrs {
  uint8_t attribute, cause, type, monitoring, risk;
  int exit_year;
};

HouseholdAttrs attrs_at(const Household& h, int k) {
  HouseholdAttrs a{h.attribute, h.cause, h.type, h.monitoring, h.risk, h.exit_year};
  if (k >= h.change_at) {
    if (a.type == 0) {
      a.type = 1;
      a.monitoring = 3;
      a.risk = 2;
    } else {
      a.risk = 1;
    }
  }
  return a;
}

std::string schooling_poverty(const County& c, const Person& p, int yyyymm) {
  int y = yyyymm / 100, m = yyyymm % 100;
  CivilDate term_start{m >= 9 ? y : y - 1, 9, 1};
  auto s = c.schooling(p, term_start);
  if (s.stage && is_dropout(c, p)) return "辍学";
  static const char* kSenior[] = {"高中一年级", "高中二年级", "高中三年级"};
  static const char* kJunior[] = {"七年级", "八年级", "九年级"};
  switch (s.stage) {
    case 1:
      return "学前教育";
    case 2:
      return "小学";
    case 3:
      return kJunior[s.year_in_stage - 1];
    case 4:
      return kSenior[s.year_in_stage - 1];
    case 5:
      return "中职";
    default:
      break;
  }
  int a = c.age(p, term_start);
  if (a >= 18 && a <= 21) {
    uint64_t h = mix64(std::strtoull(p.id, nullptr, 10));
    if (h % 4 == 0) return "本科";
    if (h % 4 == 1) return "高职";
  }
  return "非在校生";
}

struct PovertyState {
  int8_t value_month = -1;  // snapshot index of the accepted values; -1 absent
  int8_t since = -1;        // snapshot index from which the values are unchanged
  uint64_t hash = 0;
  bool accepted = false;  // accepted in the snapshot that produced this state
};

}  // namespace

void write_poverty(const County& c, const DefectPicker& picker, Truth& truth,
                   std::map<std::string, uint64_t>& topics) {
  const Options& o = c.options();
  std::string dir = o.out + "/poverty";
  std::filesystem::create_directories(dir);
  int n_months = static_cast<int>(c.months.size());
  std::vector<PovertyState> state(c.people.size());
  std::vector<PovertyState> confirmed;
  int applied_last = -1;
  for (int k = 0; k < n_months; ++k) {
    bool partial = o.partial_snapshot && k == n_months - 1 && k > 0;
    std::string name = "建档立卡人口_" + std::to_string(c.months[k]) + ".csv";
    std::string source = "poverty/" + name;
    TableWriter table(dir + "/" + name, FileFormat::kCsvGb18030, kPovertyHeader);
    std::vector<PovertyState> next(c.people.size());
    uint64_t rows = 0;
    for (size_t hi = 0; hi < c.households.size(); ++hi) {
      const Household& h = c.households[hi];
      if (!c.is_poor_at(h, k)) continue;
      if (partial && mix64(hi ^ 0x5A17) % 2 == 0) continue;
      const Village& v = c.villages[h.village];
      const Township& t = c.townships[v.township];
      HouseholdAttrs a = attrs_at(h, k);
      std::string hno = c.household_no(h);
      for (uint32_t pi = h.first; pi < h.first + h.count; ++pi) {
        const Person& p = c.people[pi];
        if (k < p.joined || k >= p.left) continue;
        RowPlan plan;
        std::string mno = c.member_no(p);
        plan.key = hno + "|" + mno;
        plan.clean_id = std::string(p.id_view());
        std::string rel = relation_label(p, true);
        std::string school = schooling_poverty(c, p, c.months[k]);
        std::vector<std::string> texts = {c.province,
                                          c.city,
                                          c.county_name,
                                          t.name,
                                          v.name,
                                          v.code,
                                          hno,
                                          mno,
                                          c.name_in(p, kSysPoverty),
                                          plan.clean_id,
                                          p.sex == 1 ? "男" : "女",
                                          rel,
                                          std::string(kEthnicities[p.ethnicity]),
                                          school,
                                          std::string(kAttributes[a.attribute]),
                                          std::string(kCauses[a.cause]),
                                          a.type == 0 ? "脱贫户" : "监测户",
                                          std::string(kMonitoring[a.monitoring]),
                                          a.risk == 0   ? ""
                                          : a.risk == 1 ? "是"
                                                        : "否",
                                          a.exit_year ? std::to_string(a.exit_year) : "",
                                          c.phone(h)};
        uint64_t hash = 1469598103934665603ULL;
        for (const std::string& s : texts) {
          for (char ch : s)
            hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
          hash = (hash ^ 0xFF) * 1099511628211ULL;
        }
        for (std::string& s : texts)
          plan.cells.push_back(Cell{Cell::kText, std::move(s)});
        plan.id_col = 9;
        plan.name_col = 8;
        Rng rng(o.seed, kTagDefect, (static_cast<uint64_t>(k) << 40) ^ pi);
        Defect d =
            partial ? Defect::kNone
                    : picker.pick(rng, generic_kinds(plan, FileFormat::kCsvGb18030, false, true));
        Outcome out = emit_row(table, truth, "poverty", source, plan, d, rng);
        ++rows;
        const PovertyState& prev = state[pi];
        PovertyState& now = next[pi];
        if (out == Outcome::kAccepted) {
          // As the snapshot diff sees it: unchanged only against a row accepted
          // in the previous applied snapshot.
          bool same = prev.accepted && prev.hash == hash;
          now.value_month = static_cast<int8_t>(k);
          now.hash = hash;
          now.since = same ? prev.since : static_cast<int8_t>(k);
          now.accepted = true;
        } else {
          now = prev;  // a rejected row keeps the member's earlier version (or none)
          now.accepted = false;
        }
      }
    }
    table.close(false);
    Json f;
    f.str("system", "poverty").str("path", source).str("format", "csv").str("encoding", "GB18030");
    f.num("data_rows", static_cast<int64_t>(table.data_rows())).num("month", c.months[k]);
    f.boolean("held", partial);
    truth.file(f.done());
    if (partial) {
      truth.count_defect(Defect::kPartialSnapshot);
      confirmed.swap(next);  // the state should the operator confirm it
      continue;              // held: the previous snapshot stays in force
    }
    state.swap(next);
    applied_last = k;
  }
  // The expected state (and, after a held snapshot, the state once confirmed).
  auto render = [&](const std::vector<PovertyState>& st) {
    std::map<std::string, std::string> out;
    for (size_t pi = 0; pi < c.people.size(); ++pi) {
      const PovertyState& s = st[pi];
      if (s.value_month < 0) continue;
      const Person& p = c.people[pi];
      const Household& h = c.households[p.household];
      const Village& v = c.villages[h.village];
      HouseholdAttrs a = attrs_at(h, s.value_month);
      Json place;
      place.str("province", c.province).str("city", c.city).str("county", c.county_name);
      place.str("township", c.townships[v.township].name).str("village", v.name);
      Json hh;
      hh.str("household_no", c.household_no(h)).str("division_code", v.code).obj("place", place);
      hh.str("attribute", kAttributes[a.attribute]).str("main_cause", kCauses[a.cause]);
      hh.str("household_type", a.type == 0 ? "脱贫户" : "监测户");
      if (a.monitoring) hh.str("monitoring_type", kMonitoring[a.monitoring]);
      if (a.risk) hh.boolean("risk_cleared", a.risk == 1);
      hh.num("exit_year", a.exit_year);
      Json m;
      m.str("member_no", c.member_no(p)).obj("person", person_json(c, p, kSysPoverty, true));
      m.str("relation", relation_label(p, true));
      m.str("schooling", schooling_poverty(c, p, c.months[s.value_month]));
      m.obj("household", hh).num("snapshot_month", c.months[s.since]);
      out[c.household_no(h) + "|" + c.member_no(p)] = m.done();
    }
    return out;
  };
  std::map<std::string, std::string> out = render(state);
  if (!confirmed.empty()) truth.write_state("poverty.member.if_confirmed", render(confirmed));
  (void)applied_last;
  topics["poverty.member"] = out.size();
  truth.write_state("poverty.member", out);
}

Summary write_county(const County& county, const Options& options) {
  std::filesystem::create_directories(options.out + "/truth");
  DefectPicker picker(options);
  Truth truth(options.out + "/truth");
  std::map<std::string, uint64_t> topics;
  for (const Person& p : county.people)
    if (p.traditional) truth.count_defect(Defect::kNameTraditional);
  write_poverty(county, picker, truth, topics);
  write_civil_affairs(county, picker, truth, topics);
  write_education(county, picker, truth, topics);
  write_fund(county, picker, truth, topics);
  std::string summary = truth.summary_json(topics);
  FILE* f = std::fopen((options.out + "/truth/summary.json").c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write truth/summary.json");
  std::fputs(summary.c_str(), f);
  std::fputc('\n', f);
  std::fclose(f);
  Summary s;
  s.lines.push_back("households: " + std::to_string(county.households.size()) +
                    ", people: " + std::to_string(county.people.size()) +
                    ", villages: " + std::to_string(county.villages.size()));
  for (const char* folder : {"poverty", "civil_affairs", "education", "fund", "truth"}) {
    uint64_t files = 0, bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(options.out + "/" + folder)) {
      if (!e.is_regular_file()) continue;
      ++files;
      bytes += e.file_size();
    }
    s.lines.push_back(std::string(folder) + "/: " + std::to_string(files) + " files, " +
                      std::to_string((bytes + 1023) / 1024) + " KiB");
  }
  for (const auto& [topic, n] : topics)
    s.lines.push_back(topic + ": " + std::to_string(n) + " expected keys");
  s.lines.push_back("truth: " + summary);
  return s;
}

}  // namespace county
