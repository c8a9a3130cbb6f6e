// expand(): `taylorscope expand`'s library calls on the caller's arrays. The
// result is the JSON report itself (expansion_report), which the Python
// Expansion object parses: its fields are the report's keys by construction,
// and to_dict() is the report.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.hpp"
#include "engine_call.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_report.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope::python {

void bind_expand(nb::module_& m) {
  m.def(
      "expand",
      [](const Matrix& X, const Labels& y, const AnyArray& U, const AnyArray& W, const AnyArray& b,
         const AnyArray& c, int order, const std::string& activation, double omega, double iota,
         const std::string& device, const std::vector<double>& t_values, const std::string& data_spec,
         const std::string& params_source) {
        std::vector<std::string> warnings;
        std::string report = run_engine(&warnings, [&] {
          if (order < 1 || order > kMaxOrder)
            throw InputError("order must be in 1.." + std::to_string(kMaxOrder) + ", got " + std::to_string(order));
          const Activation act = parse_activation(activation, omega, iota);
          const Params theta = params_of(U, W, b, c);
          // θ decides M: labels are checked against its classes, as the
          // CLI checks a data set against --params.
          const Dataset data = dataset_of(X, y, static_cast<int>(theta.M), data_spec);
          check_params_fit(theta, data.E, data.M, "theta");
          auto backend = make_backend(device);
          ExpansionOptions options;
          options.order = order;
          options.t_values = t_values;
          const ExpansionResult r = expand(data, theta, act, options, *backend);
          return expansion_report(r, ReportContext{data, theta, act, params_source}).dump();
        });
        return nb::make_tuple(report, warnings);
      },
      nb::arg("X").noconvert(), nb::arg("y").noconvert(), nb::arg("U").noconvert(), nb::arg("W").noconvert(),
      nb::arg("b").noconvert(), nb::arg("c").noconvert(), nb::arg("order"), nb::arg("activation"),
      nb::arg("omega"), nb::arg("iota"), nb::arg("device"), nb::arg("t_values"), nb::arg("data_spec"),
      nb::arg("params_source"),
      "The JSON report of `taylorscope expand` on these arrays, and the warnings it queued.");
}

}  // namespace taylorscope::python
