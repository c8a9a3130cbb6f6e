// report.json of `taylorscope train` (INTERFACES.md): the settings, the
// final and best metrics, and stop: { by_grad_dot_epoch, by_eval_loss_epoch }.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "taylorscope/training.hpp"

namespace taylorscope {

struct TrainReportContext {
  const Dataset& train;
  const Dataset& eval;
  const TrainConfig& config;
  std::string device;
};

// A data set's provenance: {"sources": [{path, bytes, crc32}, …],
// "preprocessing": {scaled, standardized, standardized_like_other, pad32,
// limit, classes}}, paths made absolute. Part of report.json's settings.data
// and settings.eval, and of a training run's resume identity: a changed
// file or preprocessing flag is a different run.
nlohmann::json dataset_provenance(const Dataset& data);

// The "settings" object of report.json: data, model and optimizer settings.
nlohmann::json training_settings(const Dataset& train, const Dataset& eval, const TrainConfig& config);

nlohmann::json training_report(const TrainResult& result, const TrainReportContext& ctx);

}  // namespace taylorscope
