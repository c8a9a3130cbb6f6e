// train(): `taylorscope train`'s library call on the caller's arrays, with
// a run directory or none. The progress callback and Ctrl-C are served
// between batches, the only points where the trainer hands back control:
// a KeyboardInterrupt there unwinds train(), whose last checkpoint (when a
// directory was given) is the last finished epoch's, written atomically.
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>

#include "arrays.hpp"
#include "engine_call.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/optimizer.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope::python {
namespace {

nb::dict record_dict(const EpochRecord& r) {
  nb::dict d;
  d["epoch"] = r.epoch;
  d["train_loss"] = r.train_loss;
  d["train_acc"] = r.train_acc;
  d["eval_loss"] = r.eval_loss;
  d["eval_acc"] = r.eval_acc;
  d["grad_dot"] = r.grad_dot;
  d["lr"] = r.lr;
  d["seconds"] = r.seconds;
  d["step_seconds"] = r.step_seconds;
  return d;
}

NpyPrecision precision_of(const std::string& name) {
  if (name == "f32") return NpyPrecision::f32;
  if (name == "f64") return NpyPrecision::f64;
  throw InputError("save_precision must be f32 or f64, got '" + name + "'");
}

}  // namespace

void bind_train(nb::module_& m) {
  m.def(
      "train",
      [](const Matrix& X, const Labels& y, std::optional<Matrix> Xe, std::optional<Labels> ye, int64_t hidden,
         const std::string& activation, double omega, double iota, const std::string& optimizer, double lr,
         int64_t batch, int epochs, uint64_t seed, const std::string& init, double init_scale, double l2,
         double momentum, double beta1, double beta2, double eps, int rngd_period, double rngd_damping,
         double rngd_omega, const std::string& early_stop, int patience, const std::string& device,
         const std::string& out, bool resume, const std::string& save_precision,
         std::optional<nb::callable> progress, const std::string& data_spec, const std::string& eval_spec) {
        TrainResult result = run_engine(nullptr, [&] {
          TrainConfig c;
          c.hidden = hidden;
          c.act = parse_activation(activation, omega, iota);
          c.opt.kind = parse_optimizer(optimizer);
          c.opt.lr = lr;
          c.opt.l2 = l2;
          c.opt.momentum = momentum;
          c.opt.beta1 = beta1;
          c.opt.beta2 = beta2;
          c.opt.eps = eps;
          c.opt.rngd_period = rngd_period;
          c.opt.rngd_damping = rngd_damping;
          c.opt.rngd_omega = rngd_omega;
          check_optimizer_config(c.opt);
          c.batch = batch;
          c.epochs = epochs;
          c.seed = seed;
          c.init = init;
          c.init_scale = init_scale;
          c.early_stop = parse_early_stop(early_stop);
          c.patience = patience;
          const NpyPrecision precision = precision_of(save_precision);
          Dataset tr = dataset_of(X, y, 0, data_spec);
          // No eval set: the training set measures itself (eval_* = train_*).
          Dataset ev = Xe ? dataset_of(*Xe, *ye, tr.M, eval_spec) : tr;
          // A run directory may be resumed: its checkpoint must know the
          // arrays, not only their shape.
          if (!out.empty()) {
            fingerprint_arrays(tr);
            if (Xe) fingerprint_arrays(ev, {"Xe", "ye", "classes"});
            else ev.sources = tr.sources;
          }
          auto backend = make_train_backend(device);
          TrainObserver observer;
          observer.on_batches = [](int, int64_t, int64_t) {
            nb::gil_scoped_acquire gil;
            if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C: KeyboardInterrupt
          };
          if (progress)
            observer.on_epoch = [&progress](const EpochRecord& r) {
              nb::gil_scoped_acquire gil;
              (*progress)(record_dict(r));
            };
          return train(tr, ev, c, *backend, out, resume, precision, observer);
        });
        nb::list records;
        for (const EpochRecord& r : result.records) records.append(record_dict(r));
        nb::dict d;
        d["records"] = records;
        d["theta"] = numpy_params(std::move(result.theta));
        d["best_theta"] = numpy_params(std::move(result.best_theta));
        d["chosen_epoch"] = result.chosen_epoch;
        d["chosen_by"] = result.chosen_by;
        d["stopped_early"] = result.stopped_early;
        d["stop_by_grad_dot"] = result.stop.by_grad_dot;
        d["stop_by_eval_loss"] = result.stop.by_eval_loss;
        d["resumed_from"] = result.resumed_from;
        d["seconds"] = result.seconds;
        return d;
      },
      nb::arg("X").noconvert(), nb::arg("y").noconvert(), nb::arg("Xe").noconvert().none(),
      nb::arg("ye").noconvert().none(), nb::arg("hidden"), nb::arg("activation"), nb::arg("omega"),
      nb::arg("iota"), nb::arg("optimizer"), nb::arg("lr"), nb::arg("batch"), nb::arg("epochs"), nb::arg("seed"),
      nb::arg("init"), nb::arg("init_scale"), nb::arg("l2"), nb::arg("momentum"), nb::arg("beta1"),
      nb::arg("beta2"), nb::arg("eps"), nb::arg("rngd_period"), nb::arg("rngd_damping"), nb::arg("rngd_omega"),
      nb::arg("early_stop"), nb::arg("patience"), nb::arg("device"), nb::arg("out"), nb::arg("resume"),
      nb::arg("save_precision"), nb::arg("progress").none(), nb::arg("data_spec"), nb::arg("eval_spec"),
      "`taylorscope train` on these arrays: θ, best θ and the per-epoch records.");
}

}  // namespace taylorscope::python
