# Process-level safety: locks on output directories, output-path and memory
# checks before work, non-finite checks on load, warnings; included by the
# top-level CMakeLists after add_library(taylorscope …).
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/created_outputs.cpp
  ${CMAKE_CURRENT_LIST_DIR}/finite_values.cpp
  ${CMAKE_CURRENT_LIST_DIR}/memory_budget.cpp
  ${CMAKE_CURRENT_LIST_DIR}/output_paths.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run_lock.cpp
  ${CMAKE_CURRENT_LIST_DIR}/warnings.cpp
)
