#include "published_keys.h"

#include <filesystem>

#include "hutong/plugin.hpp"

namespace civil_affairs_pg {

using hutong::sdk::Failure;

namespace {
constexpr const char* kState = "state.io";
}

PublishedKeys::PublishedKeys(const std::string& path) : path_(path) {
  created_ = !std::filesystem::exists(path);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Failure(kState, "cannot open the published-key file " + path + ": " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  // One instance at a time: a second one (an old runner not yet gone) waits
  // for the first to close the file, or fails with state.io.
  exec("PRAGMA locking_mode=EXCLUSIVE");
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec(
      "CREATE TABLE IF NOT EXISTS published (tbl TEXT NOT NULL, k1 TEXT NOT NULL, "
      "k2 TEXT NOT NULL, deleted_in INTEGER, PRIMARY KEY (tbl, k1, k2)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);");
  // A file that exists but never got its marker is as good as a new one.
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = 'format'", -1, &s, nullptr);
  if (sqlite3_step(s) != SQLITE_ROW) created_ = true;
  sqlite3_finalize(s);
  exec("INSERT OR IGNORE INTO meta VALUES ('format', 1), ('last_pass', 0)");
}

PublishedKeys::~PublishedKeys() {
  sqlite3_close(db_);
}

void PublishedKeys::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Failure(kState, "the published-key file " + path_ + ": " + message);
  }
}

void PublishedKeys::resume(uint64_t committed_pass, bool nothing_published) {
  exec("BEGIN IMMEDIATE");
  if (nothing_published) {
    exec("DELETE FROM published");
  } else {
    std::string pass = std::to_string(committed_pass);
    exec("DELETE FROM published WHERE deleted_in <= " + pass);
    exec("UPDATE published SET deleted_in = NULL WHERE deleted_in > " + pass);
    exec("UPDATE meta SET value = max(value, " + pass + ") WHERE name = 'last_pass'");
  }
  exec("COMMIT");
}

void PublishedKeys::write_keys(const char* sql, const std::vector<TableKey>& keys, int64_t pass) {
  if (keys.empty()) return;
  exec("BEGIN IMMEDIATE");
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw Failure(kState, "the published-key file " + path_ + ": " + message);
  }
  for (const TableKey& k : keys) {
    sqlite3_bind_text(s, 1, k.table.data(), static_cast<int>(k.table.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, k.k1.data(), static_cast<int>(k.k1.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, k.k2.data(), static_cast<int>(k.k2.size()), SQLITE_STATIC);
    if (pass) sqlite3_bind_int64(s, 4, pass);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
      std::string message = sqlite3_errmsg(db_);
      sqlite3_finalize(s);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw Failure(kState, "cannot write the published-key file " + path_ + ": " + message);
    }
  }
  sqlite3_finalize(s);
  exec("COMMIT");
}

void PublishedKeys::add(const std::vector<TableKey>& keys) {
  write_keys(
      "INSERT INTO published VALUES (?1, ?2, ?3, NULL) "
      "ON CONFLICT (tbl, k1, k2) DO UPDATE SET deleted_in = NULL",
      keys, 0);
}

uint64_t PublishedKeys::new_pass() {
  exec("UPDATE meta SET value = value + 1 WHERE name = 'last_pass'");
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = 'last_pass'", -1, &s, nullptr);
  uint64_t pass = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_finalize(s);
  if (pass == 0) throw Failure(kState, "the published-key file " + path_ + " has no pass counter");
  return pass;
}

void PublishedKeys::mark_deleted(const std::vector<TableKey>& keys, uint64_t pass) {
  write_keys("UPDATE published SET deleted_in = ?4 WHERE tbl = ?1 AND k1 = ?2 AND k2 = ?3", keys,
             static_cast<int64_t>(pass));
}

size_t PublishedKeys::live_count() {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_, "SELECT count(*) FROM published WHERE deleted_in IS NULL", -1, &s,
                     nullptr);
  size_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_finalize(s);
  return n;
}

PublishedKeys::Walk::Walk(sqlite3* db, const std::string& table) {
  sqlite3_prepare_v2(db,
                     "SELECT k1, k2 FROM published WHERE tbl = ?1 AND deleted_in IS NULL "
                     "ORDER BY k1, k2",
                     -1, &statement_, nullptr);
  sqlite3_bind_text(statement_, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  key_.table = table;
  next();
}

PublishedKeys::Walk::~Walk() {
  sqlite3_finalize(statement_);
}

void PublishedKeys::Walk::next() {
  valid_ = statement_ && sqlite3_step(statement_) == SQLITE_ROW;
  if (!valid_) return;
  auto text = [&](int c) {
    const unsigned char* t = sqlite3_column_text(statement_, c);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(statement_, c)))
             : std::string();
  };
  key_.k1 = text(0);
  key_.k2 = text(1);
}

}  // namespace civil_affairs_pg
