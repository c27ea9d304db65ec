// bench/journal_bench: the journal against the disk it runs on.
//
//   1. Physical baseline: 300-byte records written with plain write() calls and
//      one fdatasync every 1 ms, no framing, no checksums.
//   2. Journal group-commit append rate for 300-byte envelopes (appends of 64
//      records, and of single records), and its ratio to the baseline (goal >= 0.8).
//   3. Replay rate: every record read back through a JournalReader (goal >= 2 M/s).
//   4. Append-to-durable latency p50 / p99 at a paced 50 k records/s
//      (goal: p99 <= 3 ms).
//   5. Resident memory while replaying a large journal (default 2 GB; goal: flat).
//
// Usage: journal_bench [--dir DIR] [--records N] [--replay-gb G] [--quick]
// DIR must be on the disk to measure (default: the system's temporary directory).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "journal/envelope_record.h"
#include "journal/journal.h"

namespace {

using namespace hutong;
using bench::Clock;

using bench::rss_kib;
using bench::seconds_since;

// A realistic 300-byte envelope: a roster record.
v1::Envelope sample_envelope() {
  v1::Envelope e;
  e.set_topic("education.enrollment");
  e.set_key("610523201508150680");
  e.set_op(v1::OP_UPSERT);
  e.set_schema_version(1);
  e.mutable_source()->set_connector("education_files");
  e.mutable_source()->set_position("学籍名册_20251019.csv#2#sha256:9f2c81");
  e.mutable_ingest_time()->set_seconds(1763000000);
  auto* s = e.mutable_student_enrollment();
  s->mutable_student()->set_resident_id("610523201508150680");
  s->mutable_student()->set_name("陆语嫣");
  s->mutable_student()->set_sex(v1::SEX_FEMALE);
  s->mutable_student()->mutable_birth_date()->set_year(2015);
  s->set_national_student_number("G610523201508150680");
  s->set_school_code("2161002320");
  s->set_school_name("大荔县城关街道中心小学");
  s->set_stage(v1::SCHOOL_STAGE_PRIMARY);
  s->set_grade("五年级");
  s->set_grade_year(5);
  s->set_class_name("五年级(3)班");
  s->set_status(v1::ENROLLMENT_STATUS_ENROLLED);
  s->mutable_guardian()->set_name("陆鑫");
  s->mutable_guardian()->set_resident_id("610523199307291575");
  s->mutable_guardian()->set_phone("18402461266");
  return e;
}

// A new, empty directory for one phase; earlier phases' files are removed and
// everything is flushed first, so one phase's writeback does not slow the next.
std::string fresh_dir(const std::string& root, const char* name) {
  std::string dir = root + "/" + name;
  std::filesystem::remove_all(dir);
  ::sync();
  return dir;
}

double physical_baseline(const std::string& root, size_t records, size_t record_size) {
  std::string path = fresh_dir(root, "baseline.dat");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string record(record_size, 'r');
  std::string buffer;
  buffer.reserve(1 << 20);
  auto start = Clock::now();
  auto last_sync = start;
  for (size_t i = 0; i < records; ++i) {
    buffer += record;
    auto now = Clock::now();
    if (buffer.size() >= (1 << 20) || now - last_sync >= std::chrono::milliseconds(1)) {
      if (::write(fd, buffer.data(), buffer.size()) < 0) std::perror("write");
      buffer.clear();
      if (now - last_sync >= std::chrono::milliseconds(1)) {
        ::fdatasync(fd);
        last_sync = Clock::now();
      }
    }
  }
  if (::write(fd, buffer.data(), buffer.size()) < 0) std::perror("write");
  ::fdatasync(fd);
  double rate = records / seconds_since(start);
  ::close(fd);
  std::filesystem::remove(path);
  return rate;
}

// Appends `records` records in appends of `batch`, keeping a bounded number of
// appends in flight; returns records per second until all are durable.
double journal_append_rate(journal::Journal& j, size_t records, size_t batch,
                           const std::vector<journal::RecordIn>& prototype) {
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0, done = 0;
  const size_t max_in_flight = std::max<size_t>(1, 65536 / batch);
  auto start = Clock::now();
  for (size_t sent = 0; sent < records; sent += batch) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < max_in_flight; });
      ++in_flight;
    }
    j.append_async(std::span(prototype.data(), batch), [&](Result<journal::AppendResult> r) {
      if (!r) std::fprintf(stderr, "append failed: %s\n", r.status().to_string().c_str());
      std::lock_guard lock(mu);
      --in_flight;
      done += batch;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  return done / seconds_since(start);
}

double replay_rate(const journal::Journal& j, uint64_t* count) {
  auto reader = j.read_from(0);
  uint64_t n = 0, bytes = 0;
  auto start = Clock::now();
  for (;;) {
    auto r = reader->next();
    if (!r || !*r) break;
    bytes += (*r)->value.size();
    ++n;
  }
  *count = n;
  return n / seconds_since(start);
}

void latency(journal::Journal& j, const journal::RecordIn& record, double rate, double duration_s) {
  std::vector<double> latencies_ms;
  std::mutex mu;
  std::atomic<size_t> outstanding = 0;
  size_t total = static_cast<size_t>(rate * duration_s);
  latencies_ms.reserve(total);
  auto start = Clock::now();
  for (size_t i = 0; i < total; ++i) {
    auto due = start + std::chrono::nanoseconds(static_cast<int64_t>(i * 1e9 / rate));
    while (Clock::now() < due) {
    }
    auto submitted = Clock::now();
    ++outstanding;
    j.append_async(std::span(&record, 1), [&, submitted](Result<journal::AppendResult>) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
      std::lock_guard lock(mu);
      latencies_ms.push_back(ms);
      --outstanding;
    });
  }
  while (outstanding > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms[static_cast<size_t>(p * (latencies_ms.size() - 1))];
  };
  std::printf("latency   append -> durable at %.0f k records/s (%zu records)\n", rate / 1e3,
              latencies_ms.size());
  std::printf("  p50 %.3f ms   p99 %.3f ms   max %.3f ms   (goal: p99 <= 3 ms)\n", pct(0.5),
              pct(0.99), latencies_ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = std::filesystem::temp_directory_path().string();
  size_t records = 1'000'000;
  double replay_gb = 2.0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc)
      root = argv[++i];
    else if (arg == "--records" && i + 1 < argc)
      records = std::stoul(argv[++i]);
    else if (arg == "--replay-gb" && i + 1 < argc)
      replay_gb = std::stod(argv[++i]);
    else if (arg == "--quick")
      quick = true;
    else {
      std::fprintf(stderr,
                   "usage: journal_bench [--dir DIR] [--records N] [--replay-gb G] [--quick]\n");
      return 2;
    }
  }
  if (quick) {
    records = 20000;
    replay_gb = 0.01;
  }
  root += "/hutong-journal-bench";
  std::filesystem::create_directories(root);

  v1::Envelope envelope = sample_envelope();
  journal::RecordStorage storage;
  journal::RecordIn record = journal::to_record(envelope, storage);
  size_t envelope_size = envelope.ByteSizeLong();
  std::vector<journal::RecordIn> prototype(64, record);

  // The disk's speed drifts (other writers, writeback of earlier runs), so the
  // baseline and the journal alternate, and the medians are compared.
  const int rounds = quick ? 1 : 5;
  std::vector<double> baselines, batched, singles, ratios;
  uint64_t replayed = 0;
  double replay = 0;
  for (int round = 0; round < rounds; ++round) {
    baselines.push_back(physical_baseline(root, records, envelope_size));
    journal::JournalOptions options;
    options.directory = fresh_dir(root, "append64");
    auto j = journal::Journal::open(options);
    batched.push_back(journal_append_rate(**j, records, 64, prototype));
    ratios.push_back(batched.back() / baselines.back());
    if (round == 0) replay = replay_rate(**j, &replayed);
    j->reset();
    std::filesystem::remove_all(root + "/append64");
    options.directory = fresh_dir(root, "append1");
    auto single = journal::Journal::open(options);
    singles.push_back(journal_append_rate(**single, records / 4, 1, prototype));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double baseline = median(baselines);
  std::printf("journal bench in %s, %zu records of a %zu-byte envelope, median of %d rounds\n",
              root.c_str(), records, envelope_size, rounds);
  std::printf("baseline  write() + fdatasync every 1 ms        %8.0f k records/s\n",
              baseline / 1e3);
  std::printf(
      "journal   group commit, appends of 64 records  %8.0f k records/s   ratio %.3f (goal >= "
      "0.8)\n",
      median(batched) / 1e3, median(ratios));
  std::printf("          (ratio: median of the per-round ratios");
  for (double r : ratios)
    std::printf(" %.2f", r);
  std::printf(")\n");
  std::printf("journal   group commit, single-record appends   %8.0f k records/s   ratio %.3f\n",
              median(singles) / 1e3, median(singles) / baseline);
  std::printf(
      "replay    JournalReader over %llu records         %8.2f M records/s  (goal >= 2 M/s)\n",
      static_cast<unsigned long long>(replayed), replay / 1e6);
  {
    journal::JournalOptions options;
    std::filesystem::remove_all(root + "/append1");
    options.directory = fresh_dir(root, "latency");
    auto j = journal::Journal::open(options);
    latency(**j, record, 50000, quick ? 0.2 : 5.0);
  }
  {
    journal::JournalOptions options;
    options.directory = fresh_dir(root, "replay");
    options.durability = journal::Durability::kNone;
    auto j = journal::Journal::open(options);
    uint64_t target = static_cast<uint64_t>(replay_gb * 1e9);
    uint64_t bytes = 0;
    while (bytes < target) {
      journal_append_rate(**j, 64 * 4096, 64, prototype);
      bytes = 0;
      for (const auto& s : (*j)->segments())
        bytes += s.bytes;
    }
    auto reader = (*j)->read_from(0);
    uint64_t n = 0, total = (*j)->durable_end();
    long rss_start = rss_kib(), rss_max = rss_start;
    std::printf("memory    replaying %.2f GB (%llu records): RSS", bytes / 1e9,
                static_cast<unsigned long long>(total));
    for (;;) {
      auto r = reader->next();
      if (!r || !*r) break;
      if (++n % (total / 4 + 1) == 0) {
        long rss = rss_kib();
        rss_max = std::max(rss_max, rss);
        std::printf("  %3.0f%%: %ld KiB", 100.0 * n / total, rss);
      }
    }
    long rss_end = rss_kib();
    std::printf("  end: %ld KiB  (start %ld KiB, growth %ld KiB; goal: flat)\n", rss_end, rss_start,
                std::max(rss_max, rss_end) - rss_start);
  }
  std::filesystem::remove_all(root);
  return 0;
}
