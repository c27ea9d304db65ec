// The hub's local control channel: a ZeroMQ REP socket at
// ipc://<data_dir>/control.sock (mode 0600: only the hub's user may use it)
// taking one JSON request per message: {"command": "status" | "reload" |
// "replay", ...}. The operator CLI talks to it.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "daemon/hub.h"

namespace hutong::daemon {

std::string control_endpoint(const std::string& data_dir);

class ControlServer {
 public:
  explicit ControlServer(Hub& hub);
  ~ControlServer();
  Status start();

 private:
  void serve();
  std::string handle(const std::string& request);
  Hub& hub_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  void* context_ = nullptr;
};

// One request to a running hub's control channel; the reply's JSON text.
Result<std::string> control_call(const std::string& data_dir, const std::string& request_json,
                                 int timeout_ms = 30000);

}  // namespace hutong::daemon
