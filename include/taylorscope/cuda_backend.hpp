// Options of the CUDA backends beyond make_cuda_backend(device)
// (expansion_pass.hpp) and make_cuda_train_backend(device)
// (train_backend.hpp). Declared in every build; without CUDA the factories
// throw InputError like the plain ones.
//
// Environment switches, read by the CUDA backends (docs/gpu.md):
//   TAYLORSCOPE_REQUIRE_CUDA_GRAPH=1  a training step that cannot be captured
//       into a CUDA graph is an error instead of a fallback to eager steps
//       (the device check sets it, so the graph path is really tested);
//   TAYLORSCOPE_CUDA_SYNC=1  synchronise after every kernel launch and name
//       the step that failed (debugging; slow).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "taylorscope/expansion_pass.hpp"

namespace taylorscope {

class TrainBackend;
class Communicator;

struct CudaBackendOptions {
  int device = 0;
  // Device memory for one chunk of rows (A0, G and the class-power partials).
  // The rows of a chunk follow from this and the problem's shape alone —
  // never from the memory that happens to be free — because the sums
  // accumulate chunk by chunk, so the chunking sets the result's last bits.
  // A run that does not fit in free device memory is refused (InputError).
  size_t chunk_bytes = size_t{1} << 30;
  // Upper bound on the rows of a chunk; 0 = only chunk_bytes decides.
  // Tests set it small to exercise the chunk boundaries.
  int64_t max_chunk_rows = 0;
};

std::unique_ptr<ExpansionBackend> make_cuda_backend(const CudaBackendOptions& options);

// While alive, nothing the engine does changes the calling thread's current
// CUDA device for long: the destructor selects again the device that was
// current at construction. The engine selects the device it runs on (or
// whose memory it reads) and leaves it selected; a host program with its own
// notion of the current device (PyTorch, CuPy) holds one of these around
// its engine calls, as the Python package does. Does nothing without a GPU
// or in a build without CUDA.
class KeepCurrentCudaDevice {
 public:
  KeepCurrentCudaDevice();
  ~KeepCurrentCudaDevice();
  KeepCurrentCudaDevice(const KeepCurrentCudaDevice&) = delete;
  KeepCurrentCudaDevice& operator=(const KeepCurrentCudaDevice&) = delete;

 private:
  int device_ = -1;
};

// How the CUDA training backend runs full mini-batches.
enum class CudaGraphs {
  use,       // capture one step, replay it; a failed capture falls back to
             // eager steps with one line on stderr (required instead when
             // TAYLORSCOPE_REQUIRE_CUDA_GRAPH=1)
  off,       // every step kernel by kernel: the reference for graph replay
  required,  // a failed capture or instantiation throws std::runtime_error
};

// What a CUDA training backend ran, for tests that must know the graph ran.
struct CudaTrainCounters {
  int64_t captures = 0;        // graphs captured and instantiated
  int64_t graph_steps = 0;     // steps replayed from a graph
  int64_t eager_steps = 0;     // steps launched kernel by kernel
};

struct CudaTrainOptions {
  int device = 0;
  CudaGraphs graphs = CudaGraphs::use;
  CudaTrainCounters* counters = nullptr;  // when set, must outlive the backend
  // The ranks of a data-parallel run (train_backend.hpp); null: world().
  // Must outlive the backend.
  Communicator* comm = nullptr;
  // Take the data-parallel path — rows sharded, gradient all-reduced through
  // NCCL (inside the captured graph) when the build has it — even with one
  // rank, so that a machine with one GPU runs the code a multi-GPU run does
  // (tests/test_train_cuda_vs_cpu.cpp; scripts/device-check).
  bool data_parallel_path = false;
};

std::unique_ptr<TrainBackend> make_cuda_train_backend(const CudaTrainOptions& options);

// Draws first .. first + count − 1 of a counter_rng.hpp stream, computed on
// GPU `device` by the same TS_HD functions the host calls: uniforms, or
// normals when `normal`. The GPU twin test compares them with the host's.
std::vector<double> philox_draws_on_device(int device, uint64_t seed, uint64_t stream, uint64_t first,
                                           uint64_t count, bool normal);

}  // namespace taylorscope
