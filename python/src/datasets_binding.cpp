// load_dataset(): `--data SPEC` as the CLI reads it (load_dataset: the same
// files, scaling, --limit and --pad32), handed to NumPy without a copy.
#include <nanobind/stl/string.h>

#include <cstdint>

#include "arrays.hpp"
#include "engine_call.hpp"

namespace taylorscope::python {

void bind_datasets(nb::module_& m) {
  m.def(
      "load_dataset",
      [](const std::string& spec, bool pad32, int64_t limit, const std::string& data_dir) {
        Dataset d = run_engine(nullptr, [&] {
          DataOptions o;
          o.flag = "spec";
          o.pad32 = pad32;
          o.limit = limit;
          if (!data_dir.empty()) o.data_dir = data_dir;
          return load_dataset(spec, o);
        });
        const auto N = static_cast<size_t>(d.N), E = static_cast<size_t>(d.E);
        std::vector<int64_t> labels(d.labels.begin(), d.labels.end());
        nb::ndarray<nb::numpy, double> X = numpy_of(d.Z.release(), {N, E});
        return nb::make_tuple(X, numpy_of(std::move(labels), {N}), d.M);
      },
      nb::arg("spec"), nb::arg("pad32"), nb::arg("limit"), nb::arg("data_dir"),
      "(X, y, M) of a --data SPEC, read as the CLI reads it.");
  // The address of the rows the engine reads for (X, y): the data set every
  // binding builds (dataset_of), so a test can see that no copy was made.
  m.def(
      "_data_address",
      [](const Matrix& X, const Labels& y) {
        const Dataset d = run_engine(nullptr, [&] { return dataset_of(X, y, 0, "probe"); });
        return reinterpret_cast<uintptr_t>(d.Z.on_device() ? d.Z.device_data() : d.Z.data());
      },
      nb::arg("X").noconvert(), nb::arg("y").noconvert());
}

}  // namespace taylorscope::python
