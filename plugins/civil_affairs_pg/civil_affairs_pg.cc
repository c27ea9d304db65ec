// civil_affairs_pg: reads the civil-affairs bureau's PostgreSQL tables
// (dibao_household, dibao_member, tekun_person, orphan_child) through a
// read-only role and publishes one civil_affairs.* topic per table, keyed by
// the tables' primary keys as stored (department-systems.md §2, rules 2, 4-6,
// 11). See README.md for settings, errors and the reasoning below.
//
// - Changes: per table an (updated_at, primary key) watermark at full
//   microsecond precision, paged with WHERE (updated_at, pk) > (mark) ORDER BY
//   updated_at, pk LIMIT n (keys compared bytewise, COLLATE "C", so that the
//   order is the same here, in the position and in the published-key file).
//   Transactions that commit late with an older updated_at are found by
//   re-reading the last `overlap_seconds` behind the watermark; rows already
//   published there with the same content are skipped (the approach of
//   charity_sqlite). The re-read stops once the database's clock is
//   overlap_seconds past the watermark and the window was read after that
//   (so catching up on old rows never re-reads).
// - Hard deletes: every `reconcile_interval` the tables' current keys are
//   compared with the keys published (published_keys.h, a private SQLite
//   file written ahead of emitting); the missing ones are emitted as deletes,
//   and rows present but never published though the watermark is past them
//   (inserted later than the overlap window allows) are published.
// - Never writes: every session is read-only, each statement its own short
//   transaction (the key scan is one read-only transaction with a cursor),
//   with a statement and a lock timeout.
// It must not guess: an unusable subject ID rejects the row (quarantine, with
// the row as the database returned it); reference IDs are left empty.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/amount.h"
#include "domain/date.h"
#include "domain/name.h"
#include "domain/resident_id.h"
#include "hutong/labels.hpp"
#include "hutong/plugin.hpp"
#include "hutong/v1/civil_affairs.pb.h"
#include "pg_session.h"
#include "published_keys.h"

namespace civil_affairs_pg {
namespace {

using hutong::sdk::enum_by_label;
using hutong::sdk::Failure;
using Clock = std::chrono::steady_clock;

const hutong_config_key kKeys[] = {
    {"conninfo", HUTONG_CONFIG_STRING, "",
     "libpq connection string or URI (no password: see password_file)"},
    {"host", HUTONG_CONFIG_STRING, "", "database host (overrides conninfo)"},
    {"port", HUTONG_CONFIG_STRING, "", "database port (overrides conninfo)"},
    {"dbname", HUTONG_CONFIG_STRING, "", "database name (overrides conninfo)"},
    {"user", HUTONG_CONFIG_STRING, "", "the read-only role (overrides conninfo)"},
    {"password_file", HUTONG_CONFIG_PATH, "", "a file whose first line is the role's password"},
    {"schema", HUTONG_CONFIG_STRING, "public", "the schema holding the four tables"},
    {"batch_rows", HUTONG_CONFIG_INT, "500", "at most this many records per poll"},
    {"overlap_seconds", HUTONG_CONFIG_INT, "10",
     "how far behind the watermark each poll reads again, for transactions that commit late"},
    {"reconcile_interval", HUTONG_CONFIG_DURATION, "300000",
     "how often the tables' keys are compared with the published ones to find hard deletes"},
    {"statement_timeout", HUTONG_CONFIG_DURATION, "30000", "longest a statement may run"},
    {"connect_timeout", HUTONG_CONFIG_DURATION, "10000", "longest a connection attempt may take"},
};

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int kKeyPage = 10000;

// ---------------------------------------------------------------------------
// The tables.

struct TableSpec {
  const char* name;
  const char* topic;
  std::vector<const char*> keys;     // primary-key columns, first in `columns`
  std::vector<const char*> columns;  // in select order
};

const std::vector<TableSpec>& table_specs() {
  static const std::vector<TableSpec> specs = {
      {"dibao_household",
       "civil_affairs.dibao_household",
       {"household_id"},
       {"household_id", "head_id_no", "region_code", "category", "member_count", "monthly_amount",
        "status", "approved_on", "stopped_on", "updated_at"}},
      {"dibao_member",
       "civil_affairs.dibao_member",
       {"household_id", "id_no"},
       {"household_id", "id_no", "name", "relation", "disability_grade", "updated_at"}},
      {"tekun_person",
       "civil_affairs.tekun_person",
       {"id_no"},
       {"id_no", "name", "region_code", "support_mode", "self_care", "status", "updated_at"}},
      {"orphan_child",
       "civil_affairs.orphan_child",
       {"id_no"},
       {"id_no", "name", "kind", "guardian_id_no", "region_code", "status", "updated_at"}},
  };
  return specs;
}

// A point in a table's (updated_at, primary key) order.
struct Mark {
  bool set = false;
  int64_t us = 0;  // updated_at, microseconds since the epoch
  std::string k1, k2;
  bool operator==(const Mark&) const = default;
};

// "yyyy-mm-dd hh:mm:ss.ffffff+00" for PostgreSQL.
std::string pg_timestamp(int64_t us) {
  int64_t day_us = 86400 * kMicrosPerSecond;
  int64_t days = us / day_us - (us % day_us < 0 ? 1 : 0);
  int64_t rest = us - days * day_us;
  auto date = hutong::domain::CivilDate::from_days_since_epoch(days);
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", date.year, date.month,
                date.day, static_cast<int>(rest / (3600 * kMicrosPerSecond)),
                static_cast<int>(rest / (60 * kMicrosPerSecond) % 60),
                static_cast<int>(rest / kMicrosPerSecond % 60),
                static_cast<int>(rest % kMicrosPerSecond));
  return text;
}

// Escapes the characters the position uses as separators.
std::string escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '%' || c == ';' || c == ',' || c == '=' || c < 0x20) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(separator, start);
    out.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// One row as the database returned it.
