// The epoch loop of `taylorscope train` (training.hpp). The backend does the
// arithmetic; this file decides the order of the rows, what is measured
// after each epoch, when to stop, and what reaches the disk.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>

#include "taylorscope/atomic_file.hpp"
#include "taylorscope/checksum.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/finite_values.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/training.hpp"
#include "taylorscope/training_report.hpp"
#include "training/checkpoint.hpp"
#include "training/curves.hpp"

namespace taylorscope {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kBatchesPerProgressTick = 20;

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The settings and data train() accepts, and the initial θ they give (whose
// draw also judges --init, --init-scale and the model's size).
Params checked_initial_params(const Dataset& tr, const Dataset& ev, const TrainConfig& c) {
  if (c.batch < 1) throw InputError("--batch must be ≥ 1, got " + std::to_string(c.batch));
  if (c.epochs < 0) throw InputError("--epochs must be ≥ 0, got " + std::to_string(c.epochs));
  if (c.hidden < 1) throw InputError("--hidden must be ≥ 1, got " + std::to_string(c.hidden));
  if (c.patience < 1) throw InputError("--patience must be ≥ 1, got " + std::to_string(c.patience));
  check_optimizer_config(c.opt);
  if (tr.N < 1) throw InputError("--data " + tr.spec + ": no samples to train on");
  if (ev.N < 1) throw InputError("--eval " + ev.spec + ": no samples to evaluate on");
  if (ev.E != tr.E)
    throw InputError("--eval " + ev.spec + ": samples have E = " + std::to_string(ev.E) + " features, but --data " +
                     tr.spec + " has E = " + std::to_string(tr.E));
  if (ev.M != tr.M)
    throw InputError("--eval " + ev.spec + ": M = " + std::to_string(ev.M) + " classes, but --data " + tr.spec +
                     " has M = " + std::to_string(tr.M) + " (--classes sets M for both)");
  if (c.init == "glorot") return init_glorot_uniform(tr.M, c.hidden, tr.E, c.seed);
  if (c.init == "gaussian") return init_gaussian(tr.M, c.hidden, tr.E, c.init_scale, c.seed);
  throw InputError("--init must be glorot or gaussian, got '" + c.init + "'");
}

// Metrics of the current θ; gradients over the whole train and eval sets.
EpochRecord measure(TrainBackend& backend, const TrainConfig& c, const ParamLayout& layout, int epoch) {
  std::vector<double> g_train, g_eval;
  const SplitMetrics tr = backend.evaluate(Split::train, &g_train);
  const SplitMetrics ev = backend.evaluate(Split::eval, &g_eval);
  if (c.opt.l2 > 0) {  // ∇L_T = ∇S_T + l2·(U, W): the direction the flow takes
    const std::vector<double> theta = backend.flat_params();
    for (int64_t k = layout.U(); k < layout.b(); ++k) g_train[k] += c.opt.l2 * theta[k];
  }
  EpochRecord r;
  r.epoch = epoch;
  r.train_loss = tr.loss;
  r.train_acc = tr.accuracy;
  r.eval_loss = ev.loss;
  r.eval_acc = ev.accuracy;
  r.grad_dot = dot(g_train, g_eval);
  r.lr = c.opt.lr;
  return r;
}

// The first setting where `now` differs from `saved`, as a dotted key
// ("data.preprocessing.scaled", "data.sources[0].crc32") with both values
// (null where absent); false when they agree. Objects are compared key by
// key both ways, arrays of objects element by element; anything else whole.
bool first_difference(const nlohmann::json& saved, const nlohmann::json& now, const std::string& key,
                      std::string* where, const nlohmann::json** was, const nlohmann::json** is) {
  auto differ = [&](const std::string& k, const nlohmann::json* a, const nlohmann::json* b) {
    *where = k;
    *was = a;
    *is = b;
    return true;
  };
  auto join = [&](const std::string& k) { return key.empty() ? k : key + "." + k; };
  if (saved.is_object() && now.is_object()) {
    for (auto it = now.begin(); it != now.end(); ++it) {
      const auto found = saved.find(it.key());
      if (found == saved.end()) return differ(join(it.key()), nullptr, &it.value());
      if (first_difference(*found, it.value(), join(it.key()), where, was, is)) return true;
    }
    for (auto it = saved.begin(); it != saved.end(); ++it)
      if (!now.contains(it.key())) return differ(join(it.key()), &it.value(), nullptr);
    return false;
  }
  const bool structured = saved.is_array() && now.is_array() && saved.size() == now.size() &&
                          std::any_of(now.begin(), now.end(), [](const nlohmann::json& e) { return e.is_structured(); });
  if (structured) {
    for (size_t i = 0; i < now.size(); ++i)
      if (first_difference(saved[i], now[i], key + "[" + std::to_string(i) + "]", where, was, is)) return true;
    return false;
  }
  return saved != now && differ(key, &saved, &now);
}

// What a checkpoint carries besides θ and the optimizer state.
struct Progress {
  std::vector<EpochRecord> records;
  std::vector<double> best_theta;
  int chosen_epoch = 0;
  bool stopped_early = false;  // the early-stopping rule fired
};

void save_checkpoint(const std::string& path, const nlohmann::json& identity, const Progress& p,
                     const TrainBackend& backend) {
  OptimizerState state = backend.optimizer_state();
  CheckpointState s;
  s.identity = identity;
  s.step = state.step;
  s.records = p.records;
  s.chosen_epoch = p.chosen_epoch;
  s.stopped_early = p.stopped_early;
  s.theta = backend.flat_params();
  s.best_theta = p.best_theta;
  s.optimizer_arrays = std::move(state.arrays);
  write_checkpoint_state(path, s);
}

// Restores the backend (already init'ed for this run) from the checkpoint at
// path, which must have been written for the same identity (InputError
// naming the file and the first difference).
// Rank 0 reads the file and broadcasts its bytes; every rank validates and
// restores the same bytes, so all refuse alike or all hold the same state.
Progress load_checkpoint(const std::string& path, const nlohmann::json& identity, const ParamLayout& layout,
                         TrainBackend& backend, Communicator& comm) {
  CheckpointShape shape;
  shape.param_count = layout.size();
  for (const auto& [name, values] : backend.optimizer_state().arrays)
    if (!values.empty()) shape.optimizer_arrays.emplace_back(name, values.size());
  std::string bytes;
  if (comm.is_root()) bytes = read_checkpoint_bytes(path);
  if (comm.size() > 1) {
    uint64_t size = bytes.size();
    comm.broadcast(&size, sizeof size, 0);
    bytes.resize(size);
    if (size > 0) comm.broadcast(bytes.data(), size, 0);
  }
  CheckpointState s = parse_checkpoint_state(bytes, path, CheckpointShape{});
  // A changed setting first: it says why the sizes below would not fit.
  std::string key;
  const nlohmann::json* was = nullptr;
  const nlohmann::json* now = nullptr;
  if (first_difference(s.identity, identity, "", &key, &was, &now))
    throw InputError(path + ": cannot resume, '" + key + "' was " +
                     (was ? was->dump() : "not recorded (a checkpoint of an older build)") + " and is now " +
                     (now ? now->dump() : "absent"));
  check_checkpoint_shape(s, shape, path);
  OptimizerState state;
  state.step = s.step;
  state.arrays = std::move(s.optimizer_arrays);
  try {  // the backend judges what only it knows (RNGD's batch rows, say)
    backend.restore(s.theta, state);
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what() + "; refusing to resume from it");
  }
  Progress p;
  p.records = std::move(s.records);
  p.best_theta = std::move(s.best_theta);
  p.chosen_epoch = s.chosen_epoch;
  p.stopped_early = s.stopped_early;
  return p;
}

std::string number_text(double v) { return std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

// What of an epoch's end state is not finite ("" when all is): its metrics,
// θ or the optimizer's state, the first found.
std::string first_nonfinite(const EpochRecord& r, const TrainBackend& backend) {
  const std::pair<const char*, double> metrics[] = {{"train loss", r.train_loss}, {"eval loss", r.eval_loss},
                                                    {"grad_dot", r.grad_dot},     {"train accuracy", r.train_acc},
                                                    {"eval accuracy", r.eval_acc}};
  for (const auto& [name, v] : metrics)
    if (!std::isfinite(v)) return std::string(name) + " is " + number_text(v);
  const std::vector<double> theta = backend.flat_params();
  if (const int64_t n = count_nonfinite(theta.data(), theta.size()))
    return "θ holds " + std::to_string(n) + " non-finite values";
  for (const auto& [name, values] : backend.optimizer_state().arrays)
    if (const int64_t n = count_nonfinite(values.data(), values.size()))
      return "the optimizer's '" + name + "' holds " + std::to_string(n) + " non-finite values";
  return "";
}

std::string diverged_message(int epoch, const std::string& what, const std::string& ck_path, int last_finite) {
  std::string m = "training diverged at epoch " + std::to_string(epoch) + ": " + what + "; ";
  if (ck_path.empty())  // no run directory: nothing was saved to go back to
    m += "the last finite epoch is " + std::to_string(last_finite) + "; a smaller lr may converge";
  else if (last_finite >= 1)
    m += ck_path + " still holds epoch " + std::to_string(last_finite) + ", the last finite one (--resume --epochs " +
         std::to_string(last_finite) + " writes its θ; a smaller --lr is a new run, in a new directory)";
  else
    m += "no epoch was saved; a smaller --lr may converge";
  return m;
}

// Temporaries of atomic writes that a killed run left behind: only those of
// the files a run directory holds, by their exact names (NAME.tmp.<pid>), in
// the directory and its best/ — never a user's file, never recursively.
void remove_stale_run_temporaries(const std::string& out_dir) {
  std::vector<std::string> names = {"checkpoint.bin", "curves.csv", "report.json"};
  for (const std::string& f : param_file_names()) names.push_back(f);
  remove_stale_temporaries(out_dir, names);
  const std::string best = (std::filesystem::path(out_dir) / "best").string();
  if (std::filesystem::is_directory(best)) remove_stale_temporaries(best, param_file_names());
}

}  // namespace

void check_train_inputs(const Dataset& train_set, const Dataset& eval_set, const TrainConfig& config) {
  checked_initial_params(train_set, eval_set, config);
}

EarlyStop parse_early_stop(const std::string& name) {
  if (name == "grad-dot") return EarlyStop::grad_dot;
  if (name == "eval-loss") return EarlyStop::eval_loss;
  if (name == "none") return EarlyStop::none;
  throw InputError("--early-stop must be grad-dot, eval-loss or none, got '" + name + "'");
}

std::string early_stop_name(EarlyStop rule) {
  switch (rule) {
    case EarlyStop::grad_dot: return "grad-dot";
    case EarlyStop::eval_loss: return "eval-loss";
    case EarlyStop::none: return "none";
  }
  return "?";
}

StopEpochs stop_epochs(const std::vector<EpochRecord>& records) {
  StopEpochs s;
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < records.size(); ++i) {
    const EpochRecord& r = records[i];
    if (r.eval_loss < best) {
      best = r.eval_loss;
      s.by_eval_loss = r.epoch;
    }
    if (s.by_grad_dot < 0 && i > 0 && r.grad_dot < 0 && records[i - 1].grad_dot >= 0)
      s.by_grad_dot = r.epoch;
  }
  return s;
}

