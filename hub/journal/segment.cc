#include "segment.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crc32c.h"

namespace hutong::journal {
namespace {

constexpr std::string_view kIndexMagic{"HTJLIDX\0", 8};
constexpr size_t kIndexHeaderSize = 16;  // magic, u32 version, u32 count

bool read_exact(int fd, char* buf, size_t size, uint64_t position) {
  while (size > 0) {
    ssize_t n = ::pread(fd, buf, size, static_cast<off_t>(position));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    size -= static_cast<size_t>(n);
    position += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

std::string segment_file_name(uint64_t base_offset, std::string_view extension) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(base_offset));
  return std::string(name) + std::string(extension);
}

ScanResult scan_frames(int fd, std::string_view path, uint64_t from, uint64_t from_offset,
                       uint64_t file_size,
                       const std::function<void(const FrameView&, uint64_t)>& on_frame) {
  ScanResult result;
  result.valid_end = from;
  result.end_offset = from_offset;
  std::string buf;
  uint64_t position = from;
  uint64_t last_indexed = 0;
  bool first = true;
  auto stop = [&](std::string why) {
    result.problem = Status(kJournalCorrupt, std::string(path) + ": " + why + " at byte " +
                                                 std::to_string(position) + " (after offset " +
                                                 std::to_string(result.end_offset) + ")");
  };
  while (position < file_size) {
    if (file_size - position < kFrameHeaderSize) {
      stop("a frame header is cut short");
      break;
    }
    char header_bytes[kFrameHeaderSize];
    if (!read_exact(fd, header_bytes, kFrameHeaderSize, position)) {
      stop(std::string("cannot read: ") + std::strerror(errno));
      break;
    }
    FrameHeader header = read_frame_header(header_bytes);
    if (header.body_length < kFrameFixedBodySize || header.body_length > kMaxFrameBodySize) {
      stop("a frame declares an impossible length of " + std::to_string(header.body_length));
      break;
    }
    if (header.body_length > file_size - position - kFrameHeaderSize) {
      stop("a frame of " + std::to_string(header.body_length) +
           " bytes runs past the end of the file");
      break;
    }
    buf.resize(header.body_length);
    if (!read_exact(fd, buf.data(), buf.size(), position + kFrameHeaderSize)) {
      stop(std::string("cannot read: ") + std::strerror(errno));
      break;
    }
    if (!frame_crc_matches(header, buf)) {
      stop("a frame's checksum does not match");
      break;
    }
    Result<FrameView> frame = parse_frame_body(buf);
    if (!frame) {
      stop(frame.status().message());
      break;
    }
    if (frame->base_offset < result.end_offset) {
      stop("offsets go backwards (" + std::to_string(frame->base_offset) + ")");
      break;
    }
    if (first || position - last_indexed >= kIndexInterval) {
      result.index.push_back({frame->base_offset, position});
      last_indexed = position;
      first = false;
    }
    if (on_frame) on_frame(*frame, position);
    ++result.frames;
    result.records += frame->record_count;
    result.end_offset = frame->end_offset();
    result.ends_with_seal = frame->is_seal();
    position += kFrameHeaderSize + header.body_length;
    result.valid_end = position;
    if (frame->is_seal() && position != file_size) {
      stop("data follows the seal frame");
      break;
    }
  }
  return result;
}

Segment::Segment(uint64_t base_offset, std::string path, int read_fd)
    : base_offset_(base_offset),
      path_(std::move(path)),
      read_fd_(read_fd),
      end_offset_(base_offset) {}

Segment::~Segment() {
  if (read_fd_ >= 0) ::close(read_fd_);
}

void Segment::mark_sealed(uint64_t end_offset, uint64_t size) {
  end_offset_.store(end_offset, std::memory_order_release);
  readable_size_.store(size, std::memory_order_release);
  sealed_.store(true, std::memory_order_release);
}

IndexEntry Segment::seek(uint64_t offset) const {
  std::lock_guard lock(index_mu_);
  auto it = std::upper_bound(index_.begin(), index_.end(), offset,
                             [](uint64_t o, const IndexEntry& e) { return o < e.offset; });
  if (it == index_.begin()) return IndexEntry{base_offset_, kSegmentHeaderSize};
  return *std::prev(it);
}

void Segment::add_index_entry(IndexEntry entry) {
  std::lock_guard lock(index_mu_);
  index_.push_back(entry);
}

void Segment::set_index(std::vector<IndexEntry> index) {
  std::lock_guard lock(index_mu_);
  index_ = std::move(index);
}

std::vector<IndexEntry> Segment::index() const {
  std::lock_guard lock(index_mu_);
  return index_;
}

Status write_index_file(const std::string& path, const std::vector<IndexEntry>& index) {
  std::string bytes(kIndexMagic);
  uint32_t version = 1, count = static_cast<uint32_t>(index.size());
  bytes.append(reinterpret_cast<const char*>(&version), 4);
  bytes.append(reinterpret_cast<const char*>(&count), 4);
  for (const IndexEntry& e : index) {
    bytes.append(reinterpret_cast<const char*>(&e.offset), 8);
    bytes.append(reinterpret_cast<const char*>(&e.position), 8);
  }
  uint32_t crc = mask_crc(crc32c(bytes));
  bytes.append(reinterpret_cast<const char*>(&crc), 4);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status(kJournalIo, "cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fdatasync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status(kJournalIo, "cannot write " + path + ": " + std::strerror(ok ? errno : err));
  }
  return Status::ok();
}

Result<std::vector<IndexEntry>> read_index_file(const std::string& path, uint64_t log_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(kJournalCorrupt, path + " is missing: " + std::strerror(errno));
  off_t size = ::lseek(fd, 0, SEEK_END);
  std::string bytes(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  bool read_ok = size >= 0 && read_exact(fd, bytes.data(), bytes.size(), 0);
  ::close(fd);
  if (!read_ok || bytes.size() < kIndexHeaderSize + 4 || bytes.substr(0, 8) != kIndexMagic) {
    return Status(kJournalCorrupt, path + " is truncated or not an index file");
  }
  uint32_t count;
  std::memcpy(&count, bytes.data() + 12, 4);
  if (bytes.size() != kIndexHeaderSize + 16ull * count + 4) {
    return Status(kJournalCorrupt, path + " is truncated: it declares " + std::to_string(count) +
                                       " entries but holds " + std::to_string(bytes.size()) +
                                       " bytes");
  }
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (unmask_crc(stored) != crc32c(std::string_view(bytes.data(), bytes.size() - 4))) {
    return Status(kJournalCorrupt, path + ": the index's checksum does not match");
  }
  std::vector<IndexEntry> index(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::memcpy(&index[i].offset, bytes.data() + kIndexHeaderSize + 16ull * i, 8);
    std::memcpy(&index[i].position, bytes.data() + kIndexHeaderSize + 16ull * i + 8, 8);
    if (index[i].position < kSegmentHeaderSize || index[i].position >= log_size ||
        (i > 0 &&
         (index[i].offset < index[i - 1].offset || index[i].position <= index[i - 1].position))) {
      return Status(kJournalCorrupt, path + ": entry " + std::to_string(i) +
                                         " points outside the segment or out of order");
    }
  }
  return index;
}

}  // namespace hutong::journal
