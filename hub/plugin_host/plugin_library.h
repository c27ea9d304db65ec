// Loading plugin shared libraries safely: immediate binding (a missing symbol
// is refused at load, not at first call), local symbols, the ABI version read
// before anything else, and a message naming the file and the reason for every
// refusal. A loaded library stays loaded while any PluginLibrary refers to it.
#pragma once

#include <memory>
#include <string>

#include "domain/status.h"
#include "hutong/plugin.h"

namespace hutong::plugin_host {

inline constexpr std::string_view kPluginLoad = "plugin.load";
inline constexpr std::string_view kPluginAbi = "plugin.abi";
inline constexpr std::string_view kPluginDescriptor = "plugin.descriptor";

class PluginLibrary {
 public:
  // Loads `path` and checks its descriptor.
  static Result<std::shared_ptr<PluginLibrary>> load(const std::string& path);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const hutong_plugin_descriptor& descriptor() const { return *descriptor_; }
  const std::string& path() const { return path_; }
  std::string_view name() const { return descriptor_->name; }
  bool is_source() const { return descriptor_->kind == HUTONG_PLUGIN_SOURCE; }

 private:
  struct Handle;
  PluginLibrary(std::string path, std::unique_ptr<Handle> handle,
                const hutong_plugin_descriptor* d);
  std::string path_;
  std::unique_ptr<Handle> handle_;
  const hutong_plugin_descriptor* descriptor_;
};

// Resolves a connector's `plugin` setting: a path (containing '/') as given;
// otherwise lib<name>.so, then <name>.so, in `plugin_dir`.
std::string resolve_plugin_path(const std::string& plugin, const std::string& plugin_dir);

}  // namespace hutong::plugin_host
