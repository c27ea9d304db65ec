// journal_crash_child DIR FIRST_BATCH: appends numbered batches to the journal in
// DIR from four threads until killed, printing "ack BATCH FIRST_OFFSET COUNT" on
// standard output once each batch is durable. The crash test SIGKILLs it at a
// random moment and checks the journal against the acknowledgements.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: journal_crash_child DIR FIRST_BATCH\n");
    return 2;
  }
  hutong::journal::JournalOptions options;
  options.directory = argv[1];
  options.segment_bytes = 256 << 10;  // rolls happen under the knife too
  auto journal = hutong::journal::Journal::open(options);
  if (!journal) {
    std::fprintf(stderr, "%s\n", journal.status().to_string().c_str());
    return 1;
  }
  std::atomic<uint64_t> next_batch = std::stoull(argv[2]);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(::getpid() * 7 + t));
      for (;;) {
        uint64_t batch = next_batch++;
        uint32_t size = 1 + rng() % 20;
        std::vector<std::string> keys, values;
        for (uint32_t i = 0; i < size; ++i) {
          keys.push_back("b" + std::to_string(batch) + "-" + std::to_string(i));
          values.push_back(std::to_string(batch) + "/" + std::to_string(i) + "/" +
                           std::to_string(size) + "/" + std::string(rng() % 300, 'x'));
        }
        std::vector<hutong::journal::RecordIn> records;
        for (uint32_t i = 0; i < size; ++i) {
          records.push_back(
              {hutong::journal::Op::kUpsert, i % 2 ? "odd" : "even", keys[i], values[i]});
        }
        auto result = (*journal)->append(records);
        if (!result) {
          std::fprintf(stderr, "%s\n", result.status().to_string().c_str());
          std::_Exit(1);
        }
        char line[96];
        int n = std::snprintf(line, sizeof line, "ack %llu %llu %u\n",
                              static_cast<unsigned long long>(batch),
                              static_cast<unsigned long long>(result->first_offset), result->count);
        if (::write(1, line, static_cast<size_t>(n)) != n) std::_Exit(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
}
