// The operator CLI's subcommands. Each takes its own arguments (after the
// subcommand name) and returns the process exit code: 0 success, 1 the operation
// found a problem (e.g. a rejected value), 2 wrong usage.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hutong::cli {

int check_id(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
             std::ostream& err);

int journal(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
            std::ostream& err);

int connector(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
              std::ostream& err);

int quarantine(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err);

int summary(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
            std::ostream& err);

int keys(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
         std::ostream& err);

int tail(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
         std::ostream& err);

int audit(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
          std::ostream& err);

int subscriptions(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                  std::ostream& err);

}  // namespace hutong::cli
