#include "journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <future>

namespace hutong::journal {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

uint64_t file_size(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

bool read_at(int fd, std::string& out, size_t size, uint64_t position) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(position + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Base offsets of the segment files in `dir`, sorted; also removes leftovers of
// interrupted compactions and index writes.
Result<std::vector<uint64_t>> list_segments(const std::string& dir, bool read_only,
                                            std::vector<std::string>& warnings) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status(kJournalIo, "cannot list " + dir + ": " + errno_text(errno));
  std::vector<uint64_t> bases;
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    bool leftover = name.ends_with(".compacting") || name.ends_with(".tmp");
    if (leftover && !read_only) {
      ::unlink((dir + "/" + name).c_str());
      warnings.push_back(dir + "/" + name + ": removed the leftover of an interrupted operation");
      continue;
    }
    if (name.size() != 24 || !name.ends_with(".log")) continue;
    if (!std::all_of(name.begin(), name.begin() + 20,
                     [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    bases.push_back(std::stoull(name.substr(0, 20)));
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());
  return bases;
}

}  // namespace

Journal::Journal(JournalOptions options) : options_(std::move(options)) {
  if (!options_.file_ops) options_.file_ops = FileOps::system();
}

Result<std::unique_ptr<Journal>> Journal::open(JournalOptions options) {
  if (options.directory.empty()) return Status(kJournalIo, "no journal directory configured");
  std::unique_ptr<Journal> journal(new Journal(std::move(options)));
  Status status = journal->recover();
  if (!status) return status;
  for (const std::string& warning : journal->recovery_.warnings)
    spdlog::warn("journal: {}", warning);
  if (!journal->options_.read_only) {
    journal->last_sync_ = std::chrono::steady_clock::now();
    journal->writer_ = std::thread([j = journal.get()] { j->writer_loop(); });
    if (journal->options_.durability != Durability::kNone) {
      journal->syncer_ = std::thread([j = journal.get()] { j->syncer_loop(); });
    }
  }
  return journal;
}

Journal::~Journal() {
  {
    std::lock_guard lock(compaction_stop_mu_);
    compaction_stopping_ = true;
  }
  compaction_stop_cv_.notify_all();
  if (compactor_.joinable()) compactor_.join();
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();  // it drains the syncer before it ends
  {
    std::lock_guard lock(sync_mu_);
    stop_syncer_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (active_fd_ >= 0) ::close(active_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status Journal::recover() {
  const std::string& dir = options_.directory;
  if (!options_.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return Status(kJournalIo, "cannot create the journal directory " + dir + ": " + ec.message());
  }
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0)
    return Status(kJournalIo,
                  "cannot open the journal directory " + dir + ": " + errno_text(errno));

  if (!options_.read_only) {
    std::string lock_path = dir + "/LOCK";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
      return Status(kJournalIo, "cannot create " + lock_path + ": " + errno_text(errno) +
                                    " (is the directory writable?)");
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      std::string holder;
      read_at(lock_fd_, holder, std::min<uint64_t>(file_size(lock_fd_), 32), 0);
      return Status(kJournalLocked, "the journal in " + dir + " is in use by another process" +
                                        (holder.empty() ? "" : " (pid " + holder + ")") +
                                        "; only one hub may open a journal directory");
    }
    std::string pid = std::to_string(::getpid());
    if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
      return Status(kJournalIo, "cannot write " + lock_path + ": " + errno_text(errno));
    }
  }

  Result<std::vector<uint64_t>> bases = list_segments(dir, options_.read_only, recovery_.warnings);
  if (!bases) return bases.status();

  if (bases->empty()) {
    if (options_.read_only) return Status(kJournalIo, dir + " holds no journal segments");
    Status created = open_active_segment(0, true);
    if (!created) return created;
    recovery_.segments = 1;
    return Status::ok();
  }

  for (size_t i = 0; i < bases->size(); ++i) {
    uint64_t base = (*bases)[i];
    bool last = i + 1 == bases->size();
    std::string path = dir + "/" + segment_file_name(base, ".log");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status(kJournalIo, "cannot open " + path + ": " + errno_text(errno));
    auto segment = std::make_shared<Segment>(base, path, fd);
    uint64_t size = file_size(fd);

    if (last && size < kSegmentHeaderSize && !options_.read_only) {
      // Created but never written: a crash while rolling to a new segment.
      recovery_.warnings.push_back(path + ": the segment header was incomplete (" +
                                   std::to_string(size) + " bytes); rewritten");
      segment.reset();
      ::unlink(path.c_str());
      Status created = open_active_segment(base, true);
      if (!created) return created;
      next_offset_ = base;
      durable_end_ = base;
      break;
    }
    std::string header_bytes;
    read_at(fd, header_bytes, std::min<uint64_t>(size, kSegmentHeaderSize), 0);
    Result<SegmentHeader> header = decode_segment_header(header_bytes, path);
    if (!header) return header.status();
    if (header->base_offset != base) {
      return Status(kJournalCorrupt, path + ": its header says base offset " +
                                         std::to_string(header->base_offset) + ", its name says " +
                                         std::to_string(base));
    }
    if (!segments_.empty()) {
      uint64_t expected = segments_.back()->end_offset();
      if (expected != base) {
        if (options_.read_only) {
          recovery_.warnings.push_back("records " + std::to_string(expected) + " to " +
                                       std::to_string(base) + " are missing before " + path);
        } else {
          return Status(kJournalContinuity,
                        segments_.back()->path() + " is sealed at offset " +
                            std::to_string(expected) + " but the next segment, " + path +
                            ", starts at " + std::to_string(base) +
                            ": records are missing. Restore the journal directory from a backup; "
                            "the hub will not start on a journal with a gap");
        }
      }
    }

    if (!last) {
      // A sealed segment: trust its index if it is sound, and check its seal.
      std::string idx_path = dir + "/" + segment_file_name(base, ".idx");
      Result<std::vector<IndexEntry>> index = read_index_file(idx_path, size);
      IndexEntry from{base, kSegmentHeaderSize};
      if (index && !index->empty()) {
        from = index->back();
      } else if (!index) {
        recovery_.warnings.push_back(index.status().message() + "; rebuilt from the segment");
      }
      ScanResult tail = scan_frames(fd, path, from.position, from.offset, size);
      bool index_sound =
          tail.problem.is_ok() && !tail.index.empty() && tail.index.front().offset == from.offset;
      if (index && !index->empty() && !index_sound) {
        // The index does not match the log (e.g. a crash between a compaction's
        // rename and its index write): rebuild it from the log.
        recovery_.warnings.push_back(idx_path +
                                     " does not match its segment; rebuilt from the segment");
        index = Status(kJournalCorrupt, "stale index");
        tail = scan_frames(fd, path, kSegmentHeaderSize, base, size);
      }
      if ((!tail.problem.is_ok() || !tail.ends_with_seal) && options_.read_only) {
        // Inspection goes on, so that `hutong journal verify` can list every damaged place.
        ScanResult full = scan_frames(fd, path, kSegmentHeaderSize, base, size);
        recovery_.warnings.push_back(path + " is sealed but damaged: the hub will refuse to start");
        segment->set_index(full.index);
        segment->mark_sealed(full.end_offset, size);
        segments_.push_back(segment);
        continue;
      }
      if (!tail.problem.is_ok() || !tail.ends_with_seal) {
        return Status(kJournalContinuity,
                      path + " is a sealed segment but does not end with its seal frame (" +
                          (tail.problem.is_ok() ? std::string("it ends after offset ") +
                                                      std::to_string(tail.end_offset)
                                                : tail.problem.message()) +
                          "): it was truncated or damaged, so records may be missing. Restore "
                          "it from a backup; `hutong journal verify` lists every damaged place");
      }
      if (!index || index->empty()) {
        ScanResult full = from.position == kSegmentHeaderSize
                              ? std::move(tail)
                              : scan_frames(fd, path, kSegmentHeaderSize, base, size);
        if (!full.problem.is_ok()) return full.problem;
        segment->set_index(full.index);
        if (!options_.read_only) {
          Status written = write_index_file(idx_path, full.index);
          if (!written) recovery_.warnings.push_back(written.message());
        }
        segment->mark_sealed(full.end_offset, size);
        segments_.push_back(segment);
        continue;
      } else {
        segment->set_index(std::move(*index));
      }
      segment->mark_sealed(tail.end_offset, size);
      segments_.push_back(segment);
      continue;
    }

    // The active segment: scan it all; a torn or corrupt tail is cut off.
    ScanResult scan = scan_frames(fd, path, kSegmentHeaderSize, base, size);
    segment->set_index(scan.index);
    if (!scan.problem.is_ok()) {
      std::string what = scan.problem.message() + "; " + std::to_string(size - scan.valid_end) +
                         " bytes after offset " + std::to_string(scan.end_offset) +
                         " were never acknowledged as durable";
      if (options_.read_only) {
        recovery_.warnings.push_back(what + " (a hub opening the journal will truncate them)");
      } else {
        if (::truncate(path.c_str(), static_cast<off_t>(scan.valid_end)) != 0) {
          return Status(kJournalIo, "cannot truncate " + path + ": " + errno_text(errno));
        }
        recovery_.warnings.push_back(what + "; truncated at byte " +
                                     std::to_string(scan.valid_end));
      }
      size = scan.valid_end;
    }
    segments_.push_back(segment);
    next_offset_ = scan.end_offset;
    durable_end_ = scan.end_offset;
    if (scan.ends_with_seal) {
      segment->mark_sealed(scan.end_offset, size);
      if (!options_.read_only) {
        Status written = write_index_file(dir + "/" + segment_file_name(base, ".idx"), scan.index);
        if (!written) recovery_.warnings.push_back(written.message());
        Status created = open_active_segment(scan.end_offset, true);
        if (!created) return created;
      }
    } else {
      segment->set_readable_size(size);
      if (!options_.read_only) {
        Status opened = open_active_segment(base, false);
        if (!opened) return opened;
        written_size_ = durable_size_ = writeback_started_ = size;
        last_index_position_ = scan.index.empty() ? 0 : scan.index.back().position;
      }
    }
  }
  recovery_.segments = segments_.size();
  recovery_.next_offset = next_offset_;
  return Status::ok();
}

// Opens the active segment for appending; `create` makes a new one (header,
// fdatasync, directory fsync) at `base_offset`.
Status Journal::open_active_segment(uint64_t base_offset, bool create) {
  std::string path = options_.directory + "/" + segment_file_name(base_offset, ".log");
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    int err = errno;
    return Status(
        err == ENOSPC ? kJournalDiskFull : kJournalIo,
        "cannot " + std::string(create ? "create " : "open ") + path + ": " + errno_text(err));
  }
  if (create) {
    std::string header = encode_segment_header(base_offset);
    iovec iov{header.data(), header.size()};
    if (options_.file_ops->writev(fd, &iov, 1) != static_cast<ssize_t>(header.size()) ||
        options_.file_ops->fdatasync(fd) != 0 || ::fsync(dir_fd_) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status(err == ENOSPC ? kJournalDiskFull : kJournalIo,
                    "cannot write the header of " + path + ": " + errno_text(err));
    }
    int read_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd < 0) {
      ::close(fd);
      return Status(kJournalIo, "cannot open " + path + ": " + errno_text(errno));
    }
    auto segment = std::make_shared<Segment>(base_offset, path, read_fd);
    segment->set_readable_size(kSegmentHeaderSize);
    {
      std::lock_guard lock(mu_);
      segments_.push_back(segment);
    }
    written_size_ = durable_size_ = writeback_started_ = kSegmentHeaderSize;
    last_index_position_ = 0;
    next_offset_ = base_offset;
  } else {
    ::lseek(fd, 0, SEEK_END);
  }
  active_fd_ = fd;
  return Status::ok();
}

// Seals the active segment (seal frame, fdatasync, index file) and starts the
// next. The caller has made everything written so far durable.
Status Journal::roll_segment() {
  std::shared_ptr<Segment> active;
  {
    std::lock_guard lock(mu_);
    active = segments_.back();
  }
  uint64_t next = next_offset_;
  std::string seal = seal_frame(next, now_micros());
  iovec iov{seal.data(), seal.size()};
  if (options_.file_ops->writev(active_fd_, &iov, 1) != static_cast<ssize_t>(seal.size()) ||
      options_.file_ops->fdatasync(active_fd_) != 0) {
    int err = errno;
    if (options_.file_ops->ftruncate(active_fd_, static_cast<off_t>(durable_size_)) != 0) {
      enter_failed(
          Status(kJournalIo, active->path() + ": cannot undo a failed seal: " + errno_text(errno)));
    }
    return Status(err == ENOSPC ? kJournalDiskFull : kJournalIo,
                  "cannot seal " + active->path() + ": " + errno_text(err));
  }
  written_size_ += seal.size();
  {
    std::lock_guard lock(sync_mu_);
    durable_size_ = written_size_;
    sync_fd_ = -1;
  }
  ::close(active_fd_);
  active_fd_ = -1;
  Status indexed = write_index_file(
      options_.directory + "/" + segment_file_name(active->base_offset(), ".idx"), active->index());
  if (!indexed) spdlog::warn("journal: {} (it is rebuilt at the next start)", indexed.message());
  {
    std::lock_guard lock(mu_);
    active->mark_sealed(next, durable_size_);
  }
  data_cv_.notify_all();
  return open_active_segment(next, true);
}

void Journal::append_async(std::span<const RecordIn> records, AppendCallback done) {
  if (options_.read_only) {
    done(Status(kJournalClosed, "the journal in " + options_.directory + " is open read-only"));
    return;
  }
  if (records.empty()) {
    done(AppendResult{next_offset(), 0});
    return;
  }
  size_t expected = 0;
  for (const RecordIn& record : records) {
    expected +=
        record.topic.size() + record.key.size() + record.value.size() + 16;  // + varints, op
  }
  FrameBuilder builder(expected);
  uint32_t delta = 0;
  for (const RecordIn& record : records)
    builder.add(delta++, record.op, record.topic, record.key, record.value);
  Pending pending;
  pending.count = builder.record_count();
  pending.frame = std::move(builder).finish(0, now_micros());
  pending.done = std::move(done);
  if (pending.frame.bytes.size() - kFrameHeaderSize > kMaxFrameBodySize) {
    pending.done(Status(kJournalTooLarge, "an append of " +
                                              std::to_string(pending.frame.bytes.size()) +
                                              " bytes exceeds the frame limit of 256 MiB"));
    return;
  }
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) {
      pending.done(Status(kJournalClosed, "the journal is closing"));
      return;
    }
    queue_.push_back(std::move(pending));
  }
  queue_cv_.notify_one();
}

