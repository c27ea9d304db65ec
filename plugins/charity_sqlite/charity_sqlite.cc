// charity_sqlite: reads the county charity fund's SQLite ledger (donation,
// grant_award) while the fund's desktop program writes it, and publishes
// fund.donation and fund.grant records.
//
// - Read-only and never in the writer's way: a read-only connection in WAL
//   mode (readers do not block the writer), one short read transaction per
//   table per poll. The ledger is read with its -wal file (the newest commits
//   may be only there); when the share does not let us open it in place
//   (no -shm can be made), a private copy of both files is read instead.
// - Changes are found by an (updated_at, id) watermark per table. A row whose
//   transaction commits late with an older updated_at is still found: every
//   poll looks `overlap_seconds` behind the watermark, and rows already
//   published in that window (same id, same content) are skipped; after a
//   restart they are published again and the hub counts them as duplicates.
// - Rows are normalized with the domain library; a grant whose student ID is
//   unusable, or any row with an unreadable amount or date, is rejected with
//   its original text and reason code.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "domain/amount.h"
#include "domain/date.h"
#include "domain/name.h"
#include "domain/resident_id.h"
#include "hutong/labels.hpp"
#include "hutong/plugin.hpp"
#include "hutong/v1/fund.pb.h"

namespace {

namespace fs = std::filesystem;
using hutong::sdk::enum_by_label;
using hutong::sdk::Failure;

const hutong_config_key kKeys[] = {
    {"database", HUTONG_CONFIG_PATH, nullptr, "the fund's ledger (SQLite, WAL mode)"},
    {"batch_rows", HUTONG_CONFIG_INT, "512", "at most this many rows per table per poll"},
    {"overlap_seconds", HUTONG_CONFIG_INT, "10",
     "how far behind the watermark each poll looks again, for transactions that commit late"},
    {"private_copy", HUTONG_CONFIG_BOOL, "false",
     "read a private copy of the ledger and its -wal file (for a read-only share); by default "
     "the copy is made only when the ledger cannot be opened in place"},
};

struct Watermark {
  std::string updated_at;  // as stored: yyyy-mm-dd hh:mm:ss
  int64_t id = 0;
};

struct Table {
  const char* name;
  const char* topic;
  const char* columns;
  Watermark mark;
  // Rows published within the overlap window: id -> (updated_at, content hash).
  // The content counts too: a row updated twice within one second keeps its
  // updated_at, and the second version must still go out.
  std::map<int64_t, std::pair<std::string, size_t>> recent;
};

// "yyyy-mm-dd hh:mm:ss" minus `seconds` (a plain text comparison key).
std::string earlier_by(const std::string& stamp, int64_t seconds) {
  auto parsed = hutong::domain::parse_timestamp(stamp);
  if (!parsed) return "";
  int64_t t = parsed->date.days_since_epoch() * 86400 + parsed->hour * 3600 + parsed->minute * 60 +
              parsed->second - seconds;
  if (t < 0) return "";
  auto date = hutong::domain::CivilDate::from_days_since_epoch(t / 86400);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d", date.year, date.month, date.day,
                static_cast<int>(t % 86400 / 3600), static_cast<int>(t % 3600 / 60),
                static_cast<int>(t % 60));
  return text;
}

void set_date(const hutong::domain::CivilDate& date, hutong::v1::Date& out) {
  out.set_year(date.year);
  out.set_month(date.month);
  out.set_day(date.day);
}

// One row as text, for the quarantine: column=value, tab-separated.
class Row {
 public:
  Row(sqlite3_stmt* statement) : statement_(statement) {}
  bool null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::string text(int column) const {
    const unsigned char* t = sqlite3_column_text(statement_, column);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(statement_, column)))
             : std::string();
  }
  int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
  bool is_integer(int column) const {
    return sqlite3_column_type(statement_, column) == SQLITE_INTEGER;
  }
  std::string original() const {
    std::string out;
    for (int c = 0; c < sqlite3_column_count(statement_); ++c) {
      if (c) out += '\t';
      out += sqlite3_column_name(statement_, c);
      out += '=';
      out += null(c) ? "NULL" : text(c);
    }
    return out;
  }

 private:
  sqlite3_stmt* statement_;
};

