// hutongd: the hub daemon.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string_view>

#include "daemon/control.h"
#include "daemon/hub.h"
#include "hutong_version.h"
#include "self_check.h"

namespace {

constexpr const char* kUsage =
    "usage: hutongd --config FILE        run the hub (SIGHUP reloads FILE, SIGTERM stops)\n"
    "       hutongd --check-config FILE  validate FILE and every connector's plugin and settings\n"
    "       hutongd --version | --self-check | --help\n"
    "  --self-check   check the schemas library and the system facilities the hub relies on\n"
    "                 (OpenCC data, GB18030 in iconv, OpenSSL HMAC-SM3); exit 0 when all pass\n";

int self_check() {
  bool all_ok = true;
  for (const hutong::daemon::CheckResult& result : hutong::daemon::run_self_check()) {
    all_ok = all_ok && result.ok;
    if (result.ok) {
      spdlog::info("self-check {}: ok ({})", result.name, result.detail);
    } else {
      spdlog::error("self-check {}: FAILED: {}", result.name, result.detail);
    }
  }
  if (all_ok) spdlog::info("self-check passed");
  return all_ok ? 0 : 1;
}

std::string program_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

// Loads and fully validates the configuration; prints every problem. When
// starting (not checking), a plugin that does not load fails only its connector.
std::optional<hutong::config::HubConfig> load(const std::string& path, bool starting) {
  hutong::config::LoadResult loaded = hutong::config::load_config(path, program_dir());
  std::vector<hutong::config::Problem> problems = loaded.problems;
  if (problems.empty()) problems = hutong::daemon::Hub::check(loaded.config);
  if (starting) {
    std::erase_if(problems, [](const hutong::config::Problem& p) {
      if (p.plugin_unavailable)
        spdlog::error("{} (the hub carries on without this connector)", p.to_string());
      return p.plugin_unavailable;
    });
  }
  for (const auto& p : problems)
    std::cerr << p.to_string() << "\n";
  if (!problems.empty()) {
    std::cerr << problems.size() << " problem(s) in " << path << "\n";
    return std::nullopt;
  }
  return loaded.config;
}

int check_config(const std::string& path) {
  auto config = load(path, false);
  if (!config) return 1;
  std::cout << "ok: " << path << ": " << config->connectors.size() << " connector(s), data in "
            << config->data_dir << "\n";
  return 0;
}

int run(const std::string& path) {
  // Signals are taken by this thread alone (sigwait), never by a worker.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto config = load(path, true);
  if (!config) return 1;
  if (config->log_level == "debug") spdlog::set_level(spdlog::level::debug);
  if (config->log_level == "warn") spdlog::set_level(spdlog::level::warn);
  if (config->log_level == "error") spdlog::set_level(spdlog::level::err);
  auto hub = hutong::daemon::Hub::open(*config);
  if (!hub) {
    spdlog::error("cannot start: {}", hub.status().to_string());
    return 1;
  }
  hutong::daemon::ControlServer control(**hub);
  control.start();
  if (hutong::Status started = (*hub)->start(); !started) {
    spdlog::error("cannot start: {}", started.to_string());
    (*hub)->stop();
    return 1;
  }
  spdlog::info("hutongd {} running: {} connector(s), control {}", HUTONG_VERSION,
               config->connectors.size(), hutong::daemon::control_endpoint(config->data_dir));
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading {}", path);
      (*hub)->reload();
      continue;
    }
    spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  (*hub)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "hutongd " << HUTONG_VERSION << " (schemas hutong.v" << HUTONG_SCHEMA_VERSION
              << ", plugin ABI " << HUTONG_PLUGIN_ABI_VERSION << ")\n";
    return 0;
  }
  if (args.size() == 1 && args[0] == "--self-check") return self_check();
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.size() == 2 && args[0] == "--check-config") return check_config(std::string(args[1]));
  if (args.size() == 2 && args[0] == "--config") return run(std::string(args[1]));
  std::cerr << kUsage;
  return 2;
}
