// education_files: rows of the three exports to records (see education_rows.h).
#include "education_rows.h"

#include <cstdlib>
#include <tuple>
#include <utility>

#include "domain/amount.h"
#include "domain/division.h"
#include "domain/name.h"
#include "domain/resident_id.h"
#include "domain/text.h"
#include "hutong/v1/options.pb.h"

namespace hutong::education {
namespace {

using domain::CivilDate;

struct KindSpec {
  const char* prefix;
  char letter;
  std::string_view topic;
  std::vector<std::string_view> columns;
};

// Column order here is the field order the builders use.
const KindSpec& spec(Kind kind) {
  static const KindSpec kSpecs[] = {
      {"学籍名册",
       'R',
       "education.enrollment",
       {"全国学籍号", "姓名", "性别", "身份证件类型", "身份证件号", "出生日期", "民族",
        "学校标识码", "学校名称", "学段", "年级", "班级", "学籍状态", "是否住宿",
        "户籍所在地行政区划", "监护人姓名", "监护人身份证件号", "联系电话", "更新时间"}},
      {"资助发放",
       'A',
       "education.aid",
       {"发放批次号", "身份证件号", "姓名", "学校标识码", "资助项目", "学年", "学期", "金额(元)",
        "发放日期", "发放状态"}},
      {"结对帮扶台账",
       'P',
       "education.pairing",
       {"教师工号", "教师姓名", "学校标识码", "学生身份证件号", "学生姓名", "结对日期", "解除日期",
        "帮扶措施", "最近走访日期"}},
  };
  return kSpecs[static_cast<int>(kind)];
}

enum RosterField {
  kRNsn,
  kRName,
  kRSex,
  kRIdType,
  kRId,
  kRBirth,
  kREthnicity,
  kRSchoolCode,
  kRSchoolName,
  kRStage,
  kRGrade,
  kRClass,
  kRStatus,
  kRBoarding,
  kRHukou,
  kRGuardianName,
  kRGuardianId,
  kRPhone,
  kRUpdated
};
enum AidField {
  kABatch,
  kAId,
  kAName,
  kASchoolCode,
  kAProgramme,
  kAYear,
  kATerm,
  kAAmount,
  kAPaidOn,
  kAStatus
};
enum PairingField {
  kPStaffNo,
  kPTeacherName,
  kPSchoolCode,
  kPId,
  kPName,
  kPPairedOn,
  kPEndedOn,
  kPMeasures,
  kPLastVisit
};

// An enumeration's labels, looked up without touching the descriptor per row.
class Labels {
 public:
  explicit Labels(const google::protobuf::EnumDescriptor* type) {
    for (int i = 0; i < type->value_count(); ++i) {
      const auto& options = type->value(i)->options();
      for (int l = 0; l < options.ExtensionSize(hutong::v1::label); ++l) {
        entries_.emplace_back(options.GetExtension(hutong::v1::label, l), type->value(i)->number());
      }
    }
  }
  int operator()(std::string_view text) const {
    for (const auto& [label, number] : entries_) {
      if (label == text) return number;
    }
    return 0;
  }

