/* bad_abi: a plugin built for ABI version 99 (the hub must refuse it). */
#include "hutong/plugin.h"

__attribute__((visibility("default"))) const hutong_plugin_descriptor hutong_plugin = {
    99u, sizeof(hutong_plugin_descriptor), "bad_abi", "0.0.1", HUTONG_PLUGIN_SOURCE, "wrong ABI",
    0, 0, 0, 0, 0, 0, 0, 0, 0};
