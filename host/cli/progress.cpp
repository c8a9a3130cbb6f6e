#include "progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <utility>

#include "taylorscope/communicator.hpp"

namespace taylorscope::cli {
namespace {

// A bar only where someone watches it: a terminal, and only rank 0's under
// mpirun (every rank would draw its own over the same line).
bool draw_bar(bool quiet) { return !quiet && world().is_root() && ::isatty(STDERR_FILENO); }

}  // namespace

EpochProgress::EpochProgress(std::ostream& lines, int epochs, bool quiet)
    : lines_(lines), epochs_(epochs), quiet_(quiet), bar_(draw_bar(quiet)),
      epoch_start_(std::chrono::steady_clock::now()) {}

void EpochProgress::batches(int epoch, int64_t done, int64_t total) {
  if (!bar_) return;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / (total > 0 ? total : 1));
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  std::fprintf(stderr, "\r  epoch %d/%d [%s%s] %lld/%lld batches %.1f s ", epoch, epochs_,
               std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
               static_cast<long long>(done), static_cast<long long>(total), s);
  std::fflush(stderr);
  bar_drawn_ = true;
}

void EpochProgress::epoch(const EpochRecord& r) {
  if (bar_drawn_) {
    std::fprintf(stderr, "\r%80s\r", "");  // clear the bar before the line
    std::fflush(stderr);
    bar_drawn_ = false;
  }
  epoch_start_ = std::chrono::steady_clock::now();
  if (quiet_) return;
  char line[256];
  std::snprintf(line, sizeof line,
                "  epoch %3d  train %.5f (%.2f%%)  eval %.5f (%.2f%%)  grad_dot %+.4e  %.2f s\n",
                r.epoch, r.train_loss, 100 * r.train_acc, r.eval_loss, 100 * r.eval_acc, r.grad_dot,
                r.seconds);
  lines_ << line << std::flush;
}

TaskProgress::TaskProgress(std::string label, bool quiet)
    : label_(std::move(label)), bar_(draw_bar(quiet)),
      start_(std::chrono::steady_clock::now()) {}

TaskProgress::~TaskProgress() {
  if (drawn_) std::fprintf(stderr, "\r%80s\r", "");
}

void TaskProgress::update(int64_t done, int64_t total) {
  if (!bar_ || total <= 0) return;
  const int permille = static_cast<int>(1000 * done / total);
  if (permille == last_permille_) return;  // thousands of tiles: redraw at most 1000 times
  last_permille_ = permille;
  constexpr int kWidth = 30;
  const int filled = kWidth * permille / 1000;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "\r  %s [%s%s] %5.1f%% %.1f s ", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), permille / 10.0, s);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace taylorscope::cli