class CharitySqlite : public hutong::sdk::Source {
 public:
  CharitySqlite(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        database_(settings.string("database")),
        batch_rows_(settings.integer("batch_rows")),
        overlap_(settings.integer("overlap_seconds")),
        private_copy_(settings.boolean("private_copy")) {
    tables_.push_back({"donation",
                       "fund.donation",
                       "id, donor_name, donor_type, donor_credit_code, anonymous, amount_fen, "
                       "received_on, restriction, receipt_no, updated_at",
                       {},
                       {}});
    tables_.push_back({"grant_award",
                       "fund.grant",
                       "id, student_id_no, student_name, amount_fen, purpose, approved_on, "
                       "paid_on, donation_id, status, updated_at",
                       {},
                       {}});
  }
  ~CharitySqlite() override {
    close();
    std::error_code ec;
    if (!copy_dir_.empty()) fs::remove_all(copy_dir_, ec);
  }

  // Where the private copy lives: the connector's own folder, so that a runner
  // killed mid-read leaves nothing behind that the next one does not reuse
  // (a temporary folder per process would pile up, one per crash).
  fs::path copy_dir() const {
    std::string state = host_.state_dir();
    if (!state.empty()) return fs::path(state) / "private-copy";
    return fs::temp_directory_path() / ("hutong-charity-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
  }

  // The position: "donation=<updated_at>|<id>;grant_award=<updated_at>|<id>".
  void start(std::string_view position) override {
    std::string text(position);
    for (Table& t : tables_) {
      std::string prefix = std::string(t.name) + "=";
      size_t at = text.find(prefix);
      if (at == std::string::npos) continue;
      size_t end = text.find(';', at);
      std::string value =
          text.substr(at + prefix.size(),
                      end == std::string::npos ? std::string::npos : end - at - prefix.size());
      size_t bar = value.rfind('|');
      if (bar == std::string::npos) throw Failure("position.invalid", "bad position " + text);
      t.mark.updated_at = value.substr(0, bar);
      t.mark.id = std::stoll(value.substr(bar + 1));
    }
  }

  bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override {
    open();
    bool any = false;
    int64_t budget = std::min<int64_t>(batch_rows_, max_records);
    for (Table& t : tables_)
      any = read_table(t, out, budget) || any;
    std::string position;
    for (const Table& t : tables_) {
      if (!position.empty()) position += ';';
      position += std::string(t.name) + "=" + t.mark.updated_at + "|" + std::to_string(t.mark.id);
    }
    out.position(position);
    if (copy_) close();  // a private copy is taken afresh for every poll
    return any;
  }

 private:
  void open() {
    if (db_) return;
    if (!fs::exists(database_)) {
      throw Failure("source.unavailable", "the ledger " + database_ + " does not exist");
    }
    std::string path = database_;
    if (private_copy_ || !try_open(path)) {
      copy_ = true;
      path = private_copy();
      if (!try_open(path)) {
        throw Failure("source.unavailable",
                      "cannot open the ledger " + database_ + " (nor a private copy): " + error_);
      }
    }
  }

  bool try_open(const std::string& path) {
    std::string uri = "file:" + path + "?mode=ro";
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db, 2000);
      // Reading the schema proves the file (and the WAL index) can be read.
      rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    }
    if (rc != SQLITE_OK) {
      error_ = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      return false;
    }
    db_ = db;
    return true;
  }

