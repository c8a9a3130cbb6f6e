# The spurious-minima study (`taylorscope spurious`, docs/spurious.md):
# included by the top-level CMakeLists after add_library(taylorscope …) and
# after the CUDA decision (TS_HAVE_CUDA).
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/study.cpp
  ${PROJECT_SOURCE_DIR}/kernels/cpu/spurious_cpu.cpp
)
if(TS_HAVE_CUDA)
  target_sources(taylorscope PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cuda/spurious_cuda.cu)
  # As the CPU: no fused multiply-add, so the descent rounds alike on both
  # devices operation for operation (only libm's ulps differ).
  set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cuda/spurious_cuda.cu
                              PROPERTIES COMPILE_OPTIONS "-fmad=false")
else()
  target_sources(taylorscope PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cuda/spurious_unavailable.cpp)
endif()
