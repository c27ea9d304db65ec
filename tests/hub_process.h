// A real hutongd process for tests: started with a configuration, talked to
// through the operator CLI, stopped or killed.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "process_util.h"

namespace hutong::testing {

class HubProcess {
 public:
  // Writes `yaml` to <dir>/hutong.yaml and starts hutongd on it; its output
  // goes to <dir>/hutongd.log.
  // `data_dir`: where the configuration puts it (default <dir>/data).
  HubProcess(const std::string& dir, const std::string& yaml, std::string data_dir = "")
      : dir_(dir), data_dir_(data_dir.empty() ? dir + "/data" : std::move(data_dir)) {
    config_ = dir + "/hutong.yaml";
    std::ofstream(config_) << yaml;
    start();
  }
  ~HubProcess() { kill(SIGKILL); }

  void start() {
    std::filesystem::remove(data_dir() + "/control.sock");
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/hutongd.log";
      FILE* out = std::freopen(log.c_str(), "a", stdout);
      FILE* err = std::freopen(log.c_str(), "a", stderr);
      (void)out;
      (void)err;
      ::execl(HUTONGD, HUTONGD, "--config", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  // Waits until the hub answers on its control channel.
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(data_dir() + "/control.sock") &&
          cli("connector status").exit_code == 0) {
        return true;
      }
      if (!alive()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // Sends `sig` and waits for the process to end.
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // SIGKILLs the hub `kills` times, each at a random moment 5 to 45 ms after it
  // is ready, restarting it each time; returns false if it did not come back.
  template <typename Rng>
  bool kill_at_random_moments(int kills, Rng& rng) {
    for (int i = 0; i < kills; ++i) {
      if (!wait_ready()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 40));
      kill(SIGKILL);
      start();
    }
    return wait_ready();
  }

  ProcessResult cli(const std::string& args) const {
    return run_command(std::string(HUTONG_CLI) + " " + args + " --data-dir " + data_dir() +
                       " 2>&1");
  }

  // The status of every connector, by name.
  nlohmann::json status() const {
    ProcessResult r = cli("connector status --json");
    nlohmann::json out = nlohmann::json::object();
    if (r.exit_code != 0) return out;
    nlohmann::json reply = nlohmann::json::parse(r.out, nullptr, false);
    if (reply.is_discarded()) return out;
    for (auto& c : reply["connectors"])
      out[c["name"].get<std::string>()] = c;
    return out;
  }

  // Polls status until `predicate` holds (true) or the timeout passes (false).
  template <typename Predicate>
  bool wait_for(Predicate predicate, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      nlohmann::json s = status();
      if (!s.empty() && predicate(s)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string log() const {
    std::ifstream in(dir_ + "/hutongd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string data_dir() const { return data_dir_; }
  const std::string& config_path() const { return config_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string data_dir_;
  std::string config_;
  pid_t pid_ = -1;
};

}  // namespace hutong::testing