std::vector<int64_t> epoch_order(int64_t N, uint64_t seed, int epoch) {
  // seed_seq mixes (seed, epoch) into the generator's state; its algorithm is
  // fixed by the standard, as is mt19937_64's output.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(epoch), 0x7a7e5u};
  std::mt19937_64 gen(seq);
  std::vector<int64_t> order(N);
  for (int64_t i = 0; i < N; ++i) order[i] = i;
  for (int64_t i = N - 1; i > 0; --i) {
    // Unbiased draw in [0, i] by rejection (std::uniform_int_distribution is
    // implementation-defined).
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
    uint64_t x;
    do x = gen();
    while (x >= limit);
    std::swap(order[i], order[static_cast<int64_t>(x % range)]);
  }
  return order;
}

TrainResult train(const Dataset& tr, const Dataset& ev, const TrainConfig& c, TrainBackend& backend,
                  const std::string& out_dir, bool resume, NpyPrecision save_precision,
                  const TrainObserver& observer, Communicator& comm) {
  const auto t_start = Clock::now();
  const double collective_ms_start = comm.collective_ms();
  const bool root = comm.is_root();  // alone touches out_dir
  // No directory (a library caller that keeps the result in memory, the
  // Python package's out=None): the same run, nothing written.
  const bool writes = root && !out_dir.empty();
  if (out_dir.empty() && resume) throw InputError("resuming needs the run directory to resume from");
  // Whether rank 0 sees a checkpoint to resume from: every rank must take
  // the same path through the collectives below.
  auto checkpoint_found = [&](const std::string& path) {
    uint8_t found = writes && resume && std::filesystem::exists(path) ? 1 : 0;
    comm.broadcast(&found, 1, 0);
    return found != 0;
  };
  namespace fs = std::filesystem;
  // Every input is judged before out_dir is created: a refused run leaves
  // nothing behind.
  const Params init = checked_initial_params(tr, ev, c);
  if (!out_dir.empty()) check_output_dir(out_dir, "--out");
  const nlohmann::json identity = resume_identity(tr, ev, c);
  const std::string ck_path = (fs::path(out_dir) / "checkpoint.bin").string();
  backend.upload(tr, ev);
  const ParamLayout layout = layout_of(init);
  backend.init(init, c.act, c.opt);
  // Epoch 0 of a fresh run: finite data and a finite θ gave it, so if it is
  // not finite the inputs' scale is the cause — refused like any input, and
  // measured before out_dir exists.
  auto measure_initial = [&] {
    const auto t0 = Clock::now();
    EpochRecord r0 = measure(backend, c, layout, 0);
    if (const std::string bad = first_nonfinite(r0, backend); !bad.empty())
      throw InputError("the initial θ already gives a non-finite result on --data " + tr.spec + ": " + bad +
                       " (the data's or the initialisation's scale is too large: --scale, --init-scale)");
    r0.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r0;
  };
  std::optional<EpochRecord> initial;
  if (!checkpoint_found(ck_path)) initial = measure_initial();

  // One process per run directory for the whole run, whoever calls train()
  // (the CLI, dominance at each width, a binding): a second run would
  // overwrite this one's files. The lock creates out_dir: rank 0's alone.
  std::optional<DirectoryLock> lock;
  if (writes) {
    lock.emplace(out_dir);
    remove_stale_run_temporaries(out_dir);
  }

  TrainResult result;
  Progress p;
  // Looked at again under the lock: the checkpoint is what it holds now.
  const bool resuming = checkpoint_found(ck_path);
  if (resuming) {
    p = load_checkpoint(ck_path, identity, layout, backend, comm);
    result.resumed_from = p.records.back().epoch;
  }
  if (observer.on_start) observer.on_start();
  if (!resuming) {
    if (!initial) initial = measure_initial();
    p.records.push_back(*initial);
    p.best_theta = backend.flat_params();
    if (observer.on_epoch) observer.on_epoch(*initial);
  }

  const int64_t batches = (tr.N + c.batch - 1) / c.batch;
  // A run that stopped early stays stopped, whatever --epochs now says.
  // int64: the last epoch may be INT_MAX (a checkpoint's epochs stop one short).
  for (int64_t e = p.records.back().epoch + 1; e <= c.epochs && !p.stopped_early; ++e) {
    const int epoch = static_cast<int>(e);
    const auto t0 = Clock::now();
    backend.set_order(epoch_order(tr.N, c.seed, epoch));
    for (int64_t done = 0; done < batches;) {
      const int64_t n = std::min(kBatchesPerProgressTick, batches - done);
      backend.run_batches(done, n, c.batch);
      done += n;
      if (observer.on_batches) observer.on_batches(epoch, done, batches);
    }
    const double step_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    EpochRecord r = measure(backend, c, layout, epoch);
    // Nothing of a non-finite epoch reaches the disk: the checkpoint keeps
    // the last finite one.
    if (const std::string bad = first_nonfinite(r, backend); !bad.empty())
      throw TrainingDiverged(diverged_message(epoch, bad, out_dir.empty() ? "" : ck_path, p.records.back().epoch));
    r.step_seconds = step_seconds;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    p.records.push_back(r);

    // The chosen epoch under the rule in force; best/ will hold its θ.
    const StopEpochs s = stop_epochs(p.records);
    bool stop = false;
    if (c.early_stop == EarlyStop::grad_dot) {
      stop = s.by_grad_dot >= 0;
      p.chosen_epoch = stop ? s.by_grad_dot : epoch;
    } else {
      stop = c.early_stop == EarlyStop::eval_loss && epoch - s.by_eval_loss >= c.patience;
      p.chosen_epoch = s.by_eval_loss;
    }
    if (p.chosen_epoch == epoch) p.best_theta = backend.flat_params();
    p.stopped_early = stop;

    if (writes) {
      save_checkpoint(ck_path, identity, p, backend);
      write_curves_csv((fs::path(out_dir) / "curves.csv").string(), p.records);
    }
    if (observer.on_epoch) observer.on_epoch(r);
    if (stop) break;
  }

  result.records = p.records;
  result.chosen_epoch = p.chosen_epoch;
  result.stopped_early = p.stopped_early && p.records.back().epoch < c.epochs;
  result.stop = stop_epochs(result.records);
  if (c.early_stop == EarlyStop::grad_dot && result.stop.by_grad_dot < 0)
    result.chosen_by = "grad-dot (never turned negative: last epoch)";
  else
    result.chosen_by = c.early_stop == EarlyStop::none ? "eval-loss (no early stopping)"
                                                      : early_stop_name(c.early_stop);
  result.theta = unflatten(backend.flat_params(), layout);
  result.best_theta = unflatten(p.best_theta, layout);
  if (comm.size() > 1) {
    // Every rank took the same steps on the same all-reduced gradients, so
    // each holds the same bits of θ and of the optimizer's state; one CRC
    // each says so before rank 0 writes (a mismatch is a bug, never rounding).
    std::string bits;
    auto add = [&](const std::vector<double>& v) {
      bits.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
    };
    add(backend.flat_params());
    for (const auto& [name, values] : backend.optimizer_state().arrays) add(values);
    const uint32_t crc = crc32_of(bits.data(), bits.size());
    const std::vector<std::string> crcs =
        comm.allgather(std::string(reinterpret_cast<const char*>(&crc), sizeof crc));
    for (size_t r = 1; r < crcs.size(); ++r)
      if (crcs[r] != crcs[0])
        throw std::logic_error("rank " + std::to_string(r) +
                               " ended training with a θ or optimizer state other than rank 0's");
  }
  TrainReportContext context{tr, ev, c, backend.device_name(), comm.size(), {}, 0.0};
  if (comm.size() > 1) context.devices = comm.allgather(context.device);
  context.allreduce_ms = comm.collective_ms() - collective_ms_start;
  if (writes) {
    write_curves_csv((fs::path(out_dir) / "curves.csv").string(), result.records);
    save_params(result.theta, out_dir, save_precision);
    save_params(result.best_theta, (fs::path(out_dir) / "best").string(), save_precision);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  // Last, and still under the lock: report.json says the run finished.
  if (writes)
    write_file_atomically((fs::path(out_dir) / "report.json").string(), training_report(result, context).dump(2) + "\n");
  return result;
}

}  // namespace taylorscope
