// published_keys: the set of primary keys the civil_affairs_pg connector has
// published (and not deleted), kept in a private SQLite file so that hard
// deletes can be found by comparing it with the tables' current keys. The set
// is too big for the connector's position, so it is kept beside it with this
// discipline (docs in README.md, "Deletes"):
// - a key is added (durably) BEFORE the record that publishes it is emitted,
//   so the set is always a superset of the keys the journal holds: an extra
//   key only costs a delete of a key the journal never had, which the hub
//   counts as a duplicate;
// - a key whose delete is emitted in reconciliation pass P is marked with P,
//   and removed only once a position carrying P is handed back at start (the
//   delete is then known to be journaled); a position with an older pass puts
//   it back, so the delete is found and emitted again.
// It must never decide on its own that something reached the journal.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

namespace civil_affairs_pg {

struct TableKey {
  std::string table;
  std::string k1;
  std::string k2;  // the second primary-key column, empty for one-column keys
};

class PublishedKeys {
 public:
  // Opens (creating when missing) the file. Throws hutong::sdk::Failure.
  explicit PublishedKeys(const std::string& path);
  ~PublishedKeys();
  PublishedKeys(const PublishedKeys&) = delete;
  PublishedKeys& operator=(const PublishedKeys&) = delete;

  // True when the file did not exist (or held no set) before this start.
  bool created() const { return created_; }

  // At start: `committed_pass` is the reconciliation pass the journal is known
  // to hold (from the position); `nothing_published` when the position is
  // empty (the journal holds nothing of this connector: the set is emptied).
  void resume(uint64_t committed_pass, bool nothing_published);

  // Adds keys (or brings deleted ones back), durably, in one transaction.
  void add(const std::vector<TableKey>& keys);

  // A new reconciliation pass number, larger than any used before (durable).
  uint64_t new_pass();
  // Marks keys as deleted in `pass`, durably.
  void mark_deleted(const std::vector<TableKey>& keys, uint64_t pass);

  // Walks the live keys of one table in (k1, k2) byte order.
  class Walk {
   public:
    Walk(sqlite3* db, const std::string& table);
    ~Walk();
    bool valid() const { return valid_; }
    const TableKey& key() const { return key_; }
    void next();

   private:
    sqlite3_stmt* statement_ = nullptr;
    bool valid_ = false;
    TableKey key_;
  };
  Walk walk(const std::string& table) { return Walk(db_, table); }

  size_t live_count();

 private:
  void exec(const std::string& sql);
  void write_keys(const char* sql, const std::vector<TableKey>& keys, int64_t pass);

  std::string path_;
  sqlite3* db_ = nullptr;
  bool created_ = false;
};

}  // namespace civil_affairs_pg
