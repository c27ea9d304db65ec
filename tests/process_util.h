// Running the project's binaries as an operator would, from process-level tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace hutong::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `command` through the shell, feeding `stdin_text`, and collects stdout.
inline ProcessResult run_command(const std::string& command, const std::string& stdin_text = "") {
  std::string full = command;
  if (!stdin_text.empty()) full = "printf '%s' " + shell_quote(stdin_text) + " | " + command;
  ProcessResult result;
  FILE* pipe = popen(full.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0)
    result.out.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace hutong::testing
