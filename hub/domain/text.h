// UTF-8 text helpers shared by the normalizers: validation, trimming of the
// spaces department exports carry (ASCII, NBSP, ideographic space), and folding of
// full-width ASCII forms. Pure functions over UTF-8 input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hutong::domain {

// Length of the longest valid UTF-8 prefix of `bytes` (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF). Equal to bytes.size() when all is valid.
size_t valid_utf8_prefix(std::string_view bytes);
inline bool is_valid_utf8(std::string_view bytes) {
  return valid_utf8_prefix(bytes) == bytes.size();
}

// `bytes` with every byte that is not part of valid UTF-8 replaced by U+FFFD
// (valid text is returned as it is).
std::string repair_utf8(std::string_view bytes);

// Decodes the code point at text[pos] and advances pos; an invalid byte decodes
// as U+FFFD and advances by one.
char32_t next_code_point(std::string_view text, size_t& pos);
void append_utf8(std::string& out, char32_t cp);

// True for the characters treated as blank around values: ASCII whitespace,
// U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE, U+FEFF (a stray BOM) and
// U+200B ZERO WIDTH SPACE.
bool is_blank(char32_t cp);

// `text` without leading and trailing blanks (see is_blank). No copy.
std::string_view trim_spaces(std::string_view text);

// Maps full-width ASCII forms U+FF01..U+FF5E to ASCII and U+3000 to a space;
// everything else is copied unchanged.
std::string fold_full_width(std::string_view text);

// True for a CJK ideograph (the unified blocks and their extensions, and the
// compatibility ideographs).
bool is_cjk_ideograph(char32_t cp);

}  // namespace hutong::domain
