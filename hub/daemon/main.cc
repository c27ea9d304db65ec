// hutongd: the hub daemon.
#include <spdlog/spdlog.h>

#include <iostream>
#include <string_view>

#include "hutong_version.h"
#include "self_check.h"

namespace {

constexpr const char* kUsage =
    "usage: hutongd [--version] [--self-check] [--help]\n"
    "  --version      print the version and the schema version\n"
    "  --self-check   check the schemas library and the system facilities the hub\n"
    "                 relies on (OpenCC data, GB18030 in iconv, OpenSSL HMAC-SM3);\n"
    "                 exit 0 when all pass, 1 otherwise\n";

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

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::cout << "hutongd " << HUTONG_VERSION << " (schemas hutong.v" << HUTONG_SCHEMA_VERSION
              << ")\n";
    return 0;
  }
  if (argc == 2 && std::string_view(argv[1]) == "--self-check") return self_check();
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}
