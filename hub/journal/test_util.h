// Helpers for the journal's tests: a temporary directory removed afterwards,
// opening, reading everything, appending one record.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "journal.h"

namespace hutong::journal::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hutong-journal-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::unique_ptr<Journal> open_journal(const std::string& dir, JournalOptions options = {}) {
  options.directory = dir;
  Result<std::unique_ptr<Journal>> journal = Journal::open(options);
  EXPECT_TRUE(journal) << journal.status().to_string();
  return journal ? std::move(*journal) : nullptr;
}

struct Owned {
  uint64_t offset;
  Op op;
  std::string topic, key, value;
};

inline std::vector<Owned> read_all(const Journal& journal, uint64_t from = 0,
                                   std::set<std::string, std::less<>> topics = {}) {
  std::vector<Owned> out;
  auto reader = journal.read_from(from, std::move(topics));
  for (;;) {
    Result<std::optional<RecordView>> r = reader->next();
    EXPECT_TRUE(r) << r.status().to_string();
    if (!r || !*r) break;
    out.push_back({(*r)->offset, (*r)->op, std::string((*r)->topic), std::string((*r)->key),
                   std::string((*r)->value)});
  }
  return out;
}

inline Result<AppendResult> append_one(Journal& journal, std::string_view topic,
                                       std::string_view key, std::string_view value,
                                       Op op = Op::kUpsert) {
  RecordIn record{op, topic, key, value};
  return journal.append(std::span(&record, 1));
}

}  // namespace hutong::journal::testing
