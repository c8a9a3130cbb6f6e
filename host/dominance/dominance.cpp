// The dominance analysis across hidden widths (dominance.hpp): the loop the
// `dominance` command runs, as one library call the CLI, an mpirun job and
// the Python bindings share.
#include <filesystem>
#include <string>
#include <vector>

#include "report/report_plots.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/dominance.hpp"
#include "taylorscope/dominance_report.hpp"
#include "taylorscope/errors.hpp"

namespace taylorscope {

std::string dominance_width_dir(const std::string& out, int64_t H) {
  std::string name = "H";  // (not "H" + to_string: GCC 12 warns falsely, -Wrestrict)
  name += std::to_string(H);
  return (std::filesystem::path(out) / name).string();
}

void check_dominance_inputs(const Dataset& train_set, const Dataset& eval_set, const DominanceOptions& o) {
  if (o.hidden.empty()) throw InputError("--hidden needs at least one width");
  if (o.order < 5)
    throw InputError("--order must be ≥ 5 for D_{n+1}/S_{n+1} up to n = 4, got " + std::to_string(o.order));
  for (int64_t H : o.hidden) {
    TrainConfig c = o.train;
    c.hidden = H;
    check_train_inputs(train_set, eval_set, c);
  }
}

std::vector<WidthAnalysis> dominance(const Dataset& train_set, const Dataset& eval_set, const DominanceOptions& o,
                                     Backends& backends, const DominanceObserver& observer, Communicator& comm) {
  namespace fs = std::filesystem;
  if (!backends.pass || !backends.tensors || !backends.train)
    throw std::invalid_argument("dominance: needs the expansion, tensor and training backends");
  check_dominance_inputs(train_set, eval_set, o);

  std::vector<WidthAnalysis> rows;
  for (int64_t H : o.hidden) {
    TrainConfig c = o.train;
    c.hidden = H;
    const std::string dir = dominance_width_dir(o.out, H);
    if (observer.on_width) observer.on_width(H, dir);
    // train() locks dir (rank 0) and writes its report.json.
    const TrainResult result =
        train(train_set, eval_set, c, *backends.train, dir, o.resume, o.save_precision, observer.training, comm);

    // θ* in float64 as training left it, the same bits on every rank (the
    // trainer checks that); best/ holds it at --save-precision, f64 by
    // default, so that a later `expand --params DIR/best` sees these values.
    WidthAnalysis w = analyse_width(eval_set, result.best_theta, c.act, o.order, o.bins, *backends.pass,
                                    *backends.tensors, comm);
    for (const EpochRecord& r : result.records)
      if (r.epoch == result.chosen_epoch) {
        w.train_loss = r.train_loss, w.train_acc = r.train_acc;
        w.eval_loss = r.eval_loss, w.eval_acc = r.eval_acc;
      }
    w.chosen_epoch = result.chosen_epoch;
    w.chosen_by = result.chosen_by;
    w.train_seconds = result.seconds;
    if (comm.is_root())
      for (const TensorStatistics& t : w.tensors)
        write_tensor_histograms((fs::path(dir) / ("tensors_n" + std::to_string(t.order) + ".png")).string(), t,
                                eval_set.spec + " at theta*, H = " + std::to_string(H) +
                                    ", n = " + std::to_string(t.order));
    rows.push_back(std::move(w));
    if (observer.on_analysed) observer.on_analysed(rows.back());

    if (comm.is_root()) {
      write_file_atomically((fs::path(o.out) / "dominance.json").string(),
                            dominance_report(rows, o.settings).dump(2) + "\n");
      write_file_atomically((fs::path(o.out) / "dominance.csv").string(), dominance_csv(rows));
    }
  }
  if (comm.is_root()) write_dominance_plots(o.out, rows);
  return rows;
}

}  // namespace taylorscope
