// Money. Department exports write yuan as text ("1,250.00", "￥86.5") or as
// spreadsheet numbers; the hub keeps integer fen (分), exactly, with no floating
// point anywhere on the way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "status.h"

namespace hutong::domain {

inline constexpr std::string_view kValueAmount = "value.amount";

// Reads an amount in yuan written as text: optional ¥/￥ before and 元 after,
// optional minus sign, digits with correctly placed thousands separators (",",
// also full-width), and at most two decimals (further decimals must be zeros).
// Returns fen.
Result<int64_t> parse_yuan_to_fen(std::string_view text);

// Reads the number stored in a spreadsheet cell (its decimal text, e.g.
// "1250.4999999999998" or "1.25E3") as yuan, rounded half away from zero to the
// fen: a spreadsheet number is a binary double, so the fen is the nearest one.
Result<int64_t> number_cell_yuan_to_fen(std::string_view cell_value);

// "1250.00", "-0.05": yuan with two decimals, no separators.
std::string format_fen_as_yuan(int64_t fen);

}  // namespace hutong::domain
