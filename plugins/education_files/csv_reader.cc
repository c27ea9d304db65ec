// education_files: CSV records and cells (see csv_reader.h).
#include "csv_reader.h"

#include <cstring>

#include "domain/text.h"

namespace hutong::education {
namespace {

// Where the record starting at `begin` ends (the offset of its '\n', or the
// end of the data), following RFC 4180 quoting: a quote opens a quoted cell
// only at the start of a cell, and inside one "" is a quote and a lone "
// closes it.
size_t record_end(std::string_view data, size_t begin) {
  const char* base = data.data();
  size_t size = data.size();
  // Fast path: no quote before the next line break.
  const void* nl = std::memchr(base + begin, '\n', size - begin);
  size_t line_end = nl ? static_cast<const char*>(nl) - base : size;
  if (std::memchr(base + begin, '"', line_end - begin) == nullptr) return line_end;
  bool quoted = false;
  bool cell_start = true;
  for (size_t i = begin; i < size; ++i) {
    char ch = base[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < size && base[i + 1] == '"') {
          ++i;
        } else {
          quoted = false;
        }
      }
      continue;
    }
    if (ch == '\n') return i;
    if (ch == '"' && cell_start) {
      quoted = true;
      cell_start = false;
      continue;
    }
    if (ch == ',') {
      cell_start = true;
    } else if (ch != ' ' && ch != '\t') {
      cell_start = false;
    }
  }
  return size;
}

}  // namespace

bool CsvRecords::next(CsvRecord& record) {
  while (pos_ < data_.size()) {
    size_t begin = pos_;
    size_t end = record_end(data_, begin);
    bool truncated = end == data_.size();
    pos_ = truncated ? end : end + 1;
    size_t content_end = end;
    if (!truncated && content_end > begin && data_[content_end - 1] == '\r') --content_end;
    uint64_t number = number_++;
    if (content_end == begin && !truncated) continue;  // an empty line
    record.bytes = data_.substr(begin, content_end - begin);
    record.offset = begin;
    record.number = number;
    record.truncated = truncated;
    return true;
  }
  return false;
}

// trim_spaces, skipped when the ends cannot be blanks: a blank starts with a
// byte <= 0x20, C2 (NBSP), E2 (U+200B), E3 (U+3000) or EF (U+FEFF), and ends
// with a byte <= 0x20, A0, 8B, 80 or BF.
std::string_view trim(std::string_view cell) {
  if (cell.empty()) return cell;
  auto front = static_cast<unsigned char>(cell.front());
  auto back = static_cast<unsigned char>(cell.back());
  bool maybe_front =
      front <= 0x20 || front == 0xC2 || front == 0xE2 || front == 0xE3 || front == 0xEF;
  bool maybe_back = back <= 0x20 || back == 0xA0 || back == 0x8B || back == 0x80 || back == 0xBF;
  return maybe_front || maybe_back ? domain::trim_spaces(cell) : cell;
}

void split_cells(std::string& text, std::vector<std::string_view>& cells) {
  cells.clear();
  if (std::memchr(text.data(), '"', text.size()) == nullptr) {  // nothing to unquote
    std::string_view rest(text);
    for (;;) {
      size_t comma = rest.find(',');
      cells.push_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) return;
      rest.remove_prefix(comma + 1);
    }
  }
  char* s = text.data();
  size_t n = text.size();
  size_t r = 0;  // read index
  size_t w = 0;  // write index (unquoting shortens cells)
  size_t start = 0;
  bool quoted = false;
  bool cell_start = true;
  auto finish = [&] { cells.push_back(trim(std::string_view(s + start, w - start))); };
  while (r < n) {
    char ch = s[r];
    if (quoted) {
      if (ch == '"') {
        if (r + 1 < n && s[r + 1] == '"') {
          s[w++] = '"';
          r += 2;
        } else {
          quoted = false;
          ++r;
        }
      } else {
        s[w++] = ch;
        ++r;
      }
      continue;
    }
    if (ch == ',') {
      finish();
      ++r;
      start = w;
      cell_start = true;
      continue;
    }
    if (ch == '"' && cell_start) {
      // Spaces before an opening quote are dropped with the quote.
      quoted = true;
      cell_start = false;
      w = start;
      ++r;
      continue;
    }
    if (ch != ' ' && ch != '\t') cell_start = false;
    s[w++] = ch;
    ++r;
  }
  finish();
}

}  // namespace hutong::education
