// postgres_sink: keeps a department's slice of the journal in the department's
// own PostgreSQL database, one table per record type (columns from the
// schemas, via plugins/common/record_layout.h), upserting and deleting by the
// record key. Each deliver call is one transaction that also stores the sink's
// offset, so a crash anywhere leaves rows and offset in agreement and a replay
// from that offset is idempotent. Knows no topic or column by name. See
// README.md for the tables it writes and its error codes.
#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "hutong/plugin.hpp"
#include "record_layout.h"

namespace {

using hutong::sdk::Failure;
using hutong::sinks::Cell;
using hutong::sinks::Column;
using hutong::sinks::ColumnType;
using hutong::sinks::RecordLayout;

const hutong_config_key kKeys[] = {
    {"conninfo", HUTONG_CONFIG_STRING, nullptr,
     "libpq connection string of the department's database, e.g. \"host=db.local dbname=edu "
     "user=hutong_sink\""},
    {"schema", HUTONG_CONFIG_STRING, "hutong",
     "the schema the tables are kept in (created when missing)"},
};

constexpr std::string_view kOffsetTable = "_hutong_sink_offset";
// libpq allows 65535 parameters per statement; stay well below.
constexpr size_t kMaxParameters = 30000;

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The PostgreSQL type of a column, as information_schema.columns.data_type spells it.
std::string_view sql_type(ColumnType type) {
  switch (type) {
    case ColumnType::kText:
      return "text";
    case ColumnType::kInteger:
      return "bigint";
    case ColumnType::kUnsigned:
      return "numeric";
    case ColumnType::kReal:
      return "double precision";
    case ColumnType::kBoolean:
      return "boolean";
    case ColumnType::kDate:
      return "date";
    case ColumnType::kTimestamp:
      return "timestamp with time zone";
    case ColumnType::kJson:
      return "jsonb";
  }
  return "text";
}

// A parameter's text as PostgreSQL reads it for the column's type.
std::string sql_value(ColumnType type, const std::string& cell) {
  // record_layout writes times in China Standard Time.
  return type == ColumnType::kTimestamp ? cell + "+08" : cell;
}

class PostgresSink : public hutong::sdk::Sink {
 public:
  PostgresSink(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        connector_(settings.connector_name()),
        conninfo_(settings.string("conninfo")),
        schema_(settings.string("schema")) {
    if (schema_.empty()) throw Failure("config.invalid", "setting \"schema\" is empty");
  }
  ~PostgresSink() override { disconnect(); }

  uint64_t committed_offset() override {
    connect();
    ensure_offset_table();
    std::vector<const char*> params = {connector_.c_str()};
    Result r = run("SELECT next_offset FROM " + qualified(kOffsetTable) + " WHERE connector = $1",
                   params, "reading the sink's offset");
    committed_ = PQntuples(r.get()) == 0 ? 0 : std::stoull(PQgetvalue(r.get(), 0, 0));
    known_offset_ = true;
    host_.info("PostgreSQL sink " + where() + ": stored up to offset " +
               std::to_string(committed_));
    return committed_;
  }

  uint64_t deliver(std::span<const hutong_record> records) override {
    if (records.empty()) {  // caught up (the C++ layer calls flush() instead): nothing is buffered
      return known_offset_ ? committed_ : committed_offset();
    }
    connect();
    // The last version of each key decides (a batch may hold several).
    std::map<std::string, std::map<std::string, const hutong_record*>> latest;  // topic -> key
    for (const hutong_record& r : records) {
      latest[std::string(r.topic, r.topic_len)][std::string(r.key, r.key_len)] = &r;
    }
    try {
      run("BEGIN", {}, "starting a transaction");
      for (auto& [topic, by_key] : latest)
        write_topic(topic, by_key);
      uint64_t next = records.back().offset + 1;
      std::string next_text = std::to_string(next);
      run("INSERT INTO " + qualified(kOffsetTable) +
              " (connector, next_offset, updated_at) VALUES ($1, $2, now()) "
              "ON CONFLICT (connector) DO UPDATE SET next_offset = EXCLUDED.next_offset, "
              "updated_at = EXCLUDED.updated_at",
          {connector_.c_str(), next_text.c_str()}, "storing the sink's offset");
      run("COMMIT", {},
          "committing offsets " + std::to_string(records.front().offset) + ".." +
              std::to_string(records.back().offset));
      committed_ = next;
      known_offset_ = true;
      return committed_;
    } catch (...) {
      // Whatever the transaction did is rolled back with the connection; the
      // tables checked inside it may not exist after all.
      disconnect();
      throw;
    }
  }

 private:
  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using Result = std::unique_ptr<PGresult, ResultDeleter>;

  std::string qualified(std::string_view table) const {
    return quote_ident(schema_) + "." + quote_ident(table);
  }

  std::string where() const {
    if (conn_ == nullptr) return "(not connected)";
    return std::string(PQhost(conn_) ? PQhost(conn_) : "?") + ":" +
           (PQport(conn_) ? PQport(conn_) : "?") + "/" + (PQdb(conn_) ? PQdb(conn_) : "?");
  }

  void connect() {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return;
    disconnect();
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string message = "cannot connect to PostgreSQL at " + where() + ": " +
                            PQerrorMessage(conn_) + " (the hub retries with backoff)";
      disconnect();
      throw Failure("sink.unreachable", message);
    }
    PQsetClientEncoding(conn_, "UTF8");
    Result quiet(PQexec(conn_, "SET client_min_messages = warning"));
  }