 private:
  std::vector<std::pair<std::string, int>> entries_;
};

// The labels of one enumeration, read from its descriptor once.
template <const google::protobuf::EnumDescriptor* (*Descriptor)()>
const Labels& labels() {
  static const Labels instance(Descriptor());
  return instance;
}

void reject(BuiltRow& out, std::string_view reason, std::string message, std::string_view field) {
  out.ok = false;
  out.reason = reason;
  out.message = field.empty() ? std::move(message) : std::string(field) + ": " + message;
  out.field = std::string(field);
}

// The subject's ID (rule 4): a number cell is id.scientific (its digits are lost).
bool resident_id(const Cell& cell, CivilDate reference, std::string_view field, BuiltRow& out,
                 domain::ResidentId& id) {
  if (cell.kind == CellKind::kNumber || cell.kind == CellKind::kDate) {
    Status s = domain::numeric_cell_id_status(cell.text);
    reject(out, s.code(), s.message(), field);
    return false;
  }
  Result<domain::ResidentId> r = domain::normalize_resident_id(cell.text, reference);
  if (!r) {
    reject(out, r.code(), r.status().message(), field);
    return false;
  }
  id = *r;
  return true;
}

void set_text(std::string* target, std::string_view text) {
  target->assign(text.data(), text.size());
}

// The student a record is about, by resident ID (which must be usable) and name.
bool subject(const Cell& id_cell, const Cell& name, CivilDate reference, std::string_view field,
             BuiltRow& out, domain::ResidentId& id, hutong::v1::Person& person) {
  if (!resident_id(id_cell, reference, field, out, id)) return false;
  set_text(person.mutable_resident_id(), id.number());
  person.set_id_type(hutong::v1::ID_TYPE_RESIDENT_ID);
  set_text(person.mutable_name(), name.text);
  return true;
}

// Clears a record for the next row. Clear() on a proto3 record deletes its
// sub-messages (and their strings' buffers); the sub-messages every row sets
// are taken out first, cleared in place and put back, so a row allocates
// nothing for them.
template <typename Record, typename Sub>
struct Kept {
  Sub* (Record::*release)();
  void (Record::*set_allocated)(Sub*);
};
template <typename Record, typename... Subs>
void clear_keeping(Record& record, Kept<Record, Subs>... kept) {
  auto taken = std::make_tuple((record.*kept.release)()...);
  record.Clear();
  std::apply(
      [&](auto*... sub) {
        (
            [&](auto* one, auto setter) {
              if (one == nullptr) return;
              one->Clear();
              (record.*setter)(one);
            }(sub, kept.set_allocated),
            ...);
      },
      taken);
}

void accept(const google::protobuf::MessageLite& record, BuiltRow& out) {
  out.payload.clear();
  record.AppendToString(&out.payload);
  out.ok = true;
}

void set_date(const CivilDate& date, hutong::v1::Date& out) {
  out.set_year(date.year);
  out.set_month(date.month);
  out.set_day(date.day);
}

// A date cell (rule 8): empty leaves the date unset.
bool date(const Cell& cell, std::string_view field, BuiltRow& out, hutong::v1::Date* target) {
  if (cell.text.empty()) return true;
  Result<CivilDate> d =
      cell.kind == CellKind::kDate
          ? domain::date_from_excel_serial(std::strtod(std::string(cell.text).c_str(), nullptr))
          : domain::parse_date(cell.text);
  if (!d) {
    reject(out, domain::kValueDate, d.status().message(), field);
    return false;
  }
  set_date(*d, *target);
  return true;
}

// 一年级 .. 九年级 -> 1..9, 高一 .. 高三 -> 10..12.
int grade_year(std::string_view grade) {
  static const std::pair<std::string_view, int> kGrades[] = {
      {"一年级", 1}, {"二年级", 2}, {"三年级", 3}, {"四年级", 4}, {"五年级", 5}, {"六年级", 6},
      {"七年级", 7}, {"八年级", 8}, {"九年级", 9}, {"高一", 10},  {"高二", 11},  {"高三", 12}};
  for (const auto& [text, year] : kGrades) {
    if (text == grade) return year;
  }
  return 0;
}

// "2025-2026" -> 2025; 0 when it is not Y-(Y+1).
int school_year(std::string_view text) {
  if (text.size() != 9 || text[4] != '-') return 0;
  int a = 0;
  int b = 0;
  for (int i = 0; i < 4; ++i) {
    if (text[i] < '0' || text[i] > '9' || text[5 + i] < '0' || text[5 + i] > '9') return 0;
    a = a * 10 + (text[i] - '0');
    b = b * 10 + (text[5 + i] - '0');
  }
  return b == a + 1 ? a : 0;
}

std::string normalized_name(std::string_view text) {
  Result<std::string> name = domain::normalize_name(text);
  return name ? std::move(*name) : std::string(text);
}

}  // namespace

std::string FileName::code() const {
  return date + spec(kind).letter + (xlsx ? 'x' : 'c');
}

std::string FileName::file() const {
  return std::string(spec(kind).prefix) + "_" + date + (xlsx ? ".xlsx" : ".csv");
}

std::optional<FileName> parse_file_name(std::string_view name) {
  for (Kind kind : {Kind::kRoster, Kind::kAid, Kind::kPairing}) {
    std::string_view prefix = spec(kind).prefix;
    if (!name.starts_with(prefix) || name.size() < prefix.size() + 1 + 8 ||
        name[prefix.size()] != '_') {
      continue;
    }
    std::string_view date = name.substr(prefix.size() + 1, 8);
    std::string_view ext = name.substr(prefix.size() + 9);
    if (ext != ".csv" && ext != ".xlsx") return std::nullopt;
    int y = 0, m = 0, d = 0;
    for (int i = 0; i < 8; ++i) {
      if (date[i] < '0' || date[i] > '9') return std::nullopt;
      int digit = date[i] - '0';
      if (i < 4)
        y = y * 10 + digit;
      else if (i < 6)
        m = m * 10 + digit;
      else
        d = d * 10 + digit;
    }
    if (!domain::is_valid_date(y, m, d)) return std::nullopt;
    return FileName{kind, std::string(date), ext == ".xlsx"};
  }
  return std::nullopt;
}

std::optional<FileName> parse_file_code(std::string_view code) {
  if (code.size() != 10) return std::nullopt;
  for (Kind kind : {Kind::kRoster, Kind::kAid, Kind::kPairing}) {
    if (code[8] != spec(kind).letter || (code[9] != 'c' && code[9] != 'x')) continue;
    FileName name{kind, std::string(code.substr(0, 8)), code[9] == 'x'};
    if (parse_file_name(name.file())) return name;
  }
  return std::nullopt;
}

std::string_view topic_of(Kind kind) {
  return spec(kind).topic;
}

RowBuilder::RowBuilder(Kind kind) : kind_(kind), columns_(spec(kind).columns) {}

Status RowBuilder::map_header(const std::vector<std::string_view>& header) {
  header_fields_.assign(header.size(), -1);
  std::vector<int> found(columns_.size(), -1);
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name = domain::fold_full_width(domain::trim_spaces(header[i]));
    for (size_t f = 0; f < columns_.size(); ++f) {
      if (columns_[f] != name) continue;
      if (found[f] >= 0) {
        return Status(kFileHeader, "the header names " + name + " twice (columns " +
                                       std::to_string(found[f] + 1) + " and " +
                                       std::to_string(i + 1) + ")");
      }
      found[f] = static_cast<int>(i);
      header_fields_[i] = static_cast<int>(f);
    }
  }
  std::string missing;
  for (size_t f = 0; f < columns_.size(); ++f) {
    if (found[f] >= 0) continue;
    if (!missing.empty()) missing += ", ";
    missing += columns_[f];
  }
  if (!missing.empty()) {
    return Status(kFileHeader, "the header lacks the column(s) " + missing + " that a " +
                                   spec(kind_).prefix + " export must have");
  }
  return Status::ok();
}

