// Progress of a long command: on a terminal, a bar on stderr redrawn in
// place; otherwise nothing per batch. One plain line per epoch on stdout
// either way, so logs and pipes get readable records.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "taylorscope/training.hpp"

namespace taylorscope::cli {

class EpochProgress {
 public:
  EpochProgress(std::ostream& lines, int epochs, bool quiet);
  void batches(int epoch, int64_t done, int64_t total);
  void epoch(const EpochRecord& r);

 private:
  std::ostream& lines_;
  int epochs_;
  bool quiet_;
  bool bar_;  // stderr is a terminal
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point epoch_start_;
};

// A bar for one long computation of `total` steps (tiles of a tensor sweep),
// on stderr and only on a terminal; cleared when done.
class TaskProgress {
 public:
  TaskProgress(std::string label, bool quiet);
  ~TaskProgress();
  void update(int64_t done, int64_t total);

 private:
  std::string label_;
  bool bar_;
  bool drawn_ = false;
  int last_permille_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace taylorscope::cli
