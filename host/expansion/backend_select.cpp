// --device values, shared by every command (backends.hpp): resolved in
// resolve_device alone, the backends built by make_backends alone.
#include "taylorscope/backends.hpp"

#include <string>
#include <vector>

#include "taylorscope/errors.hpp"

#if TS_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace taylorscope {
namespace {

// GPUs this process sees (0 in a build without CUDA, or on an error that
// cuda_backend_available will name when a backend is asked for).
int visible_gpus() {
#if TS_HAVE_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

// "cuda" and a CUDA "auto": one process takes GPU 0; under mpirun each rank
// takes the GPU of its node-local rank — unless it sees a single GPU, as
// under per-rank binding (Slurm's --gpus-per-task=1, CUDA_VISIBLE_DEVICES
// set per rank), where that one is its own.
int gpu_of_rank(const std::string& device, const Communicator& comm) {
  if (comm.size() == 1) return 0;
  const int local = comm.local_rank(), gpus = visible_gpus();
  if (gpus == 1) return 0;
  if (gpus > 0 && local >= gpus)
    throw InputError("--device " + device + " under mpirun: this rank is number " + std::to_string(local) +
                     " on its machine, which has " + std::to_string(gpus) +
                     " GPU(s) (one rank per GPU; or --device cuda:<i> to share one, or --device cpu)");
  return local;  // with no GPU visible, the backend's own refusal names why
}

}  // namespace

int resolve_device(const std::string& device, const Communicator& comm) {
  if (device == "cpu") return -1;
  if (device == "auto") {
    std::string why;
    return cuda_backend_available(&why) ? gpu_of_rank(device, comm) : -1;
  }
  if (device == "cuda") return gpu_of_rank(device, comm);
  if (device.rfind("cuda:", 0) == 0) {
    const std::string idx = device.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return std::stoi(idx);
  }
  throw InputError("--device must be cpu, cuda, cuda:<index> or auto, got '" + device + "'");
}

std::string device_label(int device) { return device < 0 ? "cpu" : "cuda:" + std::to_string(device); }

Backends make_backends(const std::string& device, BackendNeeds needs, Communicator& comm) {
  Backends b;
  b.device = resolve_device(device, comm);
  if (comm.size() > 1) {
    // Each rank resolved alone; with "auto" a rank that sees no GPU would
    // compute on the CPU beside CUDA ranks, whose collectives (NCCL's
    // bootstrap) and row orders it does not share. One kind per job.
    const std::vector<std::string> kinds = comm.allgather(b.device < 0 ? "cpu" : "cuda");
    for (size_t r = 1; r < kinds.size(); ++r)
      if (kinds[r] != kinds[0])
        throw InputError("--device " + device + ": rank 0 computes on " + kinds[0] + " but rank " +
                         std::to_string(r) + " on " + kinds[r] +
                         "; the ranks of one job compute on one kind of device (give --device cpu or cuda)");
  }
  const bool cpu = b.device < 0;
  if (needs.pass) b.pass = cpu ? make_cpu_backend() : make_cuda_backend(b.device);
  if (needs.tensors) b.tensors = cpu ? make_cpu_tensor_backend() : make_cuda_tensor_backend(b.device);
  if (needs.train) b.train = cpu ? make_cpu_train_backend(comm) : make_cuda_train_backend(b.device, comm);
  return b;
}

std::unique_ptr<ExpansionBackend> make_backend(const std::string& device) {
  return make_backends(device, {.pass = true}).pass;
}

std::unique_ptr<TensorBackend> make_tensor_backend(const std::string& device) {
  return make_backends(device, {.tensors = true}).tensors;
}

std::unique_ptr<TrainBackend> make_train_backend(const std::string& device) {
  return make_backends(device, {.train = true}).train;
}

}  // namespace taylorscope
