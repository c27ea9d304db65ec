// Administrative division codes (统计用区划代码): 6-digit county, 9-digit township
// and 12-digit village statistical codes, and their prefixes at each level.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace hutong::domain {

inline constexpr std::string_view kDivisionMissing = "division.missing";
inline constexpr std::string_view kDivisionMalformed = "division.malformed";

enum class DivisionLevel { kCounty = 6, kTownship = 9, kVillage = 12 };

class DivisionCode {
 public:
  // The code as it was given (6, 9 or 12 digits).
  const std::string& code() const { return code_; }
  // The finest level the code names: a 12-digit code ending in 000 names a
  // township, one ending in 000000 a county (the statistical codes of the
  // township and county themselves).
  DivisionLevel level() const { return level_; }
  // The prefix naming this division's ancestor (or itself) at `level`; empty when
  // the code is coarser than `level`.
  std::string_view prefix(DivisionLevel level) const;
  std::string_view county() const { return prefix(DivisionLevel::kCounty); }
  std::string_view township() const { return prefix(DivisionLevel::kTownship); }
  std::string_view village() const { return prefix(DivisionLevel::kVillage); }
  // The prefixes at every level the code has, coarsest first.
  std::vector<std::string_view> prefixes() const;
  // Whether this division lies within (or is) `ancestor` (any 6/9/12-digit code).
  bool within(std::string_view ancestor) const;

  friend Result<DivisionCode> parse_division_code(std::string_view text);

  // A prefix of division codes, as row filters take it: 1 to 12 ASCII digits.
  inline bool is_division_prefix(std::string_view text) {
    if (text.empty() || text.size() > 12) return false;
    for (char ch : text) {
      if (ch < '0' || ch > '9') return false;
    }
    return true;
  }

 private:
  std::string code_;
  DivisionLevel level_ = DivisionLevel::kCounty;
};

// Trims blanks, folds full-width digits, then requires 6, 9 or 12 digits whose
// first two are a province code.
Result<DivisionCode> parse_division_code(std::string_view text);

// A prefix of division codes, as row filters take it: 1 to 12 ASCII digits.
inline bool is_division_prefix(std::string_view text) {
  if (text.empty() || text.size() > 12) return false;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
  }
  return true;
}

}  // namespace hutong::domain
