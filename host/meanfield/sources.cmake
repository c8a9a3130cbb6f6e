# `taylorscope meanfield` (MATH.md §11): the quadrature, the maps and their
# fixed points, the grid, the random network on the CPU (and the GPU in a
# CUDA build), the reports; and the CLI command. Included by the top-level
# CMakeLists after both the library and the CLI targets exist.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/gauss_hermite.cpp
  ${CMAKE_CURRENT_LIST_DIR}/theory.cpp
  ${CMAKE_CURRENT_LIST_DIR}/simulate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/meanfield_report.cpp
  ${PROJECT_SOURCE_DIR}/kernels/cpu/meanfield_cpu.cpp
)
if(TS_HAVE_CUDA)
  target_sources(taylorscope PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cuda/meanfield_cuda.cu)
else()
  target_sources(taylorscope PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cuda/meanfield_cuda_unavailable.cpp)
endif()
target_sources(taylorscope_cli PRIVATE ${PROJECT_SOURCE_DIR}/host/cli/meanfield_command.cpp)