  // Copies the ledger and its -wal file into a private directory and returns
  // the copy's path (the WAL is copied first: a checkpoint in between moves its
  // pages into the main file, which is copied after, so nothing is lost).
  std::string private_copy() {
    fs::path dir = copy_dir();
    fs::create_directories(dir);
    copy_dir_ = dir.string();
    fs::path copy = dir / "ledger.sqlite";
    std::error_code ec;
    fs::remove(copy.string() + "-wal", ec);
    fs::remove(copy.string() + "-shm", ec);
    if (fs::exists(database_ + "-wal")) {
      fs::copy_file(database_ + "-wal", copy.string() + "-wal",
                    fs::copy_options::overwrite_existing, ec);
    }
    fs::copy_file(database_, copy, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Failure("source.unavailable", "cannot copy the ledger: " + ec.message());
    return copy.string();
  }

  void close() {
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

  bool read_table(Table& t, hutong::sdk::Emitter& out, int64_t budget) {
    std::string low = t.mark.updated_at.empty() ? "" : earlier_by(t.mark.updated_at, overlap_);
    std::string sql = std::string("SELECT ") + t.columns + " FROM " + t.name +
                      " WHERE updated_at >= ?1 ORDER BY updated_at, id";
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      std::string message = sqlite3_errmsg(db_);
      close();
      throw Failure("source.unavailable", "cannot read " + std::string(t.name) + ": " + message);
    }
    sqlite3_bind_text(statement, 1, low.c_str(), -1, SQLITE_TRANSIENT);
    bool any = false;
    int64_t emitted = 0;
    int rc;
    while (emitted < budget && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
      Row row(statement);
      int64_t id = row.integer(0);
      std::string updated_at = row.text(9);
      size_t content = std::hash<std::string>{}(row.original());
      auto seen = t.recent.find(id);
      if (seen != t.recent.end() && seen->second == std::pair(updated_at, content)) {
        continue;  // published already
      }
      if (std::string(t.name) == "donation")
        donation(row, out);
      else
        grant(row, out);
      t.recent[id] = {updated_at, content};
      if (std::tie(updated_at, id) > std::tie(t.mark.updated_at, t.mark.id)) {
        t.mark = {updated_at, id};
      }
      ++emitted;
      any = true;
    }
    sqlite3_finalize(statement);
    // Forget what fell out of the overlap window.
    std::string horizon = earlier_by(t.mark.updated_at, overlap_);
    std::erase_if(t.recent, [&](const auto& entry) { return entry.second.first < horizon; });
    return any;
  }

  void reject(const Row& row, const char* table, int64_t id, std::string_view reason,
              const std::string& message, const char* field, const char* topic,
              hutong::sdk::Emitter& out) {
    hutong::sdk::RejectedRow r;
    r.source_name = database_ + ":" + table;
    r.row_number = static_cast<uint64_t>(id);
    r.original = row.original();
    r.original_encoding = "UTF-8";
    r.reason_code = std::string(reason);
    r.message = std::string(table) + " id " + std::to_string(id) + ": " + message;
    r.field = field;
    r.intended_topic = topic;
    out.reject(r);
  }

  bool timestamp(const Row& row, int column, google::protobuf::Timestamp& out) {
    auto ts = hutong::domain::parse_timestamp(row.text(column));
    if (!ts) return false;
    // The ledger's clock is China Standard Time (UTC+8).
    int64_t seconds = ts->date.days_since_epoch() * 86400 + ts->hour * 3600 + ts->minute * 60 +
                      ts->second - 8 * 3600;
    out.set_seconds(seconds);
    return true;
  }

  void donation(const Row& row, hutong::sdk::Emitter& out) {
    int64_t id = row.integer(0);
    hutong::v1::Donation d;
    d.set_donation_id(id);
    auto name = hutong::domain::normalize_name(row.text(1));
    d.set_donor_name(name ? *name : row.text(1));
    std::string type = row.text(2);
    d.set_donor_type(static_cast<hutong::v1::DonorType>(
        enum_by_label(hutong::v1::DonorType_descriptor(), type)));
    if (d.donor_type() == hutong::v1::DONOR_TYPE_UNSPECIFIED) d.set_donor_type_text(type);
    if (!row.null(3)) d.set_donor_credit_code(row.text(3));
    d.set_anonymous(row.integer(4) != 0);
    if (!row.is_integer(5)) {
      reject(row, "donation", id, hutong::domain::kValueAmount,
             "amount_fen \"" + row.text(5) + "\" is not a whole number of fen", "amount_fen",
             "fund.donation", out);
      return;
    }
    d.set_amount_fen(row.integer(5));
    auto received = hutong::domain::parse_date(row.text(6));
    if (!received) {
      reject(row, "donation", id, received.code(), received.status().message(), "received_on",
             "fund.donation", out);
      return;
    }
    set_date(*received, *d.mutable_received_on());
    if (!row.null(7)) d.set_restriction(row.text(7));
    if (!row.null(8)) d.set_receipt_no(row.text(8));
    if (!timestamp(row, 9, *d.mutable_updated_at())) {
      reject(row, "donation", id, hutong::domain::kValueDate,
             "updated_at \"" + row.text(9) + "\" is not a timestamp", "updated_at", "fund.donation",
             out);
      return;
    }
    out.upsert("fund.donation", std::to_string(id), d, "donation id " + std::to_string(id));
  }

  void grant(const Row& row, hutong::sdk::Emitter& out) {
    int64_t id = row.integer(0);
    hutong::v1::GrantAward g;
    g.set_grant_id(id);
    auto student = hutong::domain::normalize_resident_id(row.text(1), hutong::domain::today());
    if (!student) {
      reject(row, "grant_award", id, student.code(), student.status().message(), "student_id_no",
             "fund.grant", out);
      return;
    }
    g.mutable_student()->set_resident_id(std::string(student->number()));
    g.mutable_student()->set_id_type(hutong::v1::ID_TYPE_RESIDENT_ID);
    auto name = hutong::domain::normalize_name(row.text(2));
    g.mutable_student()->set_name(name ? *name : row.text(2));
    if (!row.is_integer(3)) {
      reject(row, "grant_award", id, hutong::domain::kValueAmount,
             "amount_fen \"" + row.text(3) + "\" is not a whole number of fen", "amount_fen",
             "fund.grant", out);
      return;
    }
    g.set_amount_fen(row.integer(3));
    std::string purpose = row.text(4);
    g.set_purpose(static_cast<hutong::v1::GrantPurpose>(
        enum_by_label(hutong::v1::GrantPurpose_descriptor(), purpose)));
    if (g.purpose() == hutong::v1::GRANT_PURPOSE_UNSPECIFIED) g.set_purpose_text(purpose);
    for (auto [column, field, target] : {std::tuple{5, "approved_on", g.mutable_approved_on()},
                                         std::tuple{6, "paid_on", g.mutable_paid_on()}}) {
      if (column == 6 && (row.null(6) || row.text(6).empty())) {
        g.clear_paid_on();
        continue;
      }
      auto date = hutong::domain::parse_date(row.text(column));
      if (!date) {
        reject(row, "grant_award", id, date.code(), date.status().message(), field, "fund.grant",
               out);
        return;
      }
      set_date(*date, *target);
    }
    if (!row.null(7)) g.set_donation_id(row.integer(7));
    std::string status = row.text(8);
    g.set_status(static_cast<hutong::v1::GrantStatus>(
        enum_by_label(hutong::v1::GrantStatus_descriptor(), status)));
    if (g.status() == hutong::v1::GRANT_STATUS_UNSPECIFIED) g.set_status_text(status);
    if (!timestamp(row, 9, *g.mutable_updated_at())) {
      reject(row, "grant_award", id, hutong::domain::kValueDate,
             "updated_at \"" + row.text(9) + "\" is not a timestamp", "updated_at", "fund.grant",
             out);
      return;
    }
    out.upsert("fund.grant", std::to_string(id), g, "grant_award id " + std::to_string(id));
  }

  hutong::sdk::Host host_;
  std::string database_;
  int64_t batch_rows_;
  int64_t overlap_;
  bool private_copy_;
  bool copy_ = false;
  sqlite3* db_ = nullptr;
  std::string error_;
  std::string copy_dir_;  // the private copy's directory, removed at the end
  std::vector<Table> tables_;
};

}  // namespace

HUTONG_SOURCE_PLUGIN(CharitySqlite, "charity_sqlite", "0.1.0",
                     "the county charity fund's SQLite ledger: donations and grant awards", kKeys)
