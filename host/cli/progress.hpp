// Progress of a long command: on a terminal, a bar on stderr redrawn in
// place; otherwise nothing per batch. One plain line per epoch on stdout
// either way, so logs and pipes get readable records.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>

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

}  // namespace taylorscope::cli
