// The two sweeps behind `taylorscope tensors`: moments, min and max first,
// then the histograms over [min, max] — the edges cannot be known before the
// range is. A 10^10-element tensor is not stored between them: the backend
// recomputes it (or replays the elements it kept, where they fit).
// Statistics that are not numbers are named in `warnings` (and queued for
// stderr): an element that overflowed makes the tensor's statistics
// unreportable, and F19 showed min/max of the finite rest beside a NaN mean.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "report/not_finite.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "taylorscope/warnings.hpp"

namespace taylorscope {

namespace {

// Edges need a finite range: no non-finite element and max − min in float64.
bool histogram_drawable(const ElementStats& s) {
  return s.nonfinite == 0 && std::isfinite(s.min) && std::isfinite(s.max) && std::isfinite(s.max - s.min);
}

}  // namespace

TensorStatistics tensor_statistics(TensorBackend& backend, int order, int bins, const SweepProgress& progress,
                                   const std::string& warning_context) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  TensorStatistics r;
  r.order = order;
  r.device = backend.device_name();
  // Progress runs over both sweeps: the first half is the moments sweep.
  auto half = [&](int which) -> SweepProgress {
    if (!progress) return {};
    return [&progress, which](int64_t done, int64_t total) { progress(which * total + done, 2 * total); };
  };
  auto t0 = Clock::now();
  const TensorSweep moments = backend.sweep(order, nullptr, half(0));
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
  const TensorSweep hist = backend.sweep(order, ranges, half(1));
  r.timing_ms.emplace_back("histogram_sweep", ms_since(t0));
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