struct Row {
  const TableSpec* table = nullptr;
  std::vector<std::optional<std::string>> values;  // as text, in table->columns order
  int64_t us = 0;                                  // updated_at, µs since the epoch

  const std::optional<std::string>& at(const char* column) const {
    for (size_t c = 0; c < table->columns.size(); ++c) {
      if (std::string_view(table->columns[c]) == column) return values[c];
    }
    throw Failure("plugin.bug", std::string("no column ") + column);
  }
  std::string text(const char* column) const { return at(column).value_or(""); }
  std::string k1() const { return values[0].value_or(""); }
  std::string k2() const { return table->keys.size() > 1 ? values[1].value_or("") : ""; }
  // The record key: the primary key as stored, columns joined with '|'.
  std::string key() const { return table->keys.size() > 1 ? k1() + "|" + k2() : k1(); }
  Mark mark() const { return {true, us, k1(), k2()}; }
  // column=value, tab-separated, NULL for a null: what the quarantine keeps.
  std::string original() const {
    std::string out;
    for (size_t c = 0; c < table->columns.size(); ++c) {
      if (c) out += '\t';
      out += table->columns[c];
      out += '=';
      out += values[c] ? *values[c] : "NULL";
    }
    return out;
  }
};

std::string trim_spaces(std::string text) {
  size_t end = text.find_last_not_of(' ');
  return end == std::string::npos ? "" : text.substr(0, end + 1);
}

void set_date(const hutong::domain::CivilDate& date, hutong::v1::Date& out) {
  out.set_year(date.year);
  out.set_month(date.month);
  out.set_day(date.day);
}

void set_timestamp(int64_t us, google::protobuf::Timestamp& out) {
  int64_t seconds = us / kMicrosPerSecond - (us % kMicrosPerSecond < 0 ? 1 : 0);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>((us - seconds * kMicrosPerSecond) * 1000));
}

// A row turned into a record, or the reason it cannot be.
struct Converted {
  std::string payload;  // serialized record when ok
  bool ok = false;
  std::string reason, message, field;
};

Converted rejection(std::string_view reason, std::string message, const char* field) {
  Converted c;
  c.reason = std::string(reason);
  c.message = std::move(message);
  c.field = field;
  return c;
}

template <typename Message>
Converted accepted(const Message& record) {
  Converted c;
  c.ok = true;
  record.SerializeToString(&c.payload);
  return c;
}

