# PNG charts (histograms, line charts) for the commands' outputs; included by
# the top-level CMakeLists after add_library(taylorscope …). zlib is linked there.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/png_image.cpp
  ${CMAKE_CURRENT_LIST_DIR}/canvas.cpp
  ${CMAKE_CURRENT_LIST_DIR}/font5x7.cpp
  ${CMAKE_CURRENT_LIST_DIR}/axes.cpp
  ${CMAKE_CURRENT_LIST_DIR}/charts.cpp
)
