// hutong check-id: answers "why was this ID rejected?" for operators, with the
// same normalization the connectors apply.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "domain/resident_id.h"

namespace hutong::cli {
namespace {

constexpr const char* kUsage =
    "usage: hutong check-id [--json] [--reference-date YYYY-MM-DD] VALUE... | -\n"
    "Normalizes and validates resident ID numbers (GB 11643-1999) the way the hub's\n"
    "connectors do, and prints per value the normalized number, birth date, sex and\n"
    "area code, or the reason code and message. \"-\" reads one value per line from\n"
    "standard input. The reference date (default: today) bounds the birth date.\n"
    "Exit status: 0 all valid, 1 some rejected, 2 usage error.\n";

const char* sex_name(domain::Sex sex) {
  switch (sex) {
    case domain::Sex::kMale:
      return "male";
    case domain::Sex::kFemale:
      return "female";
    default:
      return "unspecified";
  }
}

}  // namespace

int check_id(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
             std::ostream& err) {
  bool json = false;
  domain::CivilDate reference = domain::today();
  std::vector<std::string> values;
  bool from_stdin = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--reference-date" || arg.starts_with("--reference-date=")) {
      std::string text = arg.size() > 16 && arg[16] == '=' ? arg.substr(17)
                         : i + 1 < args.size()             ? args[++i]
                                                           : "";
      Result<domain::CivilDate> date = domain::parse_date(text);
      if (!date) {
        err << "hutong check-id: --reference-date: " << date.status().message() << "\n";
        return 2;
      }
      reference = *date;
    } else if (arg == "-h" || arg == "--help") {
      out << kUsage;
      return 0;
    } else if (arg == "-") {
      from_stdin = true;
    } else if (arg == "--") {
      values.insert(values.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (arg.starts_with("--")) {
      err << "hutong check-id: unknown option " << arg << "\n" << kUsage;
      return 2;
    } else {
      values.push_back(arg);
    }
  }
  if (from_stdin) {
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      values.push_back(line);
    }
  }
  if (values.empty()) {
    err << kUsage;
    return 2;
  }

  bool all_valid = true;
  for (const std::string& value : values) {
    Result<domain::ResidentId> id = domain::normalize_resident_id(value, reference);
    all_valid = all_valid && id.is_ok();
    if (json) {
      nlohmann::json row = {{"input", value}, {"valid", id.is_ok()}};
      if (id) {
        row["id"] = std::string(id->number());
        row["birth_date"] = id->birth_date.to_string();
        row["sex"] = sex_name(id->sex);
        row["area_code"] = std::string(id->area_code());
        row["repaired"] = id->repaired;
        row["from_legacy_15"] = id->from_legacy_15;
      } else {
        row["code"] = std::string(id.code());
        row["message"] = id.status().message();
      }
      // Invalid UTF-8 in the input is replaced rather than aborting the report.
      out << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else if (id) {
      out << value << "\tok\t" << id->number() << "\tbirth " << id->birth_date.to_string() << "\t"
          << sex_name(id->sex) << "\tarea " << id->area_code();
      if (id->from_legacy_15)
        out << "\t(converted from 15 digits)";
      else if (id->repaired)
        out << "\t(repaired)";
      out << "\n";
    } else {
      out << value << "\t" << id.code() << "\t" << id.status().message() << "\n";
    }
  }
  return all_valid ? 0 : 1;
}

}  // namespace hutong::cli
