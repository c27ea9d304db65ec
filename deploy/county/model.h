// The synthetic county behind hutong-county: townships, villages, households and
// people, generated deterministically from a seed, with the attributes every
// department system describes them by. Owns no file formats (see write.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "domain/date.h"

namespace county {

using hutong::domain::CivilDate;

// splitmix64: a small, fast, well-mixed generator; every entity derives its own
// stream from (seed, tag, index), so a change in one part of the county never
// shifts another.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t tag, uint64_t index = 0)
      : state_(mix64(mix64(seed ^ mix64(tag)) ^ index)) {}
  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ULL); }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  bool chance(double p) { return uniform() < p; }
  // Uniform in [lo, hi].
  int range(int lo, int hi) {
    return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[next() % v.size()];
  }

 private:
  uint64_t state_;
};

// Stream tags (any distinct constants).
enum Tag : uint64_t {
  kTagPlace = 1,
  kTagHousehold,
  kTagPerson,
  kTagId,
  kTagPoverty,
  kTagCivil,
  kTagSchool,
  kTagAid,
  kTagPairing,
  kTagFund,
  kTagDefect,
  kTagFiles,
  kTagEvents,
};

enum class Role : uint8_t { kHead, kSpouse, kChild, kParent, kGrandchild, kOther };

// Bits of Person::traditional: the systems that write this person's name in
// traditional characters.
enum SystemBit : uint8_t { kSysPoverty = 1, kSysCivil = 2, kSysEducation = 4, kSysFund = 8 };

struct Person {
  char id[19] = {};  // the clean 18-character resident ID
  CivilDate birth;
  uint32_t household = 0;
  uint8_t sex = 1;  // 1 male, 2 female (from the ID)
  Role role = Role::kHead;
  uint8_t ethnicity = 0;    // index into kEthnicities
  uint8_t traditional = 0;  // SystemBit mask
  bool no_id = false;       // a student without a resident ID (roster "L" number)
  int8_t joined = 0;        // poverty: first snapshot (index) the person is in (newborns later)
  int8_t left = 127;        // poverty: first snapshot the person is no longer in
  std::string name;         // simplified, as the clean value
  std::string trad_name;    // traditional form (empty when no character has one)
  std::string_view id_view() const { return {id, 18}; }
};

struct Village {
  std::string code;  // 12 digits
  std::string name;
  uint32_t township = 0;
  bool urban = false;
};

struct Township {
  std::string code;  // 9 digits
  std::string name;
};

struct Household {
  uint32_t first = 0, count = 0;  // people [first, first + count)
  uint32_t village = 0;
  uint16_t seq = 0;  // within the village, 1-based
  uint64_t phone = 0;
  // Poverty registry (建档立卡).
  bool poor = false;
  int8_t poor_from = 0;     // first snapshot index it is registered in
  int8_t poor_until = 127;  // first snapshot index it is no longer in
  uint8_t attribute = 0;    // index into kAttributes
  uint8_t cause = 0;
  uint8_t type = 0;        // 0 脱贫户, 1 监测户
  uint8_t monitoring = 0;  // 0 none, 1..3
  uint8_t risk = 0;        // 0 empty, 1 是, 2 否
  int16_t exit_year = 0;
  int8_t change_at = 127;  // snapshot index from which the attributes change
  // Civil affairs.
  bool dibao = false;
};

struct School {
  std::string code;  // 10 digits
  std::string name;
  int stage = 0;  // 1 学前 2 小学 3 初中 4 高中 5 中职
  uint32_t township = 0;
};

struct Options {
  std::string out;
  uint64_t households = 1000;
  uint64_t seed = 1;
  double defect_rate = 0.0;
  std::map<std::string, double> defect_overrides;
  int months = 3;
  bool partial_snapshot = false;
  double xlsx_share = 0.3;
  double utf8_share = 0.2;
  int education_files = 3;
  std::string division = "610523";
  double poor_share = 0.5;
  CivilDate reference{2025, 11, 15};
};

extern const std::vector<std::string_view> kEthnicities;  // 汉族, 回族, …
extern const std::vector<std::string_view> kAttributes;   // 一般贫困户 …
extern const std::vector<std::string_view> kCauses;       // 因病 …
extern const std::vector<std::string_view> kMonitoring;   // "", 脱贫不稳定户 …

class County {
 public:
  explicit County(const Options& options);

  const Options& options() const { return opt_; }
  std::string province, city, county_name;
  std::vector<Township> townships;
  std::vector<Village> villages;
  std::vector<Household> households;
  std::vector<Person> people;
  std::vector<School> schools;
  // Snapshot months (yyyymm), oldest first.
  std::vector<int> months;

  // Age in whole years on a date.
  int age(const Person& p, CivilDate on) const;
  // Household number (户编号, 16 digits) and member number (人编号, 18 digits).
  std::string household_no(const Household& h) const;
  std::string member_no(const Person& p) const;
  // The name as the system writes it (traditional when the person's mask says so).
  const std::string& name_in(const Person& p, SystemBit system) const {
    return (p.traditional & system) && !p.trad_name.empty() ? p.trad_name : p.name;
  }
  std::string phone(const Household& h) const { return std::to_string(h.phone); }
  // 0 when not of school age on 2025-09-01 of the current school year; otherwise
  // the stage 1..5 (学前 … 中职) and the grade text and year.
  struct Schooling {
    int stage = 0;
    std::string grade;   // 小班 … 九年级, 高一 …, 中职一年级 …
    int grade_year = 0;  // per education.proto
    int year_in_stage = 0;
  };
  Schooling schooling(const Person& p, CivilDate term_start) const;
  // The school a student attends at a stage.
  const School& school_for(const Person& p, int stage) const;
  bool is_poor_at(const Household& h, int month_index) const {
    return h.poor && month_index >= h.poor_from && month_index < h.poor_until;
  }

 private:
  void make_places();
  void make_households();
  void make_person(Person& p, Rng& rng, CivilDate birth, uint8_t sex, const std::string& surname);
  std::string make_id(const Village& v, CivilDate birth, uint8_t sex, Rng& rng);

  Options opt_;
  std::vector<uint32_t> township_school_[6];  // per stage: school index per township (or county)
  std::vector<uint8_t> id_seq_used_;          // per (birth day, sequence) bitmap
};

}  // namespace county
