/* no_descriptor: a shared library that is no Hutong plugin. */
__attribute__((visibility("default"))) int some_function(void) { return 42; }
