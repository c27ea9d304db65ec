// Personal names as the departments write them: blanks, full-width forms, the
// many look-alikes of the minority-name middle dot, and traditional characters.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace hutong::domain {

inline constexpr std::string_view kNameMissing = "name.missing";
inline constexpr std::string_view kNameFoldUnavailable = "name.fold_unavailable";

// True for characters that stand for the middle dot U+00B7 in names such as
// 阿依古丽·买买提: • ・ ‧ ∙ ⋅ ﹒ ･ ． · ᛫ ⸱ and the ASCII full stop.
bool is_middle_dot_look_alike(char32_t cp);

// The name as it should be stored: blanks trimmed, full-width ASCII forms folded,
// every middle-dot look-alike replaced by U+00B7 (with no blanks around it), blanks
// between two ideographs removed ("张 三" → "张三") and other inner runs of blanks
// reduced to one space. Characters are never converted between traditional and
// simplified forms here. An empty name is name.missing.
Result<std::string> normalize_name(std::string_view text);

// The key two names are compared by: the normalized name with traditional
// characters folded to simplified ones (OpenCC t2s). Never stored as the name.
// name.fold_unavailable when OpenCC's t2s configuration cannot be loaded.
Result<std::string> name_match_key(std::string_view text);

// The matching keys of many names already normalized (normalize_name), with one
// OpenCC call: a normalized name holds no line break, and no dictionary entry
// does, so joining the names with line breaks cannot change a conversion.
Result<std::vector<std::string>> name_match_keys(
    const std::vector<std::string_view>& normalized_names);

// Whether OpenCC's traditional-to-simplified converter loads (for self-checks);
// the message says where it looked when it does not.
Status name_folding_status();

}  // namespace hutong::domain