  void disconnect() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    tables_.clear();
    staged_.clear();
  }

  // Runs one statement with text parameters (nullptr: NULL). Throws
  // sink.unreachable when the connection is gone, else sink.sql.
  Result run(const std::string& sql, const std::vector<const char*>& params,
             const std::string& doing) {
    Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                          params.data(), nullptr, nullptr, 0));
    ExecStatusType status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    fail(r.get(), doing);
  }

  // Throws the error of a failed statement (`r` may be null): sink.unreachable
  // when the connection is gone, sink.permission, else sink.sql.
  [[noreturn]] void fail(const PGresult* r, const std::string& doing) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate = state ? state : "";
    std::string message = r ? PQresultErrorMessage(r) : "";
    if (message.empty()) message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    // Class 08: connection exceptions; 57P0x: the server is shutting down or restarting.
    bool gone = PQstatus(conn_) != CONNECTION_OK || sqlstate.starts_with("08") ||
                sqlstate.starts_with("57P");
    if (gone) {
      throw Failure("sink.unreachable", "lost PostgreSQL at " + where() + " while " + doing + ": " +
                                            message + " (the hub retries with backoff)");
    }
    if (sqlstate == "42501") {
      throw Failure("sink.permission", "PostgreSQL at " + where() + " refused " + doing + ": " +
                                           message + " (grant the sink's role CREATE on schema " +
                                           schema_ + " and on its tables)");
    }
    throw Failure("sink.sql", "PostgreSQL at " + where() + " failed " + doing + " (SQLSTATE " +
                                  sqlstate + "): " + message);
  }

  // COPY … FROM STDIN in text format: rows of cells, tab-separated, \\N for NULL.
  void copy_in(const std::string& sql, const std::vector<std::vector<std::string>>& rows,
               const std::vector<std::vector<bool>>& nulls, const std::string& doing) {
    Result started(PQexec(conn_, sql.c_str()));
    if (!started || PQresultStatus(started.get()) != PGRES_COPY_IN) fail(started.get(), doing);
    std::string buffer;
    bool ok = true;
    auto send = [&](bool last) {
      if (!ok || (!last && buffer.size() < (1u << 20))) return;
      ok = PQputCopyData(conn_, buffer.data(), static_cast<int>(buffer.size())) == 1;
      buffer.clear();
    };
    for (size_t r = 0; r < rows.size() && ok; ++r) {
      for (size_t c = 0; c < rows[r].size(); ++c) {
        if (c > 0) buffer += '\t';
        if (nulls[r][c]) {
          buffer += "\\N";
          continue;
        }
        for (char ch : rows[r][c]) {
          switch (ch) {
            case '\\':
              buffer += "\\\\";
              break;
            case '\t':
              buffer += "\\t";
              break;
            case '\n':
              buffer += "\\n";
              break;
            case '\r':
              buffer += "\\r";
              break;
            default:
              buffer += ch;
          }
        }
      }
      buffer += '\n';
      send(false);
    }
    send(true);
    ok = PQputCopyEnd(conn_, ok ? nullptr : "the sink could not send its rows") == 1 && ok;
    Result finished(PQgetResult(conn_));
    while (Result more{PQgetResult(conn_)}) {
    }
    if (ok && finished && PQresultStatus(finished.get()) == PGRES_COMMAND_OK) return;
    fail(finished.get(), doing);
  }

  void ensure_schema() {
    std::vector<const char*> params = {schema_.c_str()};
    Result r =
        run("SELECT 1 FROM pg_namespace WHERE nspname = $1", params, "looking up the schema");
    if (PQntuples(r.get()) == 0) {
      run("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema_), {}, "creating schema " + schema_);
    }
  }

  void ensure_offset_table() {
    ensure_schema();
    run("CREATE TABLE IF NOT EXISTS " + qualified(kOffsetTable) +
            " (connector text PRIMARY KEY, next_offset bigint NOT NULL, "
            "updated_at timestamptz NOT NULL DEFAULT now())",
        {}, "creating the offset table");
  }

  // The column's title (身份证件号…) as its comment, which database tools show
  // beside its name; on the columns this sink created.
  void comment(const std::string& table, const std::string& column, const std::string& title) {
    char* literal = PQescapeLiteral(conn_, title.data(), title.size());
    if (literal == nullptr) fail(nullptr, "quoting the title of column " + column);
    std::string sql =
        "COMMENT ON COLUMN " + qualified(table) + "." + quote_ident(column) + " IS " + literal;
    PQfreemem(literal);
    run(sql, {}, "commenting column " + column + " of " + table);
  }

  // Creates the topic's table or adds the columns a newer schema has; checks
  // that existing columns have the types the record type needs.
  void ensure_table(const RecordLayout& layout, const std::string& table) {
    if (tables_.contains(table)) return;
    std::string name = qualified(table);
    std::vector<const char*> name_param = {name.c_str()};
    bool created = PQgetisnull(
        run("SELECT to_regclass($1)", name_param, "looking up table " + table).get(), 0, 0);
    std::string create = "CREATE TABLE IF NOT EXISTS " + qualified(table) +
                         " (\"_key\" text PRIMARY KEY, \"_offset\" bigint NOT NULL";
    for (const Column& c : layout.columns())
      create += ", " + quote_ident(c.name) + " " + std::string(sql_type(c.type));
    create += ")";
    run(create, {}, "creating table " + table);
    if (created) {
      comment(table, "_key", "记录键");
      comment(table, "_offset", "日志偏移");
      for (const Column& c : layout.columns())
        comment(table, c.name, c.title);
    }
    std::vector<const char*> params = {schema_.c_str(), table.c_str()};
    Result r =
        run("SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = $2",
            params, "reading the columns of " + table);
    std::map<std::string, std::string> existing;
    for (int i = 0; i < PQntuples(r.get()); ++i)
      existing[PQgetvalue(r.get(), i, 0)] = PQgetvalue(r.get(), i, 1);
    for (const Column& c : layout.columns()) {
      auto it = existing.find(c.name);
      if (it == existing.end()) {
        run("ALTER TABLE " + qualified(table) + " ADD COLUMN IF NOT EXISTS " + quote_ident(c.name) +
                " " + std::string(sql_type(c.type)),
            {}, "adding column " + c.name + " to " + table);
        comment(table, c.name, c.title);
      } else if (it->second != sql_type(c.type)) {
        throw Failure("sink.schema", "column " + schema_ + "." + table + "." + c.name + " is " +
                                         it->second + " but " + layout.topic() + "'s field " +
                                         c.path + " needs " + std::string(sql_type(c.type)) +
                                         " (rename or drop that column)");
      }
    }
    tables_.insert(table);
  }

  void write_topic(const std::string& topic,
                   const std::map<std::string, const hutong_record*>& by_key) {
    const RecordLayout* layout = RecordLayout::for_topic(topic);
    if (layout == nullptr) {
      throw Failure("sink.topic", "no record type is published on topic \"" + topic +
                                      "\" (name only record topics in the connector's topics)");
    }
    std::string table = hutong::sinks::table_name_of(topic);
    ensure_table(*layout, table);
    const std::vector<Column>& columns = layout->columns();

    std::vector<std::pair<std::string, std::string>> deletes;  // key, offset
    std::vector<std::vector<std::string>> rows;                // _key, _offset, cells…
    std::vector<std::vector<bool>> nulls;
    std::vector<Cell> cells;
    for (const auto& [key, r] : by_key) {
      if (r->op == HUTONG_OP_DELETE) {
        deletes.emplace_back(key, std::to_string(r->offset));
        continue;
      }
      std::string_view payload(reinterpret_cast<const char*>(r->payload), r->payload_len);
      if (!layout->flatten(payload, cells)) {
        throw Failure("sink.record", "offset " + std::to_string(r->offset) + " on " + topic +
                                         " (key " + key + ") is not a " +
                                         std::string(layout->type()->full_name()) + " record");
      }
      std::vector<std::string> row = {key, std::to_string(r->offset)};
      std::vector<bool> null = {false, false};
      for (size_t i = 0; i < columns.size(); ++i) {
        row.push_back(cells[i] ? sql_value(columns[i].type, *cells[i]) : std::string());
        null.push_back(!cells[i]);
      }
      rows.push_back(std::move(row));
      nulls.push_back(std::move(null));
    }

    // Deletes, many keys per statement; a row already holding a newer offset is kept.
    for (size_t start = 0; start < deletes.size(); start += kMaxParameters / 2) {
      size_t end = std::min(deletes.size(), start + kMaxParameters / 2);
      std::string sql = "DELETE FROM " + qualified(table) + " AS t USING (VALUES ";
      std::vector<const char*> params;
      for (size_t i = start; i < end; ++i) {
        size_t n = 2 * (i - start);
        sql += (i > start ? ",($" : "($") + std::to_string(n + 1) + "::text,$" +
               std::to_string(n + 2) + "::bigint)";
        params.push_back(deletes[i].first.c_str());
        params.push_back(deletes[i].second.c_str());
      }
      run(sql + ") AS d(k, o) WHERE t.\"_key\" = d.k AND t.\"_offset\" <= d.o", params,
          "deleting from " + table);
    }

    if (rows.empty()) return;
    // Upserts: the rows are copied (COPY, the fastest way in) into a session
    // table shaped like the target, then merged; a row already holding a newer
    // offset is kept.
    std::string stage = quote_ident("_hutong_stage_" + table);
    std::string names = "\"_key\", \"_offset\"";
    std::string update = "\"_offset\" = EXCLUDED.\"_offset\"";
    for (const Column& c : columns) {
      names += ", " + quote_ident(c.name);
      update += ", " + quote_ident(c.name) + " = EXCLUDED." + quote_ident(c.name);
    }
    if (!staged_.contains(table)) {
      run("CREATE TEMP TABLE IF NOT EXISTS " + stage + " (LIKE " + qualified(table) +
              ") ON COMMIT DELETE ROWS",
          {}, "creating the staging table of " + table);
      staged_.insert(table);
    }
    copy_in("COPY " + stage + " (" + names + ") FROM STDIN", rows, nulls, "copying into " + table);
    run("INSERT INTO " + qualified(table) + " AS t (" + names + ") SELECT " + names + " FROM " +
            stage + " ON CONFLICT (\"_key\") DO UPDATE SET " + update +
            " WHERE t.\"_offset\" <= EXCLUDED.\"_offset\"",
        {}, "upserting into " + table);
  }

  hutong::sdk::Host host_;
  std::string connector_;
  std::string conninfo_;
  std::string schema_;
  PGconn* conn_ = nullptr;
  std::set<std::string> tables_;  // checked on this connection
  std::set<std::string> staged_;  // staging tables made on this connection
  uint64_t committed_ = 0;
  bool known_offset_ = false;
};

}  // namespace

HUTONG_SINK_PLUGIN(PostgresSink, "postgres_sink", "1.0.0",
                   "a department's records as tables in its own PostgreSQL database", kKeys)
