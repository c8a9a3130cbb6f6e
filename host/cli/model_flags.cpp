// The flag groups several commands share (commands.hpp): each flag's name,
// help text, check and default are written here once.
#include "commands.hpp"
#include "flag_checks.hpp"

namespace taylorscope::cli {

void add_activation_flags(CLI::App* cmd, ActivationFlags& f) {
  cmd->add_option("--activation", f.activation, "silu relu tanh sigmoid gelu softplus elu relu_omega")
      ->capture_default_str();
  positive(cmd->add_option("--omega", f.omega, "ω of relu_omega")->capture_default_str());
  below_one(cmd->add_option("--iota", f.iota, "ι of relu_omega, in [0, 1)")->capture_default_str());
}

Activation resolve_activation_flags(const ActivationFlags& f) {
  return parse_activation(f.activation, f.omega, f.iota);
}

void add_init_flags(CLI::App* cmd, InitFlags& f, const std::string& seed_help, CLI::Option* excluded_by) {
  auto maybe_excluded = [&](CLI::Option* o) { return excluded_by ? o->excludes(excluded_by) : o; };
  maybe_excluded(cmd->add_option("--init", f.init, "random θ: glorot (Glorot-uniform U, W; zero b, c) or gaussian")
                     ->capture_default_str());
  positive(maybe_excluded(
      cmd->add_option("--init-scale", f.init_scale, "std of every entry of a gaussian θ (> 0)")->capture_default_str()));
  whole(maybe_excluded(cmd->add_option("--seed", f.seed, seed_help)->capture_default_str()), uint64_t{0});
}

CLI::Option* add_hidden_flag(CLI::App* cmd, int64_t& hidden, const std::string& help) {
  return whole(cmd->add_option("--hidden", hidden, help)->capture_default_str(), int64_t{1});
}

void add_device_flag(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "cpu, cuda, cuda:<i> or auto (under mpirun, cuda and auto give each rank the GPU of its "
                  "local rank)")
      ->capture_default_str();
}

void add_save_precision_flag(CLI::App* cmd, std::string& precision, const std::string& default_precision) {
  precision = default_precision;
  cmd->add_option("--save-precision", precision, "f32 or f64")->capture_default_str();
}

}  // namespace taylorscope::cli
