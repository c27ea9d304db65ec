#include "amount.h"

#include <limits>

#include "text.h"

namespace hutong::domain {
namespace {

constexpr int64_t kMaxFen = std::numeric_limits<int64_t>::max() / 10;

Status amount_error(std::string_view text, std::string_view why) {
  std::string message = "cannot read an amount in yuan from \"";
  message += text;
  message += "\": ";
  message += why;
  return Status(kValueAmount, std::move(message));
}

bool strip_prefix(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

Result<int64_t> parse_yuan_to_fen(std::string_view text) {
  std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty()) return amount_error(text, "the cell is empty");
  std::string folded = fold_full_width(trimmed);
  std::string_view s = folded;
  bool negative = strip_prefix(s, "-");
  if (strip_prefix(s, "\xC2\xA5") || strip_prefix(s, "\xEF\xBF\xA5")) {  // ¥ ￥
    s = trim_spaces(s);
    if (!negative) negative = strip_prefix(s, "-");
  }
  if (s.ends_with("\xE5\x85\x83")) s = trim_spaces(s.substr(0, s.size() - 3));  // 元

  int64_t yuan = 0;
  size_t i = 0;
  size_t group_digits = 0;  // digits since the last separator
  bool separated = false;
  size_t integer_digits = 0;
  for (; i < s.size() && s[i] != '.'; ++i) {
    char c = s[i];
    if (c == ',') {
      if (integer_digits == 0 || (separated && group_digits != 3) ||
          (!separated && group_digits > 3)) {
        return amount_error(trimmed, "a thousands separator is misplaced");
      }
      separated = true;
      group_digits = 0;
      continue;
    }
    if (c < '0' || c > '9') return amount_error(trimmed, "expected digits, found other text");
    if (yuan > kMaxFen / 100) return amount_error(trimmed, "the amount is too large");
    yuan = yuan * 10 + (c - '0');
    ++integer_digits;
    ++group_digits;
  }
  if (separated && group_digits != 3) {
    return amount_error(trimmed, "a thousands separator is misplaced");
  }
  int64_t fen = 0;
  size_t decimals = 0;
  if (i < s.size()) {  // at '.'
    ++i;
    if (i == s.size() && integer_digits == 0) return amount_error(trimmed, "no digits");
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c < '0' || c > '9')
        return amount_error(trimmed, "expected digits after the decimal point");
      ++decimals;
      if (decimals <= 2) {
        fen = fen * 10 + (c - '0');
      } else if (c != '0') {
        return amount_error(trimmed, "more than two decimals: amounts are kept exactly to the fen");
      }
    }
  }
  if (integer_digits == 0 && decimals == 0) return amount_error(trimmed, "no digits");
  if (decimals == 1) fen *= 10;
  int64_t total = yuan * 100 + fen;
  return negative ? -total : total;
}

Result<int64_t> number_cell_yuan_to_fen(std::string_view cell_value) {
  std::string_view s = trim_spaces(cell_value);
  bool negative = strip_prefix(s, "-");
  // Mantissa digits and the position of the decimal point, then the exponent.
  std::string digits;
  int point = -1;
  size_t i = 0;
  for (; i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'); ++i) {
    if (s[i] == '.') {
      if (point >= 0) return amount_error(cell_value, "two decimal points");
      point = static_cast<int>(digits.size());
    } else {
      digits += s[i];
    }
  }
  if (digits.empty()) return amount_error(cell_value, "the cell holds no number");
  if (point < 0) point = static_cast<int>(digits.size());
  if (i < s.size()) {
    if (s[i] != 'e' && s[i] != 'E') return amount_error(cell_value, "the cell holds no number");
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
    int exponent = 0;
    size_t exp_start = i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      exponent = exponent * 10 + (s[i] - '0');
      if (exponent > 400) return amount_error(cell_value, "the exponent is out of range");
    }
    if (i != s.size() || i == exp_start)
      return amount_error(cell_value, "the cell holds no number");
    point += exp_negative ? -exponent : exponent;
  }
  // fen = digits shifted so that two digits follow the point, rounded on the third.
  __int128 fen = 0;
  int fen_digits = point + 2;  // how many leading digits make up the fen value
  for (int k = 0; k < fen_digits; ++k) {
    int d = k < static_cast<int>(digits.size()) ? digits[k] - '0' : 0;
    fen = fen * 10 + d;
    if (fen > kMaxFen) return amount_error(cell_value, "the amount is too large");
  }
  if (fen_digits >= 0 && fen_digits < static_cast<int>(digits.size()) &&
      digits[fen_digits] >= '5') {
    ++fen;
  }
  int64_t value = static_cast<int64_t>(fen);
  return negative ? -value : value;
}

std::string format_fen_as_yuan(int64_t fen) {
  bool negative = fen < 0;
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / 100);
  out += '.';
  out += static_cast<char>('0' + magnitude / 10 % 10);
  out += static_cast<char>('0' + magnitude % 10);
  return out;
}

}  // namespace hutong::domain