Result<AppendResult> Journal::append(std::span<const RecordIn> records) {
  std::promise<Result<AppendResult>> promise;
  std::future<Result<AppendResult>> future = promise.get_future();
  append_async(records,
               [&promise](Result<AppendResult> result) { promise.set_value(std::move(result)); });
  return future.get();
}

void Journal::writer_loop() {
  std::vector<Pending> group;
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || sync_failed_; });
      stopping = stopping_;
      group.swap(queue_);
      sync_failed_ = false;
    }
    recover_from_sync_error();
    if (!group.empty()) {
      write_group(group);
      group.clear();
    }
    if (stopping && group.empty()) {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) break;
    }
  }
  drain_syncer();
  recover_from_sync_error();
}

// The syncer: makes what the writer wrote durable, one fdatasync per
// sync_interval or sync_records (at once in `each` mode), while the writer goes
// on writing; then acknowledges the appends the sync covered.
void Journal::syncer_loop() {
  std::unique_lock lock(sync_mu_);
  for (;;) {
    if (sync_queue_.empty() || !sync_error_.is_ok()) {
      if (stop_syncer_) return;
      sync_cv_.wait(lock);
      continue;
    }
    auto due = last_sync_ + options_.sync_interval;
    bool now_due = options_.durability == Durability::kEach || drain_ || stop_syncer_ ||
                   sync_queue_records_ >= options_.sync_records ||
                   std::chrono::steady_clock::now() >= due;
    if (!now_due) {
      sync_cv_.wait_until(lock, due);
      continue;
    }
    std::vector<Pending> batch;
    batch.swap(sync_queue_);
    sync_queue_records_ = 0;
    uint64_t target = sync_target_size_;
    int fd = sync_fd_;
    std::shared_ptr<Segment> segment = sync_segment_;
    syncing_ = true;
    lock.unlock();

    // The interval runs from the start of one sync to the start of the next.
    last_sync_ = std::chrono::steady_clock::now();
    int rc = options_.file_ops->fdatasync(fd);
    int err = errno;
    if (rc == 0) {
      {
        std::lock_guard data_lock(mu_);
        segment->set_readable_size(target);
        durable_end_ = batch.back().first_offset + batch.back().count;
      }
      data_cv_.notify_all();
      for (Pending& p : batch)
        p.done(AppendResult{p.first_offset, p.count});
      lock.lock();
      durable_size_ = target;
    } else {
      // After a failed fdatasync the written pages' fate is unknown: the writer
      // cuts them off; these appends fail so that their callers retry.
      Status status(err == ENOSPC ? kJournalDiskFull : kJournalIo,
                    segment->path() + ": fdatasync failed: " + errno_text(err) +
                        "; the unsynced appends were discarded, retry later");
      // The error is recorded before any caller hears of the failure, so that
      // its next append finds the writer cutting the tail off first; and the
      // writer is woken, as appends written after this batch wait on it.
      lock.lock();
      sync_error_ = status;
      syncing_ = false;
      synced_cv_.notify_all();
      lock.unlock();
      {
        std::lock_guard queue_lock(queue_mu_);
        sync_failed_ = true;
      }
      queue_cv_.notify_one();
      fail_all(batch, status);
      lock.lock();
      continue;
    }
    syncing_ = false;
    synced_cv_.notify_all();
  }
}