void RowBuilder::build(const Cell* cells, CivilDate reference, BuiltRow& out) {
  out.ok = false;
  out.key.clear();
  switch (kind_) {
    case Kind::kRoster:
      return roster(cells, reference, out);
    case Kind::kAid:
      return aid(cells, reference, out);
    case Kind::kPairing:
      return pairing(cells, reference, out);
  }
}

void RowBuilder::roster(const Cell* c, CivilDate reference, BuiltRow& out) {
  using hutong::v1::StudentEnrollment;
  hutong::v1::StudentEnrollment& r = enrollment_;
  clear_keeping(
      r,
      Kept<StudentEnrollment, hutong::v1::Person>{&StudentEnrollment::release_student,
                                                  &StudentEnrollment::set_allocated_student},
      Kept<StudentEnrollment, hutong::v1::Guardian>{&StudentEnrollment::release_guardian,
                                                    &StudentEnrollment::set_allocated_guardian});
  hutong::v1::Person& student = *r.mutable_student();
  int id_type = labels<hutong::v1::IdType_descriptor>()(c[kRIdType].text);
  student.set_id_type(static_cast<hutong::v1::IdType>(id_type));
  if (id_type == 0 && !c[kRIdType].text.empty())
    set_text(student.mutable_id_type_text(), c[kRIdType].text);
  // A student without a resident ID (身份证件类型 无 or 护照) is keyed by 全国学籍号;
  // anyone else must have a usable ID (全国学籍号 never stands in for it).
  if (id_type == hutong::v1::ID_TYPE_NONE || id_type == hutong::v1::ID_TYPE_PASSPORT) {
    if (c[kRNsn].text.empty()) {
      reject(out, domain::kIdMissing,
             "the student has no resident ID (身份证件类型 " + std::string(c[kRIdType].text) +
                 ") and no 全国学籍号 to be keyed by",
             "全国学籍号");
      return;
    }
    if (!c[kRId].text.empty()) set_text(student.mutable_other_id_number(), c[kRId].text);
    out.key.assign(c[kRNsn].text);
  } else {
    domain::ResidentId id;
    if (!resident_id(c[kRId], reference, "身份证件号", out, id)) return;
    set_text(student.mutable_resident_id(), id.number());
    out.key.assign(id.number());
  }
  set_text(r.mutable_national_student_number(), c[kRNsn].text);
  set_text(student.mutable_name(), c[kRName].text);
  int sex = labels<hutong::v1::Sex_descriptor>()(c[kRSex].text);
  student.set_sex(static_cast<hutong::v1::Sex>(sex));
  if (sex == 0 && !c[kRSex].text.empty()) set_text(student.mutable_sex_text(), c[kRSex].text);
  if (!date(c[kRBirth], "出生日期", out, student.mutable_birth_date())) return;
  set_text(student.mutable_ethnicity(), c[kREthnicity].text);
  set_text(r.mutable_school_code(), c[kRSchoolCode].text);
  set_text(r.mutable_school_name(), c[kRSchoolName].text);
  int stage = labels<hutong::v1::SchoolStage_descriptor>()(c[kRStage].text);
  r.set_stage(static_cast<hutong::v1::SchoolStage>(stage));
  if (stage == 0 && !c[kRStage].text.empty()) set_text(r.mutable_stage_text(), c[kRStage].text);
  set_text(r.mutable_grade(), c[kRGrade].text);
  r.set_grade_year(grade_year(c[kRGrade].text));
  set_text(r.mutable_class_name(), c[kRClass].text);
  int status = labels<hutong::v1::EnrollmentStatus_descriptor>()(c[kRStatus].text);
  r.set_status(static_cast<hutong::v1::EnrollmentStatus>(status));
  if (status == 0 && !c[kRStatus].text.empty()) set_text(r.mutable_status_text(), c[kRStatus].text);
  if (c[kRBoarding].text == "是") r.set_boarding(true);
  if (c[kRBoarding].text == "否") r.set_boarding(false);
  Result<domain::DivisionCode> hukou = domain::parse_division_code(c[kRHukou].text);
  if (hukou) {
    r.set_hukou_division(hukou->code());
  } else {
    set_text(r.mutable_hukou_division(), c[kRHukou].text);
  }
  hutong::v1::Guardian& guardian = *r.mutable_guardian();
  if (!c[kRGuardianName].text.empty()) guardian.set_name(normalized_name(c[kRGuardianName].text));
  // A reference (rule 6): normalized when possible, never a reason to reject.
  if (!c[kRGuardianId].text.empty() && c[kRGuardianId].kind == CellKind::kText) {
    Result<domain::ResidentId> g = domain::normalize_resident_id(c[kRGuardianId].text, reference);
    if (g) set_text(guardian.mutable_resident_id(), g->number());
  }
  set_text(guardian.mutable_phone(), c[kRPhone].text);
  if (!c[kRUpdated].text.empty()) {
    Result<domain::LocalTimestamp> t = c[kRUpdated].kind == CellKind::kDate
                                           ? domain::timestamp_from_excel_serial(std::strtod(
                                                 std::string(c[kRUpdated].text).c_str(), nullptr))
                                           : domain::parse_timestamp(c[kRUpdated].text);
    if (!t) {
      reject(out, domain::kValueDate, t.status().message(), "更新时间");
      return;
    }
    // The roster system's clock is China Standard Time (UTC+8).
    int64_t seconds_of_day = int64_t{t->hour} * 3600 + int64_t{t->minute} * 60 + t->second;
    r.mutable_updated_at()->set_seconds(t->date.days_since_epoch() * 86400 + seconds_of_day -
                                        int64_t{8} * 3600);
  }
  accept(r, out);
}

