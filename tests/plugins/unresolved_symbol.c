/* unresolved_symbol: calls a function nothing defines; linked without -z defs
 * so that the library builds, and the hub must refuse it at load (RTLD_NOW). */
#include "hutong/plugin.h"

extern int hutong_function_that_does_not_exist(void);

static int create(const hutong_host* h, const hutong_config* c, void** i, hutong_error* e) {
  (void)h; (void)c; (void)i; (void)e;
  return hutong_function_that_does_not_exist();
}
static void destroy(void* i) { (void)i; }
static int start(void* i, const uint8_t* p, size_t n, hutong_error* e) { (void)i; (void)p; (void)n; (void)e; return 0; }
static int poll(void* i, const hutong_emitter* o, uint32_t m, hutong_error* e) { (void)i; (void)o; (void)m; (void)e; return 1; }

__attribute__((visibility("default"))) const hutong_plugin_descriptor hutong_plugin = {
    HUTONG_PLUGIN_ABI_VERSION, sizeof(hutong_plugin_descriptor), "unresolved_symbol", "0.0.1",
    HUTONG_PLUGIN_SOURCE, "needs a symbol nobody has", 0, 0, create, destroy, start, poll, 0, 0, 0};