void Journal::hand_to_syncer(std::vector<Pending>& written) {
  {
    std::lock_guard lock(sync_mu_);
    for (Pending& p : written) {
      sync_queue_records_ += p.count;
      sync_queue_.push_back(std::move(p));
    }
    sync_target_size_ = written_size_;
    sync_fd_ = active_fd_;
    std::lock_guard data_lock(mu_);
    sync_segment_ = segments_.back();
  }
  written.clear();
  sync_cv_.notify_one();
}

// Waits until everything handed to the syncer is synced (or failed).
void Journal::drain_syncer() {
  std::unique_lock lock(sync_mu_);
  drain_ = true;
  sync_cv_.notify_one();
  synced_cv_.wait(lock, [&] { return (sync_queue_.empty() || !sync_error_.is_ok()) && !syncing_; });
  drain_ = false;
}

// After a failed fdatasync: drop what was written since the last good sync,
// fail the appends waiting for it, and carry on from the durable end.
void Journal::recover_from_sync_error() {
  std::vector<Pending> abandoned;
  Status status;
  uint64_t durable_size;
  {
    std::unique_lock lock(sync_mu_);
    if (sync_error_.is_ok()) return;
    synced_cv_.wait(lock, [&] { return !syncing_; });
    abandoned.swap(sync_queue_);
    sync_queue_records_ = 0;
    status = sync_error_;
    sync_error_ = Status();
    durable_size = durable_size_;
  }
  fail_all(abandoned, status);
  std::shared_ptr<Segment> active;
  {
    std::lock_guard lock(mu_);
    active = segments_.back();
    next_offset_ = durable_end_;
  }
  if (options_.file_ops->ftruncate(active_fd_, static_cast<off_t>(durable_size)) != 0 ||
      options_.file_ops->fdatasync(active_fd_) != 0) {
    enter_failed(Status(kJournalIo, active->path() + ": cannot recover from a failed fdatasync: " +
                                        errno_text(errno)));
  }
  ::lseek(active_fd_, static_cast<off_t>(durable_size), SEEK_SET);
  written_size_ = writeback_started_ = durable_size;
  std::vector<IndexEntry> kept = active->index();
  std::erase_if(kept, [&](const IndexEntry& e) { return e.position >= durable_size; });
  last_index_position_ = kept.empty() ? 0 : kept.back().position;
  active->set_index(std::move(kept));
}

