// The personal data test_source puts in its records when `personal` is on, so
// that tests can compute independently what each department should receive:
// row n's student and guardian have valid resident IDs (unique for n < 1 000 000),
// the guardian a phone number, and the student a division code of one of two
// counties (610523 for even rows, 610524 for odd ones).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace hutong::testing {

inline std::string resident_id_with_check(const std::string& first17) {
  static const int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int i = 0; i < 17; ++i)
    sum += (first17[i] - '0') * kWeights[i];
  return first17 + "10X98765432"[sum % 11];
}

// yyyymmdd of `days` after 1 January of `year` (proleptic Gregorian).
inline std::string date_after(int year, int64_t days) {
  int month = 1;
  int day = 1;
  static const int kLengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  while (days > 0) {
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int length = kLengths[month - 1] + (month == 2 && leap ? 1 : 0);
    int step = static_cast<int>(std::min<int64_t>(days, length - day + 1));
    day += step;
    days -= step;
    if (day > length) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
  char text[40];
  std::snprintf(text, sizeof text, "%04d%02d%02d", year, month, day);
  return text;
}

inline std::string synthetic_area(int64_t n) {
  return n % 2 == 0 ? "610523" : "610524";
}

inline std::string synthetic_student_id(int64_t n) {
  char sequence[8];
  std::snprintf(sequence, sizeof sequence, "%03d", static_cast<int>(n % 1000));
  return resident_id_with_check(synthetic_area(n) + date_after(2010, n / 1000) + sequence);
}

inline std::string synthetic_guardian_id(int64_t n) {
  char sequence[8];
  std::snprintf(sequence, sizeof sequence, "%03d", static_cast<int>(n % 1000));
  return resident_id_with_check(synthetic_area(n) + date_after(1978, n / 1000) + sequence);
}

inline std::string synthetic_phone(int64_t n) {
  char phone[16];
  std::snprintf(phone, sizeof phone, "139%08lld", static_cast<long long>(n));
  return phone;
}

inline std::string synthetic_division(int64_t n) {
  return synthetic_area(n) + "100000";
}

}  // namespace hutong::testing
