// Where a run computes: the --device value resolved once, and the backends
// built on that one device. Every command (and the Python bindings) goes
// through here, so "cpu", "cuda", "cuda:i" and "auto" mean the same thing to
// the expansion pass, the tensor sweeps and the trainer, and a run under
// mpirun puts each rank on its own GPU in one place.
#pragma once

#include <memory>
#include <string>

#include "taylorscope/communicator.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {

// A --device value as a CUDA device index, −1 for the CPU:
//   "cpu"    → −1
//   "cuda:i" → i, on every rank (ranks may share a GPU)
//   "cuda"   → 0 for one process; under mpirun cuda:<comm.local_rank()>, one
//              GPU per rank of a machine (INTERFACES.md "Several processes"),
//              or 0 when the rank sees one GPU (per-rank binding)
//   "auto"   → as "cuda" when this build has CUDA and a GPU is visible,
//              else −1; under mpirun a rank whose machine has fewer GPUs
//              than its local rank is refused (not moved to the CPU: the
//              ranks of one job compute on one kind of device).
// Throws InputError on anything else. Not a collective: each rank decides
// alone from its own local rank.
int resolve_device(const std::string& device, const Communicator& comm = world());

// "cpu" or "cuda:i", as resolve_device chose.
std::string device_label(int device);

// Which backends a command needs.
struct BackendNeeds {
  bool pass = false;     // the expansion pass (expand, dominance, tensors' ⟨J, T⟩)
  bool tensors = false;  // the tensor sweeps (tensors, dominance)
  bool train = false;    // the trainer (train, dominance)
};

// The backends of one run, all on `device`.
struct Backends {
  int device = -1;  // resolve_device's answer
  std::unique_ptr<ExpansionBackend> pass;
  std::unique_ptr<TensorBackend> tensors;
  std::unique_ptr<TrainBackend> train;
};

// Resolves `device` once and builds what `needs` asks for on it. Throws
// InputError when CUDA is asked for and missing, or the device does not exist.
// With several ranks a collective: every rank calls it, and a job whose ranks
// resolved to different kinds of device (CPU and CUDA) is refused.
Backends make_backends(const std::string& device, BackendNeeds needs, Communicator& comm = world());

// One backend for a --device value, through make_backends (the benches and
// tests that want a single one).
std::unique_ptr<ExpansionBackend> make_backend(const std::string& device);
std::unique_ptr<TensorBackend> make_tensor_backend(const std::string& device);
std::unique_ptr<TrainBackend> make_train_backend(const std::string& device);

}  // namespace taylorscope
