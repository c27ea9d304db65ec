#include "date.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "text.h"

namespace hutong::domain {
namespace {

// Parses 1..max_digits ASCII digits at text[pos], advancing pos.
bool read_number(std::string_view text, size_t& pos, size_t min_digits, size_t max_digits,
                 int& out) {
  size_t start = pos;
  int value = 0;
  while (pos < text.size() && pos - start < max_digits && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + (text[pos] - '0');
    ++pos;
  }
  if (pos - start < min_digits) return false;
  out = value;
  return true;
}

Status date_error(std::string_view text, std::string_view why) {
  std::string message = "cannot read a date from \"";
  message += text;
  message += "\": ";
  message += why;
  return Status(kValueDate, std::move(message));
}

// Reads the date part; on success pos is just past it.
Result<CivilDate> read_date_part(std::string_view text, size_t& pos) {
  int year = 0, month = 0, day = 0;
  size_t start = pos;
  if (!read_number(text, pos, 4, 8, year)) {
    return date_error(text, "expected yyyy-mm-dd, yyyymmdd or yyyy/m/d");
  }
  if (pos - start == 8) {  // yyyymmdd
    day = year % 100;
    month = (year / 100) % 100;
    year /= 10000;
  } else if (pos - start == 4 && pos < text.size() && (text[pos] == '-' || text[pos] == '/')) {
    char sep = text[pos++];
    if (!read_number(text, pos, 1, 2, month) || pos >= text.size() || text[pos] != sep) {
      return date_error(text, "expected yyyy-mm-dd, yyyymmdd or yyyy/m/d");
    }
    ++pos;
    if (!read_number(text, pos, 1, 2, day)) {
      return date_error(text, "expected yyyy-mm-dd, yyyymmdd or yyyy/m/d");
    }
  } else {
    return date_error(text, "expected yyyy-mm-dd, yyyymmdd or yyyy/m/d");
  }
  if (!is_valid_date(year, month, day)) return date_error(text, "no such day in the calendar");
  return CivilDate{year, month, day};
}

// Reads an optional time of day after the date; pos at the separator.
bool read_time_part(std::string_view text, size_t& pos, LocalTimestamp& ts) {
  if (pos == text.size()) return true;
  if (text[pos] != ' ' && text[pos] != 'T') return false;
  while (pos < text.size() && text[pos] == ' ')
    ++pos;
  if (pos < text.size() && text[pos] == 'T') ++pos;
  if (!read_number(text, pos, 1, 2, ts.hour)) return false;
  if (pos >= text.size() || text[pos] != ':') return false;
  ++pos;
  if (!read_number(text, pos, 2, 2, ts.minute)) return false;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!read_number(text, pos, 2, 2, ts.second)) return false;
    // Fractional seconds as some databases print them.
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int ignored = 0;
      if (!read_number(text, pos, 1, 9, ignored)) return false;
    }
  }
  return pos == text.size() && ts.hour < 24 && ts.minute < 60 && ts.second < 60;
}

}  // namespace

bool is_leap_year(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[month - 1];
}

bool is_valid_date(int year, int month, int day) {
  return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 &&
         day <= days_in_month(year, month);
}

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t CivilDate::days_since_epoch() const {
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = (month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilDate::from_days_since_epoch(int64_t days) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  int y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
  return CivilDate{y, m, d};
}

std::string CivilDate::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

std::string LocalTimestamp::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", date.year, date.month, date.day,
                hour, minute, second);
  return buf;
}

Result<CivilDate> parse_date(std::string_view text) {
  std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty()) return Status(kValueDate, "the date is empty");
  size_t pos = 0;
  Result<CivilDate> date = read_date_part(trimmed, pos);
  if (!date) return date;
  LocalTimestamp ignored;
  if (!read_time_part(trimmed, pos, ignored)) {
    return date_error(trimmed, "unexpected text after the date");
  }
  return date;
}

Result<LocalTimestamp> parse_timestamp(std::string_view text) {
  std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty()) return Status(kValueDate, "the timestamp is empty");
  size_t pos = 0;
  Result<CivilDate> date = read_date_part(trimmed, pos);
  if (!date) return date.status();
  LocalTimestamp ts;
  ts.date = *date;
  if (!read_time_part(trimmed, pos, ts)) {
    std::string message = "cannot read a time of day from \"";
    message += trimmed;
    message += "\": expected h:mm or h:mm:ss after the date, within 00:00:00-23:59:59";
    return Status(kValueDate, std::move(message));
  }
  return ts;
}

Result<LocalTimestamp> timestamp_from_excel_serial(double serial) {
  // Serial 1 is 1900-01-01; Excel counts a 1900-02-29 that never was (serial 60).
  if (!std::isfinite(serial) || serial < 1 || serial >= 2958466) {
    return Status(kValueDate, "the spreadsheet date serial " + std::to_string(serial) +
                                  " is outside 1900-01-01..9999-12-31");
  }
  int64_t whole = static_cast<int64_t>(std::floor(serial));
  if (whole == 60) {
    return Status(kValueDate,
                  "the spreadsheet date serial 60 is Excel's 1900-02-29, which never was");
  }
  // 1899-12-31 is serial 0; after the phantom day every serial is one ahead.
  int64_t days = whole - (whole > 60 ? 1 : 0);
  static const int64_t kSerialZero = CivilDate{1899, 12, 31}.days_since_epoch();
  LocalTimestamp ts;
  ts.date = CivilDate::from_days_since_epoch(kSerialZero + days);
  int64_t seconds = std::llround((serial - static_cast<double>(whole)) * 86400.0);
  if (seconds >= 86400) seconds = 86399;
  ts.hour = static_cast<int>(seconds / 3600);
  ts.minute = static_cast<int>(seconds / 60 % 60);
  ts.second = static_cast<int>(seconds % 60);
  return ts;
}

Result<CivilDate> date_from_excel_serial(double serial) {
  Result<LocalTimestamp> ts = timestamp_from_excel_serial(serial);
  if (!ts) return ts.status();
  return ts->date;
}

CivilDate today() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return CivilDate{local.tm_year + 1900, local.tm_mon + 1, local.tm_mday};
}

int age_in_years(CivilDate birth, CivilDate on) {
  int age = on.year - birth.year;
  int birth_month = birth.month, birth_day = birth.day;
  if (birth_month == 2 && birth_day == 29 && !is_leap_year(on.year)) {
    birth_month = 3;
    birth_day = 1;
  }
  if (on.month < birth_month || (on.month == birth_month && on.day < birth_day)) --age;
  return age;
}

SchoolTerm term_of(CivilDate date) {
  if (date.month >= 9) return SchoolTerm{date.year, TermSeason::kAutumn};
  if (date.month == 1) return SchoolTerm{date.year - 1, TermSeason::kAutumn};
  return SchoolTerm{date.year - 1, TermSeason::kSpring};
}

std::string SchoolTerm::to_string() const {
  std::string out = std::to_string(school_year_start) + "-" + std::to_string(school_year_start + 1);
  out += season == TermSeason::kAutumn ? " 秋季学期" : " 春季学期";
  return out;
}

}  // namespace hutong::domain
