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

namespace internal {
// The length of the valid UTF-8 sequence at s (with `avail` bytes there, at
// least one), or 0 when none starts there.
inline size_t utf8_sequence_length(const unsigned char* s, size_t avail) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // a continuation byte, or an overlong 2-byte form
  if (c < 0xE0) return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (avail < 3 || (s[2] & 0xC0) != 0x80) return 0;
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlongs
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    return s[1] >= lo && s[1] <= hi ? 3 : 0;
  }
  if (c > 0xF4 || avail < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
  unsigned char lo = c == 0xF0 ? 0x90 : 0x80;  // no overlongs
  unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
  return s[1] >= lo && s[1] <= hi ? 4 : 0;
}
}  // namespace internal

// Decodes the code point at text[pos] and advances pos; an invalid byte decodes
// as U+FFFD and advances by one. (Inline: the normalizers call it per character.)
inline char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  if (s[0] < 0x80) {
    ++pos;
    return s[0];
  }
  size_t len = internal::utf8_sequence_length(s, text.size() - pos);
  if (len == 0) {
    ++pos;
    return 0xFFFD;
  }
  char32_t cp = s[0] & (0x7F >> len);
  for (size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (s[k] & 0x3F);
  pos += len;
  return cp;
}
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
