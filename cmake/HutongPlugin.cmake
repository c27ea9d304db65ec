# hutong_add_plugin(NAME SOURCES...): a Hutong plugin, built the way the hub
# needs: a module with hidden visibility (only the descriptor is exported), no
# undefined symbols (-z defs), no STB_GNU_UNIQUE symbols (so dlclose unloads),
# linking the shared schemas library rather than compiling any .proto itself.
# The module lands in <build>/lib/hutong/plugins, where hutongd looks by default.
function(hutong_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/hub/include)
  target_link_libraries(${name} PRIVATE hutong_schemas)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib/hutong/plugins)
  target_compile_options(${name} PRIVATE -fno-gnu-unique)
  target_link_options(${name} PRIVATE -Wl,-z,defs)
endfunction()
