// The spurious-minima study (spurious.hpp): shapes × runs, computed in
// chunks that are written to OUT/chunks/ as they finish (atomically, one .npy
// per chunk), so an interrupted study keeps them and --resume computes only
// the runs no chunk holds; the reports are assembled from the chunks at the
// end.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "plot/charts.hpp"
#include "taylorscope/atomic_file.hpp"
#include "taylorscope/backends.hpp"
#include "taylorscope/created_outputs.hpp"
#include "taylorscope/cuda_backend.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/npy.hpp"
#include "taylorscope/output_paths.hpp"
#include "taylorscope/run_lock.hpp"
#include "taylorscope/spurious.hpp"

namespace fs = std::filesystem;

namespace taylorscope {

const std::vector<PublishedRow>& published_rows() {
  // Seed 002, lines 286–320 (Safran & Shamir 2018, Tables 1 and 2).
  static const std::vector<PublishedRow> rows = {
      {6, 6, 0.3, 0.0047, 0.025},    {7, 7, 5.5, 0.014, 0.023},     {8, 8, 12.6, 0.021, 0.021},
      {9, 9, 21.8, 0.027, 0.02},     {10, 10, 34.6, 0.03, 0.022},   {11, 11, 45.5, 0.034, 0.022},
      {12, 12, 58.5, 0.035, 0.021},  {13, 13, 73.0, 0.037, 0.022},  {14, 14, 73.6, 0.038, 0.023},
      {15, 15, 80.3, 0.038, 0.024},  {16, 16, 85.1, 0.038, 0.027},  {17, 17, 89.7, 0.039, 0.027},
      {18, 18, 90.0, 0.039, 0.029},  {19, 19, 93.4, 0.038, 0.031},  {20, 20, 94.0, 0.038, 0.033},
      {8, 9, 0.1, 0.0059, 0.021},    {10, 11, 0.1, 0.0057, 0.018},  {11, 12, 0.1, 0.0056, 0.017},
      {12, 13, 0.3, 0.0054, 0.016},  {13, 14, 1.5, 0.0015, 0.038},  {14, 15, 5.5, 0.002, 0.033},
      {15, 16, 10.1, 0.004, 0.032},  {16, 17, 18.0, 0.0055, 0.031}, {17, 18, 20.9, 0.007, 0.031},
      {18, 19, 36.9, 0.0064, 0.028}, {19, 20, 49.1, 0.0077, 0.027},
  };
  return rows;
}

const PublishedRow* published_row(int k, int n) {
  for (const PublishedRow& r : published_rows())
    if (r.k == k && r.n == n) return &r;
  return nullptr;
}

std::pair<double, double> wilson_interval(int64_t hits, int64_t trials) {
  if (trials <= 0) return {0.0, 1.0};
  const double z = 1.959963984540054, nn = static_cast<double>(trials);
  const double p = hits / nn, z2n = z * z / nn;
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2n / (4 * nn)) / (1 + z2n);
  // At 0 (or all) hits the bound is exactly 0 (or 1); the formula leaves
  // a rounding residue of ~1e-16 there.
  return {hits == 0 ? 0.0 : std::max(0.0, centre - half), hits == trials ? 1.0 : std::min(1.0, centre + half)};
}

SpuriousSummary summarize_runs(int k, int n, const std::vector<SpuriousRun>& runs) {
  SpuriousSummary s;
  s.k = k;
  s.n = n;
  s.runs = static_cast<int64_t>(runs.size());
  double eig = 0, obj = 0, iters = 0;
  for (const SpuriousRun& r : runs) {
    s.converged += r.converged;
    s.reached_zero += r.reached_zero;
    s.unfinished += !r.converged && !r.reached_zero;
    s.local_minima += r.local_minimum;
    iters += static_cast<double>(r.iterations);
    if (r.spurious) {
      ++s.spurious;
      eig += r.min_eig;
      obj += r.objective;
    }
  }
  const auto [lo, hi] = wilson_interval(s.spurious, s.runs);
  s.spurious_pct = s.runs ? 100.0 * s.spurious / s.runs : 0;
  s.ci_low = 100 * lo;
  s.ci_high = 100 * hi;
  s.has_spurious_means = s.spurious > 0;
  if (s.spurious) {
    s.mean_min_eig = eig / s.spurious;
    s.mean_objective = obj / s.spurious;
  }
  s.mean_iterations = s.runs ? iters / s.runs : 0;
  return s;
}

