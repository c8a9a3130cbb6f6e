// `taylorscope tensors`: the element statistics of J^(n), T^(n) and J^(n)∘T^(n)
// (docs/math.md §6) streamed tile by tile, ⟨J^(n), T^(n)⟩ beside its power-sum
// value (docs/math.md §4), the JSON report, a histogram PNG and, when the tensors
// are small enough, the tensors themselves as .npy.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "progress.hpp"
#include "report/report_plots.hpp"
#include "tensors/cpu_tiles.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/created_outputs.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/tensor_report.hpp"
#include "taylorscope/tensor_run.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::cli {
namespace {

struct TensorsArgs {
  DataFlags data;
  std::string params_dir;
  std::string only;  // "", "J" or "T"
  int order = 2;
  int bins = 64;
  std::string device = "auto";
  std::string report, plot, dump;
  double dump_limit_mib = 1024;
  bool quiet = false;
};

// Refuses a --dump that would not fit (under --dump-limit, and one tensor
// at a time in memory) before anything is computed.
void check_dump_size(const TensorsArgs& a, int64_t M, int64_t E, int streams) {
  const double one = 8.0 * static_cast<double>(M) * std::pow(static_cast<double>(E), a.order);
  const double limit = a.dump_limit_mib * 1024 * 1024;
  if (streams * one > limit)
    throw InputError("--dump: the dense tensors take " + format_bytes(streams * one) +
                     " (M·E^n float64 each), over --dump-limit " + format_bytes(limit));
  check_memory(one, "--dump: one dense tensor (M·E^n float64)");
}

// The histogram PNG: --plot, or the report's path with .png.
std::string plot_path(const TensorsArgs& a) {
  if (!a.plot.empty() || a.report.empty()) return a.plot;
  return std::filesystem::path(a.report).replace_extension(".png").string();
}

int run_tensors(const TensorsArgs& a) {
  // What the flags alone decide, before any file is read (the numbers were
  // checked while parsing: flag_checks.hpp).
  if (!a.only.empty() && a.only != "J" && a.only != "T") throw InputError("--only must be J or T");
  if (a.only == "T" && a.params_dir.empty()) throw InputError("--only T needs --params");
  const std::string plot = plot_path(a);
  // Under mpirun rank 0 alone writes (INTERFACES.md "Several processes"):
  // the output paths are its to check; a refusal there ends the job.
  Communicator& comm = world();
  if (comm.is_root()) {
    if (!a.report.empty()) check_output_file(a.report, "--report");
    if (!plot.empty()) check_output_file(plot, a.plot.empty() ? "--report's plot" : "--plot");
    if (!a.dump.empty()) check_output_dir(a.dump, "--dump");
  }
  auto backend = make_tensor_backend(a.device);
  const bool with_dot = a.only.empty() && !a.params_dir.empty();
  std::unique_ptr<ExpansionBackend> pass;
  if (with_dot) pass = make_backend(a.device);

  const Dataset data = load_data(a.data);
  if (!data.balanced)
    warn(data.spec + " is not balanced across classes; J^(n) is still E_z − E_{z|α}, but docs/math.md §3 assumes balance");
  Params theta;
  if (!a.params_dir.empty()) {
    theta = load_params(a.params_dir);
    check_params_fit(theta, data.E, data.M, a.params_dir);
  }
  const TensorSources src = tensor_sources(data, a.params_dir.empty() ? nullptr : &theta, a.only);
  const int streams = (src.data ? 1 : 0) + (src.theta ? 1 : 0) + (src.data && src.theta ? 1 : 0);
  if (!a.dump.empty() && comm.is_root()) check_dump_size(a, data.M, data.E, streams);
  flush_warnings();  // the inputs are all checked: what remains is the computation

  TensorRun run;
  {
    TaskProgress bar("tiles", a.quiet || !comm.is_root());
    run = run_tensors(src, a.order, a.bins, *backend, pass.get(),
                      [&bar](int64_t done, int64_t total) { bar.update(done, total); }, comm);
  }
  const TensorStatistics& stats = run.stats;
  const TensorReportContext ctx{src.data, src.theta, a.params_dir, run.dot_power_sum};
  if (!a.quiet) print_tensor_table(std::cout, stats, ctx);
  if (!comm.is_root()) return 0;  // the statistics are rank 0's to write; --dump too

  // The outputs are written together: should one fail (a full disk), what
  // this run wrote is removed and the command fails as a whole.
  std::optional<DirectoryLock> lock;
  CreatedOutputs outputs;
  if (!a.report.empty()) {
    outputs.file(a.report);
    write_file_atomically(a.report, tensor_report(stats, ctx).dump(2) + "\n");
  }
  bool drawn = false;  // not when every streamed tensor overflowed (its warnings say so)
  if (!plot.empty()) {
    outputs.file(plot);
    drawn = write_tensor_histograms(plot, stats, data.spec + ", order " + std::to_string(a.order));
  }
  std::vector<std::string> dumped;
  if (!a.dump.empty()) {
    outputs.directory(a.dump);
    lock.emplace(a.dump);
    std::vector<int64_t> shape(a.order + 1, data.E);
    shape[0] = data.M;
    for (int k = 0; k < 3; ++k) {
      if ((k != kStreamT && !src.data) || (k != kStreamJ && !src.theta)) continue;
      const std::string path = (std::filesystem::path(a.dump) / (std::string(stream_name(k)) + ".npy")).string();
      write_npy(path, shape, dense_tensor(src, a.order, k), NpyPrecision::f64);
      dumped.push_back(path);
    }
  }
  outputs.keep();
  if (!a.quiet) {
    if (!a.report.empty()) std::cout << "  report written to " << a.report << "\n";
    if (drawn) std::cout << "  histograms drawn in " << plot << "\n";
    for (const std::string& path : dumped) std::cout << "  " << path << " written (dense, float64)\n";
  }
  return 0;
}

}  // namespace

Command add_tensors_command(CLI::App& app) {
  auto args = std::make_shared<TensorsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tensors", "element statistics of J^(n), T^(n) and J^(n)∘T^(n), streamed tile by tile");
  add_data_flags(cmd, args->data);
  cmd->add_option("--params", args->params_dir, "θ as a directory of U.npy W.npy b.npy c.npy (without: J alone)");
  whole(cmd->add_option("--order", args->order, "tensor order n (1.." + std::to_string(kMaxTensorOrder) + ")")
            ->capture_default_str(),
        1, kMaxTensorOrder);
  cmd->add_option("--only", args->only, "stream J or T alone");
  whole(cmd->add_option("--bins", args->bins, "histogram bins (1..100000)")->capture_default_str(), 1, 100000);
  add_device_flag(cmd, args->device);
  cmd->add_option("--report", args->report, "write the JSON report here");
  cmd->add_option("--plot", args->plot, "histogram PNG (default: the report's path with .png)");
  cmd->add_option("--dump", args->dump, "write the dense tensors J.npy, T.npy, JT.npy (float64) into this directory");
  positive(cmd->add_option("--dump-limit", args->dump_limit_mib, "largest --dump in MiB, all tensors together")
               ->capture_default_str());
  cmd->add_flag("--quiet", args->quiet, "no table on stdout");
  return {cmd, [args] { return run_tensors(*args); }};
}

}  // namespace taylorscope::cli
