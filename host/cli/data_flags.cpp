#include <limits>

#include "commands.hpp"
#include "flag_checks.hpp"

namespace taylorscope::cli {

void add_data_flags(CLI::App* cmd, DataFlags& f, const std::string& name) {
  cmd->add_option(name, f.spec,
                  "fashion-mnist:train|test, idx:IMAGES,LABELS or npy:Z.npy,LABELS.npy")
      ->required();
  cmd->add_option("--data-dir", f.options.data_dir, "where the fashion-mnist IDX files are")
      ->capture_default_str();
  auto* scale = cmd->add_flag("--scale", f.scale, "divide pixels by 255 (default for IDX data)");
  cmd->add_flag("--no-scale", f.no_scale, "keep raw values (default for npy data)")->excludes(scale);
  cmd->add_flag("--standardize", f.options.standardize, "per-feature zero mean, unit variance (an --eval set takes the --data set's statistics)");
  cmd->add_flag("--pad32", f.options.pad32, "zero-pad 28×28 images to 32×32 (E = 1024)");
  // 0 is refused rather than read as "no limit": a script that computes
  // --limit and gets 0 should hear about it, and leaving the flag out keeps
  // every sample.
  whole(cmd->add_option("--limit", f.options.limit, "keep the first N ≥ 1 samples of each class (default: all)"),
        int64_t{1}, std::numeric_limits<int64_t>::max(), "leave --limit out to keep every sample");
  whole(cmd->add_option("--classes", f.options.classes, "number of classes M (default: inferred)"), 1);
}

Dataset load_data(const DataFlags& f) {
  DataOptions o = f.options;
  o.scale = f.scale ? 1 : f.no_scale ? 0 : -1;
  return load_dataset(f.spec, o);
}

}  // namespace taylorscope::cli
