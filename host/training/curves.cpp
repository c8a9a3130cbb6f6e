#include "training/curves.hpp"

#include <cstdio>

#include "taylorscope/atomic_file.hpp"

namespace taylorscope {

void write_curves_csv(const std::string& path, const std::vector<EpochRecord>& records) {
  // The first eight columns are INTERFACES.md's; step_seconds is an addition.
  std::string out = "epoch,train_loss,train_acc,eval_loss,eval_acc,grad_dot,lr,seconds,step_seconds\n";
  char line[512];
  for (const EpochRecord& r : records) {
    // %.17g: float64 round-trips through the text.
    std::snprintf(line, sizeof line, "%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.6f,%.6f\n", r.epoch,
                  r.train_loss, r.train_acc, r.eval_loss, r.eval_acc, r.grad_dot, r.lr, r.seconds,
                  r.step_seconds);
    out += line;
  }
  write_file_atomically(path, out);
}

}  // namespace taylorscope
