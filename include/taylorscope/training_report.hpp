// report.json of `taylorscope train` (INTERFACES.md): the settings, the
// final and best metrics, and stop: { by_grad_dot_epoch, by_eval_loss_epoch }.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "taylorscope/training.hpp"

namespace taylorscope {

struct TrainReportContext {
  const Dataset& train;
  const Dataset& eval;
  const TrainConfig& config;
  std::string device;
  // Several ranks: their number, every rank's device in rank order, and the
  // milliseconds spent in collectives (timing_ms.allreduce).
  int ranks = 1;
  std::vector<std::string> devices;
  double allreduce_ms = 0;
};

// A data set's provenance: {"sources": [{path, bytes, crc32}, …],
// "preprocessing": {scaled, standardized, standardized_like_other, pad32,
// limit, classes}}, paths made absolute. Part of report.json's settings.data
// and settings.eval, and of a training run's resume identity: a changed
// file or preprocessing flag is a different run.
nlohmann::json dataset_provenance(const Dataset& data);

// The run configuration, serialised once: the "settings" object of
// report.json (data, model and optimizer settings — each optimizer's own
// keys from its rule, optimizer.hpp) and, less kResumableSettings, the
// identity a checkpoint must match to be resumed.
nlohmann::json training_settings(const Dataset& train, const Dataset& eval, const TrainConfig& config);
// The settings a resumed run may change: how long to train and when to stop.
constexpr const char* kResumableSettings[] = {"epochs", "early_stop", "patience"};
// training_settings without kResumableSettings: everything that must match
// for a checkpoint to be continued, the data sets by their files (path,
// size, CRC-32) and what the loader did to them.
nlohmann::json resume_identity(const Dataset& train, const Dataset& eval, const TrainConfig& config);

nlohmann::json training_report(const TrainResult& result, const TrainReportContext& ctx);

}  // namespace taylorscope