void RowBuilder::aid(const Cell* c, CivilDate reference, BuiltRow& out) {
  using hutong::v1::AidDisbursement;
  hutong::v1::AidDisbursement& a = aid_;
  clear_keeping(a,
                Kept<AidDisbursement, hutong::v1::Person>{&AidDisbursement::release_student,
                                                          &AidDisbursement::set_allocated_student},
                Kept<AidDisbursement, hutong::v1::SchoolTerm>{&AidDisbursement::release_term,
                                                              &AidDisbursement::set_allocated_term},
                Kept<AidDisbursement, hutong::v1::Date>{&AidDisbursement::release_paid_on,
                                                        &AidDisbursement::set_allocated_paid_on});
  domain::ResidentId id;
  if (!subject(c[kAId], c[kAName], reference, "身份证件号", out, id, *a.mutable_student())) return;
  set_text(a.mutable_batch_no(), c[kABatch].text);
  set_text(a.mutable_school_code(), c[kASchoolCode].text);
  int programme = labels<hutong::v1::AidProgramme_descriptor>()(c[kAProgramme].text);
  a.set_programme(static_cast<hutong::v1::AidProgramme>(programme));
  if (programme == 0) set_text(a.mutable_programme_text(), c[kAProgramme].text);
  hutong::v1::SchoolTerm& term = *a.mutable_term();
  int year = school_year(c[kAYear].text);
  term.set_school_year_start(year);
  if (year == 0) set_text(term.mutable_school_year_text(), c[kAYear].text);
  int season = labels<hutong::v1::TermSeason_descriptor>()(c[kATerm].text);
  term.set_season(static_cast<hutong::v1::TermSeason>(season));
  if (season == 0) set_text(term.mutable_season_text(), c[kATerm].text);
  const Cell& amount = c[kAAmount];
  Result<int64_t> fen = amount.kind == CellKind::kNumber
                            ? domain::number_cell_yuan_to_fen(amount.text)
                            : domain::parse_yuan_to_fen(amount.text);
  if (!fen) {
    reject(out, domain::kValueAmount,
           amount.text.empty() ? std::string("the amount is empty") : fen.status().message(),
           "金额(元)");
    return;
  }
  a.set_amount_fen(*fen);
  if (!date(c[kAPaidOn], "发放日期", out, a.mutable_paid_on())) return;
  int status = labels<hutong::v1::AidStatus_descriptor>()(c[kAStatus].text);
  a.set_status(static_cast<hutong::v1::AidStatus>(status));
  if (status == 0) set_text(a.mutable_status_text(), c[kAStatus].text);
  // (发放批次号, normalized ID, 资助项目)
  out.key.assign(c[kABatch].text);
  out.key += '|';
  out.key.append(id.number());
  out.key += '|';
  out.key.append(c[kAProgramme].text);
  accept(a, out);
}

