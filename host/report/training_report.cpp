// Keys named in INTERFACES.md are a contract (never renamed); the rest are additions.
#include "taylorscope/training_report.hpp"

#include <cmath>
#include <filesystem>

#include "report/json_number.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

nlohmann::json metrics(const EpochRecord& r) {
  return {{"epoch", r.epoch},          {"train_loss", number(r.train_loss)},
          {"train_acc", r.train_acc},  {"eval_loss", number(r.eval_loss)},
          {"eval_acc", r.eval_acc},    {"grad_dot", number(r.grad_dot)},
          {"seconds", r.seconds},      {"step_seconds", r.step_seconds}};
}

nlohmann::json epoch_or_null(int epoch) { return epoch >= 0 ? nlohmann::json(epoch) : nlohmann::json(); }

}  // namespace

nlohmann::json dataset_provenance(const Dataset& d) {
  nlohmann::json sources = nlohmann::json::array();
  for (const DataSource& s : d.sources) {
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::weakly_canonical(s.path, ec);
    const std::string path = s.in_memory || ec ? s.path : absolute.string();
    sources.push_back({{"path", path}, {"bytes", s.bytes}, {"crc32", s.crc32}});
  }
  const Preprocessing& p = d.preprocessing;
  return {{"sources", sources},
          {"preprocessing",
           {{"scaled", p.scaled},
            {"standardized", p.standardized},
            {"standardized_like_other", p.standardized_like_other},
            {"pad32", p.pad32},
            {"limit", p.limit},
            {"classes", p.classes}}}};
}

nlohmann::json training_settings(const Dataset& train, const Dataset& eval, const TrainConfig& c) {
  nlohmann::json data = {{"spec", train.spec}, {"N", train.N}, {"E", train.E}, {"M", train.M},
                         {"balanced", train.balanced}};
  nlohmann::json eval_set = {{"spec", eval.spec}, {"N", eval.N}, {"balanced", eval.balanced}};
  data.update(dataset_provenance(train));
  eval_set.update(dataset_provenance(eval));
  nlohmann::json settings = {
      {"data", data},
      {"eval", eval_set},
      {"hidden", c.hidden},
      {"activation", activation_name(c.act)},
      {"optimizer", optimizer_name(c.opt.kind)},
      {"lr", c.opt.lr},
      {"batch", c.batch},
      {"epochs", c.epochs},
      {"l2", c.opt.l2},
      {"seed", c.seed},
      {"init", c.init},
      {"early_stop", early_stop_name(c.early_stop)},
      {"patience", c.patience}};
  if (c.act.kind == ActivationKind::relu_omega) {
    settings["omega"] = c.act.omega;
    settings["iota"] = c.act.iota;
  }
  if (c.init == "gaussian") settings["init_scale"] = c.init_scale;
  visit_optimizer(c.opt.kind, [&](auto rule) { decltype(rule)::settings(c.opt, settings); });
  return settings;
}

nlohmann::json resume_identity(const Dataset& train, const Dataset& eval, const TrainConfig& c) {
  nlohmann::json identity = training_settings(train, eval, c);
  for (const char* may_change : kResumableSettings) identity.erase(may_change);
  return identity;
}

nlohmann::json training_report(const TrainResult& r, const TrainReportContext& ctx) {
  const nlohmann::json settings = training_settings(ctx.train, ctx.eval, ctx.config);

  const EpochRecord& last = r.records.back();
  const EpochRecord* chosen = &last;
  for (const EpochRecord& rec : r.records)
    if (rec.epoch == r.chosen_epoch) chosen = &rec;
  double seconds_training = 0;
  for (const EpochRecord& rec : r.records) seconds_training += rec.seconds;

  nlohmann::json j;
  j["settings"] = settings;
  j["final"] = metrics(last);
  j["best"] = metrics(*chosen);
  j["stop"] = {{"by_grad_dot_epoch", epoch_or_null(r.stop.by_grad_dot)},
               {"by_eval_loss_epoch", epoch_or_null(r.stop.by_eval_loss)},
               {"chosen_epoch", r.chosen_epoch},
               {"chosen_by", r.chosen_by},
               {"stopped_early", r.stopped_early}};
  j["epochs_run"] = last.epoch;
  j["resumed_from_epoch"] = epoch_or_null(r.resumed_from);
  j["seconds_per_epoch_total"] = seconds_training;
  j["ranks"] = ctx.ranks;
  // INTERFACES.md "Several processes": one device a string, several an array in rank order.
  j["device"] = ctx.ranks > 1 ? nlohmann::json(ctx.devices) : nlohmann::json(ctx.device);
  j["timing_ms"] = {{"total", r.seconds * 1000.0}};
  if (ctx.ranks > 1) j["timing_ms"]["allreduce"] = ctx.allreduce_ms;
  j["precision"] = "float64 (parameters, gradients, optimizer state)";
  j["grad_dot_definition"] =
      "<grad of train objective (cross-entropy + L2), grad of eval cross-entropy>, full data";
  return j;
}

}  // namespace taylorscope