std::vector<int64_t> distinct_minima(int n, int k, const std::vector<const double*>& points, double tol) {
  std::vector<int64_t> rep(points.size());
  std::vector<int64_t> firsts;  // the first point of each class
  std::vector<char> used(n);
  auto same = [&](const double* a, const double* b) {
    std::fill(used.begin(), used.end(), 0);
    for (int i = 0; i < n; ++i) {
      bool matched = false;
      for (int j = 0; j < n && !matched; ++j) {
        if (used[j]) continue;
        double d = 0;
        for (int q = 0; q < k; ++q) d = std::max(d, std::fabs(a[i * k + q] - b[j * k + q]));
        if (d <= tol) used[j] = matched = true;
      }
      if (!matched) return false;
    }
    return true;
  };
  for (size_t p = 0; p < points.size(); ++p) {
    rep[p] = static_cast<int64_t>(p);
    for (int64_t f : firsts)
      if (same(points[p], points[f])) {
        rep[p] = f;
        break;
      }
    if (rep[p] == static_cast<int64_t>(p)) firsts.push_back(rep[p]);
  }
  return rep;
}

namespace {

// A chunk file: one row per run, these columns, then the n·k weights.
// run iterations objective grad_norm min_eig max_eig min_row_norm converged local spurious reached_zero
constexpr int kChunkColumns = 11;

std::string chunk_name(int k, int n, int64_t begin, int64_t end) {
  return "k" + std::to_string(k) + "_n" + std::to_string(n) + "_" + std::to_string(begin) + "-" +
         std::to_string(end) + ".npy";
}

nlohmann::json settings_json(const SpuriousConfig& c) {
  nlohmann::json shapes = nlohmann::json::array();
  for (auto [k, n] : c.shapes) shapes.push_back({k, n});
  // Doubles as JSON numbers round-trip exactly (nlohmann prints 17 digits).
  return {{"shapes", shapes},          {"runs", c.runs},
          {"lr", c.descent.lr},        {"tol", c.descent.tol},
          {"max_iter", c.descent.max_iter}, {"seed", c.descent.seed},
          {"zero_objective", c.descent.zero_objective}, {"zero_check_every", kZeroCheckEvery},
          {"init", c.descent.init_normal ? "xavier-normal" : "xavier-uniform"}, {"init_scale", c.descent.init_scale},  {"objective", "MATH.md §10 (with ½)"}};
}

std::vector<double> pack(const SpuriousRun& r, const double* W, int64_t m) {
  std::vector<double> row = {static_cast<double>(r.run),       static_cast<double>(r.iterations),
                             r.objective,                      r.grad_norm,
                             r.min_eig,                        r.max_eig,
                             r.min_row_norm,                   static_cast<double>(r.converged),
                             static_cast<double>(r.local_minimum), static_cast<double>(r.spurious),
                             static_cast<double>(r.reached_zero)};
  row.insert(row.end(), W, W + m);
  return row;
}

SpuriousRun unpack(int k, int n, const double* row) {
  SpuriousRun r;
  r.k = k;
  r.n = n;
  r.run = static_cast<int64_t>(row[0]);
  r.iterations = static_cast<int64_t>(row[1]);
  r.objective = row[2];
  r.grad_norm = row[3];
  r.min_eig = row[4];
  r.max_eig = row[5];
  r.min_row_norm = row[6];
  r.converged = row[7] != 0;
  r.local_minimum = row[8] != 0;
  r.spurious = row[9] != 0;
  r.reached_zero = row[10] != 0;
  return r;
}

// The kept runs of one shape: run → (record, weights).
struct ShapeRuns {
  std::map<int64_t, std::pair<SpuriousRun, std::vector<double>>> by_run;
};

void read_chunks(const std::string& dir, int k, int n, int64_t runs, ShapeRuns& out) {
  if (!fs::exists(dir)) return;
  const std::regex name("k" + std::to_string(k) + "_n" + std::to_string(n) + "_([0-9]+)-([0-9]+)\\.npy");
  const int64_t m = static_cast<int64_t>(n) * k;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch match;
    const std::string file = e.path().filename().string();
    if (!std::regex_match(file, match, name)) continue;
    const NpyArray a = read_npy_floats(e.path().string());
    if (a.shape.size() != 2 || a.shape[1] != kChunkColumns + m)
      throw InputError(e.path().string() + ": not a chunk of this study (shape)");
    for (int64_t row = 0; row < a.shape[0]; ++row) {
      const double* p = a.values.data() + row * a.shape[1];
      SpuriousRun r = unpack(k, n, p);
      if (r.run < 0 || r.run >= runs) throw InputError(e.path().string() + ": run index out of range");
      out.by_run[r.run] = {r, std::vector<double>(p + kChunkColumns, p + kChunkColumns + m)};
    }
  }
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";  // never NaN in a report: an empty field
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

// The published figures as printed in the seed (0.3, not 0.29999999999999999).
std::string paper_number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

void write_reports(const std::string& out, const SpuriousConfig& config, const std::string& device,
                   const std::vector<ShapeRuns>& all, const std::vector<SpuriousSummary>& summaries,
                   CreatedOutputs& created) {
  // runs.csv
  std::ostringstream runs;
  runs << "k,n,run,iterations,objective,grad_norm,min_eig,converged,spurious,max_eig,local_minimum,min_row_norm,reached_zero\n";
  for (const ShapeRuns& s : all)
    for (const auto& [run, rec] : s.by_run) {
      const SpuriousRun& r = rec.first;
      runs << r.k << ',' << r.n << ',' << r.run << ',' << r.iterations << ',' << csv_number(r.objective) << ','
           << csv_number(r.grad_norm) << ',' << csv_number(r.min_eig) << ',' << int(r.converged) << ','
           << int(r.spurious) << ',' << csv_number(r.max_eig) << ',' << int(r.local_minimum) << ','
           << csv_number(r.min_row_norm) << ',' << int(r.reached_zero) << '\n';
    }
  created.file(out + "/runs.csv");
  write_file_atomically(out + "/runs.csv", runs.str());

  // summary.csv / summary.json
  std::ostringstream sum;
  sum << "k,n,runs,spurious_pct,ci_low,ci_high,mean_min_eig,mean_objective,paper_pct,paper_min_eig,"
         "paper_objective,spurious,local_minima,converged,reached_zero,unfinished,mean_iterations,distinct_spurious,"
         "mean_min_eig_distinct,mean_objective_distinct\n";
  nlohmann::json js = nlohmann::json::array();
  for (const SpuriousSummary& s : summaries) {
    const PublishedRow* p = published_row(s.k, s.n);
    const double eig = s.has_spurious_means ? s.mean_min_eig : NAN;
    const double obj = s.has_spurious_means ? s.mean_objective : NAN;
    sum << s.k << ',' << s.n << ',' << s.runs << ',' << csv_number(s.spurious_pct) << ',' << csv_number(s.ci_low)
        << ',' << csv_number(s.ci_high) << ',' << csv_number(eig) << ',' << csv_number(obj) << ','
        << (p ? paper_number(p->pct) : "") << ',' << (p ? paper_number(p->min_eig) : "") << ','
        << (p ? paper_number(p->objective) : "") << ',' << s.spurious << ',' << s.local_minima << ','
        << s.converged << ',' << s.reached_zero << ',' << s.unfinished << ',' << csv_number(s.mean_iterations)
        << ',' << s.distinct_spurious << ',' << csv_number(s.distinct_spurious ? s.mean_min_eig_distinct : NAN) << ','
        << csv_number(s.distinct_spurious ? s.mean_objective_distinct : NAN) << '\n';
    nlohmann::json row = {{"k", s.k},
                          {"n", s.n},
                          {"runs", s.runs},
                          {"spurious", s.spurious},
                          {"local_minima", s.local_minima},
                          {"converged", s.converged},
                          {"reached_zero", s.reached_zero},
                          {"unfinished", s.unfinished},
                          {"spurious_pct", s.spurious_pct},
                          {"ci_low", s.ci_low},
                          {"ci_high", s.ci_high},
                          {"mean_min_eig", json_number(eig)},
                          {"mean_objective", json_number(obj)},
                          {"mean_iterations", s.mean_iterations},
                          {"distinct_spurious", s.distinct_spurious},
                          {"mean_min_eig_distinct", json_number(s.distinct_spurious ? s.mean_min_eig_distinct : NAN)},
                          {"mean_objective_distinct",
                           json_number(s.distinct_spurious ? s.mean_objective_distinct : NAN)},
                          {"seconds", s.seconds},
                          {"computed_runs", s.computed_runs},
                          {"runs_per_second", json_number(s.computed_runs / s.seconds)}};
    if (p) row["paper"] = {{"pct", p->pct}, {"min_eig", p->min_eig}, {"objective", p->objective}};
    js.push_back(row);
  }
  created.file(out + "/summary.csv");
  write_file_atomically(out + "/summary.csv", sum.str());
  nlohmann::json doc = {{"command", config.command},
                        {"device", device},
                        {"precision", "float64"},
                        {"settings", settings_json(config)},
                        {"eigen_margin_relative", kEigenMargin},
                        {"spurious_objective_threshold", kSpuriousObjective},
                        {"wilson_z", 1.959963984540054},
                        {"summaries", js}};
  created.file(out + "/summary.json");
  write_file_atomically(out + "/summary.json", doc.dump(2) + "\n");

  // minima/k{K}_n{N}.npy: runs × n × k, in run order.
  created.directory(out + "/minima");
  fs::create_directories(out + "/minima");
  for (const ShapeRuns& s : all) {
    if (s.by_run.empty()) continue;
    const SpuriousRun& first = s.by_run.begin()->second.first;
    std::vector<double> W;
    for (const auto& [run, rec] : s.by_run) W.insert(W.end(), rec.second.begin(), rec.second.end());
    const std::string path =
        out + "/minima/k" + std::to_string(first.k) + "_n" + std::to_string(first.n) + ".npy";
    created.file(path);
    write_npy(path, {static_cast<int64_t>(s.by_run.size()), first.n, first.k}, W, NpyPrecision::f64);
  }

  // % spurious against k, for n = k and n = k + 1, ours beside the paper's.
  plot::LineChart chart;
  chart.title = "spurious minima: % of GD runs (Safran-Shamir)";
  chart.x_label = "k";
  chart.y_label = "% of runs at a spurious local minimum";
  plot::Series ours_same{"ours n=k", {}, {}}, ours_plus{"ours n=k+1", {}, {}};
  plot::Series paper_same{"paper n=k", {}, {}}, paper_plus{"paper n=k+1", {}, {}};
  for (const SpuriousSummary& s : summaries) {
    if (s.n == s.k) ours_same.x.push_back(s.k), ours_same.y.push_back(s.spurious_pct);
    if (s.n == s.k + 1) ours_plus.x.push_back(s.k), ours_plus.y.push_back(s.spurious_pct);
  }
  for (const PublishedRow& p : published_rows()) {
    if (p.n == p.k) paper_same.x.push_back(p.k), paper_same.y.push_back(p.pct);
    if (p.n == p.k + 1) paper_plus.x.push_back(p.k), paper_plus.y.push_back(p.pct);
  }
  for (plot::Series* s : {&ours_same, &paper_same, &ours_plus, &paper_plus})
    if (!s->x.empty()) chart.series.push_back(*s);
  created.file(out + "/spurious.png");
  plot::write_line_chart(out + "/spurious.png", chart);
}

void check_config(const SpuriousConfig& c) {
  if (c.shapes.empty()) throw InputError("--k: at least one (k, n) is needed");
  for (auto [k, n] : c.shapes) {
    if (k < 1 || k > 65535) throw InputError("--k: " + std::to_string(k) + " is not in 1..65535");
    if (n < 1 || n > 65535) throw InputError("--n: " + std::to_string(n) + " is not in 1..65535");
  }
  if (c.runs < 1 || c.runs > (int64_t{1} << 32)) throw InputError("--runs: must be in 1..2^32");
  if (!(c.descent.lr > 0) || !std::isfinite(c.descent.lr)) throw InputError("--lr: must be a finite number > 0");
  if (!(c.descent.tol >= 0) || !std::isfinite(c.descent.tol)) throw InputError("--tol: must be a finite number ≥ 0");
  if (!(c.descent.init_scale > 0) || !std::isfinite(c.descent.init_scale))
    throw InputError("--init-scale: must be a finite number > 0");
  if (c.descent.max_iter < 0) throw InputError("--max-iter: must be ≥ 0");
  if (c.out.empty()) throw InputError("--out: a directory is needed");
}

}  // namespace