void Journal::fail_all(std::vector<Pending>& pendings, const Status& status) {
  for (Pending& p : pendings)
    p.done(status);
  pendings.clear();
}

void Journal::enter_failed(Status status) {
  spdlog::error("journal: {}; appends are refused until the hub restarts", status.message());
  std::lock_guard lock(mu_);
  if (failure_.is_ok()) failure_ = std::move(status);
  data_cv_.notify_all();
}

Status Journal::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void Journal::write_group(std::vector<Pending>& group) {
  std::vector<Pending> written;
  Status failed = failure();
  if (!failed.is_ok()) {
    fail_all(group, Status(kJournalFailed, failed.message()));
    return;
  }
  size_t i = 0;
  while (i < group.size()) {
    if (active_fd_ < 0) {  // a previous roll could not create the next segment
      Status created = open_active_segment(next_offset_, true);
      if (!created) {
        std::vector<Pending> rest(std::make_move_iterator(group.begin() + static_cast<long>(i)),
                                  std::make_move_iterator(group.end()));
        fail_all(rest, created);
        return;
      }
    }
    // Roll before a frame that would overflow a non-empty segment.
    if (written_size_ > kSegmentHeaderSize &&
        written_size_ + group[i].frame.bytes.size() > options_.segment_bytes) {
      if (options_.durability == Durability::kNone) {
        complete_unsynced(written);
      } else {
        hand_to_syncer(written);
        drain_syncer();
        recover_from_sync_error();
      }
      Status rolled =
          failure().is_ok() ? roll_segment() : Status(kJournalFailed, failure().message());
      if (!rolled) {
        std::vector<Pending> rest(std::make_move_iterator(group.begin() + static_cast<long>(i)),
                                  std::make_move_iterator(group.end()));
        fail_all(rest, rolled);
        return;
      }
    }
    // Frames up to the segment limit go out in one writev.
    std::vector<iovec> iov;
    size_t j = i;
    uint64_t bytes = 0;
    uint64_t offset = next_offset_;
    std::shared_ptr<Segment> active;
    {
      std::lock_guard lock(mu_);
      active = segments_.back();
    }
    while (
        j < group.size() && iov.size() < IOV_MAX &&
        (j == i || written_size_ + bytes + group[j].frame.bytes.size() <= options_.segment_bytes)) {
      Pending& p = group[j];
      patch_frame(p.frame, offset);
      p.first_offset = offset;
      uint64_t position = written_size_ + bytes;
      if (last_index_position_ == 0 || position - last_index_position_ >= kIndexInterval) {
        active->add_index_entry({offset, position});
        last_index_position_ = position;
      }
      offset += p.count;
      bytes += p.frame.bytes.size();
      iov.push_back({p.frame.bytes.data(), p.frame.bytes.size()});
      ++j;
    }
    ssize_t n = options_.file_ops->writev(active_fd_, iov.data(), static_cast<int>(iov.size()));
    if (n != static_cast<ssize_t>(bytes)) {
      int err = n < 0 ? errno : ENOSPC;  // a short write means the disk filled up
      Status status(err == ENOSPC ? kJournalDiskFull : kJournalIo,
                    active->path() + ": cannot append " + std::to_string(bytes) + " bytes: " +
                        errno_text(err) + "; nothing of this append was kept, retry later");
      if (options_.file_ops->ftruncate(active_fd_, static_cast<off_t>(written_size_)) != 0) {
        enter_failed(Status(
            kJournalIo, active->path() + ": cannot undo a partial append: " + errno_text(errno)));
      }
      ::lseek(active_fd_, static_cast<off_t>(written_size_), SEEK_SET);
      active->set_index([&] {
        std::vector<IndexEntry> kept = active->index();
        std::erase_if(kept, [&](const IndexEntry& e) { return e.position >= written_size_; });
        return kept;
      }());
      last_index_position_ = active->index().empty() ? 0 : active->index().back().position;
      std::vector<Pending> rest(std::make_move_iterator(group.begin() + static_cast<long>(i)),
                                std::make_move_iterator(group.end()));
      fail_all(rest, status);
      return;
    }
    written_size_ += bytes;
    next_offset_ = offset;
    // Start writeback of what is written now, so that the next fdatasync has
    // little left to wait for (the disk works while we keep appending).
    if (options_.durability == Durability::kGroup &&
        written_size_ - writeback_started_ >= kWritebackChunk) {
      ::sync_file_range(active_fd_, static_cast<off_t>(writeback_started_),
                        static_cast<off_t>(written_size_ - writeback_started_),
                        SYNC_FILE_RANGE_WRITE);
      writeback_started_ = written_size_;
    }
    for (size_t k = i; k < j; ++k)
      written.push_back(std::move(group[k]));
    i = j;
    if (options_.durability == Durability::kNone) {
      complete_unsynced(written);
    } else {
      hand_to_syncer(written);
    }
  }
}