template <typename Enum, typename Setter, typename TextSetter>
void set_enum(const google::protobuf::EnumDescriptor* type, const std::string& text, Setter set,
              TextSetter set_text) {
  int value = enum_by_label(type, text);
  set(static_cast<Enum>(value));
  if (value == 0 && !text.empty()) set_text(text);
}

// The subject's ID (rule 5): normalized, or why the row is rejected.
bool subject(const Row& row, const char* column, hutong::v1::Person& person, Converted& why) {
  auto id = hutong::domain::normalize_resident_id(row.text(column), hutong::domain::today());
  if (!id) {
    why = rejection(id.code(), std::string(column) + ": " + id.status().message(), column);
    return false;
  }
  person.set_resident_id(std::string(id->number()));
  person.set_id_type(hutong::v1::ID_TYPE_RESIDENT_ID);
  auto name = hutong::domain::normalize_name(row.text("name"));
  person.set_name(name ? *name : row.text("name"));
  return true;
}

// A reference ID (rule 6): normalized when possible, else empty.
std::string reference_id(const Row& row, const char* column) {
  if (!row.at(column)) return "";
  auto id = hutong::domain::normalize_resident_id(*row.at(column), hutong::domain::today());
  return id ? std::string(id->number()) : "";
}

bool date_of(const Row& row, const char* column, hutong::v1::Date& out, Converted& why) {
  auto date = hutong::domain::parse_date(row.text(column));
  if (!date) {
    why = rejection(date.code(), std::string(column) + ": " + date.status().message(), column);
    return false;
  }
  set_date(*date, out);
  return true;
}

Converted household(const Row& row) {
  hutong::v1::DibaoHousehold h;
  Converted why;
  h.set_household_id(row.k1());
  h.set_head_resident_id(reference_id(row, "head_id_no"));
  h.set_region_code(trim_spaces(row.text("region_code")));
  set_enum<hutong::v1::DibaoCategory>(
      hutong::v1::DibaoCategory_descriptor(), row.text("category"),
      [&](auto v) { h.set_category(v); }, [&](auto& t) { h.set_category_text(t); });
  h.set_member_count(std::stoi(row.text("member_count")));
  auto amount = hutong::domain::parse_yuan_to_fen(row.text("monthly_amount"));
  if (!amount) {
    return rejection(amount.code(), "monthly_amount: " + amount.status().message(),
                     "monthly_amount");
  }
  h.set_monthly_amount_fen(*amount);
  set_enum<hutong::v1::DibaoStatus>(
      hutong::v1::DibaoStatus_descriptor(), row.text("status"), [&](auto v) { h.set_status(v); },
      [&](auto& t) { h.set_status_text(t); });
  if (!date_of(row, "approved_on", *h.mutable_approved_on(), why)) return why;
  if (row.at("stopped_on") && !date_of(row, "stopped_on", *h.mutable_stopped_on(), why)) return why;
  set_timestamp(row.us, *h.mutable_updated_at());
  return accepted(h);
}

Converted member(const Row& row) {
  hutong::v1::DibaoMember m;
  Converted why;
  m.set_household_id(row.k1());
  if (!subject(row, "id_no", *m.mutable_person(), why)) return why;
  set_enum<hutong::v1::Relation>(
      hutong::v1::Relation_descriptor(), row.text("relation"), [&](auto v) { m.set_relation(v); },
      [&](auto& t) { m.set_relation_text(t); });
  set_enum<hutong::v1::DisabilityGrade>(
      hutong::v1::DisabilityGrade_descriptor(), row.text("disability_grade"),
      [&](auto v) { m.set_disability_grade(v); }, [&](auto& t) { m.set_disability_grade_text(t); });
  set_timestamp(row.us, *m.mutable_updated_at());
  return accepted(m);
}

Converted tekun(const Row& row) {
  hutong::v1::TekunPerson t;
  Converted why;
  if (!subject(row, "id_no", *t.mutable_person(), why)) return why;
  t.set_region_code(trim_spaces(row.text("region_code")));
  set_enum<hutong::v1::SupportMode>(
      hutong::v1::SupportMode_descriptor(), row.text("support_mode"),
      [&](auto v) { t.set_support_mode(v); }, [&](auto& s) { t.set_support_mode_text(s); });
  set_enum<hutong::v1::SelfCareAbility>(
      hutong::v1::SelfCareAbility_descriptor(), row.text("self_care"),
      [&](auto v) { t.set_self_care(v); }, [&](auto& s) { t.set_self_care_text(s); });
  set_enum<hutong::v1::RegisterStatus>(
      hutong::v1::RegisterStatus_descriptor(), row.text("status"), [&](auto v) { t.set_status(v); },
      [&](auto& s) { t.set_status_text(s); });
  set_timestamp(row.us, *t.mutable_updated_at());
  return accepted(t);
}