SpuriousResult run_spurious_study(const SpuriousConfig& config,
                                  const std::function<void(const SpuriousProgress&)>& progress) {
  check_config(config);
  const int device = resolve_device(config.device);
  // A CUDA build on a machine without a usable GPU: refused here, before
  // anything is created, not by the first launch.
  if (std::string why; device >= 0 && !cuda_backend_available(&why))
    throw InputError("--device " + config.device + ": " + why);
  if (device >= 0)
    for (auto [k, n] : config.shapes)
      if (n > kCudaMaxRows)
        throw InputError("--device " + config.device + ": the CUDA study holds n ≤ " +
                         std::to_string(kCudaMaxRows) + " rows per run (got n = " + std::to_string(n) + ")");
  check_output_dir(config.out, "--out");
  const std::string out = config.out, chunks = out + "/chunks", settings_path = out + "/study.json";
  CreatedOutputs created;
  created.directory(out);
  DirectoryLock lock(out);

  // A study directory remembers its settings: a resume must ask for the
  // same study, and a fresh run must not mix with an old one's chunks.
  const nlohmann::json settings = settings_json(config);
  if (fs::exists(settings_path)) {
    if (!config.resume)
      throw InputError("--out " + out + ": holds a study already (pass --resume to continue it, or another --out)");
    std::ifstream in(settings_path);
    nlohmann::json old;
    try {
      old = nlohmann::json::parse(in);
    } catch (const std::exception&) {
      throw InputError(settings_path + ": unreadable study settings");
    }
    for (const auto& [key, value] : settings.items())
      if (!old.contains(key) || old[key] != value)
        throw InputError("--resume: the study in " + out + " has " + key + " = " +
                         (old.contains(key) ? old[key].dump() : std::string("(none)")) + ", not " + value.dump());
  } else {
    // Chunks without settings are no study's: never adopted, resume or not.
    if (fs::exists(chunks) && !fs::is_empty(chunks))
      throw InputError("--out " + out + ": has chunks/ but no study.json; refusing to mix them");
    created.file(settings_path);
    write_file_atomically(settings_path, settings.dump(2) + "\n");
  }
  created.directory(chunks);
  fs::create_directories(chunks);
  // The chunks are the study's state: from the first one written on they
  // are kept even if a later step fails, so that --resume can continue; a
  // study that fails before its first chunk leaves nothing it created.

  SpuriousResult result;
  result.device = device_label(device);
  std::vector<ShapeRuns> all(config.shapes.size());
  for (size_t si = 0; si < config.shapes.size(); ++si) {
    const auto [k, n] = config.shapes[si];
    ShapeRuns& shape = all[si];
    read_chunks(chunks, k, n, config.runs, shape);
    result.kept_runs += static_cast<int64_t>(shape.by_run.size());
    const int64_t m = static_cast<int64_t>(n) * k;
    // Chunks of runs: small on the CPU (a kill loses little, progress is
    // frequent), large on a GPU (one launch must fill it: a warp per run).
    const int64_t chunk = device >= 0 ? 8192 : 16;
    int64_t computed = 0;
    double seconds = 0;
    int64_t r = 0;
    while (r < config.runs) {
      if (shape.by_run.count(r)) {
        ++r;
        continue;
      }
      int64_t end = r;
      while (end < config.runs && end - r < chunk && !shape.by_run.count(end)) ++end;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<double> W((end - r) * m);
      std::vector<DescentOutcome> outcomes(end - r);
      if (device >= 0)
        descend_runs_cuda(device, k, n, r, end, config.descent, W.data(), outcomes.data());
      else
        descend_runs_cpu(k, n, r, end, config.descent, W.data(), outcomes.data());
      std::vector<SpuriousRun> recs(end - r);
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t j = 0; j < end - r; ++j)
        recs[j] = assess_run(k, n, r + j, W.data() + j * m, outcomes[j]);
      std::vector<double> rows;
      for (int64_t j = 0; j < end - r; ++j) {
        const std::vector<double> row = pack(recs[j], W.data() + j * m, m);
        rows.insert(rows.end(), row.begin(), row.end());
        shape.by_run[r + j] = {recs[j], std::vector<double>(W.data() + j * m, W.data() + (j + 1) * m)};
      }
      write_npy(chunks + "/" + chunk_name(k, n, r, end), {end - r, kChunkColumns + m}, rows, NpyPrecision::f64);
      created.keep();
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      computed += end - r;
      result.computed_runs += end - r;
      if (progress)
        progress({k, n, static_cast<int64_t>(shape.by_run.size()), config.runs, seconds > 0 ? computed / seconds : 0});
      r = end;
    }
    std::vector<SpuriousRun> recs, spurious;
    std::vector<const double*> points;
    for (const auto& [run, rec] : shape.by_run) {
      recs.push_back(rec.first);
      if (rec.first.spurious) spurious.push_back(rec.first), points.push_back(rec.second.data());
    }
    SpuriousSummary s = summarize_runs(k, n, recs);
    const std::vector<int64_t> rep = distinct_minima(n, k, points);
    for (size_t p = 0; p < rep.size(); ++p)
      if (rep[p] == static_cast<int64_t>(p)) {
        ++s.distinct_spurious;
        s.mean_min_eig_distinct += spurious[p].min_eig;
        s.mean_objective_distinct += spurious[p].objective;
      }
    if (s.distinct_spurious) {
      s.mean_min_eig_distinct /= s.distinct_spurious;
      s.mean_objective_distinct /= s.distinct_spurious;
    }
    s.seconds = seconds;
    s.computed_runs = computed;
    result.summaries.push_back(s);
  }
  created.keep();
  CreatedOutputs reports;
  write_reports(out, config, result.device, all, result.summaries, reports);
  reports.keep();
  return result;
}

}  // namespace taylorscope
