// Compaction and retention: rewrites sealed segments keeping, for compacted
// topics, only each key's latest record (and recent tombstones), and for other
// topics only what the age and size limits allow. Offsets never change; a
// rewritten segment replaces the old one by rename, and readers holding the old
// file keep reading it (docs/journal-format.md, "Compaction").
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "journal.h"

namespace hutong::journal {
namespace {}  // namespace

Result<CompactionReport> Journal::compact(const RetentionPolicy& policy) {
  std::lock_guard guard(compaction_mu_);
  if (options_.read_only) return Status(kJournalClosed, "the journal is open read-only");
  std::vector<std::shared_ptr<Segment>> sealed;
  uint64_t end;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : segments_) {
      if (s->sealed()) sealed.push_back(s);
    }
    end = durable_end_;
  }
  CompactionReport report;
  if (sealed.empty()) return report;

  // Pass 1, over every durable record: the latest offset of each compacted key
  // and the bytes of every other topic.
  std::unordered_map<std::string, uint64_t> latest;
  std::unordered_map<std::string, uint64_t> topic_bytes;
  {
    std::unique_ptr<JournalReader> reader = read_from(0);
    while (reader->position() < end) {
      Result<std::optional<RecordView>> record = reader->next();
      if (!record) return record.status();
      if (!*record || (*record)->offset >= end) break;
      const RecordView& r = **record;
      if (policy.compacted_topics.contains(r.topic)) {
        latest[composite_key(r.topic, r.key)] = r.offset;
      } else {
        topic_bytes[std::string(r.topic)] += r.key.size() + r.value.size();
      }
    }
  }

  const int64_t now = now_micros();
  const int64_t tombstone_cutoff =
      now -
      std::chrono::duration_cast<std::chrono::microseconds>(policy.tombstone_retention).count();
  const int64_t age_cutoff =
      policy.max_age.count() == 0
          ? INT64_MIN
          : now - std::chrono::duration_cast<std::chrono::microseconds>(policy.max_age).count();
  std::unordered_map<std::string, uint64_t> dropped_bytes;

  auto keep = [&](const RecordView& r) {
    if (policy.compacted_topics.contains(r.topic)) {
      auto it = latest.find(composite_key(r.topic, r.key));
      if (it == latest.end() || it->second != r.offset) return false;
      return r.op != Op::kDelete || r.append_time_us >= tombstone_cutoff;
    }
    if (r.append_time_us < age_cutoff) return false;
    if (policy.max_bytes_per_topic > 0) {
      std::string topic(r.topic);
      uint64_t size = r.key.size() + r.value.size();
      if (topic_bytes[topic] - dropped_bytes[topic] > policy.max_bytes_per_topic) {
        dropped_bytes[topic] += size;
        return false;
      }
    }
    return true;
  };

  // Pass 2: rewrite each sealed segment that loses something.
  for (const std::shared_ptr<Segment>& segment : sealed) {
    std::string out = encode_segment_header(segment->base_offset());
    std::vector<IndexEntry> index;
    uint64_t last_indexed = 0;
    uint64_t before = 0, after = 0;
    Status problem;
    uint64_t size = segment->readable_size();
    ScanResult scan = scan_frames(
        segment->read_fd(), segment->path(), kSegmentHeaderSize, segment->base_offset(), size,
        [&](const FrameView& frame, uint64_t) {
          std::string rewritten;
          if (frame.is_seal()) {
            rewritten = seal_frame(frame.base_offset, frame.append_time_us);
          } else {
            FrameBuilder builder;
            uint64_t first = 0;
            RecordCursor cursor(frame);
            RecordView r;
            Status status;
            while (cursor.next(r, status)) {
              ++before;
              if (!keep(r)) continue;
              if (builder.record_count() == 0) first = r.offset;
              builder.add(static_cast<uint32_t>(r.offset - first), r.op, r.topic, r.key, r.value);
            }
            if (!status.is_ok() && problem.is_ok()) problem = status;
            if (builder.record_count() == 0) return;
            after += builder.record_count();
            rewritten = std::move(builder).finish(first, frame.append_time_us).bytes;
          }
          if (index.empty() || out.size() - last_indexed >= kIndexInterval) {
            FrameView parsed =
                *parse_frame_body(std::string_view(rewritten).substr(kFrameHeaderSize));
            index.push_back({parsed.base_offset, out.size()});
            last_indexed = out.size();
          }
          out += rewritten;
        });
    if (!scan.problem.is_ok()) return scan.problem;
    if (!problem.is_ok()) return problem;
    report.records_before += before;
    report.records_after += after;
    report.bytes_before += size;
    report.bytes_after += before == after ? size : out.size();
    if (before == after) continue;

    std::string tmp = segment->path() + ".compacting";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status(kJournalIo, "cannot create " + tmp + ": " + std::strerror(errno));
    bool ok = ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size()) &&
              ::fdatasync(fd) == 0;
    int err = errno;
    ::close(fd);
    if (!ok) {
      ::unlink(tmp.c_str());
      return Status(err == ENOSPC ? kJournalDiskFull : kJournalIo,
                    "cannot write " + tmp + ": " + std::strerror(err));
    }
    int read_fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd < 0 || ::rename(tmp.c_str(), segment->path().c_str()) != 0 ||
        ::fsync(dir_fd_) != 0) {
      err = errno;
      if (read_fd >= 0) ::close(read_fd);
      ::unlink(tmp.c_str());
      return Status(kJournalIo, "cannot replace " + segment->path() + ": " + std::strerror(err));
    }
    std::string idx = segment->path().substr(0, segment->path().size() - 4) + ".idx";
    Status indexed = write_index_file(idx, index);
    if (!indexed) return indexed;
    auto replacement = std::make_shared<Segment>(segment->base_offset(), segment->path(), read_fd);
    replacement->set_index(std::move(index));
    replacement->mark_sealed(segment->end_offset(), out.size());
    {
      std::lock_guard lock(mu_);
      for (auto& s : segments_) {
        if (s == segment) s = replacement;
      }
    }
    ++report.segments_rewritten;
  }
  return report;
}

}  // namespace hutong::journal
