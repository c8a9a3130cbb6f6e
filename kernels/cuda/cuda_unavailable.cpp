// The CUDA entry points of a build configured without nvcc: the backend is
// never available, and asking for it is an input error the CLI reports.
#include "taylorscope/checksum.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {
namespace {
constexpr const char* kNoCuda = "this build has no CUDA support (configured without nvcc)";
}  // namespace

bool cuda_backend_available(std::string* why) {
  if (why) *why = kNoCuda;
  return false;
}

std::unique_ptr<ExpansionBackend> make_cuda_backend(const CudaBackendOptions&) {
  throw InputError(kNoCuda);
}

std::unique_ptr<ExpansionBackend> make_cuda_backend(int) { throw InputError(kNoCuda); }

std::unique_ptr<TrainBackend> make_cuda_train_backend(int, Communicator&) { throw InputError(kNoCuda); }

std::unique_ptr<TrainBackend> make_cuda_train_backend(const CudaTrainOptions&) { throw InputError(kNoCuda); }

std::unique_ptr<TensorBackend> make_cuda_tensor_backend(int) { throw InputError(kNoCuda); }

KeepCurrentCudaDevice::KeepCurrentCudaDevice() = default;
KeepCurrentCudaDevice::~KeepCurrentCudaDevice() = default;

int64_t count_nonfinite_on_device(const double*, size_t, int) { throw InputError(kNoCuda); }

uint32_t crc32_on_device(const void*, size_t, int) { throw InputError(kNoCuda); }

std::vector<double> philox_draws_on_device(int, uint64_t, uint64_t, uint64_t, uint64_t, bool) {
  throw InputError(kNoCuda);
}

}  // namespace taylorscope