Converted orphan(const Row& row) {
  hutong::v1::OrphanChild o;
  Converted why;
  if (!subject(row, "id_no", *o.mutable_child(), why)) return why;
  set_enum<hutong::v1::OrphanKind>(
      hutong::v1::OrphanKind_descriptor(), row.text("kind"), [&](auto v) { o.set_kind(v); },
      [&](auto& s) { o.set_kind_text(s); });
  o.set_guardian_resident_id(reference_id(row, "guardian_id_no"));
  o.set_region_code(trim_spaces(row.text("region_code")));
  set_enum<hutong::v1::RegisterStatus>(
      hutong::v1::RegisterStatus_descriptor(), row.text("status"), [&](auto v) { o.set_status(v); },
      [&](auto& s) { o.set_status_text(s); });
  set_timestamp(row.us, *o.mutable_updated_at());
  return accepted(o);
}

Converted convert(const Row& row) {
  std::string_view name = row.table->name;
  if (name == "dibao_household") return household(row);
  if (name == "dibao_member") return member(row);
  if (name == "tekun_person") return tekun(row);
  return orphan(row);
}

// What one poll emits, in order, once the published-key file holds its keys.
struct Outgoing {
  enum Kind { kUpsert, kDelete, kReject } kind;
  const TableSpec* table;
  std::string key;
  std::string payload;
  int64_t event_us = 0;
  hutong::sdk::RejectedRow rejected;
};

class CivilAffairsPg : public hutong::sdk::Source {
 public:
  CivilAffairsPg(const hutong::sdk::Host& host, const hutong::sdk::Settings& settings)
      : host_(host),
        session_(connection_settings(settings)),
        schema_(settings.string("schema")),
        batch_rows_(std::max<int64_t>(1, settings.integer("batch_rows"))),
        overlap_us_(settings.integer("overlap_seconds") * kMicrosPerSecond),
        reconcile_interval_(settings.milliseconds("reconcile_interval")),
        state_file_(host.state_dir() + "/published_keys.sqlite") {
    if (host.state_dir().empty()) {
      throw Failure(kConfig,
                    "the hub gives this connector no state_dir (a hub older than plugin ABI 2?): "
                    "the published-key file, needed to find hard deletes, has nowhere to live");
    }
    for (const TableSpec& spec : table_specs())
      tables_.push_back({&spec, {}, {}, {}});
  }

  // The position: "r=<pass>;<table>=<µs>,<k1>,<k2>[,s];..." (keys escaped;
  // ",s": the window behind that watermark needs no re-reading).
  void start(std::string_view position) override {
    std::string text(position);
    for (const std::string& part : split(text, ';')) {
      if (part.empty()) continue;
      size_t eq = part.find('=');
      if (eq == std::string::npos) throw Failure("position.invalid", "bad position " + text);
      std::string name = part.substr(0, eq), value = part.substr(eq + 1);
      try {
        if (name == "r") {
          committed_pass_ = std::stoull(value);
          continue;
        }
        std::vector<std::string> fields = split(value, ',');
        if (fields.size() != 3 && !(fields.size() == 4 && fields[3] == "s")) {
          throw Failure("position.invalid", "bad position " + text);
        }
        for (TableState& t : tables_) {
          if (name != t.spec->name) continue;
          t.mark = {true, std::stoll(fields[0]), unescape(fields[1]), unescape(fields[2])};
          if (fields.size() == 4) t.settled = t.mark;  // its window needs no re-reading
        }
      } catch (const std::logic_error&) {
        throw Failure("position.invalid", "bad position " + text);
      }
    }
    keys_ = std::make_unique<PublishedKeys>(state_file_);
    if (keys_->created() && !text.empty()) {
      // The journal holds keys this file does not know: read everything again
      // (the hub counts the unchanged rows as duplicates) so that the file
      // knows every current key. Rows deleted meanwhile cannot be found.
      host_.warn("the published-key file " + state_file_ +
                 " is new but the position is not: reading all tables again; rows hard-deleted "
                 "before now are not detected");
      for (TableState& t : tables_)
        t.mark = t.settled = {};
    }
    keys_->resume(committed_pass_, text.empty());
    emitted_pass_ = committed_pass_;
  }

