// --device values, shared by every command: "cpu", "cuda", "cuda:i", "auto".
#include <string>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

int resolve_device(const std::string& device) {
  if (device == "cpu") return -1;
  if (device == "auto") {
    std::string why;
    return cuda_backend_available(&why) ? 0 : -1;
  }
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) == 0) {
    const std::string idx = device.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return std::stoi(idx);
  }
  throw InputError("--device must be cpu, cuda, cuda:<index> or auto, got '" + device + "'");
}

std::unique_ptr<ExpansionBackend> make_backend(const std::string& device) {
  const int index = resolve_device(device);
  return index < 0 ? make_cpu_backend() : make_cuda_backend(index);
}

std::unique_ptr<TensorBackend> make_tensor_backend(const std::string& device) {
  const int index = resolve_device(device);
  return index < 0 ? make_cpu_tensor_backend() : make_cuda_tensor_backend(index);
}

}  // namespace taylorscope
