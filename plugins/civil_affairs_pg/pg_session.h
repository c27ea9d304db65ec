// pg_session: one libpq connection of the civil_affairs_pg adapter to the
// bureau's PostgreSQL, opened read-only (default_transaction_read_only, a
// statement and a lock timeout, so that a query never waits behind the
// department's DDL nor holds anything for long). Owns connecting, running a
// parameterized query with text results, and turning every libpq failure into
// a hutong::sdk::Failure with a stable code naming host, port and table. It
// must never write and never open a transaction longer than one statement.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace civil_affairs_pg {

// Error codes of the connector (README.md "Errors").
inline constexpr const char* kUnreachable = "source.unreachable";
inline constexpr const char* kQuery = "source.query";
inline constexpr const char* kPermission = "source.permission";
inline constexpr const char* kSchema = "source.schema";
inline constexpr const char* kTimeout = "source.timeout";
inline constexpr const char* kConfig = "config.invalid";

struct ConnectionSettings {
  std::string conninfo;  // libpq key/value string or URI; may be empty
  std::string host, port, dbname, user;
  std::string password_file;  // a file whose first line is the password
  int64_t connect_timeout_ms = 10000;
  int64_t statement_timeout_ms = 30000;
  int64_t lock_timeout_ms = 2000;
  std::string application_name;
};

// The rows of one query, as text (NULL is std::nullopt).
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int count() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  const char* column_name(int c) const { return PQfname(result_.get(), c); }
  bool null(int row, int c) const { return PQgetisnull(result_.get(), row, c); }
  std::string text(int row, int c) const {
    return std::string(PQgetvalue(result_.get(), row, c),
                       static_cast<size_t>(PQgetlength(result_.get(), row, c)));
  }
  std::optional<std::string> value(int row, int c) const {
    if (null(row, c)) return std::nullopt;
    return text(row, c);
  }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

class PgSession {
 public:
  // Checks the settings (a password may not be written in them) and says
  // where the connection goes; connects on first use.
  explicit PgSession(ConnectionSettings settings);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  // "host:port/dbname as user", for messages.
  const std::string& where() const { return where_; }

  // Runs one statement (its own short read-only transaction). `what` names
  // the table for messages. Throws Failure on any error; the connection is
  // dropped then and opened again on the next call.
  Rows query(const std::string& sql, const std::vector<std::string>& params,
             const std::string& what);

  // Runs a statement that returns no rows (BEGIN, DECLARE, COMMIT).
  void command(const std::string& sql, const std::string& what);

  // Whether the role may INSERT, UPDATE or DELETE on `table` (it should not).
  bool may_write(const std::string& table);

  void disconnect();

 private:
  void connect();
  [[noreturn]] void fail(const PGresult* result, const std::string& what);

  ConnectionSettings settings_;
  std::string where_;
  PGconn* conn_ = nullptr;
};

// Quotes an SQL identifier ("a""b").
std::string quote_identifier(const std::string& name);

}  // namespace civil_affairs_pg
