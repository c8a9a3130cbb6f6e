// `taylorscope dominance` (seed 000 §2.3–2.5): at each hidden width H, θ*
// trained by the trainer, then on the evaluation split the S_2/S_3 term
// decomposition with the corrected coefficients (docs/math.md §3), the sub-term
// counts (§5), D_{n+1}/S_{n+1} (§3), the element statistics of J^(n)∘T^(n) for
// n = 1, 2 (§6) and the radius estimate — to see which term dominates, and
// whether that dominance fades as H shrinks, as the seed claims.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "taylorscope/backends.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/expansion.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/training.hpp"

namespace taylorscope {

struct WidthAnalysis {
  int64_t H = 0;
  // θ*: the trainer's chosen epoch (best/), and how it scores there.
  int chosen_epoch = 0;
  std::string chosen_by;
  double train_loss = 0, train_acc = 0, eval_loss = 0, eval_acc = 0;
  double train_seconds = 0;
  ExpansionResult expansion;              // on the evaluation split at θ*: its `terms` are the seven
  std::vector<TensorStatistics> tensors;  // n = 1, 2 on the evaluation split
};

// Everything after training, for one θ* on `eval`. `order` ≥ 5 so that
// D_{n+1}/S_{n+1} reaches n = 4. Collective over `comm` (expand's rows and
// tensor_statistics' tiles are split across its ranks); every rank returns
// the same analysis.
WidthAnalysis analyse_width(const Dataset& eval, const Params& theta_star, const Activation& act, int order,
                            int bins, ExpansionBackend& pass, TensorBackend& tensors, Communicator& comm = world());

// ---- the analysis across widths (`taylorscope dominance`) ----

struct DominanceOptions {
  std::vector<int64_t> hidden;  // the widths, in this order
  int order = 6;                // ≥ 5 (analyse_width)
  int bins = 64;
  TrainConfig train;            // every width's training; its `hidden` is set per width
  NpyPrecision save_precision = NpyPrecision::f64;
  bool resume = false;          // each width continues from its checkpoint
  std::string out;              // OUT: H<H>/ run directories, dominance.{json,csv}, PNGs
  nlohmann::json settings;      // the report's `settings` (the caller's flags)
};

struct DominanceObserver {
  std::function<void(int64_t H, const std::string& dir)> on_width;  // before width H trains into dir
  TrainObserver training;                                            // each width's training
  std::function<void(const WidthAnalysis&)> on_analysed;             // after width H's analysis
};

// OUT/H<H>: width H's run directory.
std::string dominance_width_dir(const std::string& out, int64_t H);

// Throws InputError for what dominance() would refuse before writing
// anything: no width, an order below 5, a width train() would refuse.
void check_dominance_inputs(const Dataset& train_set, const Dataset& eval_set, const DominanceOptions& options);

// For each width H in turn: trains θ* into OUT/H<H>/ (a complete `train`
// run directory), analyses θ* on `eval_set` (analyse_width), draws
// H<H>/tensors_n{1,2}.png, and rewrites OUT/dominance.json and
// OUT/dominance.csv, so an interrupted run keeps every finished width; at
// the end the plots across widths. Returns the rows, in width order.
//
// Collective over `comm`: every rank holds both data sets and calls this;
// each width's training is data-parallel and its analysis distributed by the
// library calls it makes (train, expand, tensor_statistics), every rank ends
// with the same rows, and rank 0 alone writes (the caller holds OUT's
// DirectoryLock on rank 0). dominance.json records `ranks`; with R > 1 each
// width's `device` lists every rank's (the expansion's own record of them).
// Needs backends.pass, .tensors, .train.
std::vector<WidthAnalysis> dominance(const Dataset& train_set, const Dataset& eval_set,
                                     const DominanceOptions& options, Backends& backends,
                                     const DominanceObserver& observer = {}, Communicator& comm = world());

}  // namespace taylorscope