  bool poll(hutong::sdk::Emitter& out, uint32_t max_records) override {
    if (!checked_role_) check_role();
    int64_t budget = std::min<int64_t>(batch_rows_, max_records ? max_records : batch_rows_);
    std::vector<Outgoing> outgoing;
    std::vector<TableKey> published;
    if (pending_deletes_.empty() && Clock::now() >= next_reconcile_) {
      reconcile(outgoing, published);
      next_reconcile_ = Clock::now() + reconcile_interval_;
    }
    while (!pending_deletes_.empty() && static_cast<int64_t>(outgoing.size()) < budget) {
      auto it = pending_deletes_.begin();
      const TableSpec* spec = spec_of(it->table);
      std::string key = spec->keys.size() > 1 ? it->k1 + "|" + it->k2 : it->k1;
      outgoing.push_back({Outgoing::kDelete, spec, key, {}, 0, {}});
      pending_deletes_.erase(it);
    }
    int64_t db_now = database_now();
    for (size_t i = 0; i < tables_.size(); ++i) {
      TableState& t = tables_[(first_table_ + i) % tables_.size()];
      int64_t left = budget - static_cast<int64_t>(outgoing.size());
      if (left <= 0) break;
      read_table(t, db_now, left, outgoing, published);
    }
    first_table_ = (first_table_ + 1) % tables_.size();
    // The pass goes into the position only with its last delete.
    if (pending_deletes_.empty()) emitted_pass_ = std::max(emitted_pass_, reconciling_pass_);

    keys_->add(published);  // ahead of emitting: the file stays a superset
    emit(outgoing, out);
    out.position(position());
    return !outgoing.empty();
  }

  // Re-reads the row from the table (by the key in the quarantined row's
  // source name, "<table>:<key>") and publishes it, or rejects it again.
  void replay(const hutong_rejected_row& rejected, hutong::sdk::Emitter& out) override {
    std::string source = rejected.source_name ? rejected.source_name : "";
    size_t colon = source.find(':');
    const TableSpec* spec = colon == std::string::npos ? nullptr : spec_of(source.substr(0, colon));
    if (spec == nullptr) {
      throw Failure("replay.unknown_row", "\"" + source + "\" names no table of this connector");
    }
    std::string key = source.substr(colon + 1);
    std::string k1 = key, k2;
    if (spec->keys.size() > 1) {
      size_t bar = key.find('|');
      if (bar == std::string::npos) throw Failure("replay.unknown_row", "bad key " + key);
      k1 = key.substr(0, bar);
      k2 = key.substr(bar + 1);
    }
    std::optional<Row> found = fetch_row(*spec, k1, k2);
    if (!found) {
      throw Failure("replay.row_gone", std::string(spec->name) + " no longer holds the row " + key +
                                           " (deleted since it was quarantined)");
    }
    const Row& row = *found;
    std::vector<Outgoing> outgoing;
    outgoing.push_back(outgoing_for(row));
    keys_->add({{spec->name, row.k1(), row.k2()}});
    emit(outgoing, out);
  }

 private:
  struct TableState {
    const TableSpec* spec;
    Mark mark;
    Mark settled;  // equal to mark when no late commit can still land behind it
    // Rows published within the overlap window: key -> (updated_at µs, content hash).
    std::unordered_map<std::string, std::pair<int64_t, size_t>> recent;
  };

  static ConnectionSettings connection_settings(const hutong::sdk::Settings& settings) {
    ConnectionSettings c;
    c.conninfo = settings.string("conninfo");
    c.host = settings.string("host");
    c.port = settings.string("port");
    c.dbname = settings.string("dbname");
    c.user = settings.string("user");
    c.password_file = settings.string("password_file");
    c.statement_timeout_ms = settings.milliseconds("statement_timeout");
    c.connect_timeout_ms = settings.milliseconds("connect_timeout");
    c.application_name = "hutong " + settings.connector_name();
    return c;
  }

