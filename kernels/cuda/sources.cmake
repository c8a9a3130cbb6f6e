# The CUDA backend (kernels/cuda), added to the taylorscope library by the
# top-level CMakeLists.txt when nvcc is found; cuda_unavailable.cpp replaces
# these files otherwise.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/expansion_pass_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/hidden_contraction.cu
  ${CMAKE_CURRENT_LIST_DIR}/sample_action_kernel.cu
  ${CMAKE_CURRENT_LIST_DIR}/class_power_sums.cu
  ${CMAKE_CURRENT_LIST_DIR}/train_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/train_kernels.cu
  ${CMAKE_CURRENT_LIST_DIR}/rngd_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/moment_tensors_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/tile_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tile_operands.cu
  ${CMAKE_CURRENT_LIST_DIR}/tile_statistics.cu
)
