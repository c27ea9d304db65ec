// A real, throw-away PostgreSQL server for a test: started by
// deploy/pg-scratch.sh (the same script the demo county uses), stopped and
// removed when the object goes. Each instance has its own folder and port, so
// tests that use one run concurrently.
#pragma once

#include <stdexcept>
#include <string>

#include "process_util.h"

namespace hutong::testing {

class PgServer {
 public:
  // `source_dir`: the project's root (HUTONG_SOURCE_DIR).
  explicit PgServer(const std::string& source_dir) : script_(source_dir + "/deploy/pg-scratch.sh") {
    ProcessResult r = run_command(shell_quote(script_) + " start 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("PostgreSQL did not start: " + r.out);
    dir_ = line_value(r.out, "dir=");
    conninfo_ = line_value(r.out, "conninfo=");
    if (dir_.empty() || conninfo_.empty())
      throw std::runtime_error("pg-scratch.sh printed no dir/conninfo: " + r.out);
  }
  ~PgServer() { run_command(shell_quote(script_) + " stop " + shell_quote(dir_) + " 2>&1"); }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // "host=127.0.0.1 port=N user=postgres dbname=postgres"
  const std::string& conninfo() const { return conninfo_; }
  // The same server, another database (create it first with psql()).
  std::string conninfo(const std::string& dbname) const {
    std::string c = conninfo_;
    c.replace(c.find("dbname=postgres"), 15, "dbname=" + dbname);
    return c;
  }

  // Runs SQL through psql (stops at the first error); returns its output, or
  // throws with psql's message.
  std::string psql(const std::string& sql, const std::string& dbname = "postgres") const {
    ProcessResult r = run_command(
        "psql -X -q -A -t -v ON_ERROR_STOP=1 " + shell_quote(conninfo(dbname)) + " 2>&1", sql);
    if (r.exit_code != 0) throw std::runtime_error("psql failed: " + r.out + "\nSQL: " + sql);
    return r.out;
  }
  std::string psql_file(const std::string& path, const std::string& dbname = "postgres") const {
    ProcessResult r =
        run_command("psql -X -q -A -t -v ON_ERROR_STOP=1 " + shell_quote(conninfo(dbname)) +
                    " -f " + shell_quote(path) + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("psql -f " + path + " failed: " + r.out);
    return r.out;
  }

  // Stops and starts the server on the same port (a database restart under a
  // connected client).
  void restart() const {
    ProcessResult r = run_command(shell_quote(script_) + " restart " + shell_quote(dir_) + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("PostgreSQL did not restart: " + r.out);
  }

  // Stops the server (clients find nothing listening) until resume().
  void halt() const {
    ProcessResult r = run_command(shell_quote(script_) + " halt " + shell_quote(dir_) + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("PostgreSQL did not stop: " + r.out);
  }
  void resume() const {
    ProcessResult r = run_command(shell_quote(script_) + " resume " + shell_quote(dir_) + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("PostgreSQL did not start again: " + r.out);
  }

 private:
  std::string script_;
  std::string dir_;
  std::string conninfo_;
};

}  // namespace hutong::testing
