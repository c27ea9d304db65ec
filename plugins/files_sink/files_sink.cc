// files_sink: a department's slice of the journal as dated files for staff who
// work in Excel: per record type one CSV (GB18030 or UTF-8 with BOM, CRLF,
// RFC 4180) and/or one XLSX file holding the record type's CURRENT state.
//
// The state lives in an SQLite database in the connector's state_dir (the
// folder itself when the host gives none): every deliver call is one
// transaction holding the rows it changed, the topics whose files are now stale
// and the sink's offset, so a crash at any point leaves them in agreement and a
// replay is idempotent. The files are derived from that state and rewritten
// (temporary name, fsync, rename: never half-written) when the host signals
// "caught up" (deliver with no records: Sink::flush; at most every
// `min_rewrite_ms`) and, with or without that signal, once `flush_interval_ms`
// has passed; every file once at start. Columns come from the schemas
// (plugins/common/record_layout.h); cell text is neutralized against formula
// injection with the domain library. Knows no topic or column by name.
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/encoding.h"
#include "domain/spreadsheet.h"
#include "hutong/plugin.hpp"
#include "record_layout.h"

namespace {

namespace fs = std::filesystem;
using hutong::sdk::Failure;
using hutong::sinks::Cell;
using hutong::sinks::Column;
using hutong::sinks::ColumnType;
using hutong::sinks::RecordLayout;

const hutong_config_key kKeys[] = {
    {"folder", HUTONG_CONFIG_PATH, nullptr,
     "the folder the files are written to (created when missing)"},
    {"encoding", HUTONG_CONFIG_STRING, "gb18030",
     "CSV encoding: gb18030 (Excel in China) or utf-8 "
     "(written with a BOM)"},
    {"formats", HUTONG_CONFIG_STRING, "both", "which files to write: csv, xlsx or both"},
    {"header", HUTONG_CONFIG_STRING, "titles",
     "the first row: titles (the Chinese column titles staff know, 身份证件号…) or names (the "
     "field names, student_resident_id…, for scripts)"},
    {"flush_interval_ms", HUTONG_CONFIG_DURATION, "60000",
     "rewrite changed files at least this often, even if the hub never signals it has caught up"},
    {"min_rewrite_ms", HUTONG_CONFIG_DURATION, "0",
     "after the hub has caught up, files are rewritten no more often than this (a trickle of "
     "records would otherwise rewrite them after every small batch)"},
    {"keep_days", HUTONG_CONFIG_INT, "7",
     "older dated files of a record type are removed when they are more than this many days "
     "older than the newest (0: only the newest is kept)"},
};

constexpr const char* kStateFile = ".hutong-files-sink.sqlite";

std::string yyyymmdd(std::chrono::system_clock::time_point when) {
  time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  localtime_r(&t, &parts);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d", &parts);
  return text;
}

// RFC 4180: a cell with a comma, quote or line break is quoted, quotes doubled.
void append_csv_cell(std::string_view cell, std::string& out) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += cell;
    return;
  }
  out += '"';
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// The text a spreadsheet shows for a cell (booleans as 是 / 否), neutralized.
std::string sheet_text(ColumnType type, const std::string& cell) {
  if (type == ColumnType::kBoolean) return cell == "true" ? "是" : "否";
  return hutong::domain::neutralize_formula(cell);
}

// An XLSX cell holds at most 32 767 characters: longer text (a long JSON list)
// is cut there and ends with "…" (the CSV file keeps it whole).
std::string fit_cell(std::string text) {
  constexpr size_t kMaxChars = 32767;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (++chars == kMaxChars) {
      text.resize(i);
      return text + "…";
    }
  }
  return text;
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) throw Failure("sink.io", "cannot open " + path + " to sync it");
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Failure("sink.io", "cannot sync " + path + " to disk");
}

