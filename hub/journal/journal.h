// The durable journal: an append-only, segmented log of records with
// monotonically increasing offsets (docs/journal-format.md). It owns durability
// (group commit), crash recovery, reading (from any offset, filtered by topic,
// concurrently with appends), and compaction. It knows topics and keys, never
// what a record means.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "file_ops.h"
#include "format.h"
#include "segment.h"

namespace hutong::journal {

enum class Durability {
  kNone,   // acknowledged once written to the OS (lost on power failure)
  kGroup,  // one fdatasync per sync_interval or per sync_records, whichever comes first
  kEach,   // one fdatasync per append call
};

struct JournalOptions {
  std::string directory;
  Durability durability = Durability::kGroup;
  std::chrono::microseconds sync_interval{1000};
  uint32_t sync_records = 8192;
  uint64_t segment_bytes = 64ull << 20;  // a segment is sealed once it reaches this size
  bool read_only = false;  // inspect a journal (even one a hub has open): no lock, no repair
  std::shared_ptr<FileOps> file_ops;  // the write-side system calls (tests inject faults)
};

// Which records compaction keeps.
struct RetentionPolicy {
  // Topics whose records are versions of keyed state: only each key's latest
  // record survives (deletes, as tombstones, for tombstone_retention).
  std::set<std::string, std::less<>> compacted_topics;
  std::chrono::seconds tombstone_retention{std::chrono::hours(24)};
  // Other topics: records older than max_age are dropped (0: kept forever), and
  // each topic's oldest records beyond max_bytes_per_topic (0: no limit).
  std::chrono::seconds max_age{0};
  uint64_t max_bytes_per_topic = 0;
};

struct AppendResult {
  uint64_t first_offset = 0;
  uint32_t count = 0;
};

struct RecoveryReport {
  std::vector<std::string> warnings;  // torn tails truncated, indexes rebuilt, ...
  uint64_t segments = 0;
  uint64_t next_offset = 0;
};

struct CompactionReport {
  uint64_t segments_rewritten = 0;
  uint64_t records_before = 0;
  uint64_t records_after = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
};

class Journal;

// Reads records in offset order from a starting offset, optionally only some
// topics, concurrently with appends; sees only durable records. Memory use is
// one frame at a time, whatever the journal's size. Not thread-safe.
class JournalReader {
 public:
  ~JournalReader();
  // The next matching record, or nullopt when none became durable within `wait`.
  // The views stay valid until the next call. A corrupt frame is an error (the
  // reader does not skip it).
  Result<std::optional<RecordView>> next(
      std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // The offset the reader will consider next.
  uint64_t position() const { return next_offset_; }

 private:
  friend class Journal;
  struct Snapshot;
  JournalReader(const Journal* journal, uint64_t from, std::set<std::string, std::less<>> topics,
                std::shared_ptr<const Snapshot> snapshot);
  static constexpr size_t kReadAhead = 256 << 10;
  Status load_frame(bool& progressed);
  bool fill(uint64_t position, size_t size, uint64_t limit);
  bool wanted(const RecordView& record) const;

  const Journal* journal_;
  uint64_t next_offset_;
  std::set<std::string, std::less<>> topics_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::shared_ptr<Segment> segment_;
  uint64_t position_ = 0;  // byte position of the next frame in segment_
  std::string buffer_;     // bytes of segment_ from buffer_start_, read ahead
  uint64_t buffer_start_ = 0;
  std::optional<FrameView> frame_;
  std::optional<RecordCursor> cursor_;
};

class Journal {
 public:
  // Opens (creating if needed) and recovers the journal in options.directory.
  static Result<std::unique_ptr<Journal>> open(JournalOptions options);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends the records as one atomic unit (after a crash: all of them or none)
  // with consecutive offsets, and returns once they are durable as configured.
  Result<AppendResult> append(std::span<const RecordIn> records);
  // The same without waiting: `done` runs on the journal's writer thread once
  // the records are durable (or failed); keep it short.
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  void append_async(std::span<const RecordIn> records, AppendCallback done);

  // Readers. from(): every record at or after `offset`. snapshot_then_live():
  // the latest version of every key of `topics` that exists now (no deletes),
  // then every later change, with no gap and no duplicate at the seam; its
  // memory grows with the number of keys, not with the journal's size.
  std::unique_ptr<JournalReader> read_from(uint64_t offset,
                                           std::set<std::string, std::less<>> topics = {}) const;
  Result<std::unique_ptr<JournalReader>> snapshot_then_live(
      std::set<std::string, std::less<>> topics) const;

