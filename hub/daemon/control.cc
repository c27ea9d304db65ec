#include "daemon/control.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

namespace hutong::daemon {

std::string control_endpoint(const std::string& data_dir) {
  return "ipc://" + data_dir + "/control.sock";
}

ControlServer::ControlServer(Hub& hub) : hub_(hub) {}

ControlServer::~ControlServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

Status ControlServer::start() {
  thread_ = std::thread([this] { serve(); });
  return Status::ok();
}

void ControlServer::serve() {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  std::string path = hub_.config().data_dir + "/control.sock";
  mode_t old = ::umask(077);
  try {
    socket.bind(control_endpoint(hub_.config().data_dir));
  } catch (const zmq::error_t& e) {
    ::umask(old);
    spdlog::error("control: cannot bind {}: {}", path, e.what());
    return;
  }
  ::umask(old);
  while (!stopping_) {
    zmq::pollitem_t items[] = {{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(100));
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t request;
    if (!socket.recv(request, zmq::recv_flags::dontwait)) continue;
    std::string reply = handle(request.to_string());
    socket.send(zmq::buffer(reply), zmq::send_flags::none);
  }
}

std::string ControlServer::handle(const std::string& text) {
  nlohmann::json reply;
  try {
    nlohmann::json request = nlohmann::json::parse(text);
    std::string command = request.value("command", "");
    if (command == "status") {
      nlohmann::json connectors = nlohmann::json::array();
      for (const auto& s : hub_.status()) {
        connectors.push_back({{"name", s.name},
                              {"plugin", s.plugin},
                              {"isolation", s.isolation},
                              {"kind", s.kind},
                              {"state", std::string(plugin_host::state_name(s.state))},
                              {"last_error", s.last_error},
                              {"rows_read", s.rows_read},
                              {"accepted", s.accepted},
                              {"quarantined", s.quarantined},
                              {"duplicate", s.duplicate},
                              {"repaired", s.repaired},
                              {"batches", s.batches},
                              {"restarts", s.restarts},
                              {"last_position", s.last_position},
                              {"ms_since_last_record", s.ms_since_last_record},
                              {"backoff_ms", s.backoff_ms},
                              {"caught_up", s.caught_up}});
      }
      nlohmann::json subscriptions = nlohmann::json::array();
      for (const auto& s : hub_.subscriptions()) {
        nlohmann::json entry = {
            {"department", s.department},        {"subscription", s.subscription},
            {"connected", s.connected},          {"scanned_to", s.scanned_to},
            {"records_sent", s.records_sent},    {"batches_sent", s.batches_sent},
            {"credit_records", s.credit_records}};
        entry["cursor"] = s.cursor ? nlohmann::json(*s.cursor) : nlohmann::json(nullptr);
        subscriptions.push_back(std::move(entry));
      }
      reply = {{"ok", true},
               {"connectors", connectors},
               {"subscriptions", subscriptions},
               {"journal_end", hub_.journal().durable_end()}};
    } else if (command == "reload") {
      std::vector<config::Problem> problems = hub_.reload();
      nlohmann::json list = nlohmann::json::array();
      for (const auto& p : problems)
        list.push_back(p.to_string());
      reply = {{"ok", problems.empty()}, {"problems", list}};
    } else if (command == "confirm") {
      Status confirmed = hub_.confirm(request.value("connector", ""), request.value("what", ""));
      reply = confirmed ? nlohmann::json{{"ok", true}}
                        : nlohmann::json{{"ok", false}, {"error", confirmed.to_string()}};
    } else if (command == "replay") {
      Result<pipeline::BatchOutcome> outcome = hub_.replay_quarantined(request.value("key", ""));
      if (outcome) {
        reply = {
            {"ok", true},
            {"accepted", outcome->accepted},
            {"quarantined", outcome->quarantined},
            {"resolved", outcome->rejected == 0 && outcome->accepted + outcome->duplicate > 0}};
      } else {
        reply = {{"ok", false}, {"error", outcome.status().to_string()}};
      }
    } else {
      reply = {{"ok", false},
               {"error",
                "unknown command \"" + command + "\"; expected status, reload, confirm or replay"}};
    }
  } catch (const std::exception& e) {
    reply = {{"ok", false}, {"error", std::string("bad request: ") + e.what()}};
  }
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> control_call(const std::string& data_dir, const std::string& request_json,
                                 int timeout_ms) {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::req);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, timeout_ms);
  std::string path = data_dir + "/control.sock";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status(config::kConfigInvalid,
                  "no hub is running on " + data_dir + " (" + path + " does not exist)");
  }
  // A socket file left by a hub that ended (SIGKILL, power loss) refuses
  // connections: say so at once instead of waiting for the timeout.
  if (path.size() < sizeof(sockaddr_un::sun_path)) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    bool refused = fd >= 0 &&
                   ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
                   errno == ECONNREFUSED;
    if (fd >= 0) ::close(fd);
    if (refused) {
      return Status(config::kConfigInvalid, "no hub is running on " + data_dir + " (" + path +
                                                " is left from a hub that ended)");
    }
  }
  socket.connect(control_endpoint(data_dir));
  socket.send(zmq::buffer(request_json), zmq::send_flags::none);
  zmq::message_t reply;
  if (!socket.recv(reply)) {
    return Status(config::kConfigInvalid, "the hub on " + data_dir + " did not answer within " +
                                              std::to_string(timeout_ms) + " ms");
  }
  return reply.to_string();
}

}  // namespace hutong::daemon
