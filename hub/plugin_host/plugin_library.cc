#include "plugin_host/plugin_library.h"

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>
#include <filesystem>

namespace hutong::plugin_host {

struct PluginLibrary::Handle {
  boost::dll::shared_library library;
};

PluginLibrary::PluginLibrary(std::string path, std::unique_ptr<Handle> handle,
                             const hutong_plugin_descriptor* d)
    : path_(std::move(path)), handle_(std::move(handle)), descriptor_(d) {}

PluginLibrary::~PluginLibrary() = default;

Result<std::shared_ptr<PluginLibrary>> PluginLibrary::load(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return Status(kPluginLoad, "plugin " + path + " does not exist");
  }
  auto handle = std::make_unique<Handle>();
  boost::dll::fs::error_code ec;
  handle->library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
                       ec);
  if (ec) {
    // Boost.DLL's error code says little; dlerror() names the missing symbol or
    // the broken dependency, so ask the loader once more for its own words.
    std::string why = ec.message();
    if (void* probe = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      ::dlclose(probe);
    } else if (const char* text = ::dlerror()) {
      why = text;
    }
    return Status(kPluginLoad, "cannot load plugin " + path + ": " + why);
  }
  if (!handle->library.has(HUTONG_PLUGIN_DESCRIPTOR_SYMBOL)) {
    return Status(kPluginDescriptor, "plugin " + path + " exports no \"" +
                                         HUTONG_PLUGIN_DESCRIPTOR_SYMBOL +
                                         "\": it is not a Hutong plugin (or was built without "
                                         "HUTONG_SOURCE_PLUGIN / HUTONG_SINK_PLUGIN)");
  }
  const auto& d =
      handle->library.get<const hutong_plugin_descriptor>(HUTONG_PLUGIN_DESCRIPTOR_SYMBOL);
  // The ABI version first: the rest of the layout depends on it.
  uint32_t abi = d.abi_version;
  if (abi < HUTONG_PLUGIN_ABI_OLDEST || abi > HUTONG_PLUGIN_ABI_VERSION) {
    return Status(kPluginAbi, "plugin " + path + " was built for plugin ABI version " +
                                  std::to_string(abi) + "; this hub loads versions " +
                                  std::to_string(HUTONG_PLUGIN_ABI_OLDEST) + " to " +
                                  std::to_string(HUTONG_PLUGIN_ABI_VERSION) +
                                  ": rebuild it against this hub's hutong/plugin.h");
  }
  auto bad = [&](const std::string& why) {
    return Status(kPluginDescriptor, "plugin " + path + ": " + why);
  };
  if (d.descriptor_size < sizeof(hutong_plugin_descriptor))
    return bad("its descriptor is truncated");
  if (!d.name || !*d.name) return bad("its descriptor has no name");
  if (!d.version) return bad("its descriptor has no version");
  if (!d.create || !d.destroy) return bad("its descriptor lacks create or destroy");
  if (d.kind == HUTONG_PLUGIN_SOURCE) {
    if (!d.start || !d.poll) return bad("a source plugin must provide start and poll");
  } else if (d.kind == HUTONG_PLUGIN_SINK) {
    if (!d.deliver || !d.committed_offset)
      return bad("a sink plugin must provide deliver and committed_offset");
  } else {
    return bad("its kind is " + std::to_string(static_cast<int>(d.kind)) +
               ", neither source nor sink");
  }
  for (uint32_t i = 0; i < d.config_key_count; ++i) {
    const hutong_config_key& key = d.config_keys[i];
    if (!key.name || !*key.name) return bad("config key " + std::to_string(i) + " has no name");
    if (key.type < HUTONG_CONFIG_STRING || key.type > HUTONG_CONFIG_PATH) {
      return bad(std::string("config key ") + key.name + " has an unknown type");
    }
  }
  return std::shared_ptr<PluginLibrary>(new PluginLibrary(path, std::move(handle), &d));
}

std::string resolve_plugin_path(const std::string& plugin, const std::string& plugin_dir) {
  if (plugin.find('/') != std::string::npos) return plugin;
  for (const std::string& name : {"lib" + plugin + ".so", plugin + ".so", plugin}) {
    std::filesystem::path candidate = std::filesystem::path(plugin_dir) / name;
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return (std::filesystem::path(plugin_dir) / ("lib" + plugin + ".so")).string();
}

}  // namespace hutong::plugin_host
