// The two sweeps behind `taylorscope tensors`: moments, min and max first,
// then the histograms over [min, max] — the edges cannot be known before the
// range is, and a 10^10-element tensor is recomputed rather than stored.
#include <chrono>

#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {

TensorStatistics tensor_statistics(TensorBackend& backend, const TensorSources& sources, int order, int bins,
                                   const SweepProgress& progress) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  TensorStatistics r;
  r.order = order;
  r.device = backend.device_name();
  r.has_J = sources.data != nullptr;
  r.has_T = sources.theta != nullptr;

  auto t0 = Clock::now();
  backend.upload(sources);
  r.timing_ms.emplace_back("upload", ms_since(t0));

  // Progress runs over both sweeps: the first half is the moments sweep.
  auto half = [&](int which) -> SweepProgress {
    if (!progress) return {};
    return [&progress, which](int64_t done, int64_t total) { progress(which * total + done, 2 * total); };
  };
  t0 = Clock::now();
  const TensorSweep moments = backend.sweep(order, nullptr, half(0));
  r.timing_ms.emplace_back("moments_sweep", ms_since(t0));
  r.gemm_flops = moments.gemm_flops;

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
