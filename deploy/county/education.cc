// Education bureau (教育局) exports: the student roster, aid disbursements and
// the teacher-pairing ledger as dated CSV (GB18030 or UTF-8 with BOM) and XLSX
// files: a full export, partial exports with superseding updates, a
// re-delivery, and empty / header-only files, each with its expected effect.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "domain/amount.h"
#include "output.h"

namespace county {

namespace {

const std::string kFormula = "=HYPERLINK(\"http://example.invalid/x\",\"点击查看\")";

enum class SlotKind { kBase, kUpdate, kRedelivery, kEmpty, kHeaderOnly };

struct Slot {
  SlotKind kind = SlotKind::kBase;
  int update = 0;  // 1.. for updates
  CivilDate date;
  FileFormat format = FileFormat::kCsvGb18030;
  std::string name;  // relative to the output folder
  bool truncate = false;
  bool typed = true;           // XLSX: date and number cells (else all text)
  bool compact_dates = false;  // dates written yyyymmdd
};

std::string ymd(CivilDate d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", d.year, d.month, d.day);
  return buf;
}

Cell text(std::string s) {
  return Cell{Cell::kText, std::move(s)};
}
Cell date_cell(CivilDate d) {
  Cell c{Cell::kDate, d.to_string()};
  c.date = d;
  return c;
}

std::vector<Slot> plan_slots(const County& c, const DefectPicker& picker, uint64_t tag,
                             const std::string& stem, CivilDate first, bool with_empty,
                             bool with_header_only) {
  const Options& o = c.options();
  int n = std::max(1, o.education_files);
  std::vector<Slot> slots;
  int update = 0;
  for (int i = 0; i < n; ++i) {
    Slot s;
    s.kind = i == 0 ? SlotKind::kBase : (i == 2 ? SlotKind::kRedelivery : SlotKind::kUpdate);
    if (s.kind == SlotKind::kUpdate) s.update = ++update;
    slots.push_back(s);
  }
  if (with_empty && picker.enabled(Defect::kEmptyFile))
    slots.push_back(Slot{SlotKind::kEmpty, 0, {}, FileFormat::kCsvGb18030, "", false});
  if (with_header_only && picker.enabled(Defect::kHeaderOnly))
    slots.push_back(Slot{SlotKind::kHeaderOnly, 0, {}, FileFormat::kCsvGb18030, "", false});
  int64_t span = o.reference.days_since_epoch() - first.days_since_epoch();
  int64_t step = std::max<int64_t>(1, span / static_cast<int64_t>(slots.size()));
  int last_update = -1;
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    s.date =
        CivilDate::from_days_since_epoch(first.days_since_epoch() + static_cast<int64_t>(i) * step);
    Rng rng(o.seed, kTagFiles, tag * 1000 + i);
    double u = rng.uniform(), v = rng.uniform();
    s.typed = rng.chance(0.5);
    s.compact_dates = rng.chance(0.3);
    s.format = u < o.xlsx_share   ? FileFormat::kXlsx
               : v < o.utf8_share ? FileFormat::kCsvUtf8Bom
                                  : FileFormat::kCsvGb18030;
    if (s.kind == SlotKind::kEmpty || s.kind == SlotKind::kHeaderOnly)
      s.format = FileFormat::kCsvGb18030;
    if (s.kind == SlotKind::kUpdate) last_update = static_cast<int>(i);
  }
  if (last_update >= 0 && picker.enabled(Defect::kTruncated)) {
    slots[last_update].truncate = true;
    if (slots[last_update].format == FileFormat::kXlsx)
      slots[last_update].format = FileFormat::kCsvGb18030;
  }
  for (Slot& s : slots) {
    if (s.kind == SlotKind::kRedelivery) s.format = slots[0].format;
    s.name = "education/" + stem + "_" + ymd(s.date) +
             (s.format == FileFormat::kXlsx ? ".xlsx" : ".csv");
  }
  return slots;
}

// Dates written yyyymmdd (as some exports do) instead of yyyy-mm-dd.
void compact_dates(std::vector<Cell>& cells) {
  for (Cell& cell : cells)
    if (cell.type == Cell::kDate && cell.text.size() == 10)
      cell.text = cell.text.substr(0, 4) + cell.text.substr(5, 2) + cell.text.substr(8, 2);
}

// A file's column layout: the canonical columns in a shuffled order, with an
// optional leading 序号 and trailing 备注.
struct Layout {
  std::vector<std::string> header;
  std::vector<int> pos;  // canonical index → file column
  int seq_col = -1, note_col = -1;
};

Layout make_layout(const std::vector<std::string>& canonical, Rng& rng, bool allow_note) {
  Layout l;
  std::vector<int> order(canonical.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int>(i);
  if (rng.chance(0.7)) {
    for (size_t i = order.size() - 1; i > 0; --i)
      std::swap(order[i], order[rng.next() % (i + 1)]);
  }
  if (rng.chance(0.5)) {
    l.seq_col = 0;
    l.header.push_back("序号");
  }
  l.pos.resize(canonical.size());
  for (int idx : order) {
    l.pos[idx] = static_cast<int>(l.header.size());
    l.header.push_back(canonical[idx]);
  }
  if (allow_note && rng.chance(0.5)) {
    l.note_col = static_cast<int>(l.header.size());
    l.header.push_back("备注");
  }
  return l;
}

// Places canonical cells into the file's order; maps the plan's column indices.
void arrange(const Layout& l, std::vector<Cell> canonical, RowPlan& plan, uint64_t seq,
             const std::string& note) {
  plan.cells.assign(l.header.size(), Cell{});
  for (size_t i = 0; i < canonical.size(); ++i)
    plan.cells[l.pos[i]] = std::move(canonical[i]);
  if (l.seq_col >= 0) plan.cells[l.seq_col] = text(std::to_string(seq));
  if (l.note_col >= 0) plan.cells[l.note_col] = text(note);
  auto map = [&](int& col) {
    if (col >= 0) col = l.pos[col];
  };
  map(plan.id_col);
  map(plan.name_col);
  map(plan.amount_col);
  map(plan.date_col);
}

// One exportable record: the clean row (canonical order) at a version, its key
// and its truth JSON. `extra` applies a caller-handled defect (or none).
struct Record {
  std::function<void(int version, Defect extra, RowPlan& plan, std::string& json, Rng& rng)> build;
  std::vector<Defect> extra_kinds;
  int appears = 0;  // the update number that first exports it (0: the base file)
  int changes = 0;  // the update number that exports version 1 (0: never)
};

struct Export {
  std::string system_name;  // "roster", "aid", "pairing"
  std::string topic;
  std::string stem;
  std::vector<std::string> canonical;
  bool note = false;
  CivilDate first;
  bool with_empty = false, with_header_only = false;
  uint64_t tag = 0;
};

void run_export(const County& c, const DefectPicker& picker, Truth& truth, const Export& e,
                std::vector<Record>& records, std::map<std::string, uint64_t>& topics) {
  const Options& o = c.options();
  std::vector<Slot> slots =
      plan_slots(c, picker, e.tag, e.stem, e.first, e.with_empty, e.with_header_only);
  std::map<std::string, std::string> state;
  int max_update = 0;
  for (const Slot& s : slots)
    max_update = std::max(max_update, s.update);
  for (Record& r : records) {
    if (r.appears > max_update) r.appears = 0;
    if (r.changes > max_update) r.changes = 0;
  }
  for (size_t si = 0; si < slots.size(); ++si) {
    const Slot& s = slots[si];
    std::string path = o.out + "/" + s.name;
    Json f;
    f.str("system", "education").str("export", e.system_name).str("path", s.name);
    f.str("format", s.format == FileFormat::kXlsx ? "xlsx" : "csv");
    if (s.format == FileFormat::kXlsx && s.kind != SlotKind::kRedelivery)
      f.boolean("typed_cells", s.typed);
    f.str("encoding", s.format == FileFormat::kXlsx         ? ""
                      : s.format == FileFormat::kCsvUtf8Bom ? "UTF-8"
                                                            : "GB18030");
    if (s.kind == SlotKind::kEmpty) {
      std::ofstream(path, std::ios::binary);
      truth.count_defect(Defect::kEmptyFile);
      truth.quarantine("education", s.name, 0, "", "file.empty", Defect::kEmptyFile);
      f.str("kind", "empty").num("data_rows", 0);
      truth.file(f.done());
      continue;
    }
    if (s.kind == SlotKind::kRedelivery) {
      std::filesystem::copy_file(o.out + "/" + slots[0].name, path,
                                 std::filesystem::copy_options::overwrite_existing);
      f.str("kind", "redelivery").str("redelivery_of", slots[0].name);
      truth.file(f.done());
      continue;
    }
    Rng lrng(o.seed, kTagFiles ^ 0x77, e.tag * 1000 + si);
    Layout layout = make_layout(e.canonical, lrng, e.note);
    TableWriter table(path, s.format, layout.header, s.typed);
    if (s.kind == SlotKind::kHeaderOnly) {
      table.close(false);
      truth.count_defect(Defect::kHeaderOnly);
      truth.quarantine("education", s.name, 0, "", "file.header_only", Defect::kHeaderOnly);
      f.str("kind", "header_only").num("data_rows", 0);
      truth.file(f.done());
      continue;
    }
    // The rows of this file.
    std::vector<std::pair<size_t, int>> rows;  // record, version
    for (size_t ri = 0; ri < records.size(); ++ri) {
      const Record& r = records[ri];
      if (s.kind == SlotKind::kBase && r.appears == 0) rows.push_back({ri, 0});
      if (s.kind == SlotKind::kUpdate) {
        if (r.appears == s.update)
          rows.push_back({ri, 0});
        else if (r.changes == s.update && r.appears < s.update)
          rows.push_back({ri, 1});
      }
    }
    uint64_t seq = 0;
    for (size_t k = 0; k < rows.size(); ++k) {
      const Record& r = records[rows[k].first];
      bool last = k + 1 == rows.size();
      Rng rng(o.seed, kTagDefect ^ e.tag, (static_cast<uint64_t>(si) << 40) ^ rows[k].first);
      RowPlan probe;
      std::string json;
      // Build once to learn the applicable kinds, then with the chosen defect.
      r.build(rows[k].second, Defect::kNone, probe, json, rng);
      if (s.compact_dates) compact_dates(probe.cells);
      std::vector<Cell> canonical = probe.cells;
      RowPlan plan = probe;
      arrange(layout, canonical, plan, ++seq, "");
      Defect d = Defect::kNone;
      if (s.truncate && last) {
        d = Defect::kTruncated;
      } else {
        std::vector<Defect> kinds =
            generic_kinds(plan, s.format, table.typed(), !(s.truncate && k + 2 == rows.size()));
        kinds.insert(kinds.end(), r.extra_kinds.begin(), r.extra_kinds.end());
        if (e.system_name == "aid" && layout.note_col >= 0) kinds.push_back(Defect::kFormula);
        // Education only: an undecodable line names no key, and absence from
        // an education export deletes nothing (in a snapshot it would).
        if (s.format != FileFormat::kXlsx) kinds.push_back(Defect::kEncodingInvalid);
        d = picker.pick(rng, kinds);
      }
      bool caller = d == Defect::kBirthDate || d == Defect::kFormula || d == Defect::kRefInvalid;
      // 备注: mostly empty, sometimes a word, a comma inside quotes now and then.
      static const char* kNotes[] = {"", "", "", "", "补录", "已核实", "转入", "已核实，待复核"};
      std::string note = layout.note_col >= 0 ? kNotes[rng.range(0, 7)] : "";
      if (caller) {
        if (e.system_name == "aid" && d == Defect::kFormula) {
          note = kFormula;
        } else {
          RowPlan again;
          json.clear();
          r.build(rows[k].second, d, again, json, rng);
          if (s.compact_dates) compact_dates(again.cells);
          canonical = again.cells;
          probe = again;
        }
      }
      plan = probe;
      arrange(layout, canonical, plan, seq, note);
      Outcome out = emit_row(table, truth, "education", s.name, plan, d, rng);
      if (out == Outcome::kAccepted) state[plan.key] = json;
    }
    table.close(s.truncate);
    f.str("kind", s.kind == SlotKind::kBase ? "base" : "update");
    f.num("data_rows", static_cast<int64_t>(table.data_rows()))
        .boolean("truncated", s.truncate && !rows.empty());
    truth.file(f.done());
  }
  topics[e.topic] = state.size();
  truth.write_state(e.topic, state);
}

const std::vector<std::string> kTeacherSurnames = {"许", "王", "李", "张", "刘", "杨", "赵", "孙"};
const std::vector<std::string> kTeacherGiven = {"凯",   "丽华", "建国", "海燕",
                                                "文博", "静",   "志强", "晓梅"};

bool eligible(const County& c, const Person& p) {
  const Household& h = c.households[p.household];
  return c.is_poor_at(h, static_cast<int>(c.months.size()) - 1) || h.dibao;
}

Json student_min(const County& c, const Person& p) {
  Json j;
  j.str("resident_id", p.id_view()).str("id_type", "居民身份证");
  j.str("name", c.name_in(p, kSysEducation)).str("name_match_key", p.name);
  return j;
}

}  // namespace

void write_education(const County& c, const DefectPicker& picker, Truth& truth,
                     std::map<std::string, uint64_t>& topics) {
  const Options& o = c.options();
  std::filesystem::create_directories(o.out + "/education");
  CivilDate term_start{o.reference.month >= 9 ? o.reference.year : o.reference.year - 1, 9, 1};
  int updates = std::max(0, o.education_files - (o.education_files >= 3 ? 2 : 1));
  auto update_of = [&](Rng& rng) { return updates > 0 ? rng.range(1, updates) : 0; };
  CivilDate roster_first = CivilDate::from_days_since_epoch(term_start.days_since_epoch() + 9);

  // Students: every school-age child of the county, plus a few without an ID.
  std::vector<uint32_t> students;
  for (uint32_t pi = 0; pi < c.people.size(); ++pi) {
    if (c.schooling(c.people[pi], term_start).stage) students.push_back(pi);
  }

  // ---- roster ----
  {
    std::vector<Record> records;
    auto build_for = [&](uint32_t pi) {
      Record r;
      Rng ev(o.seed, kTagSchool, pi);
      double u = ev.uniform();
      if (u < 0.03)
        r.appears = update_of(ev);
      else if (u < 0.12)
        r.changes = update_of(ev);
      r.extra_kinds = {Defect::kBirthDate, Defect::kFormula, Defect::kRefInvalid};
      r.build = [&c, &o, pi, term_start, roster_first](int version, Defect extra, RowPlan& plan,
                                                       std::string& json, Rng& rng) {
        const Person& p = c.people[pi];
        const Household& h = c.households[p.household];
        const Village& v = c.villages[h.village];
        const Person& guardian = c.people[h.first];
        auto sch = c.schooling(p, term_start);
        const School& school = c.school_for(p, sch.stage);
        Rng fixed(o.seed, kTagSchool ^ 0x55, pi);
        static const char* kStage[] = {"", "学前", "小学", "初中", "高中", "中职"};
        bool boarding = sch.stage >= 3 ? fixed.chance(0.4) : sch.stage == 2 && fixed.chance(0.15);
        std::string klass = sch.grade + "(" + std::to_string(fixed.range(1, 6)) + ")班";
        std::string status = is_dropout(c, p) ? "辍学" : "在读";
        int hukou_level = fixed.range(0, 9);
        std::string hukou = hukou_level < 6   ? v.code
                            : hukou_level < 8 ? v.code.substr(0, 9)
                                              : v.code.substr(0, 6);
        CivilDate stamp_day =
            CivilDate::from_days_since_epoch(roster_first.days_since_epoch() - fixed.range(1, 30));
        if (version == 1) {
          int what = fixed.range(0, 2);
          if (what == 0 && status == "在读")
            status = fixed.chance(0.5) ? "转出" : "休学";
          else if (what == 1)
            klass = sch.grade + "(" + std::to_string(fixed.range(7, 9)) + ")班";
          else
            boarding = !boarding;
          stamp_day = CivilDate::from_days_since_epoch(roster_first.days_since_epoch() +
                                                       fixed.range(3, 20));
        }
        if (extra == Defect::kFormula) klass = kFormula;
        CivilDate birth_written = p.birth;
        if (extra == Defect::kBirthDate)
          birth_written =
              CivilDate::from_days_since_epoch(p.birth.days_since_epoch() + fixed.range(1, 400));
        std::string guardian_text(guardian.id_view()), guardian_clean(guardian.id_view());
        if (extra == Defect::kRefInvalid) {
          guardian_text = apply_id_defect(Defect::kIdChecksum, guardian.id_view(), fixed);
          guardian_clean.clear();
        }
        Cell upd = cst_stamp(stamp_day, fixed);
        const std::string& updated = upd.text;
        std::string id(p.id_view());
        Cell birth = date_cell(birth_written);
        plan.key = id;
        plan.clean_id = id;
        plan.cells = {text("G" + id),
                      text(c.name_in(p, kSysEducation)),
                      text(p.sex == 1 ? "男" : "女"),
                      text("居民身份证"),
                      text(id),
                      birth,
                      text(std::string(kEthnicities[p.ethnicity])),
                      text(school.code),
                      text(school.name),
                      text(kStage[sch.stage]),
                      text(sch.grade),
                      text(klass),
                      text(status),
                      text(boarding ? "是" : "否"),
                      text(hukou),
                      text(c.name_in(guardian, kSysEducation)),
                      text(guardian_text),
                      text(c.phone(h)),
                      upd};
        plan.id_col = 4;
        plan.name_col = 1;
        plan.date_col = 5;
        plan.date = birth_written;
        Json st = student_min(c, p);
        st.str("sex", p.sex == 1 ? "男" : "女").str("birth_date", birth_written.to_string());
        st.str("ethnicity", kEthnicities[p.ethnicity]);
        Json g;
        g.str("name", c.name_in(guardian, kSysEducation))
            .str("resident_id", guardian_clean)
            .str("phone", c.phone(h));
        Json j;
        j.obj("student", st)
            .str("national_student_number", "G" + id)
            .str("school_code", school.code);
        j.str("school_name", school.name).str("stage", kStage[sch.stage]).str("grade", sch.grade);
        j.num("grade_year", sch.grade_year).str("class_name", klass).str("status", status);
        j.boolean("boarding", boarding).str("hukou_division", hukou).obj("guardian", g);
        j.str("updated_at", cst_to_utc_rfc3339(updated));
        if (extra == Defect::kBirthDate) j.boolean("birth_date_disagrees_with_id", true);
        json = j.done();
        (void)rng;
      };
      return r;
    };
    for (uint32_t pi : students)
      records.push_back(build_for(pi));
    // Students without a resident ID ("L" numbers, ID type 无).
    size_t no_id = std::max<size_t>(2, students.size() / 300);
    for (size_t k = 0; k < no_id; ++k) {
      Record r;
      r.build = [&c, &o, k, roster_first](int, Defect, RowPlan& plan, std::string& json, Rng&) {
        Rng fixed(o.seed, kTagSchool ^ 0x99, k);
        char lno[32];
        std::snprintf(lno, sizeof lno, "L%s%012llu", o.division.c_str(),
                      static_cast<unsigned long long>(fixed.next() % 1000000000000ULL));
        // A first-year pupil of a primary school.
        const School* school_ptr = &c.schools[0];
        for (size_t n = fixed.next() % c.schools.size(), i = 0; i < c.schools.size(); ++i) {
          const School& candidate = c.schools[(n + i) % c.schools.size()];
          if (candidate.stage == 2) {
            school_ptr = &candidate;
            break;
          }
        }
        const School& school = *school_ptr;
        static const char* kStage[] = {"", "学前", "小学", "初中", "高中", "中职"};
        std::string name =
            std::string(fixed.chance(0.5) ? "李" : "王") + (fixed.chance(0.5) ? "安" : "宁");
        CivilDate birth = CivilDate::from_days_since_epoch(
            CivilDate{roster_first.year - 7, 9, 1}.days_since_epoch() + fixed.range(0, 364));
        CivilDate stamp_day = CivilDate::from_days_since_epoch(roster_first.days_since_epoch() - 5);
        Cell upd = cst_stamp(stamp_day, fixed);
        const std::string& updated = upd.text;
        plan.key = lno;
        plan.cells = {text(lno),
                      text(name),
                      text("男"),
                      text("无"),
                      text(""),
                      date_cell(birth),
                      text("汉族"),
                      text(school.code),
                      text(school.name),
                      text(kStage[school.stage]),
                      text("一年级"),
                      text("一年级(1)班"),
                      text("在读"),
                      text("否"),
                      text(o.division),
                      text("李明"),
                      text(""),
                      text("13800000000"),
                      upd};
        plan.name_col = 1;
        Json st;
        st.str("resident_id", "")
            .str("id_type", "无")
            .str("name", name)
            .str("name_match_key", name);
        st.str("sex", "男").str("birth_date", birth.to_string()).str("ethnicity", "汉族");
        Json g;
        g.str("name", "李明").str("resident_id", "").str("phone", "13800000000");
        Json j;
        j.obj("student", st).str("national_student_number", lno).str("school_code", school.code);
        j.str("school_name", school.name).str("stage", kStage[school.stage]).str("grade", "一年级");
        j.num("grade_year", 1).str("class_name", "一年级(1)班").str("status", "在读");
        j.boolean("boarding", false).str("hukou_division", o.division).obj("guardian", g);
        j.str("updated_at", cst_to_utc_rfc3339(updated));
        json = j.done();
      };
      records.push_back(std::move(r));
    }
    Export e{"roster",
             "education.enrollment",
             "学籍名册",
             {"全国学籍号", "姓名", "性别", "身份证件类型", "身份证件号", "出生日期", "民族",
              "学校标识码", "学校名称", "学段", "年级", "班级", "学籍状态", "是否住宿",
              "户籍所在地行政区划", "监护人姓名", "监护人身份证件号", "联系电话", "更新时间"},
             false,
             roster_first,
             false,
             true,
             1};
    run_export(c, picker, truth, e, records, topics);
  }

  // ---- aid disbursements ----
  {
    struct Line {
      uint32_t pi;
      int programme;  // index into kProgrammes
      bool spring;
    };
    static const char* kProgrammes[] = {"学前教育资助", "营养改善计划", "寄宿生生活费补助",
                                        "国家助学金",   "免学费",       "生源地信用助学贷款",
                                        "雨露计划"};
    static const char* kPrefix[] = {"XQ", "YY", "JS", "ZX", "MX", "DK", "YL"};
    std::vector<Line> lines;
    for (uint32_t pi : students) {
      const Person& p = c.people[pi];
      auto sch = c.schooling(p, term_start);
      bool elig = eligible(c, p);
      Rng fixed(o.seed, kTagSchool ^ 0x55, pi);
      bool boarding = sch.stage >= 3 ? fixed.chance(0.4) : sch.stage == 2 && fixed.chance(0.15);
      std::vector<int> progs;
      if (sch.stage == 1 && elig) progs.push_back(0);
      if ((sch.stage == 2 || sch.stage == 3) && elig) progs.push_back(1);
      if ((sch.stage == 2 || sch.stage == 3) && elig && boarding) progs.push_back(2);
      if (sch.stage >= 4 && elig) progs.push_back(3);
      if (sch.stage == 5 || (sch.stage == 4 && elig)) progs.push_back(4);
      if (sch.stage == 5 && elig &&
          c.is_poor_at(c.households[p.household], static_cast<int>(c.months.size()) - 1))
        progs.push_back(6);
      for (int prog : progs) {
        lines.push_back({pi, prog, true});
        lines.push_back({pi, prog, false});
      }
    }
    // College students of poor households: a student loan in the autumn term.
    for (uint32_t pi = 0; pi < c.people.size(); ++pi) {
      const Person& p = c.people[pi];
      int a = c.age(p, term_start);
      if (a >= 18 && a <= 21 && eligible(c, p) && mix64(pi ^ 0xDC) % 4 == 0)
        lines.push_back({pi, 5, false});
    }
    std::vector<Record> records;
    for (size_t li = 0; li < lines.size(); ++li) {
      Line line = lines[li];
      Record r;
      Rng ev(o.seed, kTagAid, li);
      double u = ev.uniform();
      bool pending = !line.spring && u < 0.15;
      if (!line.spring && line.programme == 6)
        r.appears = update_of(ev);  // a late batch
      else if (pending || (!line.spring && u < 0.17))
        r.changes = update_of(ev);
      r.build = [&c, &o, line, pending, term_start](int version, Defect, RowPlan& plan,
                                                    std::string& json, Rng&) {
        const Person& p = c.people[line.pi];
        auto sch = c.schooling(p, term_start);
        std::string school = sch.stage ? c.school_for(p, sch.stage).code : "4161010698";
        static const int64_t kAmount[] = {50000, 50000, 0, 100000, 0, 800000, 150000};
        int64_t amount = kAmount[line.programme];
        if (line.programme == 2) amount = sch.stage == 2 ? 62500 : 75000;
        if (line.programme == 4) amount = sch.stage == 5 ? 100000 : 80000;
        int year = line.spring ? term_start.year - 1 : term_start.year;
        const Village& v = c.villages[c.households[p.household].village];
        CivilDate paid = line.spring ? CivilDate{term_start.year, 4, 10 + line.programme}
                                     : CivilDate{term_start.year, line.programme == 6 ? 10 : 9,
                                                 18 + line.programme};
        std::string batch =
            std::string(kPrefix[line.programme]) + ymd(paid) + std::to_string(10 + v.township % 90);
        std::string status = line.spring ? "已发放" : pending ? "待发放" : "已发放";
        if (version == 1) status = pending ? "已发放" : "退回";
        std::string id(p.id_view());
        plan.key = batch + "|" + id + "|" + kProgrammes[line.programme];
        plan.clean_id = id;
        Cell amount_cell{Cell::kNumber, hutong::domain::format_fen_as_yuan(amount)};
        amount_cell.number = static_cast<double>(amount) / 100.0;
        plan.cells = {text(batch),
                      text(id),
                      text(c.name_in(p, kSysEducation)),
                      text(school),
                      text(kProgrammes[line.programme]),
                      text(std::to_string(year) + "-" + std::to_string(year + 1)),
                      text(line.spring ? "春季学期" : "秋季学期"),
                      amount_cell,
                      date_cell(paid),
                      text(status)};
        plan.id_col = 1;
        plan.name_col = 2;
        plan.amount_col = 7;
        plan.amount_fen = amount;
        plan.date_col = 8;
        plan.date = paid;
        Json term;
        term.num("school_year_start", year).str("season", line.spring ? "春季学期" : "秋季学期");
        Json j;
        j.str("batch_no", batch).obj("student", student_min(c, p)).str("school_code", school);
        j.str("programme", kProgrammes[line.programme]).obj("term", term).num("amount_fen", amount);
        j.str("paid_on", paid.to_string()).str("status", status);
        json = j.done();
      };
      records.push_back(std::move(r));
    }
    Export e{"aid",
             "education.aid",
             "资助发放",
             {"发放批次号", "身份证件号", "姓名", "学校标识码", "资助项目", "学年", "学期",
              "金额(元)", "发放日期", "发放状态"},
             true,
             CivilDate{term_start.year, 10, 4},
             true,
             false,
             2};
    run_export(c, picker, truth, e, records, topics);
  }

  // ---- teacher pairings ----
  {
    std::vector<Record> records;
    for (uint32_t pi : students) {
      const Person& p = c.people[pi];
      auto sch = c.schooling(p, term_start);
      if (sch.stage < 2 || sch.stage > 4 || !eligible(c, p)) continue;
      Rng ev(o.seed, kTagPairing, pi);
      if (!ev.chance(0.5)) continue;
      Record r;
      double u = ev.uniform();
      if (u < 0.04)
        r.appears = update_of(ev);
      else if (u < 0.16)
        r.changes = update_of(ev);
      r.extra_kinds = {Defect::kFormula};
      r.build = [&c, &o, pi, term_start](int version, Defect extra, RowPlan& plan,
                                         std::string& json, Rng&) {
        const Person& p = c.people[pi];
        auto sch = c.schooling(p, term_start);
        const School& school = c.school_for(p, sch.stage);
        Rng fixed(o.seed, kTagPairing ^ 0x33, pi);
        int t = fixed.range(1, 8);
        std::string staff = "JS" + school.code.substr(4) + std::to_string(t);
        std::string teacher = kTeacherSurnames[(t + school.code.back()) % kTeacherSurnames.size()] +
                              kTeacherGiven[(t * 3 + school.code[6]) % kTeacherGiven.size()];
        static const char* kMeasures[] = {"扶志；扶学", "扶学；家访慰问", "扶生活；扶学",
                                          "资助政策宣传；家访慰问；扶学", "安全教育"};
        std::string measures = kMeasures[fixed.range(0, 4)];
        if (extra == Defect::kFormula) measures = kFormula;
        CivilDate paired{term_start.year - fixed.range(0, 1), fixed.range(1, 8),
                         fixed.range(1, 28)};
        CivilDate visit{term_start.year, 9, fixed.range(1, 20)};
        CivilDate ended;
        if (version == 1) {
          if (fixed.chance(0.4)) ended = CivilDate{term_start.year, 10, fixed.range(1, 31)};
          visit = CivilDate{term_start.year, 10, fixed.range(1, 31)};
        }
        std::string id(p.id_view());
        plan.key = staff + "|" + id;
        plan.clean_id = id;
        plan.cells = {text(staff),
                      text(teacher),
                      text(school.code),
                      text(id),
                      text(c.name_in(p, kSysEducation)),
                      date_cell(paired),
                      ended.empty() ? text("") : date_cell(ended),
                      text(measures),
                      date_cell(visit)};
        plan.id_col = 3;
        plan.name_col = 4;
        plan.date_col = 5;
        plan.date = paired;
        Json j;
        j.str("teacher_staff_no", staff)
            .str("teacher_name", teacher)
            .str("school_code", school.code);
        j.obj("student", student_min(c, p)).str("paired_on", paired.to_string());
        if (!ended.empty()) j.str("ended_on", ended.to_string());
        j.str("measures", measures).str("last_visit_on", visit.to_string());
        json = j.done();
      };
      records.push_back(std::move(r));
    }
    Export e{"pairing",
             "education.pairing",
             "结对帮扶台账",
             {"教师工号", "教师姓名", "学校标识码", "学生身份证件号", "学生姓名", "结对日期",
              "解除日期", "帮扶措施", "最近走访日期"},
             false,
             CivilDate{term_start.year, 9, 16},
             false,
             false,
             3};
    run_export(c, picker, truth, e, records, topics);
  }
}

}  // namespace county
