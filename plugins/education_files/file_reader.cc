// education_files: one delivered file, row by row (see file_reader.h).
#include "file_reader.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace hutong::education {
namespace {

uint64_t row_hash(std::string_view bytes) {
  return std::hash<std::string_view>{}(bytes);
}

std::string column_name(uint32_t column) {
  std::string out;
  for (int64_t c = column; c >= 0; c = c / 26 - 1)
    out.insert(out.begin(), static_cast<char>('A' + c % 26));
  return out;
}

// An XLSX row as text for the quarantine and for finding repeats: its cells
// as "A=value" joined by tabs (the row number is kept beside it).
std::string_view xlsx_original(const XlsxRow& row, std::string& out) {
  out.clear();
  for (const XlsxCell& cell : row.cells) {
    if (!out.empty()) out += '\t';
    out += column_name(cell.column);
    out += '=';
    out += cell.text;
  }
  return out;
}

}  // namespace

bool RowHashes::insert(uint64_t hash) {
  if (hash == 0) hash = 1;
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<uint64_t> old = std::move(slots_);
    slots_.assign(std::max<size_t>(1024, old.size() * 2), 0);
    size_ = 0;
    for (uint64_t h : old) {
      if (h != 0) insert(h);
    }
  }
  size_t mask = slots_.size() - 1;
  for (size_t i = (hash * 0x9E3779B97F4A7C15ull) >> 20 & mask;; i = (i + 1) & mask) {
    if (slots_[i] == hash) return false;
    if (slots_[i] == 0) {
      slots_[i] = hash;
      ++size_;
      return true;
    }
  }
}

void RowHashes::reserve(size_t count) {
  if (size_ != 0) return;
  size_t slots = 1024;
  while (slots < count * 2)
    slots *= 2;
  if (slots > slots_.size()) slots_.assign(slots, 0);
}

void RowHashes::clear() {
  slots_.clear();
  size_ = 0;
}

FileReader::FileReader(const FileName& name, std::string_view bytes)
    : name_(name), bytes_(bytes), builder_(name.kind) {}

FileReader::~FileReader() = default;

Status FileReader::open() {
  std::vector<std::string_view> header;
  if (name_.xlsx) {
    // A whole pass first: a workbook that breaks off mid-sheet is refused
    // whole rather than half applied.
    {
      XlsxReader check;
      if (Status s = check.open(bytes_); !s) return status_ = s;
      XlsxRow row;
      while (check.next_row(row)) {
      }
      if (!check.status()) return status_ = check.status();
    }
    sheet_ = std::make_unique<XlsxReader>();
    if (Status s = sheet_->open(bytes_); !s) return status_ = s;
    if (!sheet_->next_row(xrow_)) return status_ = sheet_->status();
    header_number_ = xrow_.number;
    header_count_ = xrow_.cells.back().column + 1;
    header.assign(header_count_, std::string_view());
    for (const XlsxCell& cell : xrow_.cells)
      header[cell.column] = cell.text;
    if (Status s = builder_.map_header(header); !s) return status_ = s;
    last_number_ = header_number_;
    return status_;
  }
  if (std::memchr(bytes_.data(), '\0', bytes_.size()) != nullptr) {
    return status_ = Status(kFileUnreadable,
                            "the file holds NUL bytes: it is not a CSV text export (a workbook "
                            "saved under a .csv name?)");
  }
  decoder_ = std::make_unique<domain::TextDecoder>(bytes_);
  records_ = std::make_unique<CsvRecords>(bytes_, decoder_->bom_size(), 1);
  CsvRecord record;
  if (!records_->next(record)) return status_;  // no row at all
  header_number_ = record.number;
  header_end_ = records_->position();
  if (Status s = decoder_->decode_into(record.bytes, record.number, record.offset, text_); !s) {
    return status_ = Status(kFileHeader, "the header cannot be decoded: " + s.message());
  }
  split_cells(text_, cells_);
  header_count_ = cells_.size();
  if (Status s = builder_.map_header(cells_); !s) return status_ = s;
  last_number_ = header_number_;
  last_offset_ = header_end_;
  // About as many rows as header lengths fit in the file (rows are rarely shorter).
  seen_.reserve(std::min<size_t>(bytes_.size() / std::max<size_t>(header_end_, 64), 1 << 24));
  return status_;
}

