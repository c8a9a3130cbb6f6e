// `taylorscope expand`: S_k(θ) for k = 0..K on a data set, the seed terms,
// D_{n+1} vs S_{n+1}, the radius estimate and the validity table.
#include <iostream>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "flag_checks.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/created_outputs.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/expansion_report.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/sample_action.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope::cli {
namespace {

// The model flags (activation, --hidden, --init, --init-scale, --seed) are
// the shared group's (commands.hpp), defaults included.
struct ExpandArgs : ModelFlags {
  DataFlags data;
  std::string params_dir;
  int order = 8;
  std::string device = "auto";
  std::string report;
  std::string save_params;
  std::string save_precision;
  std::vector<double> t_values = ExpansionOptions{}.t_values;
  bool quiet = false;
  std::string shard = "rows";
};

int run_expand(const ExpandArgs& a) {
  // What the flags alone decide, before any file is read: a typo costs a
  // second, not the expansion.
  if (!a.report.empty()) check_output_file(a.report, "--report");
  if (!a.save_params.empty()) check_output_dir(a.save_params, "--save-params");
  const NpyPrecision precision = parse_save_precision(a.save_precision);
  const Activation act = parse_activation(a.activation, a.omega, a.iota);
  if (a.params_dir.empty() && a.init != "gaussian" && a.init != "glorot")
    throw InputError("--init must be gaussian or glorot, got '" + a.init + "'");
  check_shard(a.shard);
  Communicator& comm = world();
  auto backend = make_backend(a.device);

  const Dataset data = load_data(a.data);
  if (!data.balanced)
    warn(data.spec + " is not balanced across classes; S_1 ≠ 0 and the closed forms of docs/math.md §3 "
                     "assume balance (the jets stay exact)");
  Params theta;
  std::string source;
  if (!a.params_dir.empty()) {
    theta = load_params(a.params_dir);
    check_params_fit(theta, data.E, data.M, a.params_dir);
    source = a.params_dir;
  } else {
    std::ostringstream s;
    if (a.init == "gaussian") {
      theta = init_gaussian(data.M, a.hidden, data.E, a.init_scale, a.seed);
      s << "random, every entry N(0, " << a.init_scale << "²), seed " << a.seed;
    } else {
      theta = init_glorot_uniform(data.M, a.hidden, data.E, a.seed);
      s << "random, Glorot-uniform U and W, zero b and c, seed " << a.seed;
    }
    source = s.str();
  }

  ExpansionOptions options;
  options.order = a.order;
  options.t_values = a.t_values;
  options.shard = a.shard;
  flush_warnings();  // the inputs are all checked: what remains is the computation
  const ExpansionResult r = expand(data, theta, act, options, *backend, comm);
  // Every rank holds the same result; rank 0 alone prints and writes.
  if (!comm.is_root()) return 0;

  const ReportContext ctx{data, theta, act, source};
  if (!a.quiet) print_expansion_table(std::cout, r, ctx);
  // θ and the report are written only once the expansion has succeeded (it
  // still refuses some inputs: an empty class, a pass too large for memory),
  // and together: if one write fails, what this run wrote is removed.
  std::optional<DirectoryLock> lock;
  CreatedOutputs outputs;
  if (!a.report.empty()) {
    outputs.file(a.report);
    write_file_atomically(a.report, expansion_report(r, ctx).dump(2) + "\n");
  }
  if (!a.save_params.empty()) {
    outputs.directory(a.save_params);
    lock.emplace(a.save_params);
    save_params(theta, a.save_params, precision);
  }
  outputs.keep();
  if (!a.quiet && !a.report.empty()) std::cout << "  report written to " << a.report << "\n";
  if (!a.quiet && !a.save_params.empty()) std::cout << "  θ written to " << a.save_params << "\n";
  return 0;
}

}  // namespace

Command add_expand_command(CLI::App& app) {
  auto args = std::make_shared<ExpandArgs>();
  CLI::App* cmd = app.add_subcommand("expand", "exact Taylor coefficients S_k of the action along t·θ");
  add_data_flags(cmd, args->data);
  auto* params = cmd->add_option("--params", args->params_dir,
                                 "θ as a directory of U.npy W.npy b.npy c.npy (default: a seeded random θ)");
  whole(cmd->add_option("--order", args->order, "highest order K (1.." + std::to_string(kMaxOrder) + ")")
            ->capture_default_str(),
        1, kMaxOrder);
  add_device_flag(cmd, args->device);
  cmd->add_option("--report", args->report, "write the JSON report here");
  add_activation_flags(cmd, *args);
  add_hidden_flag(cmd, args->hidden, "H of the random θ")->excludes(params);
  add_init_flags(cmd, *args, "seed of the random θ", params);
  cmd->add_option("--save-params", args->save_params, "also write θ to this directory");
  add_save_precision_flag(cmd, args->save_precision, "f32");
  finite(cmd->add_option("--t-values", args->t_values, "where to compare S(tθ) with the partial sums")
             ->delimiter(',')
             ->capture_default_str());
  cmd->add_flag("--quiet", args->quiet, "no table on stdout");
  cmd->add_option("--shard", args->shard,
                  "under mpirun: split the pass by rows, or by hidden units (H too large for one device)")
      ->capture_default_str();
  return {cmd, [args] { return run_expand(*args); }};
}

}  // namespace taylorscope::cli
