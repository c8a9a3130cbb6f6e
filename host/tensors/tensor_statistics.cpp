// The two sweeps behind `taylorscope tensors`: moments, min and max first,
// then the histograms over [min, max] — the edges cannot be known before the
// range is. A 10^10-element tensor is not stored between them: the backend
// recomputes it (or replays the elements it kept, where they fit).
// Statistics that are not numbers are named in `warnings` (and queued for
// stderr): an element that overflowed makes the tensor's statistics
// unreportable, and F19 showed min/max of the finite rest beside a NaN mean.
// Under mpirun the ranks share the tiles of each sweep (docs/scaling.md).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "report/not_finite.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope {

namespace {

// ---- what the ranks exchange: one allgather per sweep ----
// A rank's sweep as bytes: the three accumulators (or the 3 × bins counts)
// and its gemm_flops. Every rank of a run is the same program on the same
// kind of machine, so the structs travel as their bytes.

template <class T>
void put(std::string& out, const T* v, size_t count) {
  out.append(reinterpret_cast<const char*>(v), count * sizeof(T));
}

template <class T>
void take(const std::string& in, size_t& at, T* v, size_t count) {
  if (at + count * sizeof(T) > in.size()) throw std::logic_error("tensor_statistics: a rank sent a short sweep");
  std::memcpy(v, in.data() + at, count * sizeof(T));
  at += count * sizeof(T);
}

std::string serialise(const TensorSweep& s, int bins) {
  std::string out;
  if (bins == 0) {
    put(out, s.acc.data(), 3);
  } else {
    for (int k = 0; k < 3; ++k) {
      if (s.histogram[k].size() != static_cast<size_t>(bins))
        throw std::logic_error("tensor_statistics: a histogram sweep returned the wrong number of bins");
      put(out, s.histogram[k].data(), bins);
    }
  }
  put(out, &s.gemm_flops, 1);
  return out;
}

// Every rank's sweep merged in rank order, ((s_0 + s_1) + s_2) + …: the
// same bytes in the same order on every rank, so every rank gets the same
// bits. `bins` is 0 for a moments sweep. Moments merge by Pébay's update (element_stats.hpp), as the tiles'
// partial accumulators of one process do; counts and FLOPs add.
TensorSweep merge_ranks(const TensorSweep& mine, int bins, Communicator& comm) {
  const std::vector<std::string> all = comm.allgather(serialise(mine, bins));
  TensorSweep out;
  if (bins > 0)
    for (int k = 0; k < 3; ++k) out.histogram[k].assign(bins, 0);
  for (const std::string& bytes : all) {
    TensorSweep rank;
    size_t at = 0;
    if (bins == 0) {
      take(bytes, at, rank.acc.data(), 3);
      for (int k = 0; k < 3; ++k) moments_merge(out.acc[k], rank.acc[k]);
    } else {
      std::vector<uint64_t> counts(bins);
      for (int k = 0; k < 3; ++k) {
        take(bytes, at, counts.data(), bins);
        for (int b = 0; b < bins; ++b) out.histogram[k][b] += counts[b];
      }
    }
    take(bytes, at, &rank.gemm_flops, 1);
    out.gemm_flops += rank.gemm_flops;
  }
  return out;
}

// Edges need a finite range: no non-finite element and max − min in float64.
bool histogram_drawable(const ElementStats& s) {
  return s.nonfinite == 0 && std::isfinite(s.min) && std::isfinite(s.max) && std::isfinite(s.max - s.min);
}

}  // namespace

