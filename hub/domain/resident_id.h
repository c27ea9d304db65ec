// Resident identity numbers (居民身份证号码, GB 11643-1999): normalization and
// validation, as the department-systems reading rules prescribe (rule 4).
//
// The same rules hold for the 18-character numbers of 港澳台居民居住证 (residence
// permits of Hong Kong, Macao and Taiwan residents, area codes 81/82/83).
#pragma once

#include <array>
#include <string_view>

#include "date.h"
#include "status.h"

namespace hutong::domain {

// Reason codes (stable; operators filter on them).
inline constexpr std::string_view kIdMissing = "id.missing";
inline constexpr std::string_view kIdMalformed = "id.malformed";
inline constexpr std::string_view kIdScientific = "id.scientific";
inline constexpr std::string_view kIdBirthDate = "id.birth_date";
inline constexpr std::string_view kIdChecksum = "id.checksum";

enum class Sex { kUnspecified = 0, kMale = 1, kFemale = 2 };

// A validated, normalized 18-character resident ID.
struct ResidentId {
  std::array<char, 18> chars{};
  CivilDate birth_date;         // embedded in characters 7..14
  Sex sex = Sex::kUnspecified;  // parity of character 17
  bool from_legacy_15 = false;  // converted from a 15-digit first-generation number
  bool repaired = false;        // the input text differed from the normalized number

  std::string_view number() const { return {chars.data(), chars.size()}; }
  // Six-digit division code of the place of first registration.
  std::string_view area_code() const { return number().substr(0, 6); }
  std::string_view province_code() const { return number().substr(0, 2); }
};

// The ISO 7064 MOD 11-2 check character ('0'..'9' or 'X') for 17 digits.
char resident_id_check_char(std::string_view first17);

// Whether a two-digit province code exists (GB/T 2260, plus 81/82/83 for the
// residence permits of Hong Kong, Macao and Taiwan residents).
bool is_province_code(std::string_view two_digits);

// Normalizes and validates an ID as it appears in a text cell. Strips leading and
// trailing spaces, tabs, NBSP and U+3000; maps full-width digits, Ｘ and ｘ to ASCII
// and x to X; converts a 15-digit legacy number (area + yymmdd + sequence) to 18
// characters by inserting "19" and computing the check character. Then requires
// 17 digits and a digit or X (id.malformed), an existing province code
// (id.malformed), a real embedded birth date from 1880-01-01 up to the reference
// date (id.birth_date), and the right check character (id.checksum). Excel's
// scientific notation ("6.10523E+17") is id.scientific: the digits are lost and are
// never repaired. An empty cell is id.missing.
Result<ResidentId> normalize_resident_id(std::string_view text, CivilDate reference_date);

// A spreadsheet cell that holds the ID as a number rather than text: the
// spreadsheet kept at most 15 significant digits, so it is always id.scientific.
Status numeric_cell_id_status(std::string_view cell_value);

}  // namespace hutong::domain