  // Rewrites sealed segments keeping what `policy` says, preserving offsets.
  // Readers running meanwhile keep a consistent view.
  Result<CompactionReport> compact(const RetentionPolicy& policy);
  // Runs compact() every `interval` on a background thread until destruction.
  void start_background_compaction(RetentionPolicy policy, std::chrono::milliseconds interval);

  uint64_t next_offset() const;  // the offset the next appended record will get
  uint64_t durable_end() const;  // records below this offset are durable and readable
  // Waits until durable_end() exceeds `beyond` (or the journal failed), at most
  // `wait`; returns durable_end().
  uint64_t wait_durable_beyond(uint64_t beyond, std::chrono::milliseconds wait) const;
  const RecoveryReport& recovery_report() const { return recovery_; }
  const JournalOptions& options() const { return options_; }
  // The failure that stopped the journal, if one did (appends then fail).
  Status failure() const;

  struct SegmentInfo {
    uint64_t base_offset = 0;
    uint64_t end_offset = 0;
    uint64_t bytes = 0;
    bool sealed = false;
    std::string path;
  };
  std::vector<SegmentInfo> segments() const;

  // Verifies every frame of every segment (checksums, offsets, seals); one
  // problem per corrupt place.
  std::vector<Status> verify() const;

 private:
  friend class JournalReader;
  struct Pending {
    BuiltFrame frame;
    uint32_t count = 0;
    AppendCallback done;
    uint64_t first_offset = 0;
  };

  explicit Journal(JournalOptions options);
  Status recover();
  Status open_active_segment(uint64_t base_offset, bool create);
  Status roll_segment();
  void writer_loop();
  void syncer_loop();
  void write_group(std::vector<Pending>& group);
  void hand_to_syncer(std::vector<Pending>& written);
  void drain_syncer();
  void recover_from_sync_error();
  void complete_unsynced(std::vector<Pending>& written);
  void fail_all(std::vector<Pending>& pendings, const Status& status);
  void enter_failed(Status status);
  std::shared_ptr<Segment> segment_for(uint64_t offset) const;
  std::shared_ptr<Segment> segment_at(uint64_t base_offset) const;
  bool wait_for_data(const Segment* segment, uint64_t position,
                     std::chrono::milliseconds wait) const;
  void compaction_loop(RetentionPolicy policy, std::chrono::milliseconds interval);

  JournalOptions options_;
  RecoveryReport recovery_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;

  // Segments, shared with readers and compaction.
  mutable std::mutex mu_;
  mutable std::condition_variable data_cv_;  // durable data advanced, or a segment was sealed
  std::vector<std::shared_ptr<Segment>> segments_;
  uint64_t durable_end_ = 0;
  Status failure_;

  // Writer-thread state.
  int active_fd_ = -1;
  uint64_t written_size_ = 0;  // bytes written to the active segment
  uint64_t durable_size_ =
      0;  // guarded by sync_mu_ while the syncer runs       // of which durable
  uint64_t writeback_started_ = 0;  // bytes handed to sync_file_range
  static constexpr uint64_t kWritebackChunk = 256 << 10;
  std::atomic<uint64_t> next_offset_{0};  // written by the writer thread only
  uint64_t last_index_position_ = 0;
  std::chrono::steady_clock::time_point last_sync_;

  // The append queue.
  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  bool sync_failed_ = false;  // the syncer asks the writer to recover
  std::thread writer_;

  // The syncer thread and what the writer hands it (group and each durability).
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;    // the syncer has work, or must stop
  std::condition_variable synced_cv_;  // a sync finished
  std::vector<Pending> sync_queue_;    // written, waiting for fdatasync
  uint64_t sync_queue_records_ = 0;
  uint64_t sync_target_size_ = 0;  // the active segment's size after sync_queue_
  int sync_fd_ = -1;
  std::shared_ptr<Segment> sync_segment_;
  bool syncing_ = false;
  bool drain_ = false;
  bool stop_syncer_ = false;
  Status sync_error_;
  std::thread syncer_;

  std::mutex compaction_mu_;  // one compaction at a time
  std::mutex compaction_stop_mu_;
  std::condition_variable compaction_stop_cv_;
  bool compaction_stopping_ = false;
  std::thread compactor_;
};

}  // namespace hutong::journal