  static const TableSpec* spec_of(const std::string& name) {
    for (const TableSpec& spec : table_specs()) {
      if (name == spec.name) return &spec;
    }
    return nullptr;
  }

  std::string qualified(const TableSpec& spec) const {
    return quote_identifier(schema_) + "." + quote_identifier(spec.name);
  }

  std::string select_list(const TableSpec& spec) const {
    std::string sql = "SELECT ";
    for (const char* column : spec.columns) {
      sql += column;
      sql += "::text, ";
    }
    return sql + "(extract(epoch FROM updated_at) * 1000000)::int8 FROM " + qualified(spec);
  }

  // "(updated_at, k1 COLLATE "C"[, k2 COLLATE "C"])"
  static std::string order_tuple(const TableSpec& spec) {
    std::string tuple = "(updated_at";
    for (const char* k : spec.keys)
      tuple += std::string(", ") + k + " COLLATE \"C\"";
    return tuple + ")";
  }

  static std::vector<std::string> mark_params(const TableSpec& spec, const Mark& mark) {
    std::vector<std::string> p = {mark.set ? pg_timestamp(mark.us) : "-infinity", mark.k1};
    if (spec.keys.size() > 1) p.push_back(mark.k2);
    return p;
  }

  static Row to_row(const TableSpec& spec, const Rows& rows, int r) {
    Row row;
    row.table = &spec;
    for (size_t c = 0; c < spec.columns.size(); ++c)
      row.values.push_back(rows.value(r, static_cast<int>(c)));
    row.us = std::stoll(rows.text(r, static_cast<int>(spec.columns.size())));
    return row;
  }

  // The row with this primary key, if the table holds it.
  std::optional<Row> fetch_row(const TableSpec& spec, const std::string& k1,
                               const std::string& k2) {
    std::string sql = select_list(spec) + " WHERE " + spec.keys[0] + " = $1";
    std::vector<std::string> params = {k1};
    if (spec.keys.size() > 1) {
      sql += std::string(" AND ") + spec.keys[1] + " = $2";
      params.push_back(k2);
    }
    Rows rows = session_.query(sql, params, spec.name);
    if (rows.count() == 0) return std::nullopt;
    return to_row(spec, rows, 0);
  }

  // Rows after `from` (and up to `to`, when set), in (updated_at, key) order.
  std::vector<Row> page(const TableSpec& spec, const Mark& from, const Mark* to, int64_t limit) {
    std::vector<std::string> params = mark_params(spec, from);
    std::string tuple = order_tuple(spec);
    auto placeholders = [&](size_t first, size_t n) {
      std::string p = "($" + std::to_string(first) + "::timestamptz";
      for (size_t i = 1; i < n; ++i)
        p += ", $" + std::to_string(first + i);
      return p + ")";
    };
    size_t n = params.size();
    std::string sql = select_list(spec) + " WHERE " + tuple + " > " + placeholders(1, n);
    if (to) {
      for (std::string& p : mark_params(spec, *to))
        params.push_back(std::move(p));
      sql += " AND " + tuple + " <= " + placeholders(n + 1, n);
    }
    sql += " ORDER BY updated_at";
    for (const char* k : spec.keys)
      sql += std::string(", ") + k + " COLLATE \"C\"";
    sql += " LIMIT " + std::to_string(limit);
    Rows rows = session_.query(sql, params, spec.name);
    std::vector<Row> out;
    for (int r = 0; r < rows.count(); ++r)
      out.push_back(to_row(spec, rows, r));
    return out;
  }

  Outgoing outgoing_for(const Row& row) {
    Converted c = convert(row);
    std::string key = row.key();
    if (c.ok) return {Outgoing::kUpsert, row.table, key, std::move(c.payload), row.us, {}};
    hutong::sdk::RejectedRow r;
    r.source_name = std::string(row.table->name) + ":" + key;
    r.original = row.original();
    r.original_encoding = "UTF-8";
    r.reason_code = c.reason;
    r.message = std::string(row.table->name) + " " + key + ": " + c.message;
    r.field = c.field;
    r.intended_topic = row.table->topic;
    return {Outgoing::kReject, row.table, key, {}, row.us, std::move(r)};
  }

