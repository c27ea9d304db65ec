// hutong-schema-compat BASELINE CURRENT: exits 1 and lists every breaking change
// when CURRENT (a descriptor set) does not only add to BASELINE.
#include <fstream>
#include <iostream>

#include "compat.h"

namespace {

bool load(const char* path, google::protobuf::FileDescriptorSet& set) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "hutong-schema-compat: cannot open " << path << "\n";
    return false;
  }
  if (!set.ParseFromIstream(&in)) {
    std::cerr << "hutong-schema-compat: " << path << " is not a protobuf FileDescriptorSet\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: hutong-schema-compat BASELINE.binpb CURRENT.binpb\n"
                 "Exits 0 when CURRENT only adds to BASELINE, 1 on a breaking change, 2 on "
                 "bad input.\n";
    return 2;
  }
  google::protobuf::FileDescriptorSet baseline, current;
  if (!load(argv[1], baseline) || !load(argv[2], current)) return 2;
  std::vector<std::string> problems = hutong::schemas::breaking_changes(baseline, current);
  if (problems.empty()) {
    std::cout << "compatible: " << argv[2] << " only adds to " << argv[1] << "\n";
    return 0;
  }
  std::cout << problems.size() << " breaking change(s) against " << argv[1] << ":\n";
  for (const std::string& problem : problems)
    std::cout << "  - " << problem << "\n";
  std::cout << "Schema evolution is additive only: add new fields, values or messages "
               "instead, and keep every existing number, name and type.\n";
  return 1;
}
