#include "name.h"

#include <opencc/Config.hpp>
#include <opencc/Conversion.hpp>
#include <opencc/ConversionChain.hpp>
#include <opencc/Converter.hpp>
#include <opencc/Dict.hpp>
#include <opencc/DictEntry.hpp>
#include <opencc/Lexicon.hpp>
#include <opencc/opencc.h>

#include <unordered_set>

#include "text.h"

namespace hutong::domain {
namespace {

// One OpenCC converter for the process. OpenCC's conversion is read-only once the
// dictionaries are loaded, so one handle serves every thread.
class TraditionalToSimplified {
 public:
  static TraditionalToSimplified& instance() {
    static TraditionalToSimplified converter;
    return converter;
  }

  bool ok() const { return handle_ != reinterpret_cast<opencc_t>(-1); }
  const std::string& error() const { return error_; }

  // Whether OpenCC could change `text` at all: only where some dictionary key
  // starts with one of its characters. Most simplified names have none of
  // those (~4 200 characters) and are returned as they are, without a call.
  bool may_change(std::string_view text) const {
    if (!starts_known_) return true;
    size_t pos = 0;
    while (pos < text.size()) {
      if (key_starts_.contains(next_code_point(text, pos))) return true;
    }
    return false;
  }

  std::string convert(std::string_view text) const {
    if (!may_change(text)) return std::string(text);
    char* converted = opencc_convert_utf8(handle_, text.data(), text.size());
    std::string out = converted ? converted : std::string(text);
    if (converted) opencc_convert_utf8_free(converted);
    return out;
  }

 private:
  TraditionalToSimplified() : handle_(opencc_open(OPENCC_DEFAULT_CONFIG_TRAD_TO_SIMP)) {
    if (!ok()) {
      const char* why = opencc_error();
      error_ = std::string("cannot load OpenCC configuration \"") +
               OPENCC_DEFAULT_CONFIG_TRAD_TO_SIMP +
               "\" (Debian package libopencc-data): " + (why ? why : "unknown error");
      return;
    }
    // The first character of every key of every dictionary the conversion
    // uses. Without it (any failure here), every text goes through OpenCC.
    try {
      opencc::Config config;
      opencc::ConverterPtr converter = config.NewFromFile(OPENCC_DEFAULT_CONFIG_TRAD_TO_SIMP);
      for (const opencc::ConversionPtr& conversion : converter->GetConversionChain()->GetConversions()) {
        opencc::LexiconPtr lexicon = conversion->GetDict()->GetLexicon();  // held: the loop borrows it
        for (const auto& entry : *lexicon) {
          std::string key = entry->Key();
          size_t pos = 0;
          if (!key.empty()) key_starts_.insert(next_code_point(key, pos));
        }
      }
      starts_known_ = !key_starts_.empty();
    } catch (...) {
      key_starts_.clear();
    }
  }
  ~TraditionalToSimplified() {
    if (ok()) opencc_close(handle_);
  }

  opencc_t handle_;
  std::string error_;
  std::unordered_set<char32_t> key_starts_;
  bool starts_known_ = false;
};

}  // namespace

bool is_middle_dot_look_alike(char32_t cp) {
  switch (cp) {
    case 0x00B7:  // MIDDLE DOT
    case 0x002E:  // FULL STOP
    case 0x0387:  // GREEK ANO TELEIA
    case 0x16EB:  // RUNIC SINGLE PUNCTUATION
    case 0x2022:  // BULLET
    case 0x2027:  // HYPHENATION POINT
    case 0x2219:  // BULLET OPERATOR
    case 0x22C5:  // DOT OPERATOR
    case 0x2E31:  // WORD SEPARATOR MIDDLE DOT
    case 0x30FB:  // KATAKANA MIDDLE DOT
    case 0xFE52:  // SMALL FULL STOP
    case 0xFF0E:  // FULLWIDTH FULL STOP
    case 0xFF65:  // HALFWIDTH KATAKANA MIDDLE DOT
      return true;
    default:
      return false;
  }
}

Result<std::string> normalize_name(std::string_view text) {
  std::string_view trimmed = trim_spaces(text);
  if (trimmed.empty()) return Status(kNameMissing, "the name is empty");

  std::string out;
  out.reserve(trimmed.size());
  bool pending_blank = false;  // a run of blanks not yet written
  char32_t previous = 0;       // last code point written
  size_t pos = 0;
  while (pos < trimmed.size()) {
    char32_t cp = next_code_point(trimmed, pos);
    if (cp >= 0xFF01 && cp <= 0xFF5E && cp != 0xFF0E) cp = cp - 0xFF01 + 0x21;
    if (is_blank(cp)) {
      pending_blank = true;
      continue;
    }
    bool dot = is_middle_dot_look_alike(cp);
    if (dot) cp = 0x00B7;
    if (pending_blank) {
      bool drop = dot || previous == 0x00B7 || (is_cjk_ideograph(previous) && is_cjk_ideograph(cp));
      if (!drop) out += ' ';
      pending_blank = false;
    }
    append_utf8(out, cp);
    previous = cp;
  }
  return out;
}

Result<std::string> name_match_key(std::string_view text) {
  Result<std::string> normalized = normalize_name(text);
  if (!normalized) return normalized;
  const TraditionalToSimplified& converter = TraditionalToSimplified::instance();
  if (!converter.ok()) return Status(kNameFoldUnavailable, converter.error());
  return converter.convert(*normalized);
}

Result<std::vector<std::string>> name_match_keys(const std::vector<std::string_view>& names) {
  const TraditionalToSimplified& converter = TraditionalToSimplified::instance();
  if (!converter.ok()) return Status(kNameFoldUnavailable, converter.error());
  std::vector<std::string> keys(names.begin(), names.end());
  std::vector<size_t> changing;  // the names OpenCC could change, converted together
  std::string joined;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!converter.may_change(names[i])) continue;
    changing.push_back(i);
    joined.append(names[i]);
    joined += '\n';
  }
  if (changing.empty()) return keys;
  std::string converted = converter.convert(joined);
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end; (end = converted.find('\n', start)) != std::string::npos; start = end + 1) {
    parts.emplace_back(converted, start, end - start);
  }
  for (size_t k = 0; k < changing.size(); ++k) {
    // parts.size() == changing.size() always; stay exact if it ever is not.
    keys[changing[k]] = parts.size() == changing.size() ? std::move(parts[k])
                                                        : converter.convert(names[changing[k]]);
  }
  return keys;
}

Status name_folding_status() {
  const TraditionalToSimplified& converter = TraditionalToSimplified::instance();
  if (!converter.ok()) return Status(kNameFoldUnavailable, converter.error());
  return Status::ok();
}

}  // namespace hutong::domain
