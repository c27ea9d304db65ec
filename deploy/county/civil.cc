// Civil affairs (民政局): the PostgreSQL system as two SQL scripts psql loads,
// civil_affairs.sql (schema, updated_at trigger, rows) and
// civil_affairs_changes.sql (in-place updates, inserts and hard deletes), with
// the expected state after each.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "domain/amount.h"
#include "output.h"

namespace county {

namespace {

const char* kSchema = R"(BEGIN;
CREATE TABLE dibao_household (
  household_id   text PRIMARY KEY,
  head_id_no     text NOT NULL,
  region_code    char(12) NOT NULL,
  category       text NOT NULL,
  member_count   int  NOT NULL,
  monthly_amount numeric(10,2) NOT NULL,
  status         text NOT NULL,
  approved_on    date NOT NULL,
  stopped_on     date,
  updated_at     timestamptz NOT NULL
);
CREATE TABLE dibao_member (
  household_id     text NOT NULL REFERENCES dibao_household,
  id_no            text NOT NULL,
  name             text NOT NULL,
  relation         text NOT NULL,
  disability_grade text,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (household_id, id_no)
);
CREATE TABLE tekun_person (
  id_no        text PRIMARY KEY,
  name         text NOT NULL,
  region_code  char(12) NOT NULL,
  support_mode text NOT NULL,
  self_care    text NOT NULL,
  status       text NOT NULL,
  updated_at   timestamptz NOT NULL
);
CREATE TABLE orphan_child (
  id_no          text PRIMARY KEY,
  name           text NOT NULL,
  kind           text NOT NULL,
  guardian_id_no text,
  region_code    char(12) NOT NULL,
  status         text NOT NULL,
  updated_at     timestamptz NOT NULL
);

-- updated_at is maintained by a trigger: an UPDATE that does not set it gets now()
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER dibao_household_touch BEFORE UPDATE ON dibao_household FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER dibao_member_touch BEFORE UPDATE ON dibao_member FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER tekun_person_touch BEFORE UPDATE ON tekun_person FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER orphan_child_touch BEFORE UPDATE ON orphan_child FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

)";

std::string q(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

// A timestamp between two dates (CST), as "yyyy-mm-dd hh:mm:ss".
std::string stamp_between(Rng& rng, CivilDate from, CivilDate to) {
  int64_t a = from.days_since_epoch(), b = to.days_since_epoch();
  return cst_stamp(
             CivilDate::from_days_since_epoch(a + static_cast<int64_t>(rng.next() % (b - a + 1))),
             rng)
      .text;
}

// Multi-row INSERT statements, flushed every 500 rows.
class Inserter {
 public:
  Inserter(FILE* f, std::string head) : f_(f), head_(std::move(head)) {}
  // Collects the statements in `sink` instead of writing them.
  Inserter(std::string* sink, std::string head) : sink_(sink), head_(std::move(head)) {}
  ~Inserter() { flush(); }
  void add(const std::string& values) {
    buf_ += n_ == 0 ? head_ + " VALUES\n" : ",\n";
    buf_ += "(" + values + ")";
    if (++n_ == 500) flush();
  }
  void flush() {
    if (n_ == 0) return;
    buf_ += ";\n";
    if (sink_)
      *sink_ += buf_;
    else
      std::fwrite(buf_.data(), 1, buf_.size(), f_);
    buf_.clear();
    n_ = 0;
  }

 private:
  FILE* f_ = nullptr;
  std::string* sink_ = nullptr;
  std::string head_, buf_;
  int n_ = 0;
};

// A stored ID with at most one defect; outcome for a subject (rejecting) column.
struct StoredId {
  std::string text;
  std::string reason;  // non-empty: the row is rejected
  bool repaired = false;
  Defect defect = Defect::kNone;
};

StoredId subject_id(const DefectPicker& picker, Rng& rng, std::string_view id, bool with_name,
                    Defect* name_defect) {
  std::vector<Defect> kinds;
  for (Defect d : {Defect::kIdChecksum, Defect::kIdLowerX, Defect::kIdFullWidth,
                   Defect::kIdLegacy15, Defect::kIdSpaces, Defect::kIdScientific})
    if (id_defect_applies(d, id)) kinds.push_back(d);
  if (with_name) kinds.push_back(Defect::kNameSpaces);
  Defect d = picker.pick(rng, kinds);
  StoredId s{std::string(id), "", false, d};
  *name_defect = Defect::kNone;
  if (d == Defect::kNameSpaces) {
    *name_defect = d;
    s.defect = Defect::kNone;
    return s;
  }
  if (d == Defect::kNone) return s;
  s.text = apply_id_defect(d, id, rng);
  s.reason = std::string(id_defect_reason(d));
  s.repaired = s.reason.empty();
  return s;
}

// A reference ID (never rejects): a repairable defect normalizes back, an
// invalid one leaves the reference empty.
std::pair<std::string, std::string> reference_id(const DefectPicker& picker, Rng& rng,
                                                 std::string_view id, Truth& truth) {
  std::vector<Defect> kinds = {Defect::kRefInvalid, Defect::kIdSpaces, Defect::kIdFullWidth};
  if (id_defect_applies(Defect::kIdLowerX, id)) kinds.push_back(Defect::kIdLowerX);
  Defect d = picker.pick(rng, kinds);
  if (d == Defect::kNone) return {std::string(id), std::string(id)};
  truth.count_defect(d);
  if (d == Defect::kRefInvalid) return {apply_id_defect(Defect::kIdChecksum, id, rng), ""};
  return {apply_id_defect(d, id, rng), std::string(id)};
}

}  // namespace

void write_civil_affairs(const County& c, const DefectPicker& picker, Truth& truth,
                         std::map<std::string, uint64_t>& topics) {
  const Options& o = c.options();
  std::string dir = o.out + "/civil_affairs";
  std::filesystem::create_directories(dir);
  const std::string main_name = "civil_affairs/civil_affairs.sql";
  const std::string changes_name = "civil_affairs/civil_affairs_changes.sql";
  FILE* f = std::fopen((o.out + "/" + main_name).c_str(), "wb");
  FILE* g = std::fopen((o.out + "/" + changes_name).c_str(), "wb");
  if (!f || !g) throw std::runtime_error("cannot create the civil affairs scripts in " + dir);
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  CivilDate before{o.reference.year - 2, 6, 1};
  CivilDate export_day = CivilDate::from_days_since_epoch(o.reference.days_since_epoch() - 30);
  CivilDate change_from = CivilDate::from_days_since_epoch(export_day.days_since_epoch() + 1);
  std::fprintf(f,
               "-- %s民政局 最低生活保障/特困供养 业务库 (PostgreSQL)\n"
               "-- exported %s; load with: psql -v ON_ERROR_STOP=1 -f civil_affairs.sql\n"
               "SET client_encoding = 'UTF8';\nSET TIME ZONE 'Asia/Shanghai';\n",
               c.county_name.c_str(), export_day.to_string().c_str());
  std::fputs(kSchema, f);
  std::fputs(
      "-- changes made by the bureau after the initial load (apply after civil_affairs.sql):\n"
      "-- in-place updates (updated_at set), new rows, and hard deletes (data corrections)\n"
      "SET client_encoding = 'UTF8';\nSET TIME ZONE 'Asia/Shanghai';\nBEGIN;\n",
      g);
  // States: initial and after the changes.
  std::map<std::string, std::string> hh_init, mem_init, tk_init, or_init;
  auto stored = [&](Truth& t, const std::string& source, const std::string& key, const StoredId& id,
                    Defect name_defect) {
    if (id.defect != Defect::kNone) t.count_defect(id.defect);
    if (name_defect != Defect::kNone) t.count_defect(name_defect);
    if (!id.reason.empty()) {
      t.quarantine("civil_affairs", source, 0, key, id.reason, id.defect);
      return false;
    }
    if (id.repaired) t.repair("civil_affairs", source, 0, key, id.defect);
    if (name_defect != Defect::kNone) t.repair("civil_affairs", source, 0, key, name_defect);
    return true;
  };
  auto person_min = [&](const Person& p) {
    Json j;
    j.str("resident_id", p.id_view()).str("id_type", "居民身份证");
    j.str("name", c.name_in(p, kSysCivil)).str("name_match_key", p.name);
    return j;
  };
  std::string changes_sql;  // statements of the changes script, in order
  std::map<std::string, std::string> hh_final, mem_final, tk_final, or_final;
  std::string members_sql;  // written after all households (the foreign key)
  {
    Inserter hh_ins(f,
                    "INSERT INTO dibao_household (household_id, head_id_no, region_code, category, "
                    "member_count, monthly_amount, status, approved_on, stopped_on, updated_at)");
    Inserter mem_ins(&members_sql,
                     "INSERT INTO dibao_member (household_id, id_no, name, relation, "
                     "disability_grade, updated_at)");
    // Rows for the changes script's inserts are written as statements there.
    uint32_t seq = 100;
    struct Pending {
      std::string hid;
      uint32_t hi;
      bool insert_later;
    };
    std::vector<Pending> dibao;
    for (uint32_t hi = 0; hi < c.households.size(); ++hi) {
      const Household& h = c.households[hi];
      Rng ev(o.seed, kTagCivil, hi);
      bool later = !h.dibao && h.poor && ev.chance(0.005);  // becomes 低保 after the export
      if (!h.dibao && !later) continue;
      int year = ev.range(2015, 2024);
      char hid[48];
      std::snprintf(hid, sizeof hid, "DB%s-%d-%05u", o.division.c_str(), year, seq++);
      dibao.push_back({hid, hi, later});
    }
    for (const Pending& d : dibao) {
      const Household& h = c.households[d.hi];
      const Village& v = c.villages[h.village];
      Rng rng(o.seed, kTagCivil ^ 0x100, d.hi);
      int year = std::stoi(d.hid.substr(9, 4));
      const Person& head = c.people[h.first];
      auto [head_text, head_clean] = reference_id(picker, rng, head.id_view(), truth);
      std::string category = v.urban ? "城市低保" : "农村低保";
      int64_t per_head = v.urban ? 60000 : 48000;
      int64_t amount = per_head * h.count;
      bool stopped = rng.chance(0.05);
      CivilDate approved{year, rng.range(1, 12), 1};
      // Rows were last touched after their approval.
      CivilDate touched_from = std::max(before, approved);
      CivilDate stopped_on =
          stopped ? CivilDate{2025, rng.range(1, 9), rng.range(1, 28)} : CivilDate{};
      std::string updated = d.insert_later ? stamp_between(rng, change_from, o.reference)
                                           : stamp_between(rng, touched_from, export_day);
      auto hh_json = [&](int64_t amt, bool stp, CivilDate stp_on, const std::string& upd) {
        Json j;
        j.str("household_id", d.hid).str("head_resident_id", head_clean).str("region_code", v.code);
        j.str("category", category).num("member_count", h.count).num("monthly_amount_fen", amt);
        j.str("status", stp ? "停保" : "在保").str("approved_on", approved.to_string());
        if (!stp_on.empty()) j.str("stopped_on", stp_on.to_string());
        j.str("updated_at", cst_to_utc_rfc3339(upd));
        return j.done();
      };
      std::string values =
          q(d.hid) + ", " + q(head_text) + ", " + q(v.code) + ", " + q(category) + ", " +
          std::to_string(h.count) + ", " + hutong::domain::format_fen_as_yuan(amount) + ", " +
          q(stopped ? "停保" : "在保") + ", " + q(approved.to_string()) + ", " +
          (stopped ? q(stopped_on.to_string()) : std::string("NULL")) + ", " + q(updated + "+08");
      std::string src_table = (d.insert_later ? changes_name : main_name);
      if (d.insert_later) {
        changes_sql +=
            "INSERT INTO dibao_household (household_id, head_id_no, region_code, category, "
            "member_count, monthly_amount, status, approved_on, stopped_on, updated_at) VALUES\n(" +
            values + ");\n";
      } else {
        hh_ins.add(values);
        hh_init[d.hid] = hh_json(amount, stopped, stopped_on, updated);
      }
      hh_final[d.hid] = hh_json(amount, stopped, stopped_on, updated);
      // The household's fate in the changes script.
      double u = rng.uniform();
      bool deleted = !d.insert_later && u < 0.01;
      std::vector<std::string> member_keys_stored;
      for (uint32_t pi = h.first; pi < h.first + h.count; ++pi) {
        const Person& p = c.people[pi];
        Rng prng(o.seed, kTagCivil ^ 0x200, pi);
        Defect name_defect;
        StoredId id = subject_id(picker, prng, p.id_view(), true, &name_defect);
        std::string name = c.name_in(p, kSysCivil);
        std::string name_text = name_defect != Defect::kNone ? pad_blanks(name, prng) : name;
        static const char* kGrades[] = {"一级", "二级", "三级", "四级"};
        int grade = prng.chance(0.06) ? prng.range(0, 3) : -1;
        std::string upd = d.insert_later ? stamp_between(prng, change_from, o.reference)
                                         : stamp_between(prng, touched_from, export_day);
        std::string key = d.hid + "|" + id.text;
        auto mem_json = [&](const std::string& nm, const std::string& u2) {
          Json pj = person_min(p);
          Json j;
          j.str("household_id", d.hid).obj("person", pj).str("relation", relation_label(p, false));
          if (grade >= 0) j.str("disability_grade", kGrades[grade]);
          j.str("updated_at", cst_to_utc_rfc3339(u2));
          (void)nm;
          return j.done();
        };
        std::string values_m = q(d.hid) + ", " + q(id.text) + ", " + q(name_text) + ", " +
                               q(relation_label(p, false)) + ", " +
                               (grade >= 0 ? q(kGrades[grade]) : std::string("NULL")) + ", " +
                               q(upd + "+08");
        bool ok = stored(truth, (d.insert_later ? changes_name : main_name) + ":dibao_member", key,
                         id, name_defect);
        if (d.insert_later) {
          changes_sql +=
              "INSERT INTO dibao_member (household_id, id_no, name, relation, disability_grade, "
              "updated_at) VALUES\n(" +
              values_m + ");\n";
        } else {
          mem_ins.add(values_m);
          if (ok) mem_init[key] = mem_json(name, upd);
        }
        if (ok) mem_final[key] = mem_json(name, upd);
        member_keys_stored.push_back(id.text);
        // A member's own change: a disability grade recorded later.
        if (!d.insert_later && !deleted && ok && prng.chance(0.01)) {
          std::string upd2 = stamp_between(prng, change_from, o.reference);
          grade = 1;
          changes_sql +=
              "UPDATE dibao_member SET disability_grade = '二级', updated_at = " + q(upd2 + "+08") +
              " WHERE household_id = " + q(d.hid) + " AND id_no = " + q(id.text) + ";\n";
          mem_final[key] = mem_json(name, upd2);
        }
      }
      (void)src_table;
      if (deleted) {
        for (const std::string& id_text : member_keys_stored) {
          changes_sql += "DELETE FROM dibao_member WHERE household_id = " + q(d.hid) +
                         " AND id_no = " + q(id_text) + ";\n";
          mem_final.erase(d.hid + "|" + id_text);
        }
        changes_sql += "DELETE FROM dibao_household WHERE household_id = " + q(d.hid) + ";\n";
        hh_final.erase(d.hid);
      } else if (!d.insert_later && u < 0.04) {
        std::string upd2 = stamp_between(rng, change_from, o.reference);
        if (u < 0.025 || stopped) {
          int64_t amt2 = amount + 3000;
          changes_sql += "UPDATE dibao_household SET monthly_amount = " +
                         hutong::domain::format_fen_as_yuan(amt2) +
                         ", updated_at = " + q(upd2 + "+08") + " WHERE household_id = " + q(d.hid) +
                         ";\n";
          hh_final[d.hid] = hh_json(amt2, stopped, stopped_on, upd2);
        } else {
          CivilDate stop_on = CivilDate::from_days_since_epoch(change_from.days_since_epoch() + 1);
          changes_sql +=
              "UPDATE dibao_household SET status = '停保', stopped_on = " + q(stop_on.to_string()) +
              ", updated_at = " + q(upd2 + "+08") + " WHERE household_id = " + q(d.hid) + ";\n";
          hh_final[d.hid] = hh_json(amount, true, stop_on, upd2);
        }
      }
    }
  }
  std::fwrite(members_sql.data(), 1, members_sql.size(), f);
  // 特困 persons: the heads of 特困供养 households, and a few elderly living
  // alone who are not registered poor.
  {
    Inserter ins(f,
                 "INSERT INTO tekun_person (id_no, name, region_code, support_mode, self_care, "
                 "status, updated_at)");
    for (uint32_t hi = 0; hi < c.households.size(); ++hi) {
      const Household& h = c.households[hi];
      const Person& head = c.people[h.first];
      Rng rng(o.seed, kTagCivil ^ 0x300, hi);
      bool tekun = (h.poor && h.attribute == 2) ||
                   (!h.poor && h.count == 1 && c.age(head, o.reference) >= 60 && rng.chance(0.3));
      if (!tekun) continue;
      const Village& v = c.villages[h.village];
      Defect name_defect;
      StoredId id = subject_id(picker, rng, head.id_view(), true, &name_defect);
      std::string name = c.name_in(head, kSysCivil);
      std::string name_text = name_defect != Defect::kNone ? pad_blanks(name, rng) : name;
      std::string mode = rng.chance(0.8) ? "分散供养" : "集中供养";
      static const char* kCare[] = {"全自理", "半自理", "全护理"};
      std::string care = kCare[rng.chance(0.6) ? 0 : rng.range(1, 2)];
      bool cancelled = rng.chance(0.03);
      std::string upd = stamp_between(rng, before, export_day);
      auto json = [&](bool canc, const std::string& u2) {
        Json j;
        j.obj("person", person_min(head)).str("region_code", v.code).str("support_mode", mode);
        j.str("self_care", care).str("status", canc ? "注销" : "在册");
        j.str("updated_at", cst_to_utc_rfc3339(u2));
        return j.done();
      };
      ins.add(q(id.text) + ", " + q(name_text) + ", " + q(v.code) + ", " + q(mode) + ", " +
              q(care) + ", " + q(cancelled ? "注销" : "在册") + ", " + q(upd + "+08"));
      bool ok = stored(truth, main_name + ":tekun_person", id.text, id, name_defect);
      if (!ok) continue;
      tk_init[id.text] = json(cancelled, upd);
      tk_final[id.text] = json(cancelled, upd);
      double u = rng.uniform();
      if (u < 0.01) {
        changes_sql += "DELETE FROM tekun_person WHERE id_no = " + q(id.text) + ";\n";
        tk_final.erase(id.text);
      } else if (u < 0.03 && !cancelled) {
        std::string upd2 = stamp_between(rng, change_from, o.reference);
        changes_sql += "UPDATE tekun_person SET status = '注销', updated_at = " + q(upd2 + "+08") +
                       " WHERE id_no = " + q(id.text) + ";\n";
        tk_final[id.text] = json(true, upd2);
      }
    }
  }
  // Orphans and de-facto unsupported children: a few children, with the head
  // (a grandparent or relative) as guardian.
  {
    Inserter ins(f,
                 "INSERT INTO orphan_child (id_no, name, kind, guardian_id_no, region_code, "
                 "status, updated_at)");
    for (uint32_t pi = 0; pi < c.people.size(); ++pi) {
      const Person& p = c.people[pi];
      if (p.role != Role::kChild && p.role != Role::kGrandchild) continue;
      if (c.age(p, o.reference) >= 18 || mix64(pi ^ o.seed ^ 0x0A9) % 100 != 0) continue;
      const Household& h = c.households[p.household];
      const Person& guardian = c.people[h.first];
      const Village& v = c.villages[h.village];
      Rng rng(o.seed, kTagCivil ^ 0x400, pi);
      Defect name_defect;
      StoredId id = subject_id(picker, rng, p.id_view(), true, &name_defect);
      std::string name = c.name_in(p, kSysCivil);
      std::string name_text = name_defect != Defect::kNone ? pad_blanks(name, rng) : name;
      auto [g_text, g_clean] = reference_id(picker, rng, guardian.id_view(), truth);
      std::string kind = rng.chance(0.4) ? "孤儿" : "事实无人抚养儿童";
      std::string upd = stamp_between(rng, before, export_day);
      auto json = [&](const std::string& status, const std::string& u2) {
        Json j;
        Json child = person_min(p);
        j.obj("child", child).str("kind", kind).str("guardian_resident_id", g_clean);
        j.str("region_code", v.code)
            .str("status", status)
            .str("updated_at", cst_to_utc_rfc3339(u2));
        return j.done();
      };
      ins.add(q(id.text) + ", " + q(name_text) + ", " + q(kind) + ", " + q(g_text) + ", " +
              q(v.code) + ", '在册', " + q(upd + "+08"));
      bool ok = stored(truth, main_name + ":orphan_child", id.text, id, name_defect);
      if (!ok) continue;
      or_init[id.text] = json("在册", upd);
      or_final[id.text] = json("在册", upd);
      if (rng.chance(0.05)) {
        std::string upd2 = stamp_between(rng, change_from, o.reference);
        changes_sql += "UPDATE orphan_child SET status = '注销', updated_at = " + q(upd2 + "+08") +
                       " WHERE id_no = " + q(id.text) + ";\n";
        or_final[id.text] = json("注销", upd2);
      }
    }
  }
  std::fputs("COMMIT;\n", f);
  changes_sql += "COMMIT;\n";
  std::fwrite(changes_sql.data(), 1, changes_sql.size(), g);
  if (std::fclose(f) != 0 || std::fclose(g) != 0) throw std::runtime_error("cannot write " + dir);
  for (const std::string& name : {main_name, changes_name}) {
    Json j;
    j.str("system", "civil_affairs")
        .str("path", name)
        .str("format", "sql")
        .str("encoding", "UTF-8");
    truth.file(j.done());
  }
  truth.write_state("civil_affairs.dibao_household.initial", hh_init);
  truth.write_state("civil_affairs.dibao_member.initial", mem_init);
  truth.write_state("civil_affairs.tekun_person.initial", tk_init);
  truth.write_state("civil_affairs.orphan_child.initial", or_init);
  truth.write_state("civil_affairs.dibao_household", hh_final);
  truth.write_state("civil_affairs.dibao_member", mem_final);
  truth.write_state("civil_affairs.tekun_person", tk_final);
  truth.write_state("civil_affairs.orphan_child", or_final);
  topics["civil_affairs.dibao_household"] = hh_final.size();
  topics["civil_affairs.dibao_member"] = mem_final.size();
  topics["civil_affairs.tekun_person"] = tk_final.size();
  topics["civil_affairs.orphan_child"] = or_final.size();
}

}  // namespace county
