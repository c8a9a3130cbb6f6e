// The class power sums of the expansion pass (class_power_sums.cu):
//   class_power[n−1][α][β] = Σ_{s of class α} A0[s][β]^n,  n = 1..P,
// rows sorted by class and cut into segments of ≤ kSegmentRows rows.
// Reference: plain loops on the CPU, powers by repeated multiplication (the
// kernel starts each sweep after the first by binary exponentiation: a few
// ulps of x^n apart). Work: R·H·P multiplies and adds (2 FLOPs each, plus
// ≤ 2·log2(P) products per later sweep to start it); bytes: A0 read ⌈P/16⌉
// times, partials written and read once, the totals written once.
#include <cmath>
#include <cstdio>

#include "cuda/class_power_sums.cuh"
#include "cuda/harness/harness.cuh"

using namespace taylorscope;

namespace {

bool run_case(const harness::Options& o, int R, int H, int M, int P) {
  const std::vector<double> A0 = harness::random_vector(static_cast<size_t>(R) * H, 0.6, 21);
  // Classes of uneven size, contiguous as the backend sorts them.
  std::vector<int> class_begin(M + 1, 0);
  for (int a = 0; a < M; ++a) class_begin[a + 1] = static_cast<int>(static_cast<int64_t>(R) * (a + 1) * (a + 2) / (M * (M + 1)));
  std::vector<cuda::RowSegment> segments;
  std::vector<int> first(M + 1, 0);
  for (int a = 0; a < M; ++a) {
    first[a] = static_cast<int>(segments.size());
    for (int s = class_begin[a]; s < class_begin[a + 1]; s += cuda::kSegmentRows)
      segments.push_back({s, std::min(s + cuda::kSegmentRows, class_begin[a + 1])});
  }
  first[M] = static_cast<int>(segments.size());

  std::vector<double> want(static_cast<size_t>(P) * M * H, 0.0), scale(want.size(), 0.0);
  for (int a = 0; a < M; ++a)
    for (int s = class_begin[a]; s < class_begin[a + 1]; ++s)
      for (int h = 0; h < H; ++h) {
        const double x = A0[static_cast<size_t>(s) * H + h];
        double p = x;
        for (int n = 0; n < P; ++n, p *= x) {
          const size_t at = (static_cast<size_t>(n) * M + a) * H + h;
          want[at] += p;
          scale[at] += std::fabs(p);
        }
      }

  double* dA0 = harness::to_device(A0);
  cuda::RowSegment* dseg = harness::to_device(segments);
  int* dfirst = harness::to_device(first);
  double* dpart = harness::device_zeros<double>(segments.size() * P * static_cast<size_t>(H));
  double* dcp = harness::device_zeros<double>(want.size());
  cuda::ClassPowerArgs args;
  args.A0 = dA0;
  args.H = H;
  args.M = M;
  args.P = P;
  args.segments = dseg;
  args.nseg = static_cast<int>(segments.size());
  args.class_first_seg = dfirst;
  args.seg_partials = dpart;
  args.class_power = dcp;
  cuda::class_power_sums(args, 0);  // totals start at 0: one pass
  TS_CUDA_CHECK(cudaDeviceSynchronize());
  // Sums of ≤ R/M terms in segment order instead of row order: ≤ (R/M)·2^-53
  // of Σ|terms| in the worst case (~1e-12 here).
  const bool ok = harness::validate_scaled("class_power", want, harness::to_host(dcp, want.size()), scale, 1e-11);

  const double ms = harness::time_ms(o, [&] { cuda::class_power_sums(args, 0); });
  const int sweeps = (P + 15) / 16;
  const double flops = 2.0 * R * static_cast<double>(H) * P +
                       2.0 * R * static_cast<double>(H) * (sweeps - 1) * 2.0 * std::log2(std::max(P, 2));
  const double bytes = 8.0 * (static_cast<double>(R) * H * sweeps + 2.0 * segments.size() * P * H + want.size() * 2);
  char size[96];
  std::snprintf(size, sizeof size, "R=%d H=%d M=%d P=%d", R, H, M, P);
  harness::report(o, "class_power_sums", size, ok, ms, bytes, flops);
  for (void* p : {static_cast<void*>(dA0), static_cast<void*>(dseg), static_cast<void*>(dfirst),
                  static_cast<void*>(dpart), static_cast<void*>(dcp)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_class_power_sums");
  const int R = o.quick ? 4096 : 20000;  // the CPU reference bounds it: R·H·P multiply-adds
  bool ok = true;
  ok &= run_case(o, R, 2048, 10, 7);
  ok &= run_case(o, R, 2048, 10, 31);
  ok &= run_case(o, 3000, 300, 3, 9);  // ragged β blocks, few classes
  return ok ? 0 : 1;
}
