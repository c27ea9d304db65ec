// Decoding department text files to UTF-8 (reading rule 7): a file that starts
// with a UTF-8 BOM is UTF-8 throughout; otherwise each line is UTF-8 when it is
// valid UTF-8 and GB18030 when it is not. A line in the file's minority encoding
// (a stray UTF-8 row in a GB18030 export) is decoded and flagged as a repair; a
// line valid in neither is row.encoding, with the row and the byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "status.h"

namespace hutong::domain {

inline constexpr std::string_view kRowEncoding = "row.encoding";

enum class Encoding { kAscii, kUtf8, kGb18030 };
std::string_view encoding_name(Encoding encoding);

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

struct DecodedLine {
  std::string text;                      // UTF-8
  Encoding encoding = Encoding::kAscii;  // what the line's bytes were read as
  bool stray = false;                    // differs from the file's encoding (a repair)
};

// Decodes the lines (or records) of one file, in order. Holds an iconv handle:
// movable, not copyable, one per thread.
class TextDecoder {
 public:
  // `file_head` is the start of the file (a few bytes suffice): a UTF-8 BOM
  // there makes the file UTF-8 throughout. Pass lines without the BOM.
  explicit TextDecoder(std::string_view file_head);
  ~TextDecoder();
  TextDecoder(TextDecoder&& other) noexcept;
  TextDecoder& operator=(TextDecoder&&) = delete;
  TextDecoder(const TextDecoder&) = delete;
  TextDecoder& operator=(const TextDecoder&) = delete;

  bool has_bom() const { return bom_; }
  size_t bom_size() const { return bom_ ? kUtf8Bom.size() : 0; }

  // Decodes `bytes` (one line or record, without its line break) into `out`,
  // replacing its contents. `row` (1-based) and `file_offset` (of bytes[0]) only
  // serve the error message. On error `out` is unspecified.
  Status decode_into(std::string_view bytes, uint64_t row, uint64_t file_offset, std::string& out,
                     Encoding* used = nullptr, bool* stray = nullptr);
  Result<DecodedLine> decode(std::string_view bytes, uint64_t row, uint64_t file_offset);

  // The file's encoding: that of its first line with non-ASCII bytes (kAscii until
  // one is seen; kUtf8 from the start when there is a BOM).
  Encoding file_encoding() const { return file_encoding_; }
  // Lines decoded in an encoding other than file_encoding() (repairs).
  uint64_t stray_lines() const { return stray_lines_; }

 private:
  Status gb18030_into(std::string_view bytes, uint64_t row, uint64_t file_offset, std::string& out);

  void* iconv_ = nullptr;            // iconv_t, opened on first use
  std::unique_ptr<char[]> scratch_;  // iconv's output, reused from line to line
  size_t scratch_size_ = 0;
  bool bom_ = false;
  Encoding file_encoding_ = Encoding::kAscii;
  uint64_t stray_lines_ = 0;
};

// Converts UTF-8 to GB18030 (for files written back in the departments' default
// encoding). Every Unicode character has a GB18030 form, so only invalid UTF-8
// input fails.
Result<std::string> utf8_to_gb18030(std::string_view utf8);

}  // namespace hutong::domain