  // Publishes `row` unless it went out already with this content.
  bool take(TableState& t, const Row& row, std::vector<Outgoing>& outgoing,
            std::vector<TableKey>& published) {
    std::string key = row.key();
    size_t content = std::hash<std::string>{}(row.original());
    auto seen = t.recent.find(key);
    if (seen != t.recent.end() && seen->second == std::pair(row.us, content)) return false;
    t.recent[key] = {row.us, content};
    outgoing.push_back(outgoing_for(row));
    published.push_back({t.spec->name, row.k1(), row.k2()});
    pending_deletes_.erase(published.back());  // it exists after all
    return true;
  }

  void read_table(TableState& t, int64_t db_now, int64_t budget, std::vector<Outgoing>& outgoing,
                  std::vector<TableKey>& published) {
    int64_t emitted = 0;
    // 1. The window behind the watermark, for transactions that committed late
    //    (not needed once every row up to the watermark was read at a time
    //    overlap_seconds past its updated_at: none can still commit there).
    bool window_done = t.settled == t.mark;
    if (!window_done) {
      Mark cursor{true, t.mark.us - overlap_us_ - 1, "", ""};
      while (!window_done) {
        std::vector<Row> rows = page(*t.spec, cursor, &t.mark, window_page());
        bool full = false;
        for (const Row& row : rows) {
          cursor = row.mark();
          if (take(t, row, outgoing, published) && ++emitted >= budget) {
            full = true;
            break;
          }
        }
        if (full) break;
        window_done = static_cast<int64_t>(rows.size()) < window_page();
      }
    }
    // 2. Forward from the watermark.
    if (emitted < budget) {
      for (const Row& row : page(*t.spec, t.mark, nullptr, budget - emitted)) {
        take(t, row, outgoing, published);
        t.mark = row.mark();
      }
    }
    // db_now was read before any of this: everything up to the watermark was
    // read at least overlap_seconds after it was stamped.
    if (window_done && db_now >= t.mark.us + overlap_us_) t.settled = t.mark;
    int64_t horizon = t.mark.us - overlap_us_ - 1;
    std::erase_if(t.recent, [&](const auto& entry) { return entry.second.first < horizon; });
  }

  // The window is read in larger pages than records are emitted: nearly all
  // of it was published already and is skipped.
  int64_t window_page() const { return std::max<int64_t>(batch_rows_, 1000); }

