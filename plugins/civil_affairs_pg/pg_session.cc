#include "pg_session.h"

#include <fstream>

#include "hutong/plugin.hpp"

namespace civil_affairs_pg {

using hutong::sdk::Failure;

namespace {

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Failure(kConfig, "cannot read the password file " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.pop_back();
  return line;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

}  // namespace

std::string quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

PgSession::PgSession(ConnectionSettings settings) : settings_(std::move(settings)) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(settings_.conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    throw Failure(kConfig, "conninfo does not parse: " + trimmed(message));
  }
  std::string host = "localhost", port = "5432", dbname, user;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string key = o->keyword;
    if (key == "password") {
      PQconninfoFree(options);
      throw Failure(kConfig,
                    "conninfo holds a password: put it in the file named by password_file "
                    "(or a libpq passfile), never in the configuration");
    }
    if (key == "host" || key == "hostaddr") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
    if (key == "user") user = o->val;
  }
  PQconninfoFree(options);
  if (!settings_.host.empty()) host = settings_.host;
  if (!settings_.port.empty()) port = settings_.port;
  if (!settings_.dbname.empty()) dbname = settings_.dbname;
  if (!settings_.user.empty()) user = settings_.user;
  if (settings_.conninfo.empty() && settings_.host.empty() && settings_.dbname.empty()) {
    throw Failure(kConfig, "no database given: set conninfo, or host and dbname");
  }
  where_ = host + ":" + port + "/" + dbname + (user.empty() ? "" : " as " + user);
}

PgSession::~PgSession() {
  disconnect();
}

void PgSession::disconnect() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

void PgSession::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
  disconnect();
  std::string password;
  if (!settings_.password_file.empty()) password = first_line_of(settings_.password_file);
  // Every session is read-only from its first statement; a statement and a
  // lock timeout keep it from waiting behind (and so in front of) the
  // department's writers and DDL; timestamps come back in UTC, dates in ISO.
  std::string options = "-c default_transaction_read_only=on -c statement_timeout=" +
                        std::to_string(settings_.statement_timeout_ms) +
                        " -c lock_timeout=" + std::to_string(settings_.lock_timeout_ms) +
                        " -c idle_in_transaction_session_timeout=60000 -c DateStyle=ISO"
                        " -c TimeZone=UTC -c IntervalStyle=iso_8601";
  std::string timeout = std::to_string(std::max<int64_t>(1, settings_.connect_timeout_ms / 1000));
  std::vector<std::pair<std::string, std::string>> params = {
      {"dbname", settings_.conninfo}, {"host", settings_.host},
      {"port", settings_.port},       {"user", settings_.user},
      {"password", password},         {"connect_timeout", timeout},
      {"options", options},           {"application_name", settings_.application_name},
      {"client_encoding", "UTF8"},
  };
  if (!settings_.dbname.empty()) params.push_back({"dbname", settings_.dbname});
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string message = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    disconnect();
    throw Failure(kUnreachable, "cannot connect to PostgreSQL at " + where_ + ": " + message);
  }
}

Rows PgSession::query(const std::string& sql, const std::vector<std::string>& params,
                      const std::string& what) {
  connect();
  std::vector<const char*> values;
  for (const std::string& p : params)
    values.push_back(p.c_str());
  PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  if (result == nullptr || PQresultStatus(result) != PGRES_TUPLES_OK) fail(result, what);
  return Rows(result);
}

void PgSession::command(const std::string& sql, const std::string& what) {
  connect();
  PGresult* result = PQexec(conn_, sql.c_str());
  if (result == nullptr || PQresultStatus(result) != PGRES_COMMAND_OK) fail(result, what);
  PQclear(result);
}

bool PgSession::may_write(const std::string& table) {
  Rows r = query(
      "SELECT has_table_privilege($1, 'INSERT') OR has_table_privilege($1, 'UPDATE') OR "
      "has_table_privilege($1, 'DELETE')",
      {table}, table);
  return r.count() == 1 && r.text(0, 0) == "t";
}

void PgSession::fail(const PGresult* result, const std::string& what) {
  std::string message = trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  bool lost = PQstatus(conn_) != CONNECTION_OK || sqlstate.starts_with("08") ||
              sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
  if (result) PQclear(const_cast<PGresult*>(result));
  disconnect();  // opened afresh on the next call
  std::string where = what + " on " + where_ + ": " + message;
  if (lost) throw Failure(kUnreachable, "lost the connection reading " + where);
  if (sqlstate == "42501") throw Failure(kPermission, "the role may not read " + where);
  if (sqlstate == "42P01" || sqlstate == "42703" || sqlstate == "3F000") {
    throw Failure(kSchema, "the table is not as expected: " + where);
  }
  if (sqlstate == "57014" || sqlstate == "55P03")
    throw Failure(kTimeout, "timed out reading " + where);
  throw Failure(kQuery,
                "cannot read " + where + (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")"));
}

}  // namespace civil_affairs_pg
