// bench/ingest_bench: records from a synthetic source (test_source, ~300-byte
// roster records) through the whole ingest path — plugin, pipeline (validate,
// normalize, dedup), journal — in process and through a runner, each as a ratio
// to the journal's own append rate for the same records measured in the same run
// (goals: in process >= 0.9, out of process >= 0.7).
//
// Usage: ingest_bench [--records N] [--dir DIR] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <optional>
#include <string>

#include "journal/envelope_record.h"
#include "plugin_host/session.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace hutong;

std::string fresh(const std::string& root, const char* name) {
  std::string dir = root + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<journal::Journal> open_journal(const std::string& dir) {
  journal::JournalOptions options;
  options.directory = dir;
  return std::move(journal::Journal::open(options).value());
}

config::ConnectorConfig connector(const std::string& isolation, size_t records) {
  config::ConnectorConfig c;
  c.name = "bench";
  c.plugin = "test_source";
  c.isolation =
      isolation == "process" ? config::Isolation::kProcess : config::Isolation::kInProcess;
  c.batch_records = 512;
  c.settings = {{"total", std::to_string(records)},
                {"per_poll", "512"},
                {"crash_after", "0"},
                {"abort_after", "0"},
                {"invalid_every", "0"},
                {"reject_every", "0"},
                {"replay_fixed", "true"},
                {"sleep_ms", "0"},
                {"payload_bytes", "200"},
                {"key_prefix", "row-"},
                {"personal", "false"}};
  return c;
}

// Rate of the whole path, driven as a connector drives it: poll, prefetch the
// next poll, stage the batch while the previous one becomes durable, submit.
double ingest_rate(plugin_host::SourceSession& session, pipeline::Ingest& ingest,
                   uint64_t* accepted) {
  pipeline::Batch batch;
  auto start = Clock::now();
  if (!session.start("")) return 0;
  std::optional<std::future<Result<pipeline::BatchOutcome>>> in_flight;
  auto settle = [&] {
    if (!in_flight) return true;
    Result<pipeline::BatchOutcome> outcome = in_flight->get();
    in_flight.reset();
    if (!outcome) {
      std::fprintf(stderr, "commit failed: %s\n", outcome.status().to_string().c_str());
      return false;
    }
    *accepted += outcome->accepted;
    return true;
  };
  for (;;) {
    Result<plugin_host::PollOutcome> polled = session.poll(batch, 512);
    if (!polled || *polled == plugin_host::PollOutcome::kIdle) break;
    session.prefetch(512);
    auto staged = ingest.stage("bench", batch);
    if (!settle() || !staged) break;
    auto promise = std::make_shared<std::promise<Result<pipeline::BatchOutcome>>>();
    in_flight = promise->get_future();
    ingest.submit(
        *staged, [promise](Result<pipeline::BatchOutcome> r) { promise->set_value(std::move(r)); });
  }
  settle();
  return *accepted / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = 500'000;
  std::string root = std::filesystem::temp_directory_path().string();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--records" && i + 1 < argc)
      records = std::stoul(argv[++i]);
    else if (arg == "--dir" && i + 1 < argc)
      root = argv[++i];
    else if (arg == "--quick")
      records = 5000;
    else {
      std::fprintf(stderr, "usage: ingest_bench [--records N] [--dir DIR] [--quick]\n");
      return 2;
    }
  }
  root += "/hutong-ingest-bench";
  std::filesystem::create_directories(root);
  std::string exe_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  std::string plugin = exe_dir + "/../lib/hutong/plugins/libtest_source.so";
  std::string runner = exe_dir + "/hutong-runner";
  auto library = plugin_host::PluginLibrary::load(plugin);
  if (!library) {
    std::fprintf(stderr, "%s\n", library.status().to_string().c_str());
    return 1;
  }

  // This machine's disk and CPU drift from minute to minute: the baseline and
  // both paths alternate over several rounds, and each ratio is the median of
  // its per-round ratios.
  const int rounds = records <= 5000 ? 1 : 5;
  size_t envelope_size = 0;
  std::vector<double> baselines, rates[2], ratios[2];
  const char* kIsolations[2] = {"in_process", "process"};
  for (int round = 0; round < rounds; ++round) {
    // Baseline: the journal alone, appending the same envelopes 512 at a time.
    double baseline;
    {
      auto j = open_journal(fresh(root, "baseline"));
      pipeline::DedupIndex dedup;
      pipeline::Ingest ingest(*j, dedup);
      auto session = plugin_host::make_in_process_session(*library, connector("in_process", 512));
      pipeline::Batch batch;
      if (Status started = session->start(""); !started) {
        std::fprintf(stderr, "test_source: %s\n", started.to_string().c_str());
        return 1;
      }
      session->poll(batch, 512);
      std::vector<v1::Envelope> envelopes(batch.records.size());
      std::vector<journal::RecordStorage> storage(batch.records.size());
      std::vector<journal::RecordIn> in;
      for (size_t i = 0; i < batch.records.size(); ++i) {
        ingest.prepare("bench", batch.records[i], batch.position, envelopes[i]);
        in.push_back(journal::to_record(envelopes[i], storage[i]));
      }
      envelope_size = envelopes[0].ByteSizeLong();
      auto start = Clock::now();
      for (size_t done = 0; done < records; done += in.size())
        j->append(in);
      baseline = records / std::chrono::duration<double>(Clock::now() - start).count();
    }
    baselines.push_back(baseline);
    for (int k = 0; k < 2; ++k) {
      auto j = open_journal(fresh(root, kIsolations[k]));
      pipeline::DedupIndex dedup;
      pipeline::Ingest ingest(*j, dedup);
      auto c = connector(kIsolations[k], records);
      auto session = k == 1 ? plugin_host::make_runner_session(runner, root, *library, c)
                            : plugin_host::make_in_process_session(*library, c);
      uint64_t accepted = 0;
      double rate = ingest_rate(*session, ingest, &accepted);
      if (accepted != records) {
        std::printf("%s: only %llu of %zu accepted\n", kIsolations[k],
                    static_cast<unsigned long long>(accepted), records);
      }
      rates[k].push_back(rate);
      ratios[k].push_back(rate / baseline);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "ingest bench, %zu records of ~%zu-byte envelopes, batches of 512, group commit, "
      "median of %d rounds\n",
      records, envelope_size, rounds);
  std::printf("baseline  journal append of the prepared records     %8.0f k records/s\n",
              median(baselines) / 1e3);
  for (int k = 0; k < 2; ++k) {
    std::printf(
        "hutong    source -> pipeline -> journal, %-10s %8.0f k records/s   ratio %.3f (goal >= "
        "%s)",
        kIsolations[k], median(rates[k]) / 1e3, median(ratios[k]), k == 1 ? "0.7" : "0.9");
    std::printf("   rounds:");
    for (double r : ratios[k])
      std::printf(" %.2f", r);
    std::printf("\n");
  }
  std::filesystem::remove_all(root);
  return 0;
}
