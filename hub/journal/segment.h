// One segment of the journal: a file of frames after a 32-byte header, named by
// the offset of its first record, with a sparse offset -> position index kept in
// memory and, once the segment is sealed, in a side file (.idx).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "format.h"

namespace hutong::journal {

inline constexpr uint64_t kIndexInterval = 4096;  // bytes of log between index entries

struct IndexEntry {
  uint64_t offset = 0;    // base offset of the frame
  uint64_t position = 0;  // byte position of the frame header in the file
};

std::string segment_file_name(uint64_t base_offset, std::string_view extension);

// What a scan over frames found.
struct ScanResult {
  uint64_t valid_end = 0;   // byte position just past the last valid frame
  uint64_t end_offset = 0;  // one past the last record's offset seen (or the seal's next offset)
  uint64_t records = 0;
  uint64_t frames = 0;
  bool ends_with_seal = false;
  Status problem;                 // why the scan stopped before the end of the file, if it did
  std::vector<IndexEntry> index;  // built along the way
};

// Scans the frames of the file `fd` from byte `from` (a frame boundary whose
// first offset is `from_offset`) to `file_size`, verifying every CRC, calling
// `on_frame` (if set) for each valid frame. Memory: one frame at a time.
ScanResult scan_frames(
    int fd, std::string_view path, uint64_t from, uint64_t from_offset, uint64_t file_size,
    const std::function<void(const FrameView&, uint64_t position)>& on_frame = {});

class Segment {
 public:
  Segment(uint64_t base_offset, std::string path, int read_fd);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  uint64_t base_offset() const { return base_offset_; }
  const std::string& path() const { return path_; }
  int read_fd() const { return read_fd_; }

  // Bytes of the file readers may read: the durable part of the active segment,
  // the whole file of a sealed one.
  uint64_t readable_size() const { return readable_size_.load(std::memory_order_acquire); }
  void set_readable_size(uint64_t size) { readable_size_.store(size, std::memory_order_release); }
  bool sealed() const { return sealed_.load(std::memory_order_acquire); }
  void mark_sealed(uint64_t end_offset, uint64_t size);
  uint64_t end_offset() const { return end_offset_.load(std::memory_order_acquire); }

  // The position of the last indexed frame starting at or before `offset`.
  IndexEntry seek(uint64_t offset) const;
  void add_index_entry(IndexEntry entry);
  void set_index(std::vector<IndexEntry> index);
  std::vector<IndexEntry> index() const;

 private:
  const uint64_t base_offset_;
  const std::string path_;
  const int read_fd_;
  std::atomic<uint64_t> readable_size_{0};
  std::atomic<bool> sealed_{false};
  std::atomic<uint64_t> end_offset_{0};
  mutable std::mutex index_mu_;
  std::vector<IndexEntry> index_;
};

// The .idx side file of a sealed segment.
Status write_index_file(const std::string& path, const std::vector<IndexEntry>& index);
// The index, or an error saying why it cannot be trusted (truncated, bad
// checksum, entries out of order or beyond `log_size`).
Result<std::vector<IndexEntry>> read_index_file(const std::string& path, uint64_t log_size);

}  // namespace hutong::journal
