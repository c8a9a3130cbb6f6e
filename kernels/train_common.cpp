// Training bookkeeping shared by every backend: optimizer names and settings,
// the flat parameter layout, and the backend chosen by --device.
#include <cmath>
#include <string>
#include <vector>

#include "taylorscope/errors.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {

OptimizerKind parse_optimizer(const std::string& name) {
  std::string known;
  for (OptimizerKind kind : kOptimizerKinds) {
    if (optimizer_name(kind) == name) return kind;
    if (!known.empty()) known += ' ';
    known += optimizer_name(kind);
  }
  throw InputError("unknown optimizer '" + name + "' (known: " + known + ")");
}

std::string optimizer_name(OptimizerKind kind) { return Optimizer(OptimizerConfig{kind}).name(); }

std::vector<int64_t> rngd_checkpoint_rows(const std::vector<double>& rows, int64_t train_rows) {
  if (rows.empty()) throw InputError("checkpoint has an empty 'rngd_rows'");
  std::vector<int64_t> out;
  out.reserve(rows.size());
  for (double r : rows) {
    if (!(r >= 0 && r < static_cast<double>(train_rows)) || r != std::floor(r))
      throw InputError("checkpoint's RNGD batch names a row outside the train set");
    out.push_back(static_cast<int64_t>(r));
  }
  return out;
}

void check_optimizer_config(const OptimizerConfig& c) {
  auto positive = [](double v, const char* what) {
    if (!(v > 0) || !std::isfinite(v))
      throw InputError(std::string(what) + " must be a positive number, got " + std::to_string(v));
  };
  auto unit = [](double v, const char* what) {
    if (!(v >= 0 && v < 1))
      throw InputError(std::string(what) + " must lie in [0, 1), got " + std::to_string(v));
  };
  positive(c.lr, "--lr");
  if (!(c.l2 >= 0) || !std::isfinite(c.l2))
    throw InputError("--l2 must be ≥ 0, got " + std::to_string(c.l2));
  unit(c.momentum, "--momentum");
  unit(c.beta1, "--beta1");
  unit(c.beta2, "--beta2");
  positive(c.eps, "--eps");
  if (c.rngd_period < 1)
    throw InputError("--rngd-period must be ≥ 1, got " + std::to_string(c.rngd_period));
  positive(c.rngd_damping, "--rngd-damping");
  positive(c.rngd_omega, "--rngd-omega");
}

ParamLayout layout_of(const Params& p) { return ParamLayout{p.M, p.H, p.E}; }

std::vector<double> flatten(const Params& p) {
  std::vector<double> flat;
  flat.reserve(layout_of(p).size());
  flat.insert(flat.end(), p.U.begin(), p.U.end());
  flat.insert(flat.end(), p.W.begin(), p.W.end());
  flat.insert(flat.end(), p.b.begin(), p.b.end());
  flat.insert(flat.end(), p.c.begin(), p.c.end());
  return flat;
}

Params unflatten(const std::vector<double>& flat, const ParamLayout& L) {
  if (static_cast<int64_t>(flat.size()) != L.size())
    throw std::logic_error("unflatten: " + std::to_string(flat.size()) + " values for a layout of " +
                           std::to_string(L.size()));
  Params p;
  p.M = L.M;
  p.H = L.H;
  p.E = L.E;
  p.U.assign(flat.begin() + L.U(), flat.begin() + L.W());
  p.W.assign(flat.begin() + L.W(), flat.begin() + L.b());
  p.b.assign(flat.begin() + L.b(), flat.begin() + L.c());
  p.c.assign(flat.begin() + L.c(), flat.end());
  return p;
}

const std::vector<double>* OptimizerState::find(const std::string& name) const {
  for (const auto& [key, values] : arrays)
    if (key == name) return &values;
  return nullptr;
}

}  // namespace taylorscope
