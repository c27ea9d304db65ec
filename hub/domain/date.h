// Calendar dates, local timestamps, school terms and ages, as the department
// systems write them. Pure functions; no time zone or locale is consulted.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "status.h"

namespace hutong::domain {

// A proleptic Gregorian calendar date. Only valid dates are produced by this
// library's parsers; a default-constructed date is the "no date" value.
struct CivilDate {
  int year = 0;
  int month = 0;  // 1..12
  int day = 0;    // 1..31

  bool empty() const { return year == 0; }
  auto operator<=>(const CivilDate&) const = default;

  // Days since 1970-01-01 (negative before it).
  int64_t days_since_epoch() const;
  static CivilDate from_days_since_epoch(int64_t days);
  // yyyy-mm-dd
  std::string to_string() const;
};

bool is_leap_year(int year);
int days_in_month(int year, int month);
bool is_valid_date(int year, int month, int day);

// A wall-clock time as written in a department export (no zone).
struct LocalTimestamp {
  CivilDate date;
  int hour = 0;
  int minute = 0;
  int second = 0;

  auto operator<=>(const LocalTimestamp&) const = default;
  // yyyy-mm-dd hh:mm:ss
  std::string to_string() const;
};

// Reason code for a date or timestamp that cannot be read.
inline constexpr std::string_view kValueDate = "value.date";

// Reads yyyy-mm-dd, yyyymmdd, yyyy/m/d (and yyyy-m-d), each optionally followed by
// a time of day (" h:mm[:ss]" or "Thh:mm:ss"), which is validated and discarded.
// Surrounding spaces are ignored. The date must exist in the calendar.
Result<CivilDate> parse_date(std::string_view text);

// Reads "yyyy-mm-dd hh:mm:ss" or "yyyy/m/d h:mm:ss" (seconds optional); a bare
// date reads as midnight.
Result<LocalTimestamp> parse_timestamp(std::string_view text);

// An XLSX/Excel date cell: a serial day number in the 1900 date system (with
// Excel's phantom 1900-02-29, so serial 60 is rejected) whose fraction is the time.
Result<LocalTimestamp> timestamp_from_excel_serial(double serial);
Result<CivilDate> date_from_excel_serial(double serial);

// Today's date on this machine's clock (local time).
CivilDate today();

// Whole years of age at `on`; a birthday on `on` counts, and a 29 February
// birthday falls on 1 March in common years.
int age_in_years(CivilDate birth, CivilDate on);

// The school term containing a date: 1 Sep - 31 Jan is the autumn term of school
// year Y-(Y+1) (Y the year of that September); 1 Feb - 31 Aug is the spring term
// of school year (Y-1)-Y.
enum class TermSeason { kAutumn, kSpring };
struct SchoolTerm {
  int school_year_start = 0;  // Y of "Y-(Y+1)"
  TermSeason season = TermSeason::kAutumn;
  auto operator<=>(const SchoolTerm&) const = default;
  // "2025-2026 秋季学期"
  std::string to_string() const;
};
SchoolTerm term_of(CivilDate date);

}  // namespace hutong::domain
