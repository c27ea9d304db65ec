// What every benchmark driver measures with: elapsed time and resident memory.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

namespace hutong::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// This process's resident set (VmRSS) in KiB, or -1.
inline long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace hutong::bench
