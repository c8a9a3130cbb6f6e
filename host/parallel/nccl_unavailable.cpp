// nccl_available() and make_nccl_communicator() where there is no NCCL: a
// build without it, and the Python module, which runs one process and must
// not load a libnccl.so.2 into the interpreter (PyTorch's CUDA wheels bring
// a newer NCCL under the same soname; with ours loaded first, `import torch`
// failed: libtorch_cuda.so: undefined symbol ncclCommResume). Linked into the
// module ahead of the library, these definitions keep nccl_communicator.cu's
// object, and with it libnccl, out of the module.
#include <memory>
#include <string>

#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {

bool nccl_available(std::string* why) {
  if (why) *why = "this build has no NCCL (it needs the CUDA backend and libnccl at configure time)";
  return false;
}

std::unique_ptr<DeviceCommunicator> make_nccl_communicator(Communicator&, int) {
  std::string why;
  nccl_available(&why);
  throw InputError(why);
}

}  // namespace taylorscope