// `none` durability: written is as durable as it gets.
void Journal::complete_unsynced(std::vector<Pending>& written) {
  if (written.empty()) return;
  std::shared_ptr<Segment> active;
  {
    std::lock_guard lock(mu_);
    active = segments_.back();
    active->set_readable_size(written_size_);
    durable_end_ = next_offset_;
  }
  durable_size_ = written_size_;
  data_cv_.notify_all();
  for (Pending& p : written)
    p.done(AppendResult{p.first_offset, p.count});
  written.clear();
}

uint64_t Journal::next_offset() const {
  return next_offset_.load();
}

uint64_t Journal::durable_end() const {
  std::lock_guard lock(mu_);
  return durable_end_;
}

std::vector<Journal::SegmentInfo> Journal::segments() const {
  std::vector<std::shared_ptr<Segment>> copy;
  uint64_t end;
  {
    std::lock_guard lock(mu_);
    copy = segments_;
    end = durable_end_;
  }
  std::vector<SegmentInfo> out;
  for (const auto& s : copy) {
    out.push_back({s->base_offset(), s->sealed() ? s->end_offset() : end, s->readable_size(),
                   s->sealed(), s->path()});
  }
  return out;
}

std::shared_ptr<Segment> Journal::segment_for(uint64_t offset) const {
  std::lock_guard lock(mu_);
  auto it = std::upper_bound(
      segments_.begin(), segments_.end(), offset,
      [](uint64_t o, const std::shared_ptr<Segment>& s) { return o < s->base_offset(); });
  return it == segments_.begin() ? segments_.front() : *std::prev(it);
}

