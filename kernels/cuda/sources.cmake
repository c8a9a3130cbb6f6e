# The CUDA backend (kernels/cuda), added to the taylorscope library by the
# top-level CMakeLists.txt when nvcc is found; cuda_unavailable.cpp replaces
# these files otherwise.
target_sources(taylorscope PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/expansion_pass_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/hidden_contraction.cu
  ${CMAKE_CURRENT_LIST_DIR}/sample_action_kernel.cu
  ${CMAKE_CURRENT_LIST_DIR}/class_power_sums.cu
  ${CMAKE_CURRENT_LIST_DIR}/gather_rows.cu
  ${CMAKE_CURRENT_LIST_DIR}/finite_values_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/device_checksum.cu
  ${CMAKE_CURRENT_LIST_DIR}/current_device.cu
  ${CMAKE_CURRENT_LIST_DIR}/counter_rng_draws.cu
  ${CMAKE_CURRENT_LIST_DIR}/train_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/train_kernels.cu
  ${CMAKE_CURRENT_LIST_DIR}/rngd_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/moment_tensors_cuda.cu
  ${CMAKE_CURRENT_LIST_DIR}/tile_plan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tile_operands.cu
  ${CMAKE_CURRENT_LIST_DIR}/tile_statistics.cu
)
# The per-sample jets (series.hpp, sample_action.hpp) cancel heavily at high
# order. The CPU build never fuses a·b + c (GCC at -std=c++20 without -march
# has no FMA to fuse into), so the jet kernel does not either: its
# recurrences then round as the CPU's do, operation for operation, and a CPU
# test of the jets tests the GPU's arithmetic too. Measured: fusing would
# move the jet sums by ≤ 4e-14 at K = 64 (tests/test_cuda_vs_cpu.cpp); the
# cost is a few per cent of a stage that is 1–3 ms of a pass.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/sample_action_kernel.cu
                            PROPERTIES COMPILE_OPTIONS "-fmad=false")
