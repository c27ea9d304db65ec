// Writing text back into spreadsheets safely. Department staff open the hub's CSV
// and XLSX files in Excel or WPS, which run a cell that starts with "=", "+", "-"
// or "@" as a formula (CSV injection: =HYPERLINK(...) and worse). Text is kept
// verbatim inside the hub and neutralized only here, when it is written out.
#pragma once

#include <string>
#include <string_view>

namespace hutong::domain {

// Whether a spreadsheet program would treat the cell text as a formula or
// command: it starts with = + - @, a tab or a carriage return (also after leading
// spaces, and in their full-width forms ＝ ＋ － ＠). A plain number such as
// "-12.50" or "+86" is not.
bool is_formula_like(std::string_view cell);

// The text to write into a spreadsheet cell: formula-like text gets a leading
// apostrophe (the spreadsheets' own "this is text" marker) so it shows as written
// and never runs; anything else is returned unchanged.
std::string neutralize_formula(std::string_view cell);

}  // namespace hutong::domain
