// Generation of the synthetic county: places, households, people with valid
// resident IDs, schools, and the poverty registry's month-to-month history.
#include "model.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "domain/resident_id.h"

namespace county {
namespace {

const std::vector<std::string> kSurnames = {
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
    "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧",
    "程", "曹", "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾",
    "丁", "魏", "薛", "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪", "田", "任", "姜",
    "范", "方", "石", "姚", "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白", "崔", "康",
    "毛", "邱", "秦", "江", "史", "顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱", "汤"};
const std::vector<std::string> kMaleGiven = {
    "伟", "军", "华", "国", "东", "龙", "杰", "涛", "鹏", "飞", "辉", "刚", "强",
    "明", "建", "平", "林", "峰", "浩", "宇", "轩", "俊", "博", "文", "斌", "磊",
    "勇", "超", "亮", "志", "兴", "荣", "贵", "顺", "财", "庆", "宝", "德", "福",
    "春", "海", "鑫", "铭", "豪", "然", "睿", "晨", "阳", "凯", "瑞"};
const std::vector<std::string> kFemaleGiven = {
    "丽", "兰", "凤", "红", "艳", "静", "宁", "婷", "芳", "娟", "敏", "霞", "燕", "玲",
    "萍", "梅", "秀", "英", "慧", "琳", "颖", "晓", "诗", "语", "欣", "梦", "爱", "云",
    "雪", "佳", "怡", "涵", "悦", "彤", "萱", "琪", "雅", "嫣", "蕾", "晶"};
// Simplified → traditional for characters whose traditional form folds back
// (OpenCC t2s) to exactly the simplified one.
const std::vector<std::pair<std::string_view, std::string_view>> kTraditional = {
    {"张", "張"}, {"刘", "劉"}, {"陈", "陳"}, {"杨", "楊"}, {"赵", "趙"}, {"黄", "黃"},
    {"吴", "吳"}, {"孙", "孫"}, {"马", "馬"}, {"罗", "羅"}, {"郑", "鄭"}, {"谢", "謝"},
    {"韩", "韓"}, {"冯", "馮"}, {"董", "董"}, {"邓", "鄧"}, {"许", "許"}, {"吕", "呂"},
    {"苏", "蘇"}, {"卢", "盧"}, {"蒋", "蔣"}, {"贾", "賈"}, {"叶", "葉"}, {"钟", "鍾"},
    {"汤", "湯"}, {"钱", "錢"}, {"龙", "龍"}, {"伟", "偉"}, {"军", "軍"}, {"华", "華"},
    {"国", "國"}, {"东", "東"}, {"杰", "傑"}, {"涛", "濤"}, {"鹏", "鵬"}, {"飞", "飛"},
    {"辉", "輝"}, {"刚", "剛"}, {"强", "強"}, {"兴", "興"}, {"荣", "榮"}, {"贵", "貴"},
    {"顺", "順"}, {"财", "財"}, {"庆", "慶"}, {"宝", "寶"}, {"丽", "麗"}, {"兰", "蘭"},
    {"凤", "鳳"}, {"红", "紅"}, {"艳", "艷"}, {"静", "靜"}, {"宁", "寧"}, {"娟", "娟"},
    {"颖", "穎"}, {"晓", "曉"}, {"诗", "詩"}, {"语", "語"}, {"梦", "夢"}, {"爱", "愛"},
    {"云", "雲"}, {"凯", "凱"}, {"铭", "銘"}, {"阳", "陽"}};
// Minority names (维吾尔族), written with the middle dot U+00B7.
const std::vector<std::string> kMinorityMale = {"艾力",   "买买提", "阿不都", "吐尔逊",
                                                "热合曼", "努尔",   "库尔班", "伊力"};
const std::vector<std::string> kMinorityFemale = {"阿依古丽", "古丽", "热依拉",
                                                  "帕提古丽", "米热", "努尔古丽"};
const std::vector<std::string> kPlaceSyllables = {
    "东", "西", "南", "北", "新", "安", "和", "平", "兴", "隆", "朝", "阳", "石", "槽", "官",
    "池", "范", "家", "许", "庄", "韦", "林", "段", "赵", "埝", "桥", "两", "宜", "下", "寨",
    "羌", "白", "马", "苏", "村", "冯", "雷", "坊", "步", "昌", "高", "明", "仁", "义", "华"};

std::string traditional_of(const std::string& name) {
  std::string out;
  bool changed = false;
  for (size_t i = 0; i < name.size();) {
    size_t len = (static_cast<unsigned char>(name[i]) >= 0xF0)   ? 4
                 : (static_cast<unsigned char>(name[i]) >= 0xE0) ? 3
                 : (static_cast<unsigned char>(name[i]) >= 0xC0) ? 2
                                                                 : 1;
    std::string_view ch(name.data() + i, len);
    auto it = std::find_if(kTraditional.begin(), kTraditional.end(),
                           [&](const auto& pair) { return pair.first == ch; });
    if (it != kTraditional.end() && it->first != it->second) {
      out += it->second;
      changed = true;
    } else {
      out += ch;
    }
    i += len;
  }
  return changed ? out : std::string();
}

int days_index(CivilDate d) {
  return static_cast<int>(d.days_since_epoch() + 40000);
}

}  // namespace

const std::vector<std::string_view> kEthnicities = {"汉族", "回族", "维吾尔族", "满族"};
const std::vector<std::string_view> kAttributes = {"一般贫困户", "低保贫困户", "特困供养贫困户"};
const std::vector<std::string_view> kCauses = {
    "因病",   "因残",   "因学",   "因灾",         "缺土地",          "缺水",
    "缺技术", "缺劳力", "缺资金", "交通条件落后", "自身发展动力不足"};
const std::vector<std::string_view> kMonitoring = {"", "脱贫不稳定户", "边缘易致贫户",
                                                   "突发严重困难户"};

County::County(const Options& options) : opt_(options) {
  if (opt_.division.size() != 6) throw std::invalid_argument("--division needs 6 digits");
  if (opt_.division == "610523") {
    province = "陕西省";
    city = "渭南市";
    county_name = "大荔县";
  } else {
    province = "示范省";
    city = "示范市";
    county_name = "示范县";
  }
  // Snapshot months end with the reference month.
  int y = opt_.reference.year, m = opt_.reference.month;
  for (int i = 0; i < opt_.months; ++i) {
    months.insert(months.begin(), y * 100 + m);
    if (--m == 0) {
      m = 12;
      --y;
    }
  }
  id_seq_used_.assign(static_cast<size_t>(100000) * 1000 / 8 + 1, 0);
  make_places();
  make_households();
}

void County::make_places() {
  Rng rng(opt_.seed, kTagPlace);
  size_t village_count = std::max<size_t>(2, (opt_.households + 249) / 250);
  size_t township_count = std::max<size_t>(1, (village_count + 11) / 12);
  if (township_count > 899) throw std::invalid_argument("too many households for one county");
  auto place_name = [&](int len) {
    std::string s;
    for (int i = 0; i < len; ++i)
      s += rng.pick(kPlaceSyllables);
    return s;
  };
  for (size_t t = 0; t < township_count; ++t) {
    char code[32];
    std::snprintf(code, sizeof code, "%s%03zu", opt_.division.c_str(), t == 0 ? 1 : 100 + t);
    townships.push_back({code, t == 0 ? "城关街道" : place_name(2) + "镇"});
  }
  for (size_t v = 0; v < village_count; ++v) {
    uint32_t t = static_cast<uint32_t>(v % township_count);
    size_t n = v / township_count;
    bool urban = t == 0 && n < 3;
    char code[32];
    std::snprintf(code, sizeof code, "%s%03zu", townships[t].code.c_str(), urban ? n + 1 : 200 + n);
    villages.push_back({code, place_name(2) + (urban ? "社区" : "村"), t, urban});
  }
  // Schools: per township a kindergarten, a primary and a junior secondary
  // school; per county two senior high schools and a vocational school.
  const char* kinds[] = {"", "中心幼儿园", "中心小学", "初级中学"};
  for (int stage = 1; stage <= 3; ++stage) {
    for (size_t t = 0; t < township_count; ++t) {
      char code[32];
      std::snprintf(code, sizeof code, "2161%03zu%d%02d", t, stage, 1);
      township_school_[stage].push_back(static_cast<uint32_t>(schools.size()));
      schools.push_back(
          {code, county_name + townships[t].name + kinds[stage], stage, static_cast<uint32_t>(t)});
    }
  }
  for (int k = 0; k < 2; ++k) {
    township_school_[4].push_back(static_cast<uint32_t>(schools.size()));
    schools.push_back({"41610106" + std::to_string(90 + k),
                       county_name + (k == 0 ? "第一高级中学" : "第二高级中学"), 4, 0});
  }
  township_school_[5].push_back(static_cast<uint32_t>(schools.size()));
  schools.push_back({"4161010698", county_name + "职业教育中心", 5, 0});
}

std::string County::make_id(const Village& v, CivilDate birth, uint8_t sex, Rng& rng) {
  (void)v;
  int day = days_index(birth);
  int seq = rng.range(0, 499) * 2 + (sex == 1 ? 1 : 0);
  for (int tries = 0; tries < 1000; ++tries) {
    size_t bit = static_cast<size_t>(day) * 1000 + static_cast<size_t>(seq);
    if (!(id_seq_used_[bit / 8] & (1u << (bit % 8)))) {
      id_seq_used_[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
      break;
    }
    seq = (seq + 2) % 1000;
  }
  char first17[20];
  std::snprintf(first17, sizeof first17, "%s%04d%02d%02d%03d", opt_.division.c_str(), birth.year,
                birth.month, birth.day, seq);
  std::string id(first17, 17);
  id += hutong::domain::resident_id_check_char(id);
  return id;
}

void County::make_person(Person& p, Rng& rng, CivilDate birth, uint8_t sex,
                         const std::string& surname) {
  p.birth = birth;
  p.sex = sex;
  const Household& h = households[p.household];
  std::string id = make_id(villages[h.village], birth, sex, rng);
  std::copy(id.begin(), id.end(), p.id);
  if (p.ethnicity == 2) {
    const auto& given = sex == 1 ? kMinorityMale : kMinorityFemale;
    p.name = rng.pick(given) + "·" + rng.pick(kMinorityMale);
  } else {
    const auto& given = sex == 1 ? kMaleGiven : kFemaleGiven;
    p.name = surname + rng.pick(given);
    if (rng.chance(0.7)) p.name += rng.pick(given);
  }
  p.trad_name = traditional_of(p.name);
  auto it = opt_.defect_overrides.find("name.traditional");
  double rate = it != opt_.defect_overrides.end() ? it->second : opt_.defect_rate;
  if (!p.trad_name.empty() && rng.chance(rate)) {
    // One system (sometimes two) writes this person in traditional characters.
    static const uint8_t masks[] = {kSysPoverty, kSysCivil, kSysEducation, kSysFund,
                                    kSysPoverty | kSysFund};
    p.traditional = masks[rng.range(0, 4)];
  }
}

void County::make_households() {
  const CivilDate ref = opt_.reference;
  auto birth_at_age = [&](Rng& rng, int age) {
    // A birth date giving `age` whole years on the reference date.
    int64_t latest = CivilDate{ref.year - age, ref.month, std::min(ref.day, 28)}.days_since_epoch();
    return CivilDate::from_days_since_epoch(latest - rng.range(0, 364));
  };
  households.resize(opt_.households);
  people.reserve(opt_.households * 4);
  size_t village_count = villages.size();
  std::vector<uint16_t> village_seq(village_count, 0);
  for (size_t hi = 0; hi < households.size(); ++hi) {
    Household& h = households[hi];
    Rng rng(opt_.seed, kTagHousehold, hi);
    h.village = static_cast<uint32_t>(rng.next() % village_count);
    if (village_seq[h.village] == 9999) h.village = static_cast<uint32_t>(hi % village_count);
    h.seq = ++village_seq[h.village];
    static const char* prefixes[] = {"138", "139", "151", "158", "177", "180", "189", "199"};
    h.phone = std::stoull(std::string(prefixes[rng.range(0, 7)]) +
                          std::to_string(10000000 + rng.next() % 90000000));
    h.first = static_cast<uint32_t>(people.size());
    std::string surname = rng.pick(kSurnames);
    uint8_t ethnicity = rng.chance(0.015) ? 2 : rng.chance(0.04) ? 1 : rng.chance(0.01) ? 3 : 0;
    auto add = [&](Role role, int age, uint8_t sex, const std::string& family_name) {
      people.emplace_back();
      Person& p = people.back();
      p.household = static_cast<uint32_t>(hi);
      p.role = role;
      p.ethnicity = ethnicity;
      Rng prng(opt_.seed, kTagPerson, people.size());
      make_person(p, prng, birth_at_age(prng, age), sex, family_name);
      return people.size() - 1;
    };
    int head_age = rng.range(24, 82);
    uint8_t head_sex = rng.chance(0.8) ? 1 : 2;
    add(Role::kHead, head_age, head_sex, surname);
    bool spouse = head_age < 75 ? rng.chance(0.85) : rng.chance(0.4);
    if (spouse)
      add(Role::kSpouse, std::max(20, head_age + rng.range(-5, 3)), 3 - head_sex,
          rng.pick(kSurnames));
    if (head_age < 60) {
      int kids = rng.range(0, 3);
      for (int k = 0; k < kids; ++k) {
        int age = std::max(0, head_age - rng.range(20, 34));
        if (age < 1 && rng.chance(0.5)) age = rng.range(1, 6);
        add(Role::kChild, age, rng.chance(0.52) ? 1 : 2, surname);
      }
      if (head_age > 40 && rng.chance(0.25))
        add(Role::kParent, std::min(95, head_age + rng.range(22, 30)), rng.chance(0.5) ? 1 : 2,
            surname);
    } else {
      if (rng.chance(0.35)) {
        int grandkids = rng.range(1, 2);
        for (int k = 0; k < grandkids; ++k)
          add(Role::kGrandchild, std::max(1, head_age - rng.range(48, 60)),
              rng.chance(0.52) ? 1 : 2, surname);
      }
    }
    if (rng.chance(0.02))
      add(Role::kOther, rng.range(5, 70), rng.chance(0.5) ? 1 : 2, rng.pick(kSurnames));
    h.count = static_cast<uint32_t>(people.size()) - h.first;

    // Poverty registry.
    Rng pov(opt_.seed, kTagPoverty, hi);
    h.poor = pov.chance(opt_.poor_share);
    if (h.poor) {
      int months_n = static_cast<int>(months.size());
      h.attribute = pov.chance(0.7) ? 0 : pov.chance(0.8) ? 1 : 2;
      if (h.count == 1 && head_age > 60 && pov.chance(0.5)) h.attribute = 2;
      h.cause = static_cast<uint8_t>(pov.range(0, static_cast<int>(kCauses.size()) - 1));
      h.type = pov.chance(0.85) ? 0 : 1;
      if (h.type == 1) {
        h.monitoring = static_cast<uint8_t>(pov.range(1, 3));
        h.risk = pov.chance(0.4) ? 1 : 2;
      } else {
        h.exit_year = static_cast<int16_t>(pov.range(2014, 2020));
      }
      if (months_n > 1) {
        double u = pov.uniform();
        int at = pov.range(1, months_n - 1);
        if (u < 0.012) {
          h.poor_until = static_cast<int8_t>(at);  // leaves the registry
        } else if (u < 0.024) {
          h.poor_from = static_cast<int8_t>(at);  // newly registered (a monitoring household)
          h.type = 1;
          h.monitoring = static_cast<uint8_t>(pov.range(1, 3));
          h.risk = 2;
          h.exit_year = 0;
        } else if (u < 0.05) {
          h.change_at = static_cast<int8_t>(at);  // attributes change
        } else if (u < 0.06 && h.count > 1) {
          // A member leaves the household (moved out, died).
          people[h.first + h.count - 1].left = static_cast<int8_t>(at);
        }
      }
    }
    h.dibao = h.poor ? (h.attribute == 1 || pov.chance(0.1)) : pov.chance(0.03);
  }
  // Newborns join a few poor households between snapshots (IDs valid, born
  // before the snapshot that first lists them).
  if (months.size() > 1) {
    size_t n = households.size();
    for (size_t hi = 0; hi < n; ++hi) {
      Household& h = households[hi];
      Rng ev(opt_.seed, kTagEvents, hi);
      if (!h.poor || h.count < 2 || !ev.chance(0.006)) continue;
      // Only the household's own slice can grow: append at the end of people when
      // the household is the last, else record it as an "other" member born late.
      int at = ev.range(1, static_cast<int>(months.size()) - 1);
      int ym = months[at];
      CivilDate born{ym / 100, ym % 100, 1};
      if (born > ref) born = ref;
      (void)born;
      // Newborns are modelled by marking the household's youngest child (if an
      // infant) as joining at `at`.
      for (uint32_t k = h.first; k < h.first + h.count; ++k) {
        Person& p = people[k];
        if ((p.role == Role::kChild || p.role == Role::kGrandchild) && age(p, ref) == 0) {
          p.joined = static_cast<int8_t>(at);
          break;
        }
      }
    }
  }
}

int County::age(const Person& p, CivilDate on) const {
  return hutong::domain::age_in_years(p.birth, on);
}

std::string County::household_no(const Household& h) const {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04u", h.seq);
  return villages[h.village].code + buf;
}

std::string County::member_no(const Person& p) const {
  const Household& h = households[p.household];
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u", static_cast<unsigned>(&p - people.data()) - h.first + 1);
  return household_no(h) + buf;
}

County::Schooling County::schooling(const Person& p, CivilDate term_start) const {
  Schooling s;
  // Age on 31 August before the term.
  CivilDate cutoff{term_start.year, 8, 31};
  int a = hutong::domain::age_in_years(p.birth, cutoff);
  static const char* kPre[] = {"小班", "中班", "大班"};
  static const char* kGrades[] = {"一年级", "二年级", "三年级", "四年级", "五年级",
                                  "六年级", "七年级", "八年级", "九年级"};
  static const char* kSenior[] = {"高一", "高二", "高三"};
  static const char* kVoc[] = {"中职一年级", "中职二年级", "中职三年级"};
  if (a >= 3 && a <= 5) {
    s.stage = 1;
    s.grade = kPre[a - 3];
    s.year_in_stage = a - 2;
  } else if (a >= 6 && a <= 14) {
    s.stage = a <= 11 ? 2 : 3;
    s.grade = kGrades[a - 6];
    s.grade_year = a - 5;
    s.year_in_stage = a <= 11 ? a - 5 : a - 11;
  } else if (a >= 15 && a <= 17) {
    // About a third of the senior-age students attend the vocational school.
    bool voc = (mix64(static_cast<uint64_t>(p.id[16]) * 131 + p.birth.day) % 3) == 0;
    s.stage = voc ? 5 : 4;
    s.grade = voc ? kVoc[a - 15] : kSenior[a - 15];
    s.grade_year = voc ? 0 : a - 5;
    s.year_in_stage = a - 14;
  }
  return s;
}

const School& County::school_for(const Person& p, int stage) const {
  const auto& list = township_school_[stage];
  if (stage >= 4) return schools[list[(p.birth.day + p.birth.month) % list.size()]];
  return schools[list[villages[households[p.household].village].township % list.size()]];
}

}  // namespace county
