#include "division.h"

#include "resident_id.h"
#include "text.h"

namespace hutong::domain {

std::string_view DivisionCode::prefix(DivisionLevel level) const {
  if (static_cast<int>(level) > static_cast<int>(level_)) return {};
  return std::string_view(code_).substr(0, static_cast<size_t>(level));
}

std::vector<std::string_view> DivisionCode::prefixes() const {
  std::vector<std::string_view> out;
  for (DivisionLevel level :
       {DivisionLevel::kCounty, DivisionLevel::kTownship, DivisionLevel::kVillage}) {
    std::string_view p = prefix(level);
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

bool DivisionCode::within(std::string_view ancestor) const {
  return ancestor.size() <= static_cast<size_t>(level_) && code_.starts_with(ancestor);
}

Result<DivisionCode> parse_division_code(std::string_view text) {
  std::string folded = fold_full_width(trim_spaces(text));
  if (folded.empty()) return Status(kDivisionMissing, "the division code is empty");
  for (char c : folded) {
    if (c < '0' || c > '9') {
      return Status(kDivisionMalformed,
                    "division code \"" + folded + "\" holds a character other than a digit");
    }
  }
  if (folded.size() != 6 && folded.size() != 9 && folded.size() != 12) {
    return Status(kDivisionMalformed, "division code \"" + folded + "\" has " +
                                          std::to_string(folded.size()) +
                                          " digits; expected 6 (county), 9 (township) or 12 "
                                          "(village)");
  }
  if (!is_province_code(std::string_view(folded).substr(0, 2))) {
    return Status(kDivisionMalformed, "division code \"" + folded + "\" starts with " +
                                          folded.substr(0, 2) + ", which is not a province code");
  }
  if (folded.compare(2, 4, "0000") == 0 || folded.compare(4, 2, "00") == 0) {
    // A province or prefecture itself, not a county: not what the departments use.
    return Status(kDivisionMalformed,
                  "division code \"" + folded + "\" names a province or prefecture, not a county");
  }
  DivisionCode code;
  code.level_ = static_cast<DivisionLevel>(folded.size());
  // Trailing zero groups name the township or county itself.
  while (code.level_ != DivisionLevel::kCounty) {
    size_t level = static_cast<size_t>(code.level_);  // 12 -> 9 -> 6
    if (folded.compare(level - 3, 3, "000") != 0) break;
    code.level_ = static_cast<DivisionLevel>(level - 3);
  }
  code.code_ = std::move(folded);
  return code;
}

}  // namespace hutong::domain
