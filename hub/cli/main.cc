// hutong: the operator CLI. Dispatches to one subcommand per operator task.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "hutong_version.h"

namespace {

struct Subcommand {
  std::string_view name;
  std::string_view summary;
  int (*run)(const std::vector<std::string>&, std::istream&, std::ostream&, std::ostream&);
};

constexpr Subcommand kSubcommands[] = {
    {"check-id", "normalize and validate resident ID numbers; say why one is rejected",
     hutong::cli::check_id},
    {"journal", "inspect a journal directory: ls | dump | verify", hutong::cli::journal},
    {"connector", "a running hub's connectors: status | reload | confirm | wait",
     hutong::cli::connector},
    {"summary", "what came in per source, what was quarantined why, what each department got",
     hutong::cli::summary},
    {"quarantine", "rejected rows: list | show | replay", hutong::cli::quarantine},
    {"keys", "change-feed CURVE keys: new | list | revoke", hutong::cli::keys},
    {"tail", "print a topic's records as JSON lines (journal or feed)", hutong::cli::tail},
    {"subscriptions", "a running hub's feed subscriptions and cursors", hutong::cli::subscriptions},
    {"audit", "the feed audit trail: verify | list", hutong::cli::audit},
};

void usage(std::ostream& out) {
  out << "usage: hutong <command> [options]\n\ncommands:\n";
  for (const Subcommand& sub : kSubcommands) {
    out << "  " << sub.name << std::string(14 - sub.name.size(), ' ') << sub.summary << "\n";
  }
  out << "\n'hutong <command> --help' describes a command; 'hutong --version' prints the "
         "version.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    usage(std::cout);
    return 0;
  }
  if (command == "--version") {
    std::cout << "hutong " << HUTONG_VERSION << " (schemas hutong.v" << HUTONG_SCHEMA_VERSION
              << ")\n";
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const Subcommand& sub : kSubcommands) {
    if (sub.name == command) return sub.run(args, std::cin, std::cout, std::cerr);
  }
  std::cerr << "hutong: unknown command \"" << command << "\"\n";
  usage(std::cerr);
  return 2;
}