TensorStatistics tensor_statistics(TensorBackend& backend, int order, int bins, const SweepProgress& progress,
                                   const std::string& warning_context, Communicator& comm) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  TensorStatistics r;
  r.order = order;
  r.device = backend.device_name();
  r.ranks = comm.size();
  const bool several = comm.size() > 1;
  const double collective_ms0 = comm.collective_ms();
  r.devices = several ? comm.allgather(r.device) : std::vector<std::string>{r.device};
  // This rank's tiles; with one rank every tile.
  const TileRange tiles = several ? tile_share(backend.E(), order, comm.rank(), comm.size()) : TileRange{};
  // Progress runs over both sweeps: the first half is the moments sweep.
  auto half = [&](int which) -> SweepProgress {
    if (!progress) return {};
    return [&progress, which](int64_t done, int64_t total) { progress(which * total + done, 2 * total); };
  };
  auto t0 = Clock::now();
  TensorSweep moments = backend.sweep(order, nullptr, half(0), tiles);
  if (several) moments = merge_ranks(moments, 0, comm);
  r.timing_ms.emplace_back("moments_sweep", ms_since(t0));
  r.gemm_flops = moments.gemm_flops;
  // A present source streams M·E^n ≥ 1 elements; an absent one none.
  r.has_J = moments.acc[kStreamJ].n > 0;
  r.has_T = moments.acc[kStreamT].n > 0;

  ElementStats* out[3] = {&r.J, &r.T, &r.JT};
  HistogramRange ranges[3];
  for (int k = 0; k < 3; ++k) {
    *out[k] = finish_stats(moments.acc[k]);
    ranges[k] = histogram_range(*out[k], bins);
  }
  r.dot = r.JT.sum;

  t0 = Clock::now();
  TensorSweep hist = backend.sweep(order, ranges, half(1), tiles);
  if (several) hist = merge_ranks(hist, bins, comm);
  r.timing_ms.emplace_back("histogram_sweep", ms_since(t0));
  if (several) r.timing_ms.emplace_back("allreduce", comm.collective_ms() - collective_ms0);
  r.gemm_flops += hist.gemm_flops;
  for (int k = 0; k < 3; ++k) {
    if (out[k]->count == 0 || !histogram_drawable(*out[k])) continue;
    Histogram& h = out[k]->histogram;
    h.counts = hist.histogram[k];
    h.edges.resize(bins + 1);
    for (int b = 0; b <= bins; ++b)
      h.edges[b] = ranges[k].lo + (ranges[k].hi - ranges[k].lo) * b / bins;
  }
  for (const std::string& w : tensor_warnings(r)) {
    r.warnings.push_back(warning_context + w);
    warn(r.warnings.back());
  }
  return r;
}

std::vector<std::string> tensor_warnings(const TensorStatistics& s) {
  std::vector<std::string> out;
  const ElementStats* st[3] = {&s.J, &s.T, &s.JT};
  const bool on[3] = {s.has_J, s.has_T, s.has_J && s.has_T};
  for (int k = 0; k < 3; ++k) {
    if (!on[k]) continue;
    const ElementStats& e = *st[k];
    const std::string name = stream_name(k);
    char count[96];
    std::snprintf(count, sizeof count, "%.0f of %.0f", e.nonfinite, e.count);
    if (e.nonfinite > 0) {
      out.push_back(name + ".{min, max, mean, std, skewness, excess_kurtosis, frac_negative, frac_zero, histogram}: "
                    "not reported — " + count + " elements of " + name + " are " + kNotFinite);
      continue;
    }
    // All elements finite, but a statistic may still overflow (M2 of 1e200s),
    // and skewness and kurtosis are undefined when every element is equal.
    std::string bad, undefined;
    auto add = [](std::string& list, const char* key) { list += (list.empty() ? "" : ", ") + std::string(key); };
    const std::pair<const char*, double> fields[] = {{"min", e.min},   {"max", e.max},           {"mean", e.mean},
                                                     {"std", e.std}, {"skewness", e.skewness}, {"excess_kurtosis", e.excess_kurtosis}};
    for (const auto& [key, v] : fields) {
      if (std::isfinite(v)) continue;
      const bool shape = std::string(key) == "skewness" || std::string(key) == "excess_kurtosis";
      add(shape && e.std == 0 ? undefined : bad, key);
    }
    if (!histogram_drawable(e)) add(bad, "histogram");
    if (!bad.empty()) out.push_back(name + ".{" + bad + "}: " + kNotFinite);
    if (!undefined.empty()) out.push_back(name + ".{" + undefined + "}: not defined (every element of " + name + " is equal)");
  }
  if (on[kStreamJT] && !std::isfinite(s.dot)) out.push_back(std::string("dot: ") + kNotFinite);
  return out;
}

}  // namespace taylorscope
