// The start-up self-check: proves that what the hub relies on from the system
// (the schemas library, OpenCC's data, iconv's GB18030, OpenSSL's HMAC-SM3) is
// present and behaves, before any data is touched.
#pragma once

#include <string>
#include <vector>

namespace hutong::daemon {

struct CheckResult {
  std::string name;
  bool ok = false;
  std::string detail;  // what was found, or what is wrong and what to do
};

std::vector<CheckResult> run_self_check();

}  // namespace hutong::daemon
