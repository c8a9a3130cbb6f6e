# TS_FUZZ=ON: everything is compiled with libFuzzer's coverage hooks, ASan
# and UBSan (UB aborts instead of printing and going on), so a harness finds
# memory errors and undefined behaviour anywhere in the library it calls.
# Included by the top-level CMakeLists before any target; docs/fuzzing.md.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TS_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++-14, "
                      "or run scripts/fuzz, which does")
endif()
add_compile_options(-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all
                    -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
