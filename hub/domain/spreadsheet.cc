#include "spreadsheet.h"

#include "text.h"

namespace hutong::domain {
namespace {

bool is_trigger(char32_t cp) {
  switch (cp) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
    case 0xFF1D:
    case 0xFF0B:
    case 0xFF0D:
    case 0xFF20:  // ＝ ＋ － ＠
      return true;
    default:
      return false;
  }
}

// "-12.50", "+86", "-1,250.00", "1e5": numbers, which a spreadsheet reads as
// numbers, not formulas.
bool is_plain_number(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (c != '.' && c != ',') {
      return false;
    }
  }
  return digits > 0;
}

}  // namespace

bool is_formula_like(std::string_view cell) {
  size_t pos = 0;
  // Leading ordinary spaces do not stop a spreadsheet from evaluating.
  while (pos < cell.size() && cell[pos] == ' ')
    ++pos;
  if (pos == cell.size()) return false;
  size_t at = pos;
  char32_t first = next_code_point(cell, pos);
  if (!is_trigger(first)) return false;
  if ((first == '-' || first == '+') && is_plain_number(cell.substr(at))) return false;
  return true;
}

std::string neutralize_formula(std::string_view cell) {
  if (!is_formula_like(cell)) return std::string(cell);
  std::string out = "'";
  out += cell;
  return out;
}

}  // namespace hutong::domain
