#include "arrays.hpp"

#include <string>
#include <utility>

namespace taylorscope::python {

Dataset dataset_of(const Matrix& X, const Labels& y, int classes, const std::string& spec) {
  int device = -1;
  switch (X.device_type()) {
    case nb::device::cpu::value:
    case nb::device::cuda_host::value:     // pinned host memory
    case nb::device::cuda_managed::value:  // readable from the host
      break;
    case nb::device::cuda::value:
      device = static_cast<int>(X.device_id());
      break;
    default:
      throw nb::type_error(("X: arrays on DLPack device type " + std::to_string(X.device_type()) +
                            " are not read (CPU or CUDA arrays only)")
                               .c_str());
  }
  return dataset_from_arrays(spec, X.data(), static_cast<int64_t>(X.shape(0)), static_cast<int64_t>(X.shape(1)),
                             y.data(), static_cast<int64_t>(y.shape(0)), classes, {}, device);
}

Params params_of(const AnyArray& U, const AnyArray& W, const AnyArray& b, const AnyArray& c) {
  auto part = [](const AnyArray& a) {
    ParamArray p;
    p.data = a.data();
    for (size_t d = 0; d < a.ndim(); ++d) p.shape.push_back(static_cast<int64_t>(a.shape(d)));
    return p;
  };
  return params_from_arrays({part(U), part(W), part(b), part(c)});
}

nb::dict numpy_params(Params&& p) {
  const auto M = static_cast<size_t>(p.M), H = static_cast<size_t>(p.H), E = static_cast<size_t>(p.E);
  nb::dict d;
  d["U"] = numpy_of(std::move(p.U), {M, H});
  d["W"] = numpy_of(std::move(p.W), {H, E});
  d["b"] = numpy_of(std::move(p.b), {H});
  d["c"] = numpy_of(std::move(p.c), {M});
  return d;
}

}  // namespace taylorscope::python
