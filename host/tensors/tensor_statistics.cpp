// The two sweeps behind `taylorscope tensors`: moments, min and max first,
// then the histograms over [min, max] — the edges cannot be known before the
// range is. A 10^10-element tensor is not stored between them: the backend
// recomputes it (or replays the elements it kept, where they fit).
#include <chrono>

#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

TensorStatistics tensor_statistics(TensorBackend& backend, int order, int bins, const SweepProgress& progress) {
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
    if (out[k]->count == 0) continue;
    Histogram& h = out[k]->histogram;
    h.counts = hist.histogram[k];
    h.edges.resize(bins + 1);
    for (int b = 0; b <= bins; ++b)
      h.edges[b] = ranges[k].lo + (ranges[k].hi - ranges[k].lo) * b / bins;
  }
  return r;
}

}  // namespace taylorscope
