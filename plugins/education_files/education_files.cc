// education_files: watches the folder where the education bureau drops its
// exports (学籍名册 / 资助发放 / 结对帮扶台账 _<yyyymmdd>.csv|xlsx) and publishes
// education.enrollment, education.aid and education.pairing records.
//
// - Files of one kind apply in the order of the date in their names, rows top
//   to bottom (rule 1); other names are ignored (files arrive by rename). A file
//   dated before one of its kind already applied is quarantined whole as
//   file.out_of_order (replay applies it); a file identical to one of its kind
//   already processed is reported as file.redelivered and changes nothing
//   (rule 3); empty and header-only files are reported (rule 9).
// - The position names every processed file (its name code and content hash)
//   and the file being read with the row it stopped after (and, for CSV, the
//   byte offset): a restart resumes exactly there.
// - Department files are only ever read, never moved or deleted.
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "domain/date.h"
#include "education_rows.h"
#include "file_reader.h"
#include "hutong/plugin.hpp"

namespace {

namespace fs = std::filesystem;
using hutong::Status;
using hutong::education::FileName;
using hutong::education::FileReader;
using hutong::education::RowResult;
using hutong::sdk::Failure;

const hutong_config_key kKeys[] = {
    {"folder", HUTONG_CONFIG_PATH, nullptr, "where the education bureau's exports are dropped"},
    {"batch_rows", HUTONG_CONFIG_INT, "4096",
     "at most this many rows per poll (and never more than the connector's batch_records)"},
};

// Whole files are kept in quarantine up to this size; bigger ones by their head.
constexpr size_t kWholeFileLimit = size_t{256} * 1024;
constexpr size_t kFileHeadLimit = size_t{64} * 1024;

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  char hex[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::optional<std::string> read_file(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::nullopt;
  std::string bytes;
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (!ec) bytes.resize(size);  // read in one piece; a file that grows meanwhile is read on
  size_t have = std::fread(bytes.data(), 1, bytes.size(), f);
  bytes.resize(have);
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
    bytes.append(buffer, n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return std::nullopt;
  return bytes;
}

class EducationFiles : public hutong::sdk::Source {
 public:
  EducationFiles(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        folder_(settings.string("folder")),
        batch_rows_(std::max<int64_t>(1, settings.integer("batch_rows"))) {}

  // The position: "v1;<current>;<done>" where <current> is "-" or
  // "<code>:<hash>:<row>:<offset>" (the file being read, the row it stopped
  // after and, for CSV, the byte offset past that row) and <done> lists the
  // processed files as "<code>:<hash>:<a|n>" separated by commas (a: its rows
  // were applied; n: it was only reported). A code is the
  // file's date, kind letter and format letter (20251019Rc); a hash is the
  // first 16 hex digits of the file's SHA-256.
  void start(std::string_view position) override {
    done_.clear();
    current_.reset();
    reader_.reset();
    if (position.empty()) return;
    auto bad = [&] {
      return Failure("position.invalid",
                     "cannot read the position \"" + std::string(position.substr(0, 200)) + "\"");
    };
    std::vector<std::string_view> parts = split(position, ';');
    if (parts.size() != 3 || parts[0] != "v1") throw bad();
    if (parts[1] != "-") {
      std::vector<std::string_view> c = split(parts[1], ':');
      if (c.size() != 4) throw bad();
      auto name = hutong::education::parse_file_code(c[0]);
      if (!name) throw bad();
      current_ = Current{*name, std::string(c[1]), std::stoull(std::string(c[2])),
                         std::stoull(std::string(c[3]))};
    }
    if (!parts[2].empty()) {
      for (std::string_view entry : split(parts[2], ',')) {
        std::vector<std::string_view> d = split(entry, ':');
        if (d.size() != 3 || !hutong::education::parse_file_code(d[0]) ||
            (d[2] != "a" && d[2] != "n")) {
          throw bad();
        }
        done_[std::string(d[0])] = Done{std::string(d[1]), d[2] == "a"};
      }
    }
  }

  bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override {
    if (!current_) {
      if (!pick_next(out)) return false;
      if (!current_) {
        emit_position(out);
        return true;
      }
    }
    if (!reader_ && !open_current(out)) {
      emit_position(out);
      return true;
    }
    hutong::domain::CivilDate reference = hutong::domain::today();
    uint64_t budget = std::min<uint64_t>(static_cast<uint64_t>(batch_rows_), max_records);
    RowResult row;
    uint64_t used = 0;
    bool ended = false;
    while (used < budget) {
      if (!reader_->next(row, reference)) {
        ended = true;
        break;
      }
      ++used;
      emit_row(out, current_->name, row);
      current_->number = reader_->last_number();
      current_->offset = reader_->last_offset();
    }
    if (ended) finish_current(out);
    emit_position(out);
    return true;
  }

  void replay(const hutong_rejected_row& rejected, hutong::sdk::Emitter& out) override {
    std::string file = rejected.source_name ? rejected.source_name : "";
    auto name = hutong::education::parse_file_name(file);
    if (!name) {
      throw Failure("replay.unknown", "\"" + file + "\" is not an education export's name");
    }
    fs::path path = fs::path(folder_) / file;
    std::optional<std::string> bytes = read_file(path);
    if (!bytes) {
      throw Failure(
          "replay.source_missing",
          "cannot read " + path.string() + ": the file must stay in the folder to be replayed");
    }
    FileReader reader(*name, *bytes);
    if (Status s = reader.open(); !s) {
      reject_file(out, *name, *bytes, s.code(), s.message());
      return;
    }
    hutong::domain::CivilDate reference = hutong::domain::today();
    RowResult row;
    if (rejected.row_number == 0) {  // a whole file: apply it now, every row
      host_.info("replaying " + file + " whole");
      while (reader.next(row, reference))
        emit_row(out, *name, row);
      if (!reader.status())
        reject_file(out, *name, *bytes, reader.status().code(), reader.status().message());
      return;
    }
    while (reader.next(row, reference, /*find_repeats=*/false)) {
      if (row.number == rejected.row_number) {
        emit_row(out, *name, row);
        return;
      }
      if (row.number > rejected.row_number) break;
    }
    throw Failure("replay.row_missing",
                  file + " has no row " + std::to_string(rejected.row_number) + " any more");
  }

 private:
  struct Current {
    FileName name;
    std::string hash;
    uint64_t number = 0;  // the row it stopped after (the header's at first)
    uint64_t offset = 0;  // CSV: the byte offset past that row
  };

  static std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
      size_t at = text.find(separator, start);
      parts.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
      if (at == std::string_view::npos) return parts;
      start = at + 1;
    }
  }

  void emit_position(hutong::sdk::Emitter& out) {
    std::string position = "v1;";
    if (current_) {
      position += current_->name.code() + ":" + current_->hash + ":" +
                  std::to_string(current_->number) + ":" + std::to_string(current_->offset);
    } else {
      position += "-";
    }
    position += ';';
    bool first = true;
    for (const auto& [code, done] : done_) {
      if (!first) position += ',';
      first = false;
      position += code + ":" + done.hash + (done.applied ? ":a" : ":n");
    }
    out.position(position);
  }

  // The latest file of `kind` whose rows were applied (files reported without
  // effect do not count): an earlier-dated file arriving now is out of order.
  std::string watermark(hutong::education::Kind kind) const {
    std::string mark;
    for (const auto& [code, done] : done_) {
      auto name = hutong::education::parse_file_code(code);
      if (done.applied && name && name->kind == kind) mark = std::max(mark, code);
    }
    if (current_ && current_->name.kind == kind) mark = std::max(mark, current_->name.code());
    return mark;
  }

  // Chooses the next file: reports one that needs no reading (out of order,
  // re-delivered, empty, unreadable) or makes one current. False when there is
  // nothing new.
  bool pick_next(hutong::sdk::Emitter& out) {
    std::vector<FileName> fresh;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder_, ec)) {
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec)) continue;
      auto name = hutong::education::parse_file_name(entry.path().filename().string());
      if (name && !done_.contains(name->code())) fresh.push_back(*name);
    }
    if (ec) throw Failure("source.unavailable", "cannot list " + folder_ + ": " + ec.message());
    if (fresh.empty()) return false;
    std::sort(fresh.begin(), fresh.end(),
              [](const FileName& a, const FileName& b) { return a.code() < b.code(); });
    // A late file first: it is only reported.
    const FileName* next = &fresh.front();
    for (const FileName& name : fresh) {
      if (name.code() < watermark(name.kind)) {
        next = &name;
        break;
      }
    }
    FileName name = *next;
    fs::path path = fs::path(folder_) / name.file();
    std::optional<std::string> bytes = read_file(path);
    if (!bytes) {
      // Gone between listing and reading (or not readable yet): try again later.
      host_.warn("cannot read " + path.string() + "; will try again");
      return false;
    }
    std::string hash = sha256_hex(*bytes);
    std::string short_hash = hash.substr(0, 16);
    auto processed = [&](std::string code) { done_[std::move(code)] = Done{short_hash, false}; };
    if (std::string mark = watermark(name.kind); name.code() < mark) {
      reject_file(out, name, *bytes, "file.out_of_order",
                  "dated before " + hutong::education::parse_file_code(mark)->file() +
                      ", which is already applied: applying it now would let older rows "
                      "replace newer ones. Replay it (hutong quarantine replay) to apply it "
                      "anyway");
      processed(name.code());
      return true;
    }
    if (bytes->empty()) {
      host_.warn(name.file() + " is empty: it has no effect");
      reject_file(out, name, *bytes, "file.empty", "the file is empty (0 bytes): no effect");
      processed(name.code());
      return true;
    }
    // The same content as an applied file (one only reported, e.g. held as
    // out of order, has changed nothing yet, so its content still applies).
    for (const auto& [code, done] : done_) {
      auto earlier = hutong::education::parse_file_code(code);
      if (done.applied && earlier && earlier->kind == name.kind && done.hash == short_hash) {
        host_.warn(name.file() + " has the same content as " + earlier->file() +
                   ": a re-delivery, no effect");
        reject_file(out, name, *bytes, "file.redelivered",
                    "the same content as " + earlier->file() +
                        ", already processed: a re-delivery changes nothing");
        processed(name.code());
        return true;
      }
    }
    bytes_ = std::move(*bytes);
    reader_ = std::make_unique<FileReader>(name, bytes_);
    Status opened = reader_->open();
    if (!opened || !reader_->has_header()) {
      std::string_view code = opened ? "file.empty" : opened.code();
      std::string message = opened ? "the file holds no rows: no effect" : opened.message();
      host_.warn(name.file() + ": " + std::string(code) + ": " + message);
      reject_file(out, name, bytes_, code, message);
      processed(name.code());
      reader_.reset();
      bytes_.clear();
      return true;
    }
    host_.info("reading " + name.file() + " (" + std::to_string(bytes_.size()) + " bytes, sha256 " +
               hash + ")");
    current_ = Current{name, short_hash, reader_->header_number(), reader_->header_end()};
    return true;
  }

  // Reopens the current file after a restart, where the position says.
  // False when it can no longer be read (reported, and counted as processed).
  bool open_current(hutong::sdk::Emitter& out) {
    const FileName& name = current_->name;
    fs::path path = fs::path(folder_) / name.file();
    std::optional<std::string> bytes = read_file(path);
    std::string why;
    if (!bytes) {
      why = "vanished from the folder";
    } else if (sha256_hex(*bytes).substr(0, 16) != current_->hash) {
      why = "changed";
    }
    if (!why.empty()) {
      std::string message = name.file() + " " + why + " while it was being read (after row " +
                            std::to_string(current_->number) +
                            "); the rest of it was not read. Replay it to read it whole";
      host_.warn(message);
      reject_file(out, name, bytes ? *bytes : std::string(), hutong::education::kFileUnreadable,
                  message);
      done_[name.code()] = Done{current_->hash, true};
      current_.reset();
      return false;
    }
    bytes_ = std::move(*bytes);
    reader_ = std::make_unique<FileReader>(name, bytes_);
    Status s = reader_->open();
    if (s) s = reader_->resume(current_->number, current_->offset);
    if (!s) throw Failure("source.changed", name.file() + ": " + s.to_string());
    host_.info("resuming " + name.file() + " after row " + std::to_string(current_->number));
    return true;
  }

  void finish_current(hutong::sdk::Emitter& out) {
    const FileName name = current_->name;
    if (!reader_->status()) {
      reject_file(out, name, bytes_, reader_->status().code(), reader_->status().message());
    } else if (current_->number == reader_->header_number()) {
      host_.warn(name.file() + " holds only its header: it has no effect");
      reject_file(out, name, bytes_, "file.header_only",
                  "the file holds only its header row: no effect");
    } else {
      host_.info(name.file() + " read to its end (row " + std::to_string(current_->number) +
                 "; the header is row " + std::to_string(reader_->header_number()) + ")");
    }
    bool applied = reader_->status() && current_->number != reader_->header_number();
    done_[name.code()] = Done{current_->hash, applied};
    current_.reset();
    reader_.reset();
    bytes_.clear();
    bytes_.shrink_to_fit();
  }

  // The file's name, built once per file rather than once per row.
  const std::string& file_of(const FileName& name) {
    if (name.kind != named_.kind || name.date != named_.date || name.xlsx != named_.xlsx ||
        named_file_.empty()) {
      named_ = name;
      named_file_ = name.file();
    }
    return named_file_;
  }

  void emit_row(hutong::sdk::Emitter& out, const FileName& name, const RowResult& row) {
    const std::string& file = file_of(name);
    if (row.stray) {
      out.repaired(file + " row " + std::to_string(row.number) + ": read as " +
                   std::string(row.encoding) + ", unlike the rest of the file");
    }
    switch (row.type) {
      case RowResult::kDuplicate:
        out.repaired(file + " row " + std::to_string(row.number) +
                     " repeats an earlier row: collapsed");
        return;
      case RowResult::kRecord: {
        location_.assign(file);
        location_ += " row ";
        char number[24];
        auto end = std::to_chars(number, number + sizeof number, row.number).ptr;
        location_.append(number, end);
        out.upsert_bytes(hutong::education::topic_of(name.kind), row.built->key, row.built->payload,
                         location_);
        return;
      }
      case RowResult::kRejected: {
        hutong::sdk::RejectedRow r;
        r.source_name = file;
        r.row_number = row.number;
        r.byte_offset = row.offset;
        r.original = std::string(row.original);
        r.original_encoding = std::string(row.encoding);
        r.reason_code = std::string(row.built->reason);
        r.message = file + " row " + std::to_string(row.number) + ": " + row.built->message;
        r.field = row.built->field;
        r.intended_topic = std::string(hutong::education::topic_of(name.kind));
        out.reject(r);
        return;
      }
    }
  }

  // Quarantines a whole file (row 0): its bytes when small, else its head.
  void reject_file(hutong::sdk::Emitter& out, const FileName& name, std::string_view bytes,
                   std::string_view reason, const std::string& message) {
    hutong::sdk::RejectedRow r;
    r.source_name = name.file();
    r.row_number = 0;
    bool whole = bytes.size() <= kWholeFileLimit;
    r.original = std::string(whole ? bytes : bytes.substr(0, kFileHeadLimit));
    r.original_encoding = name.xlsx ? "XLSX" : "CSV (as delivered)";
    r.reason_code = std::string(reason);
    r.message = name.file() + ": " + message + " [" + std::to_string(bytes.size()) +
                " bytes, sha256 " + sha256_hex(bytes) +
                (whole ? "]" : "; the first " + std::to_string(kFileHeadLimit) + " bytes kept]");
    r.intended_topic = std::string(hutong::education::topic_of(name.kind));
    out.reject(r);
  }

  hutong::sdk::Host host_;
  std::string folder_;
  int64_t batch_rows_;
  struct Done {
    std::string hash;
    bool applied = false;  // its rows were read (not only reported)
  };
  std::map<std::string, Done> done_;  // processed files, by code
  std::optional<Current> current_;
  std::string bytes_;  // the current file
  std::unique_ptr<FileReader> reader_;
  std::string location_;
  FileName named_;  // file_of()'s last file
  std::string named_file_;
};

}  // namespace

HUTONG_SOURCE_PLUGIN(EducationFiles, "education_files", "0.1.0",
                     "the education bureau's exports (roster, aid, pairing) from a drop folder",
                     kKeys)
