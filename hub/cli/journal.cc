// hutong journal ls | dump | verify: look into a journal directory, read-only,
// even while a hub has it open.
#include "journal/journal.h"

#include <google/protobuf/util/json_util.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "journal/envelope_record.h"

namespace hutong::cli {
namespace {

constexpr const char* kUsage =
    "usage: hutong journal ls DIR\n"
    "       hutong journal dump DIR [--from OFFSET] [--topic TOPIC]... [--limit N]\n"
    "       hutong journal verify DIR\n"
    "  ls      list the segments: base offset, end offset, bytes, sealed or active\n"
    "  dump    print records as JSON lines (the decoded envelope, or the raw value)\n"
    "  verify  check every frame's checksum, the offsets and the segment seals;\n"
    "          exit 1 and name each damaged place when there is one\n"
    "The journal is opened read-only: nothing is changed, and a running hub may keep\n"
    "it open meanwhile.\n";

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 3; k >= 0; --k)
      out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::unique_ptr<journal::Journal>> open_read_only(const std::string& dir) {
  journal::JournalOptions options;
  options.directory = dir;
  options.read_only = true;
  return journal::Journal::open(options);
}

int list(journal::Journal& j, std::ostream& out) {
  out << "base_offset\tend_offset\tbytes\tstate\tfile\n";
  for (const auto& s : j.segments()) {
    out << s.base_offset << "\t" << s.end_offset << "\t" << s.bytes << "\t"
        << (s.sealed ? "sealed" : "active") << "\t" << s.path << "\n";
  }
  return 0;
}

int dump(journal::Journal& j, uint64_t from, std::set<std::string, std::less<>> topics,
         uint64_t limit, std::ostream& out, std::ostream& err) {
  auto reader = j.read_from(from, std::move(topics));
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  uint64_t printed = 0;
  hutong::v1::Envelope envelope;
  while (printed < limit) {
    Result<std::optional<journal::RecordView>> record = reader->next();
    if (!record) {
      err << "hutong journal dump: " << record.status().to_string() << "\n";
      return 1;
    }
    if (!*record) break;
    envelope.Clear();
    std::string line;
    if (journal::from_record(**record, envelope) &&
        google::protobuf::util::MessageToJsonString(envelope, &line, json).ok()) {
      out << line << "\n";
    } else {
      nlohmann::json raw = {
          {"offset", (*record)->offset},
          {"topic", std::string((*record)->topic)},
          {"key", std::string((*record)->key)},
          {"op", (*record)->op == journal::Op::kDelete ? "OP_DELETE" : "OP_UPSERT"},
          {"value_base64", base64((*record)->value)}};
      out << raw.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    ++printed;
  }
  return 0;
}

int verify(journal::Journal& j, std::ostream& out) {
  std::vector<Status> problems = j.verify();
  for (const std::string& warning : j.recovery_report().warnings)
    out << "warning: " << warning << "\n";
  if (problems.empty()) {
    uint64_t bytes = 0;
    for (const auto& s : j.segments())
      bytes += s.bytes;
    out << "ok: " << j.segments().size() << " segments, " << bytes << " bytes, offsets up to "
        << j.durable_end() << ", every checksum matches\n";
    return 0;
  }
  for (const Status& problem : problems)
    out << problem.code() << ": " << problem.message() << "\n";
  out << problems.size() << " problem(s) found\n";
  return 1;
}

}  // namespace

int journal(const std::vector<std::string>& args, std::istream&, std::ostream& out,
            std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& action = args[0];
  if (action != "ls" && action != "dump" && action != "verify") {
    err << "hutong journal: unknown action \"" << action << "\"\n" << kUsage;
    return 2;
  }
  std::string dir;
  uint64_t from = 0, limit = UINT64_MAX;
  std::set<std::string, std::less<>> topics;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool has_value = i + 1 < args.size();
    try {
      if (action == "dump" && arg == "--from" && has_value) {
        from = std::stoull(args[++i]);
      } else if (action == "dump" && arg == "--limit" && has_value) {
        limit = std::stoull(args[++i]);
      } else if (action == "dump" && arg == "--topic" && has_value) {
        topics.insert(args[++i]);
      } else if (!arg.starts_with("--") && dir.empty()) {
        dir = arg;
      } else {
        err << "hutong journal " << action << ": unexpected argument \"" << arg << "\"\n" << kUsage;
        return 2;
      }
    } catch (const std::exception&) {
      err << "hutong journal " << action << ": " << args[i - 1] << " needs a number, got \""
          << args[i] << "\"\n";
      return 2;
    }
  }
  if (dir.empty()) {
    err << "hutong journal " << action << ": which journal directory?\n" << kUsage;
    return 2;
  }
  Result<std::unique_ptr<journal::Journal>> j = open_read_only(dir);
  if (!j) {
    err << "hutong journal " << action << ": " << j.status().to_string() << "\n";
    return 1;
  }
  if (action == "ls") return list(**j, out);
  if (action == "dump") return dump(**j, from, std::move(topics), limit, out, err);
  return verify(**j, out);
}

}  // namespace hutong::cli