  int64_t database_now() {
    Rows r = session_.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8", {},
                            "the clock");
    return std::stoll(r.text(0, 0));
  }

  // Compares each table's current keys with the published ones (both in
  // bytewise key order, side by side). Keys gone are marked (durably) with a
  // new pass number and queued as deletes. Rows present but never published
  // although the watermark is past them (a transaction that committed later
  // than the overlap window, or a row written with an old updated_at) are
  // read and published now.
  void reconcile(std::vector<Outgoing>& outgoing, std::vector<TableKey>& published) {
    std::vector<TableKey> gone;
    for (TableState& t : tables_) {
      const TableSpec& spec = *t.spec;
      std::string order = spec.keys[0] + std::string(" COLLATE \"C\"");
      std::string select = std::string(spec.keys[0]) + "::text, " +
                           (spec.keys.size() > 1 ? std::string(spec.keys[1]) + "::text" : "''") +
                           ", (extract(epoch FROM updated_at) * 1000000)::int8";
      if (spec.keys.size() > 1) order += std::string(", ") + spec.keys[1] + " COLLATE \"C\"";
      std::vector<Mark> missed;
      {
        PublishedKeys::Walk walk = keys_->walk(spec.name);
        auto before = [](const TableKey& a, const Mark& b) {
          return std::tie(a.k1, a.k2) < std::tie(b.k1, b.k2);
        };
        session_.command("BEGIN READ ONLY", spec.name);
        session_.command("DECLARE hutong_keys NO SCROLL CURSOR FOR SELECT " + select + " FROM " +
                             qualified(spec) + " ORDER BY " + order,
                         spec.name);
        for (;;) {
          Rows rows = session_.query("FETCH " + std::to_string(kKeyPage) + " FROM hutong_keys", {},
                                     spec.name);
          for (int r = 0; r < rows.count(); ++r) {
            Mark row{true, std::stoll(rows.text(r, 2)), rows.text(r, 0), rows.text(r, 1)};
            while (walk.valid() && before(walk.key(), row)) {
              gone.push_back(walk.key());
              walk.next();
            }
            if (walk.valid() && walk.key().k1 == row.k1 && walk.key().k2 == row.k2) {
              walk.next();
            } else if (t.mark.set && std::tie(row.us, row.k1, row.k2) <=
                                         std::tie(t.mark.us, t.mark.k1, t.mark.k2)) {
              missed.push_back(std::move(row));
            }
          }
          if (rows.count() < kKeyPage) break;
        }
        session_.command("COMMIT", spec.name);
        for (; walk.valid(); walk.next())
          gone.push_back(walk.key());
      }
      for (const Mark& key : missed) {
        std::optional<Row> row = fetch_row(spec, key.k1, key.k2);
        if (row && take(t, *row, outgoing, published)) {
          host_.warn(std::string(spec.name) + " " + row->key() +
                     " was never read by its updated_at (committed later than overlap_seconds "
                     "allow, or written with an old updated_at): published now");
        }
      }
    }
    if (gone.empty()) return;
    reconciling_pass_ = keys_->new_pass();
    keys_->mark_deleted(gone, reconciling_pass_);
    for (TableKey& k : gone)
      pending_deletes_.insert(std::move(k));
    host_.info("reconciliation pass " + std::to_string(reconciling_pass_) + ": " +
               std::to_string(pending_deletes_.size()) + " rows hard-deleted");
  }

  void check_role() {
    for (const TableSpec& spec : table_specs()) {
      if (session_.may_write(qualified(spec))) {
        host_.warn("the role can write to " + qualified(spec) + " on " + session_.where() +
                   "; this connector never writes, grant it SELECT only (README.md)");
      }
    }
    checked_role_ = true;
  }

  void emit(const std::vector<Outgoing>& outgoing, hutong::sdk::Emitter& out) {
    for (const Outgoing& o : outgoing) {
      std::string location = std::string(o.table->name) + " " + o.key;
      switch (o.kind) {
        case Outgoing::kUpsert:
          out.upsert_bytes(o.table->topic, o.key, o.payload, location, o.event_us);
          break;
        case Outgoing::kDelete:
          out.remove(o.table->topic, o.key, location);
          break;
        case Outgoing::kReject:
          out.reject(o.rejected);
          break;
      }
    }
  }

  std::string position() const {
    std::string p = "r=" + std::to_string(emitted_pass_);
    for (const TableState& t : tables_) {
      if (!t.mark.set) continue;
      p += ";" + std::string(t.spec->name) + "=" + std::to_string(t.mark.us) + "," +
           escape(t.mark.k1) + "," + escape(t.mark.k2) + (t.settled == t.mark ? ",s" : "");
    }
    return p;
  }

  struct KeyOrder {
    bool operator()(const TableKey& a, const TableKey& b) const {
      return std::tie(a.table, a.k1, a.k2) < std::tie(b.table, b.k1, b.k2);
    }
  };

  hutong::sdk::Host host_;
  PgSession session_;
  std::string schema_;
  int64_t batch_rows_;
  int64_t overlap_us_;
  std::chrono::milliseconds reconcile_interval_;
  std::string state_file_;
  std::unique_ptr<PublishedKeys> keys_;
  std::vector<TableState> tables_;
  size_t first_table_ = 0;
  bool checked_role_ = false;
  Clock::time_point next_reconcile_{};  // the first poll reconciles
  uint64_t committed_pass_ = 0;         // the pass of the position handed to start
  uint64_t reconciling_pass_ = 0;       // the pass whose deletes are being emitted
  uint64_t emitted_pass_ = 0;           // the last pass all of whose deletes went out
  std::set<TableKey, KeyOrder> pending_deletes_;
};

}  // namespace
}  // namespace civil_affairs_pg

HUTONG_SOURCE_PLUGIN(civil_affairs_pg::CivilAffairsPg, "civil_affairs_pg", "0.1.0",
                     "the civil affairs bureau's PostgreSQL: 低保 households and members, 特困 "
                     "persons, orphans",
                     civil_affairs_pg::kKeys)