std::shared_ptr<Segment> Journal::segment_at(uint64_t base_offset) const {
  std::lock_guard lock(mu_);
  for (const auto& s : segments_) {
    if (s->base_offset() == base_offset) return s;
  }
  return nullptr;
}

uint64_t Journal::wait_durable_beyond(uint64_t beyond, std::chrono::milliseconds wait) const {
  std::unique_lock lock(mu_);
  data_cv_.wait_for(lock, wait, [&] { return durable_end_ > beyond || !failure_.is_ok(); });
  return durable_end_;
}

bool Journal::wait_for_data(const Segment* segment, uint64_t position,
                            std::chrono::milliseconds wait) const {
  std::unique_lock lock(mu_);
  return data_cv_.wait_for(lock, wait, [&] {
    return segment->readable_size() > position || segment->sealed() || !failure_.is_ok();
  });
}

std::vector<Status> Journal::verify() const {
  std::vector<Status> problems;
  std::vector<std::shared_ptr<Segment>> copy;
  {
    std::lock_guard lock(mu_);
    copy = segments_;
  }
  for (size_t i = 0; i < copy.size(); ++i) {
    const Segment& s = *copy[i];
    ScanResult scan = scan_frames(s.read_fd(), s.path(), kSegmentHeaderSize, s.base_offset(),
                                  s.sealed() ? file_size(s.read_fd()) : s.readable_size());
    if (!scan.problem.is_ok()) problems.push_back(scan.problem);
    if (i + 1 < copy.size()) {
      if (!scan.ends_with_seal && scan.problem.is_ok()) {
        problems.push_back(Status(kJournalContinuity,
                                  s.path() + " is not the last segment but has no seal frame"));
      } else if (scan.ends_with_seal && scan.end_offset != copy[i + 1]->base_offset()) {
        problems.push_back(Status(
            kJournalContinuity,
            s.path() + " is sealed at offset " + std::to_string(scan.end_offset) +
                " but the next segment starts at " + std::to_string(copy[i + 1]->base_offset())));
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------- readers

struct JournalReader::Snapshot {
  std::unordered_map<std::string, uint64_t> latest;  // topic '\0' key -> offset
  uint64_t end = 0;                                  // records below this come from the snapshot
};

JournalReader::JournalReader(const Journal* journal, uint64_t from,
                             std::set<std::string, std::less<>> topics,
                             std::shared_ptr<const Snapshot> snapshot)
    : journal_(journal),
      next_offset_(from),
      topics_(std::move(topics)),
      snapshot_(std::move(snapshot)) {
  segment_ = journal_->segment_for(from);
  position_ = segment_->seek(from).position;
}

JournalReader::~JournalReader() = default;

std::unique_ptr<JournalReader> Journal::read_from(uint64_t offset,
                                                  std::set<std::string, std::less<>> topics) const {
  return std::unique_ptr<JournalReader>(
      new JournalReader(this, offset, std::move(topics), nullptr));
}

Result<std::unique_ptr<JournalReader>> Journal::snapshot_then_live(
    std::set<std::string, std::less<>> topics) const {
  auto snapshot = std::make_shared<JournalReader::Snapshot>();
  snapshot->end = durable_end();
  std::unique_ptr<JournalReader> scan = read_from(0, topics);
  while (scan->position() < snapshot->end) {
    Result<std::optional<RecordView>> record = scan->next();
    if (!record) return record.status();
    if (!*record) break;
    if ((*record)->offset >= snapshot->end) break;
    snapshot->latest[composite_key((*record)->topic, (*record)->key)] = (*record)->offset;
  }
  return std::unique_ptr<JournalReader>(
      new JournalReader(this, 0, std::move(topics), std::move(snapshot)));
}

bool JournalReader::wanted(const RecordView& record) const {
  if (!topics_.empty() && topics_.find(record.topic) == topics_.end()) return false;
  if (snapshot_ && record.offset < snapshot_->end) {
    if (record.op == Op::kDelete) return false;
    auto it = snapshot_->latest.find(composite_key(record.topic, record.key));
    return it != snapshot_->latest.end() && it->second == record.offset;
  }
  return true;
}

// Makes bytes [position, position + size) of the segment available in buffer_,
// reading ahead in large chunks (never past `limit`, the readable size).
bool JournalReader::fill(uint64_t position, size_t size, uint64_t limit) {
  if (position >= buffer_start_ && position + size <= buffer_start_ + buffer_.size()) return true;
  size_t want = std::max<size_t>(size, kReadAhead);
  want = static_cast<size_t>(std::min<uint64_t>(want, limit - position));
  if (want < size) return false;
  if (!read_at(segment_->read_fd(), buffer_, want, position)) return false;
  buffer_start_ = position;
  return true;
}

Status JournalReader::load_frame(bool& progressed) {
  progressed = false;
  uint64_t limit = segment_->readable_size();
  if (position_ + kFrameHeaderSize > limit) return Status::ok();
  if (!fill(position_, kFrameHeaderSize, limit)) {
    return Status(kJournalIo,
                  segment_->path() + ": cannot read at byte " + std::to_string(position_));
  }
  FrameHeader header = read_frame_header(buffer_.data() + (position_ - buffer_start_));
  if (header.body_length < kFrameFixedBodySize || header.body_length > kMaxFrameBodySize ||
      position_ + kFrameHeaderSize + header.body_length > limit) {
    return Status(kJournalCorrupt, segment_->path() + ": a frame at byte " +
                                       std::to_string(position_) +
                                       " declares an impossible length");
  }
  if (!fill(position_, kFrameHeaderSize + header.body_length, limit)) {
    return Status(kJournalIo,
                  segment_->path() + ": cannot read at byte " + std::to_string(position_));
  }
  std::string_view body(buffer_.data() + (position_ - buffer_start_) + kFrameHeaderSize,
                        header.body_length);
  if (!frame_crc_matches(header, body)) {
    return Status(kJournalCorrupt,
                  segment_->path() + ": the frame at byte " + std::to_string(position_) +
                      " fails its checksum (offset " + std::to_string(next_offset_) +
                      " onwards); `hutong journal verify` reports every damaged place");
  }
  Result<FrameView> frame = parse_frame_body(body);
  if (!frame) {
    return Status(kJournalCorrupt, segment_->path() + " at byte " + std::to_string(position_) +
                                       ": " + frame.status().message());
  }
  position_ += kFrameHeaderSize + header.body_length;
  frame_ = *frame;
  cursor_.emplace(*frame_);
  progressed = true;
  return Status::ok();
}

Result<std::optional<RecordView>> JournalReader::next(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (cursor_) {
      RecordView record;
      Status status;
      while (cursor_->next(record, status)) {
        if (record.offset < next_offset_) continue;
        next_offset_ = record.offset + 1;
        if (wanted(record)) return std::optional<RecordView>(record);
      }
      if (!status.is_ok()) return status;
      if (frame_->is_seal()) {
        uint64_t next_base = frame_->base_offset;
        std::shared_ptr<Segment> next = journal_->segment_at(next_base);
        if (!next) {
          // The next segment is being created; come back shortly.
          if (std::chrono::steady_clock::now() >= deadline) return std::optional<RecordView>();
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        segment_ = std::move(next);
        position_ = kSegmentHeaderSize;
        buffer_.clear();
        buffer_start_ = 0;
        next_offset_ = std::max(next_offset_, next_base);
      } else {
        next_offset_ = std::max(next_offset_, frame_->end_offset());
      }
      cursor_.reset();
      frame_.reset();
    }
    bool progressed = false;
    Status status = load_frame(progressed);
    if (!status.is_ok()) return status;
    if (progressed) continue;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::optional<RecordView>();
    journal_->wait_for_data(segment_.get(), position_,
                            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                std::chrono::milliseconds(1));
  }
}

void Journal::start_background_compaction(RetentionPolicy policy,
                                          std::chrono::milliseconds interval) {
  if (compactor_.joinable() || options_.read_only) return;
  compactor_ = std::thread(
      [this, policy = std::move(policy), interval] { compaction_loop(policy, interval); });
}

void Journal::compaction_loop(RetentionPolicy policy, std::chrono::milliseconds interval) {
  for (;;) {
    {
      std::unique_lock lock(compaction_stop_mu_);
      if (compaction_stop_cv_.wait_for(lock, interval, [&] { return compaction_stopping_; }))
        return;
    }
    Result<CompactionReport> report = compact(policy);
    if (!report) spdlog::warn("journal: compaction failed: {}", report.status().message());
  }
}

}  // namespace hutong::journal
