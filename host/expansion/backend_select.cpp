#include <string>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"

namespace taylorscope {

std::unique_ptr<ExpansionBackend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  if (device == "auto") {
    std::string why;
    return cuda_backend_available(&why) ? make_cuda_backend(0) : make_cpu_backend();
  }
  if (device == "cuda") return make_cuda_backend(0);
  if (device.rfind("cuda:", 0) == 0) {
    const std::string idx = device.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return make_cuda_backend(std::stoi(idx));
  }
  throw InputError("--device must be cpu, cuda, cuda:<index> or auto, got '" + device + "'");
}

}  // namespace taylorscope