void RowBuilder::pairing(const Cell* c, CivilDate reference, BuiltRow& out) {
  using hutong::v1::TeacherPairing;
  hutong::v1::TeacherPairing& p = pairing_;
  clear_keeping(
      p,
      Kept<TeacherPairing, hutong::v1::Person>{&TeacherPairing::release_student,
                                               &TeacherPairing::set_allocated_student},
      Kept<TeacherPairing, hutong::v1::Date>{&TeacherPairing::release_paired_on,
                                             &TeacherPairing::set_allocated_paired_on},
      Kept<TeacherPairing, hutong::v1::Date>{&TeacherPairing::release_ended_on,
                                             &TeacherPairing::set_allocated_ended_on},
      Kept<TeacherPairing, hutong::v1::Date>{&TeacherPairing::release_last_visit_on,
                                             &TeacherPairing::set_allocated_last_visit_on});
  domain::ResidentId id;
  if (!subject(c[kPId], c[kPName], reference, "学生身份证件号", out, id, *p.mutable_student())) {
    return;
  }
  set_text(p.mutable_teacher_staff_no(), c[kPStaffNo].text);
  if (!c[kPTeacherName].text.empty()) p.set_teacher_name(normalized_name(c[kPTeacherName].text));
  set_text(p.mutable_school_code(), c[kPSchoolCode].text);
  if (!date(c[kPPairedOn], "结对日期", out, p.mutable_paired_on())) return;
  if (!date(c[kPEndedOn], "解除日期", out, p.mutable_ended_on())) return;
  // Free text, kept verbatim (a formula-looking cell too: it is neutralized
  // only when written back to a spreadsheet).
  set_text(p.mutable_measures(), c[kPMeasures].text);
  if (!date(c[kPLastVisit], "最近走访日期", out, p.mutable_last_visit_on())) return;
  // (教师工号, normalized student ID)
  out.key.assign(c[kPStaffNo].text);
  out.key += '|';
  out.key.append(id.number());
  accept(p, out);
}

}  // namespace hutong::education
