# The data and parameter readers/writers; included by the top-level
# CMakeLists after add_library(taylorscope …), which lists atomic_file.cpp.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/checksum.cpp
  ${CMAKE_CURRENT_LIST_DIR}/idx_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npy_io.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dataset_loader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/params_io.cpp
  ${CMAKE_CURRENT_LIST_DIR}/params_init.cpp
)