class Sqlite {
 public:
  explicit Sqlite(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Failure("sink.state", "cannot open the sink's state " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Sqlite() {
    for (auto& [sql, stmt] : statements_)
      sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error ? error : sqlite3_errmsg(db_);
      sqlite3_free(error);
      throw Failure("sink.state", "the sink's state database failed \"" + sql + "\": " + message);
    }
  }
  // A cached, reset statement.
  sqlite3_stmt* prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) fail(sql);
    statements_[sql] = stmt;
    return stmt;
  }
  void step_done(sqlite3_stmt* stmt) {
    if (sqlite3_step(stmt) != SQLITE_DONE) fail(sqlite3_sql(stmt));
  }
  [[noreturn]] void fail(const char* sql) {
    throw Failure("sink.state", std::string("the sink's state database failed \"") + sql +
                                    "\": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> statements_;
};

class FilesSink : public hutong::sdk::Sink {
 public:
  FilesSink(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        folder_(settings.string("folder")),
        state_dir_(host.state_dir().empty() ? folder_ : host.state_dir()),
        encoding_(settings.string("encoding")),
        formats_(settings.string("formats")),
        titles_(settings.string("header") == "titles"),
        interval_(std::chrono::milliseconds(settings.milliseconds("flush_interval_ms"))),
        min_gap_(std::chrono::milliseconds(settings.milliseconds("min_rewrite_ms"))),
        keep_days_(settings.integer("keep_days")) {
    if (encoding_ != "gb18030" && encoding_ != "utf-8") {
      throw Failure("config.invalid",
                    "setting \"encoding\" is \"" + encoding_ + "\"; expected gb18030 or utf-8");
    }
    if (formats_ != "csv" && formats_ != "xlsx" && formats_ != "both") {
      throw Failure("config.invalid",
                    "setting \"formats\" is \"" + formats_ + "\"; expected csv, xlsx or both");
    }
    if (std::string header = settings.string("header"); header != "titles" && header != "names") {
      throw Failure("config.invalid",
                    "setting \"header\" is \"" + header + "\"; expected titles or names");
    }
    if (interval_.count() <= 0 || min_gap_.count() < 0 || keep_days_ < 0) {
      throw Failure("config.invalid",
                    "flush_interval_ms must be positive, min_rewrite_ms and keep_days not "
                    "negative");
    }
  }

  ~FilesSink() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    std::lock_guard lock(mu_);
    try {
      if (db_) write_stale_files();  // a clean stop leaves the files current
    } catch (...) {
      // Stale files are rewritten at the next start (the topics stay marked).
    }
  }

  uint64_t committed_offset() override {
    std::lock_guard lock(mu_);
    open_state();
    return committed_;
  }

  uint64_t deliver(std::span<const hutong_record> records) override {
    std::lock_guard lock(mu_);
    open_state();
    report_flush_error();
    if (records.empty()) {  // (the C++ layer calls flush() instead)
      caught_up();
      return committed_;
    }
    store(records);
    stale_ = true;
    caught_up_ = false;
    if (due()) write_stale_files();
    return committed_;
  }

  // The hub has caught up: make the files current now (or, when they were
  // rewritten less than min_rewrite_ms ago, then: the flusher thread does).
  void flush() override {
    std::lock_guard lock(mu_);
    open_state();
    report_flush_error();
    caught_up();
  }

 private:
  void caught_up() {
    caught_up_ = true;
    if (due()) write_stale_files();
  }

  // Whether stale files should be rewritten now. Called with mu_ held. However
  // large the files, rewriting them takes at most a fifth of the sink's time.
  bool due() const {
    auto since = std::chrono::steady_clock::now() - last_flush_;
    auto floor = 4 * last_write_took_;
    return stale_ && since >= floor && (since >= interval_ || (caught_up_ && since >= min_gap_));
  }

  // A failure of the flusher thread fails the next call, with its message.
  void report_flush_error() {
    if (flush_error_.empty()) return;
    std::string error = std::move(flush_error_);
    flush_error_.clear();
    throw Failure("sink.io", error);
  }

  void open_state() {
    if (db_) return;
    for (const std::string& dir : {folder_, state_dir_}) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (!fs::is_directory(dir)) {
        throw Failure("sink.io", "the folder " + dir + " does not exist and cannot be created" +
                                     (ec ? ": " + ec.message() : ""));
      }
    }
    db_ = std::make_unique<Sqlite>(state_dir_ + "/" + kStateFile);
    db_->exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        "CREATE TABLE IF NOT EXISTS record (topic TEXT NOT NULL, key TEXT NOT NULL,"
        " journal_offset INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (topic, key))"
        " WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS stale_topic (topic TEXT PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS sink_offset (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " next_offset INTEGER NOT NULL);"
        // Every file is rewritten once at start: a folder that was emptied or
        // replaced, or files of an older schema, are made current.
        "INSERT OR IGNORE INTO stale_topic (topic) SELECT DISTINCT topic FROM record;");
    sqlite3_stmt* s = db_->prepare("SELECT next_offset FROM sink_offset WHERE id = 1");
    committed_ = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    stale_ = true;  // every file once at start
    last_flush_ = std::chrono::steady_clock::now() - interval_;
    flusher_ = std::thread([this] { flush_periodically(); });
    host_.info("files sink " + folder_ + ": state up to offset " + std::to_string(committed_));
  }

  // One transaction: the rows, the stale topics, the offset.
  void store(std::span<const hutong_record> records) {
    db_->exec("BEGIN IMMEDIATE");
    try {
      std::set<std::string> topics;
      for (const hutong_record& r : records) {
        std::string topic(r.topic, r.topic_len);
        const RecordLayout* layout = RecordLayout::for_topic(topic);
        if (layout == nullptr) {
          throw Failure("sink.topic", "no record type is published on topic \"" + topic +
                                          "\" (name only record topics in the connector's topics)");
        }
        if (r.op == HUTONG_OP_DELETE) {
          sqlite3_stmt* s = db_->prepare(
              "DELETE FROM record WHERE topic = ?1 AND key = ?2 AND journal_offset <= ?3");
          sqlite3_bind_text(s, 1, r.topic, static_cast<int>(r.topic_len), SQLITE_TRANSIENT);
          sqlite3_bind_text(s, 2, r.key, static_cast<int>(r.key_len), SQLITE_TRANSIENT);
          sqlite3_bind_int64(s, 3, static_cast<int64_t>(r.offset));
          db_->step_done(s);
        } else {
          std::string_view payload(reinterpret_cast<const char*>(r.payload), r.payload_len);
          if (!layout->flatten(payload, cells_)) {
            throw Failure("sink.record", "offset " + std::to_string(r.offset) + " on " + topic +
                                             " (key " + std::string(r.key, r.key_len) +
                                             ") is not a " +
                                             std::string(layout->type()->full_name()) + " record");
          }
          sqlite3_stmt* s = db_->prepare(
              "INSERT INTO record (topic, key, journal_offset, payload) VALUES (?1, ?2, ?3, ?4) "
              "ON CONFLICT (topic, key) DO UPDATE SET journal_offset = excluded.journal_offset, "
              "payload = excluded.payload WHERE journal_offset <= excluded.journal_offset");
          sqlite3_bind_text(s, 1, r.topic, static_cast<int>(r.topic_len), SQLITE_TRANSIENT);
          sqlite3_bind_text(s, 2, r.key, static_cast<int>(r.key_len), SQLITE_TRANSIENT);
          sqlite3_bind_int64(s, 3, static_cast<int64_t>(r.offset));
          sqlite3_bind_blob(s, 4, r.payload, static_cast<int>(r.payload_len), SQLITE_TRANSIENT);
          db_->step_done(s);
        }
        topics.insert(std::move(topic));
      }
      for (const std::string& topic : topics) {
        sqlite3_stmt* s = db_->prepare("INSERT OR IGNORE INTO stale_topic (topic) VALUES (?1)");
        sqlite3_bind_text(s, 1, topic.data(), static_cast<int>(topic.size()), SQLITE_TRANSIENT);
        db_->step_done(s);
      }
      uint64_t next = records.back().offset + 1;
      sqlite3_stmt* s = db_->prepare(
          "INSERT INTO sink_offset (id, next_offset) VALUES (1, ?1) "
          "ON CONFLICT (id) DO UPDATE SET next_offset = excluded.next_offset");
      sqlite3_bind_int64(s, 1, static_cast<int64_t>(next));
      db_->step_done(s);
      db_->exec("COMMIT");
      committed_ = next;
    } catch (...) {
      try {
        db_->exec("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  }

  void flush_periodically() {
    std::unique_lock lock(mu_);
    auto tick = std::max(std::chrono::milliseconds(10), std::min(interval_, min_gap_) / 2);
    while (!stopping_) {
      wake_.wait_for(lock, tick);
      if (stopping_ || !due()) continue;
      try {
        write_stale_files();
      } catch (const std::exception& e) {
        flush_error_ = e.what();  // reported by the next deliver call
      }
    }
  }

  // Rewrites the files of every stale topic, then marks it current. Called
  // with mu_ held.
  void write_stale_files() {
    last_flush_ = std::chrono::steady_clock::now();
    last_write_took_ = {};
    std::vector<std::string> stale;
    sqlite3_stmt* s = db_->prepare("SELECT topic FROM stale_topic ORDER BY topic");
    while (sqlite3_step(s) == SQLITE_ROW)
      stale.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    sqlite3_reset(s);
    for (const std::string& topic : stale) {
      write_files(topic);
      sqlite3_stmt* d = db_->prepare("DELETE FROM stale_topic WHERE topic = ?1");
      sqlite3_bind_text(d, 1, topic.data(), static_cast<int>(topic.size()), SQLITE_TRANSIENT);
      db_->step_done(d);
    }
    stale_ = false;
    last_write_took_ = std::chrono::steady_clock::now() - last_flush_;
  }

  // Calls fn(key, cells) for every current record of the topic, in key order.
  template <typename Fn>
  void for_each_row(const RecordLayout& layout, const std::string& topic, Fn&& fn) {
    sqlite3_stmt* s = db_->prepare("SELECT key, payload FROM record WHERE topic = ?1 ORDER BY key");
    sqlite3_bind_text(s, 1, topic.data(), static_cast<int>(topic.size()), SQLITE_TRANSIENT);
    std::vector<Cell> cells;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::string key(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                      sqlite3_column_bytes(s, 0));
      std::string_view payload(static_cast<const char*>(sqlite3_column_blob(s, 1)),
                               sqlite3_column_bytes(s, 1));
      if (!layout.flatten(payload, cells)) {
        throw Failure("sink.state", "the stored record " + topic + " " + key + " does not parse");
      }
      fn(key, cells);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) db_->fail("SELECT key, payload FROM record");
  }

  void write_files(const std::string& topic) {
    const RecordLayout* layout = RecordLayout::for_topic(topic);
    if (layout == nullptr) return;  // a topic of an older schema: nothing to write
    std::string day = yyyymmdd(std::chrono::system_clock::now());
    std::string base = topic + "_" + day;
    if (formats_ != "xlsx") write_csv(*layout, topic, base + ".csv");
    if (formats_ != "csv") write_xlsx(*layout, topic, base + ".xlsx");
    remove_older(topic, day);
  }

  // Writes `name` through a temporary file: the complete file appears at once.
  template <typename Write>
  void publish(const std::string& name, Write&& write) {
    std::string final_path = folder_ + "/" + name;
    std::string temp_path = folder_ + "/." + name + ".tmp";
    write(temp_path);
    fsync_path(temp_path, false);
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
      ::unlink(temp_path.c_str());
      throw Failure("sink.io", "cannot rename " + temp_path + " to " + final_path);
    }
    fsync_path(folder_, true);
  }

  void write_csv(const RecordLayout& layout, const std::string& topic, const std::string& name) {
    publish(name, [&](const std::string& path) {
      FILE* out = std::fopen(path.c_str(), "wb");
      if (out == nullptr) throw Failure("sink.io", "cannot create " + path);
      bool gb18030 = encoding_ == "gb18030";
      std::string text = gb18030 ? "" : std::string(hutong::domain::kUtf8Bom);
      bool ok = true;
      auto drain = [&](bool force) {
        if (!force && text.size() < (1u << 18)) return;
        if (gb18030) {
          auto converted = hutong::domain::utf8_to_gb18030(text);
          if (!converted) {
            ok = false;
            return;
          }
          text = std::move(*converted);
        }
        ok = ok && std::fwrite(text.data(), 1, text.size(), out) == text.size();
        text.clear();
      };
      const std::vector<Column>& columns = layout.columns();
      append_csv_cell(key_header(), text);
      for (const Column& c : columns) {
        text += ',';
        append_csv_cell(header_of(c), text);
      }
      text += "\r\n";
      for_each_row(layout, topic, [&](const std::string& key, const std::vector<Cell>& cells) {
        append_csv_cell(hutong::domain::neutralize_formula(key), text);
        for (size_t i = 0; i < cells.size(); ++i) {
          text += ',';
          if (cells[i]) append_csv_cell(sheet_text(columns[i].type, *cells[i]), text);
        }
        text += "\r\n";
        drain(false);
      });
      drain(true);
      ok = std::fflush(out) == 0 && ok;
      ok = std::fclose(out) == 0 && ok;
      if (!ok) {
        ::unlink(path.c_str());
        throw Failure("sink.io", "cannot write " + path + " (disk full, or text GB18030 lacks)");
      }
    });
  }

  void write_xlsx(const RecordLayout& layout, const std::string& topic, const std::string& name) {
    publish(name, [&](const std::string& path) {
      lxw_workbook_options options{};
      options.constant_memory = LXW_TRUE;  // rows stream to a temporary file, not memory
      std::string tmpdir = folder_;
      options.tmpdir = tmpdir.data();
      lxw_workbook* book = workbook_new_opt(path.c_str(), &options);
      if (book == nullptr) throw Failure("sink.io", "cannot create " + path);
      lxw_format* header = workbook_add_format(book);
      format_set_bold(header);
      lxw_format* text_format = workbook_add_format(book);
      format_set_num_format(text_format, "@");  // typed-in values stay text too
      const std::vector<Column>& columns = layout.columns();
      lxw_worksheet* sheet = nullptr;
      lxw_row_t row = 0;
      int sheets = 0;
      // A sheet holds at most 1 048 576 rows; more continue on "<topic> (2)" ….
      auto start_sheet = [&] {
        ++sheets;
        std::string name = sheets == 1 ? topic.substr(0, 31)  // Excel's limit
                                       : topic.substr(0, 24) + " (" + std::to_string(sheets) + ")";
        sheet = workbook_add_worksheet(book, name.c_str());
        worksheet_set_column(sheet, 0, 0, 20, text_format);
        for (size_t i = 0; i < columns.size(); ++i) {
          if (columns[i].text_only) {
            auto col = static_cast<lxw_col_t>(i + 1);
            worksheet_set_column(sheet, col, col, 20, text_format);
          }
        }
        worksheet_freeze_panes(sheet, 1, 0);
        worksheet_write_string(sheet, 0, 0, key_header(), header);
        for (size_t i = 0; i < columns.size(); ++i)
          worksheet_write_string(sheet, 0, static_cast<lxw_col_t>(i + 1),
                                 header_of(columns[i]).c_str(), header);
        row = 0;
      };
      start_sheet();
      lxw_error error = LXW_NO_ERROR;
      for_each_row(layout, topic, [&](const std::string& key, const std::vector<Cell>& cells) {
        if (row + 1 >= LXW_ROW_MAX) start_sheet();
        ++row;
        auto put = [&](lxw_error e) {
          if (e != LXW_NO_ERROR && error == LXW_NO_ERROR) error = e;
        };
        put(worksheet_write_string(
            sheet, row, 0, fit_cell(hutong::domain::neutralize_formula(key)).c_str(), text_format));
        for (size_t i = 0; i < cells.size(); ++i) {
          if (!cells[i]) continue;
          auto col = static_cast<lxw_col_t>(i + 1);
          ColumnType type = columns[i].type;
          bool number =
              type == ColumnType::kReal || (type == ColumnType::kInteger && cells[i]->size() <= 15);
          if (number) {
            put(worksheet_write_number(sheet, row, col, std::stod(*cells[i]), nullptr));
          } else {
            put(worksheet_write_string(sheet, row, col,
                                       fit_cell(sheet_text(type, *cells[i])).c_str(),
                                       columns[i].text_only ? text_format : nullptr));
          }
        }
      });
      lxw_error closed = workbook_close(book);
      if (error == LXW_NO_ERROR) error = closed;
      if (error != LXW_NO_ERROR) {
        ::unlink(path.c_str());
        throw Failure("sink.io", "cannot write " + path + ": " + lxw_strerror(error));
      }
    });
  }

  // Removes this topic's dated files more than keep_days days older than `day`.
  void remove_older(const std::string& topic, const std::string& day) {
    std::string cutoff = yyyymmdd(std::chrono::system_clock::now() -
                                  std::chrono::hours(24) * static_cast<int>(keep_days_));
    DIR* dir = ::opendir(folder_.c_str());
    if (dir == nullptr) return;
    std::string prefix = topic + "_";
    std::vector<std::string> old;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (!name.starts_with(prefix)) continue;
      std::string rest = name.substr(prefix.size());
      if (rest.size() < 9 || rest[8] != '.') continue;
      std::string date = rest.substr(0, 8), ext = rest.substr(9);
      if (date.find_first_not_of("0123456789") != std::string::npos) continue;
      if (ext != "csv" && ext != "xlsx") continue;
      if (date < cutoff && date != day) old.push_back(name);
    }
    ::closedir(dir);
    for (const std::string& name : old)
      ::unlink((folder_ + "/" + name).c_str());
  }

  // The first row: the titles staff know (记录键, 身份证件号…) or the field names.
  const char* key_header() const { return titles_ ? "记录键" : "_key"; }
  const std::string& header_of(const Column& column) const {
    return titles_ ? column.title : column.name;
  }

  hutong::sdk::Host host_;
  std::string folder_;
  std::string state_dir_;
  std::string encoding_;
  std::string formats_;
  bool titles_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds min_gap_;
  int64_t keep_days_;

  std::mutex mu_;  // the state and the files: deliver and the flusher thread
  std::condition_variable wake_;
  std::unique_ptr<Sqlite> db_;
  uint64_t committed_ = 0;
  std::vector<Cell> cells_;
  std::chrono::steady_clock::time_point last_flush_;
  std::chrono::steady_clock::duration last_write_took_{};
  bool stale_ = false;      // some files are older than the state
  bool caught_up_ = false;  // the hub said so, and nothing came since
  std::string flush_error_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace

HUTONG_SINK_PLUGIN(FilesSink, "files_sink", "1.0.0",
                   "a department's records as dated CSV / XLSX files of their current state", kKeys)
