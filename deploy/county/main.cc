// hutong-county: writes a synthetic county's department deliveries (poverty
// snapshots, civil-affairs SQL, education exports, the charity fund's SQLite
// ledger) with chosen defects, and truth/ files saying what a correct hub
// concludes from them. Deterministic by seed; no wall clock in the content.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "domain/date.h"
#include "model.h"
#include "output.h"

namespace {

const char* kUsage = R"(usage: hutong-county --out DIR [options]
  --households N          households in the county (default 1000)
  --seed S                random seed (default 1); same seed and options → same bytes
  --defect-rate R         fraction of rows carrying a defect, spread over all kinds (default 0)
  --defect KIND=RATE      rate of one defect kind (repeatable); kinds:
                          id.checksum id.lower_x id.full_width id.legacy15 id.spaces
                          id.scientific name.spaces name.traditional birth_date.mismatch
                          encoding.stray_utf8 encoding.invalid row.fewer_cells row.more_cells row.duplicate
                          amount.thousands date.slash text.formula ref.invalid_id
                          file.empty file.header_only file.truncated
  --months M              poverty snapshots (default 3), the last one in the reference month
  --partial-snapshot      make the last snapshot a half-size partial export (held by the hub)
  --xlsx-share F          share of education files written as XLSX (default 0.3)
  --utf8-share F          share of the other education CSV files in UTF-8 with BOM (default 0.2)
  --education-files N     files per education export: a full one, updates, a re-delivery (default 3)
  --poor-share F          share of households in the poverty registry (default 0.5)
  --division CODE         six-digit county code (default 610523)
  --reference-date DATE   the county's "today", yyyy-mm-dd (default 2025-11-15)
)";

double number(const char* flag, const char* text) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (!end || *end || v < 0) {
    std::fprintf(stderr, "hutong-county: %s needs a non-negative number, got \"%s\"\n", flag, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  county::Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "hutong-county: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--out")
      o.out = value();
    else if (a == "--households")
      o.households = static_cast<uint64_t>(number("--households", value()));
    else if (a == "--seed")
      o.seed = std::strtoull(value(), nullptr, 10);
    else if (a == "--defect-rate")
      o.defect_rate = number("--defect-rate", value());
    else if (a == "--defect") {
      std::string kv = value();
      size_t eq = kv.find('=');
      if (eq == std::string::npos ||
          county::defect_by_name(kv.substr(0, eq)) == county::Defect::kNone) {
        std::fprintf(stderr,
                     "hutong-county: --defect needs KIND=RATE with a known kind, got \"%s\"\n",
                     kv.c_str());
        return 2;
      }
      o.defect_overrides[kv.substr(0, eq)] = number("--defect", kv.substr(eq + 1).c_str());
    } else if (a == "--months")
      o.months = static_cast<int>(number("--months", value()));
    else if (a == "--partial-snapshot")
      o.partial_snapshot = true;
    else if (a == "--xlsx-share")
      o.xlsx_share = number("--xlsx-share", value());
    else if (a == "--utf8-share")
      o.utf8_share = number("--utf8-share", value());
    else if (a == "--education-files")
      o.education_files = static_cast<int>(number("--education-files", value()));
    else if (a == "--poor-share")
      o.poor_share = number("--poor-share", value());
    else if (a == "--division")
      o.division = value();
    else if (a == "--reference-date") {
      auto d = hutong::domain::parse_date(value());
      if (!d) {
        std::fprintf(stderr, "hutong-county: --reference-date: %s\n", d.status().message().c_str());
        return 2;
      }
      o.reference = *d;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "hutong-county: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (o.out.empty() || o.households == 0 || o.months < 1 || o.months > 24 ||
      o.division.size() != 6 || o.division.find_first_not_of("0123456789") != std::string::npos) {
    std::fprintf(stderr,
                 "hutong-county: --out is required; --households ≥ 1, --months 1..24, --division 6 "
                 "digits\n%s",
                 kUsage);
    return 2;
  }
  try {
    std::filesystem::create_directories(o.out);
    county::County c(o);
    county::Summary s = county::write_county(c, o);
    std::printf("hutong-county: wrote %s (seed %llu, defect rate %g)\n", o.out.c_str(),
                static_cast<unsigned long long>(o.seed), o.defect_rate);
    for (const std::string& line : s.lines)
      std::printf("  %s\n", line.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hutong-county: %s\n", e.what());
    return 1;
  }
  return 0;
}
