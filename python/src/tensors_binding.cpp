// tensors(): the element statistics of J^(n), T^(n) and J∘T as `taylorscope
// tensors` computes them (tensor_run.hpp, the calls the CLI makes), returned
// as its JSON report.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "arrays.hpp"
#include "engine_call.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/packed_tiles.hpp"
#include "taylorscope/tensor_report.hpp"
#include "taylorscope/tensor_run.hpp"

namespace taylorscope::python {

void bind_tensors(nb::module_& m) {
  m.def(
      "tensors",
      [](const Matrix& X, const Labels& y, std::optional<AnyArray> U, std::optional<AnyArray> W,
         std::optional<AnyArray> b, std::optional<AnyArray> c, int order, const std::string& only, int bins,
         const std::string& device, const std::string& data_spec, const std::string& params_source) {
        std::vector<std::string> warnings;
        std::string report = run_engine(&warnings, [&] {
          if (order < 1 || order > kMaxTensorOrder)
            throw InputError("order must be in 1.." + std::to_string(kMaxTensorOrder) + ", got " +
                             std::to_string(order));
          if (bins < 1 || bins > 100000) throw InputError("bins must be in 1..100000, got " + std::to_string(bins));
          if (!only.empty() && only != "J" && only != "T") throw InputError("only must be J or T");
          const bool have_theta = U.has_value();
          if (only == "T" && !have_theta) throw InputError("only='T' needs theta");
          std::optional<Params> theta;
          if (have_theta) theta = params_of(*U, *W, *b, *c);
          const Dataset data = dataset_of(X, y, theta ? static_cast<int>(theta->M) : 0, data_spec);
          if (theta) check_params_fit(*theta, data.E, data.M, "theta");
          auto backend = make_tensor_backend(device);
          std::unique_ptr<ExpansionBackend> pass;
          if (only.empty() && theta) pass = make_backend(device);
          const TensorSources src = tensor_sources(data, theta ? &*theta : nullptr, only);
          const TensorRun run = run_tensors(src, order, bins, *backend, pass.get());
          const TensorReportContext ctx{src.data, src.theta, params_source, run.dot_power_sum};
          return tensor_report(run.stats, ctx).dump();
        });
        return nb::make_tuple(report, warnings);
      },
      nb::arg("X").noconvert(), nb::arg("y").noconvert(), nb::arg("U").noconvert().none(),
      nb::arg("W").noconvert().none(), nb::arg("b").noconvert().none(), nb::arg("c").noconvert().none(),
      nb::arg("order"), nb::arg("only"), nb::arg("bins"), nb::arg("device"), nb::arg("data_spec"),
      nb::arg("params_source"),
      "The JSON report of `taylorscope tensors` on these arrays, and the warnings it queued.");
}

}  // namespace taylorscope::python
