// The CPU reference path of the expansion pass (see expansion_pass.hpp for the
// two stages). BLAS does the two GEMMs (A0 = Z Wᵀ, G = X Uᵀ); OpenMP threads
// each take a slice of the rows; the per-sample mathematics is
// sample_action.hpp, the same code the CUDA kernels run.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/pass_channels.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {
namespace {

// Rows per chunk: the channel matrix X (rows × channels × H) and A0 stay
// within this budget, so memory does not grow with N.
constexpr size_t kChunkBytes = size_t{64} << 20;

class CpuExpansionBackend final : public ExpansionBackend {
 public:
  std::string device_name() const override {
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads, BLAS)";
  }
  void upload(const Dataset& data) override { data_ = &data; }
  PassSums run(const Params& theta, const PassPlan& plan) override;

 private:
  const Dataset* data_ = nullptr;
};

PassSums CpuExpansionBackend::run(const Params& theta, const PassPlan& plan) {
  if (!data_) throw std::logic_error("CpuExpansionBackend::run before upload");
  const Dataset& data = *data_;
  check_pass_inputs(data, theta, plan);
  const bool stages = !plan.power_sums_only;
  const int M = data.M, K = stages ? plan.order : 0, P = plan.max_power;
  const int64_t H = theta.H, E = data.E;
  const int Kp = plan.power_channels();
  const int T = stages ? static_cast<int>(plan.t_values.size()) : 0;
  const int C = plan.channels();
  const int threads = omp_get_max_threads();
  const int64_t rows_per_chunk = std::clamp<int64_t>(
      static_cast<int64_t>(kChunkBytes / (sizeof(double) * H * (C + 1))), 16, 4096);
  // Everything below that grows with H, before any of it is allocated: the
  // chunk's A0, X, G and the P×M×H class power sums.
  const double Hd = static_cast<double>(H), rows = static_cast<double>(rows_per_chunk);
  check_memory(8.0 * (rows * Hd * (1.0 + C) + rows * C * M + static_cast<double>(P) * M * Hd +
                      static_cast<double>(M) * E + static_cast<double>(threads) * (K + 1 + T)),
               "the CPU expansion pass (H = " + std::to_string(H) + ", order " + std::to_string(K) + ", " +
                   std::to_string(rows_per_chunk) + " rows at a time)");
  PassSums sums = PassSums::zeros(plan, M, H, E);

  std::vector<double> c_shift(M), t_of(C, 0.0);  // t_of: the t of each activation channel
  order1_logits(theta.U.data(), theta.c.data(), K > 0 ? plan.taylor[0] : 0.0, M, H, c_shift.data());
  for (int i = 0; i < T; ++i) t_of[Kp + i] = plan.t_values[i];

  std::vector<double> A0(rows_per_chunk * H), X(stages ? rows_per_chunk * C * H : 0),
      G(stages ? rows_per_chunk * C * M : 0);
  // Per-thread partial sums, combined in thread order: the result does not
  // depend on scheduling luck.
  std::vector<double> jet_part(threads * (K + 1), 0.0), direct_part(threads * T, 0.0);
  const cpu::SingleThreadedBlas single_threaded_blas;

  // One parallel region for the whole pass. Every thread owns a contiguous
  // slice of each chunk's rows and runs its own GEMMs on it, so BLAS and
  // OpenMP never compete for the cores; only the class sums, which split by
  // hidden unit and by feature instead, wait at a barrier.
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    double* jet = &jet_part[tid * (K + 1)];
    double* direct = T ? &direct_part[tid * T] : nullptr;
    const int64_t b0 = H * tid / nt, b1 = H * (tid + 1) / nt;
    const int64_t g0 = E * tid / nt, g1 = E * (tid + 1) / nt;

    for (int64_t r0 = 0; r0 < data.N; r0 += rows_per_chunk) {
      const int64_t R = std::min(rows_per_chunk, data.N - r0);
      const int64_t lo = R * tid / nt, hi = R * (tid + 1) / nt;
      cpu::gemm_abt(hi - lo, H, E, data.row(r0 + lo), theta.W.data(), &A0[lo * H]);

      if (stages) {
        // Stage 1: channels X[s][ch][β], then G[s][ch][α] = Σ_β X[s][ch][β] U[α][β].
        for (int64_t s = lo; s < hi; ++s) {
          const double* a0 = &A0[s * H];
          double* xs = &X[s * C * H];
          for (int64_t b = 0; b < H; ++b) {
            const double a = a0[b] + theta.b[b];
            pass_channels(a, 0, C, Kp, C, t_of.data(), plan.act, xs + b, H);
          }
        }
        cpu::gemm_abt((hi - lo) * C, M, H, &X[lo * C * H], theta.U.data(), &G[lo * C * M]);

        // Stage 2: per-sample jets and direct losses.
        for (int64_t s = lo; s < hi; ++s) {
          const int label = data.labels[r0 + s];
          const double* gs = &G[s * C * M];
          accumulate_sample_jets(gs, c_shift.data(), plan.taylor.data(), K, M, label, jet);
          for (int i = 0; i < T; ++i)
            direct[i] += sample_loss_at_t(gs + (Kp + i) * M, theta.c.data(), plan.t_values[i], M, label);
        }
      }

      // Class power sums of W_β·z (no bias) and class sums of z need every
      // row of the chunk: each thread owns a contiguous β range and a
      // contiguous feature range, so there are no races, and each sum adds
      // its rows in row order whatever the thread count.
#pragma omp barrier
      for (int64_t s = 0; s < R; ++s) {
        const int label = data.labels[r0 + s];
        const double* a0 = &A0[s * H];
        double* out = &sums.class_power[static_cast<size_t>(label) * H];
        for (int64_t b = b0; b < b1; ++b) {
          const double v = a0[b];
          double p = v;
          for (int n = 0; n < P; ++n, p *= v) out[static_cast<size_t>(n) * M * H + b] += p;
        }
        const double* z = data.row(r0 + s);
        double* zsum = &sums.class_sum[static_cast<size_t>(label) * E];
        for (int64_t g = g0; g < g1; ++g) zsum[g] += z[g];
      }
#pragma omp barrier  // A0 is overwritten by the next chunk
    }
  }

  for (int t = 0; t < threads; ++t) {
    for (int k = 0; k <= K && stages; ++k) sums.jet[k] += jet_part[t * (K + 1) + k];
    for (int i = 0; i < T; ++i) sums.direct[i] += direct_part[t * T + i];
  }
  for (int64_t s = 0; s < data.N; ++s) ++sums.class_count[data.labels[s]];
  return sums;
}

}  // namespace

std::unique_ptr<ExpansionBackend> make_cpu_backend() {
  return std::make_unique<CpuExpansionBackend>();
}

}  // namespace taylorscope