Status FileReader::resume(uint64_t number, uint64_t offset) {
  if (!has_header() || number < header_number_) return Status::ok();
  if (name_.xlsx) {
    // Rows are re-read (not rebuilt) up to where the previous run stopped.
    while (last_number_ < number) {
      if (!sheet_->next_row(xrow_)) break;
      if (xrow_.number > number) {
        pending_ = true;
        break;
      }
      seen_.insert(row_hash(xlsx_original(xrow_, original_)));
      last_number_ = xrow_.number;
    }
    last_number_ = number;
    return sheet_->status();
  }
  CsvRecords before(bytes_, header_end_, header_number_ + 1);
  CsvRecord record;
  while (before.position() < offset && before.next(record)) {
    seen_.insert(row_hash(record.bytes));
  }
  records_ = std::make_unique<CsvRecords>(bytes_, offset, number + 1);
  last_number_ = number;
  last_offset_ = offset;
  return Status::ok();
}

bool FileReader::next(RowResult& row, domain::CivilDate reference, bool find_repeats) {
  if (!has_header() || !status_) return false;
  return name_.xlsx ? next_xlsx(row, reference, find_repeats)
                    : next_csv(row, reference, find_repeats);
}

void FileReader::reject(RowResult& row, std::string_view reason, std::string message) {
  row.type = RowResult::kRejected;
  built_.ok = false;
  built_.reason = reason;
  built_.message = std::move(message);
  built_.field.clear();
  row.built = &built_;
}

void FileReader::build(RowResult& row, domain::CivilDate reference) {
  builder_.build(by_field_.data(), reference, built_);
  row.type = built_.ok ? RowResult::kRecord : RowResult::kRejected;
  row.built = &built_;
}

bool FileReader::next_csv(RowResult& row, domain::CivilDate reference, bool find_repeats) {
  CsvRecord record;
  if (!records_->next(record)) return false;
  last_number_ = record.number;
  last_offset_ = records_->position();
  row = RowResult();
  row.number = record.number;
  row.offset = record.offset;
  row.original = record.bytes;
  row.encoding = domain::encoding_name(decoder_->file_encoding());
  if (find_repeats && !seen_.insert(row_hash(record.bytes))) {
    row.type = RowResult::kDuplicate;
    return true;
  }
  if (record.truncated) {
    reject(row, kRowTruncated,
           "the last row does not end with a line break: the file was cut off (complete "
           "exports end every row with CRLF)");
    return true;
  }
  domain::Encoding used = domain::Encoding::kAscii;
  Status decoded =
      decoder_->decode_into(record.bytes, record.number, record.offset, text_, &used, &row.stray);
  if (!decoded) {
    row.encoding = decoder_->has_bom() ? "UTF-8" : "GB18030";
    reject(row, decoded.code(), decoded.message());
    return true;
  }
  if (used != domain::Encoding::kAscii) row.encoding = domain::encoding_name(used);
  split_cells(text_, cells_);
  if (cells_.size() != header_count_) {
    reject(
        row, kRowCellCount,
        std::to_string(cells_.size()) + " cells; the header has " + std::to_string(header_count_));
    return true;
  }
  by_field_.assign(builder_.field_count(), Cell());
  const std::vector<int>& fields = builder_.header_fields();
  for (size_t i = 0; i < cells_.size(); ++i) {
    if (fields[i] >= 0) by_field_[fields[i]].text = cells_[i];
  }
  build(row, reference);
  return true;
}

bool FileReader::next_xlsx(RowResult& row, domain::CivilDate reference, bool find_repeats) {
  if (pending_) {
    pending_ = false;
  } else if (!sheet_->next_row(xrow_)) {
    status_ = sheet_->status();
    return false;
  }
  last_number_ = xrow_.number;
  row = RowResult();
  row.number = xrow_.number;
  row.offset = xrow_.offset;
  row.encoding = "UTF-8";
  row.original = xlsx_original(xrow_, original_);
  if (find_repeats && !seen_.insert(row_hash(original_))) {
    row.type = RowResult::kDuplicate;
    return true;
  }
  by_field_.assign(builder_.field_count(), Cell());
  const std::vector<int>& fields = builder_.header_fields();
  for (const XlsxCell& cell : xrow_.cells) {
    if (cell.column >= header_count_) {
      reject(row, kRowCellCount,
             "a value in column " + column_name(cell.column) +
                 ", right of the header's last column " +
                 column_name(static_cast<uint32_t>(header_count_ - 1)));
      return true;
    }
    if (fields[cell.column] >= 0) by_field_[fields[cell.column]] = Cell{cell.text, cell.kind};
  }
  build(row, reference);
  return true;
}

}  // namespace hutong::education
