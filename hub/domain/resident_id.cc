#include "resident_id.h"

#include <cstdio>
#include <string>

#include "text.h"

namespace hutong::domain {
namespace {

constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr char kCheckChars[] = "10X98765432";
constexpr CivilDate kEarliestBirth{1880, 1, 1};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// "6.10523E+17", "6.1E17", "610523E12": what Excel shows for a long number.
bool looks_scientific(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t mantissa = 0;
  while (i < s.size() && is_digit(s[i]))
    ++i, ++mantissa;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i]))
      ++i, ++mantissa;
  }
  if (mantissa == 0 || i >= s.size() || (s[i] != 'e' && s[i] != 'E')) return false;
  ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t exponent = 0;
  while (i < s.size() && is_digit(s[i]))
    ++i, ++exponent;
  return exponent > 0 && i == s.size();
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

// Copies the ID characters of `text` into buf, folding full-width digits and X/x and
// upper-casing x. Returns the count (which may exceed capacity), or -1 at the first character that
// cannot be part of an ID (its byte offset in bad_offset).
int fold_id_chars(std::string_view text, char* buf, int capacity, size_t& bad_offset) {
  int n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t at = pos;
    char c = text[pos];
    char mapped;
    if (is_digit(c) || c == 'X') {
      mapped = c;
      ++pos;
    } else if (c == 'x') {
      mapped = 'X';
      ++pos;
    } else {
      char32_t cp = next_code_point(text, pos);
      if (cp >= 0xFF10 && cp <= 0xFF19) {
        mapped = static_cast<char>('0' + (cp - 0xFF10));
      } else if (cp == 0xFF38 || cp == 0xFF58) {
        mapped = 'X';
      } else {
        bad_offset = at;
        return -1;
      }
    }
    if (n < capacity) buf[n] = mapped;  // past capacity only counted, for the message
    ++n;
  }
  return n;
}

}  // namespace

char resident_id_check_char(std::string_view first17) {
  int sum = 0;
  for (int i = 0; i < 17; ++i)
    sum += (first17[i] - '0') * kWeights[i];
  return kCheckChars[sum % 11];
}

bool is_province_code(std::string_view d) {
  if (d.size() != 2 || !is_digit(d[0]) || !is_digit(d[1])) return false;
  int code = (d[0] - '0') * 10 + (d[1] - '0');
  switch (code) {
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 21:
    case 22:
    case 23:
    case 31:
    case 32:
    case 33:
    case 34:
    case 35:
    case 36:
    case 37:
    case 41:
    case 42:
    case 43:
    case 44:
    case 45:
    case 46:
    case 50:
    case 51:
    case 52:
    case 53:
    case 54:
    case 61:
    case 62:
    case 63:
    case 64:
    case 65:
    case 71:
    case 81:
    case 82:
    case 83:
      return true;
    default:
      return false;
  }
}

Result<ResidentId> normalize_resident_id(std::string_view text, CivilDate reference_date) {
  std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty()) return Status(kIdMissing, "the ID number is empty");

  char buf[19];
  size_t bad_offset = 0;
  int n = fold_id_chars(trimmed, buf, 18, bad_offset);
  if (n < 0) {
    std::string folded = fold_full_width(trimmed);
    if (looks_scientific(folded)) {
      return Status(kIdScientific,
                    quoted(trimmed) +
                        " is a number in scientific notation: the spreadsheet dropped the "
                        "ID's last digits, which cannot be recovered; re-export the column "
                        "as text");
    }
    size_t end = bad_offset;
    next_code_point(trimmed, end);
    return Status(kIdMalformed, quoted(trimmed) + " contains \"" +
                                    std::string(trimmed.substr(bad_offset, end - bad_offset)) +
                                    "\" at byte " + std::to_string(bad_offset) +
                                    "; an ID number holds only digits and a final X");
  }

  ResidentId id;
  if (n == 15) {
    for (int i = 0; i < 15; ++i) {
      if (!is_digit(buf[i])) {
        return Status(kIdMalformed, quoted(trimmed) +
                                        " has 15 characters but a 15-digit legacy ID number "
                                        "holds only digits");
      }
    }
    // area(6) + "19" + yymmdd(6) + sequence(3) + check
    std::copy(buf, buf + 6, id.chars.begin());
    id.chars[6] = '1';
    id.chars[7] = '9';
    std::copy(buf + 6, buf + 15, id.chars.begin() + 8);
    id.from_legacy_15 = true;
    id.repaired = true;
  } else if (n == 18) {
    std::copy(buf, buf + 18, id.chars.begin());
  } else {
    return Status(kIdMalformed, quoted(trimmed) + " has " + std::to_string(n) +
                                    " ID characters; expected 18 (or a 15-digit legacy number)");
  }

  for (int i = 0; i < 17; ++i) {
    if (!is_digit(id.chars[i])) {
      return Status(kIdMalformed, quoted(trimmed) + " has \"" + std::string(1, id.chars[i]) +
                                      "\" at position " + std::to_string(i + 1) +
                                      "; only the last character may be X");
    }
  }
  if (!is_province_code(id.province_code())) {
    return Status(kIdMalformed, quoted(trimmed) + " starts with area code " +
                                    std::string(id.area_code()) + ", but province code " +
                                    std::string(id.province_code()) + " does not exist");
  }

  auto digits = [&](int from, int count) {
    int v = 0;
    for (int i = from; i < from + count; ++i)
      v = v * 10 + (id.chars[i] - '0');
    return v;
  };
  int year = digits(6, 4), month = digits(10, 2), day = digits(12, 2);
  if (!is_valid_date(year, month, day)) {
    return Status(kIdBirthDate, quoted(trimmed) + " embeds birth date " +
                                    std::string(id.number().substr(6, 8)) +
                                    ", which is not a calendar date");
  }
  id.birth_date = CivilDate{year, month, day};
  if (id.birth_date < kEarliestBirth) {
    return Status(kIdBirthDate, quoted(trimmed) + " embeds birth date " +
                                    id.birth_date.to_string() + ", before 1880-01-01");
  }
  if (!reference_date.empty() && reference_date < id.birth_date) {
    return Status(kIdBirthDate, quoted(trimmed) + " embeds birth date " +
                                    id.birth_date.to_string() + ", after the reference date " +
                                    reference_date.to_string());
  }

  char expected = resident_id_check_char(id.number());
  if (id.from_legacy_15) {
    id.chars[17] = expected;
  } else if (id.chars[17] != expected) {
    return Status(kIdChecksum, quoted(trimmed) + " ends in " + std::string(1, id.chars[17]) +
                                   ", but its ISO 7064 MOD 11-2 check character is " +
                                   std::string(1, expected));
  }

  id.sex = (id.chars[16] - '0') % 2 == 1 ? Sex::kMale : Sex::kFemale;
  if (!id.from_legacy_15) id.repaired = trimmed.size() != text.size() || trimmed != id.number();
  return id;
}

Status numeric_cell_id_status(std::string_view cell_value) {
  return Status(kIdScientific, "the spreadsheet cell holds the ID as the number " +
                                   quoted(trim_spaces(cell_value)) +
                                   ": spreadsheets keep at most 15 significant digits, so the "
                                   "ID's last digits are lost; re-export the column as text");
}

}  // namespace hutong::domain
