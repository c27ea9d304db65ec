// Running the project's binaries as an operator would, from process-level tests.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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
  if (pipe == nullptr) {  // e.g. E2BIG: one argument longer than the kernel takes
    result.out = std::string("cannot run the command: ") + std::strerror(errno);
    return result;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0)
    result.out.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The rest of the line after the first `prefix` in a program's output ("" when
// there is none): "dir=/tmp/x\n" -> "/tmp/x" for prefix "dir=".
inline std::string line_value(const std::string& out, const std::string& prefix) {
  size_t at = out.find(prefix);
  if (at == std::string::npos) return "";
  at += prefix.size();
  return out.substr(at, out.find('\n', at) - at);
}

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice, so
// that concurrent tests do not collide).
inline int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

}  // namespace hutong::testing
