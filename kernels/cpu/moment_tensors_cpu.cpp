// The CPU reference path of the tensor streams (moment_tensors.hpp): each
// tile is M GEMMs per tensor (BLAS), reduced into the accumulators of
// element_stats.hpp — the same per-element code the CUDA kernels run.
// OpenMP threads each take whole class blocks with single-threaded BLAS, then
// rows of the tile for the reduction: one thread pool, never two spinning
// against each other (see blas.hpp).
#include <omp.h>

#include <algorithm>
#include <stdexcept>

#include "cpu/blas.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/moment_tensors.hpp"

namespace taylorscope {
namespace {

// What the sweeps read, prepared once: the data with each class's rows
// contiguous (so a class block is a plain GEMM operand), and U, W.
struct CpuTensorInputs {
  int M = 0;
  int64_t E = 0;
  bool has_J = false, has_T = false;
  std::vector<double> Zs;            // N×E, rows sorted by class (stable)
  std::vector<int64_t> class_begin;  // M+1 row offsets into Zs
  int64_t H = 0;
  std::vector<double> U, W;          // M×H, H×E
};

CpuTensorInputs prepare_inputs(const TensorSources& src) {
  if (!src.data && !src.theta) throw InputError("tensors: nothing to stream (no data and no θ)");
  CpuTensorInputs in;
  if (src.data) {
    const Dataset& d = *src.data;
    in.has_J = true;
    in.M = d.M;
    in.E = d.E;
    in.class_begin.assign(d.M + 1, 0);
    for (int a = 0; a < d.M; ++a) {
      if (d.class_counts.at(a) == 0)
        throw InputError(d.spec + ": class " + std::to_string(a) +
                         " has no samples, so J^(n) (a class-conditional moment) is undefined");
      in.class_begin[a + 1] = in.class_begin[a] + d.class_counts[a];
    }
    in.Zs.resize(d.N * d.E);
    std::vector<int64_t> next(in.class_begin.begin(), in.class_begin.end() - 1);
    for (int64_t s = 0; s < d.N; ++s)
      std::copy(d.row(s), d.row(s) + d.E, in.Zs.begin() + next[d.labels[s]]++ * d.E);
  }
  if (src.theta) {
    const Params& p = *src.theta;
    if (src.data) check_params_fit(p, src.data->E, src.data->M, "θ");
    in.has_T = true;
    in.M = static_cast<int>(p.M);
    in.E = p.E;
    in.H = p.H;
    in.U = p.U;
    in.W = p.W;
  }
  return in;
}

void check_order(int n) {
  if (n < 1 || n > kMaxTensorOrder)
    throw InputError("tensor order must be 1..4, got " + std::to_string(n));
}

// Σ_r y_r X_r[L:] ⊗ X_r[L:] over rows [r0, r1) of X (row stride E) into
// out (rows×cols), with y_r = weight_r · Π_prefix X_r[g]. rows = 1 for n = 1.
void class_block(const double* X, int64_t E, int64_t r0, int64_t r1, const double* weight,
                 const TileView& v, std::vector<double>& Y, double* out) {
  const int64_t R = r1 - r0, L = v.prefix.L, cols = v.cols;
  const int np = std::max(0, v.n - 2);
  Y.resize(R * cols);
  for (int64_t r = 0; r < R; ++r) {
    const double* x = X + (r0 + r) * E;
    double y = weight ? weight[r] : 1.0;
    for (int k = 0; k < np; ++k) y *= x[v.prefix.g[k]];
    if (v.n == 1) {
      Y[r] = y;
    } else {
      for (int64_t j = 0; j < cols; ++j) Y[r * cols + j] = y * x[L + j];
    }
  }
  if (v.n == 1)  // out(1×E) = yᵀ X
    cpu::gemm(true, false, 1, cols, R, 1.0, Y.data(), 1, X + r0 * E, E, 0.0, out, cols);
  else           // out = X_Lᵀ · diag(y) X_L
    cpu::gemm(true, false, cols, cols, R, 1.0, X + r0 * E + L, E, Y.data(), cols, 0.0, out, cols);
}

class TileWalker {
 public:
  TileWalker(const CpuTensorInputs& in, int n) : in_(in), n_(n) { check_order(n); }

  double gemm_flops() const { return flops_; }

  void walk(const std::function<void(const TileView&)>& visit, const SweepProgress& progress) {
    const std::vector<TilePrefix> prefixes = tile_prefixes(in_.E, n_);
    const int M = in_.M;
    const int64_t total = static_cast<int64_t>(prefixes.size());
    for (int64_t t = 0; t < total; ++t) {
      TileView v;
      v.n = n_;
      v.prefix = prefixes[t];
      v.cols = in_.E - v.prefix.L;
      v.rows = n_ == 1 ? 1 : v.cols;
      const int64_t block = v.rows * v.cols;
      if (in_.has_J) S_.resize(M * block), J_.resize(M * block);
      if (in_.has_T) T_.resize(M * block);
      const int jobs = (in_.has_J ? M : 0) + (in_.has_T ? M : 0);
      {
        const cpu::SingleThreadedBlas single_threaded_blas;
#pragma omp parallel
        {
          std::vector<double>& Y = scratch_[omp_get_thread_num() % kMaxThreads];
#pragma omp for schedule(dynamic, 1)
          for (int job = 0; job < jobs; ++job) {
            if (in_.has_J && job < M) {
              class_block(in_.Zs.data(), in_.E, in_.class_begin[job], in_.class_begin[job + 1], nullptr, v, Y,
                          &S_[job * block]);
            } else {
              const int a = in_.has_J ? job - M : job;
              class_block(in_.W.data(), in_.E, 0, in_.H, &in_.U[a * in_.H], v, Y, &T_[a * block]);
            }
          }
        }
      }
      if (in_.has_J) {
        // J_α = Σ_α' S_α' / N − S_α / N_α
        const double N = static_cast<double>(in_.class_begin[M]);
#pragma omp parallel for schedule(static)
        for (int64_t e = 0; e < block; ++e) {
          double all = 0;
          for (int a = 0; a < M; ++a) all += S_[a * block + e];
          for (int a = 0; a < M; ++a)
            J_[a * block + e] = all / N - S_[a * block + e] / static_cast<double>(in_.class_begin[a + 1] - in_.class_begin[a]);
        }
        flops_ += 2.0 * in_.class_begin[M] * v.rows * v.cols;
        v.J = J_.data();
      }
      if (in_.has_T) {
        flops_ += 2.0 * M * in_.H * v.rows * v.cols;
        v.T = T_.data();
      }
      visit(v);
      if (progress) progress(t + 1, total);
    }
  }

 private:
  static constexpr int kMaxThreads = 256;
  const CpuTensorInputs& in_;
  int n_;
  double flops_ = 0;
  std::vector<double> S_, J_, T_;
  std::vector<double> scratch_[kMaxThreads];
};

class CpuTensorBackend final : public TensorBackend {
 public:
  std::string device_name() const override {
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads, BLAS)";
  }
  void upload(const TensorSources& sources) override { in_ = prepare_inputs(sources); }
  TensorSweep sweep(int order, const HistogramRange* ranges, const SweepProgress& progress) override;

 private:
  CpuTensorInputs in_;
};

TensorSweep CpuTensorBackend::sweep(int n, const HistogramRange* ranges, const SweepProgress& progress) {
  if (!in_.has_J && !in_.has_T) throw std::logic_error("CpuTensorBackend::sweep before upload");
  TileWalker walker(in_, n);
  const int threads = omp_get_max_threads();
  const int bins = ranges ? ranges[0].bins : 0;
  if (ranges)
    for (int k = 0; k < 3; ++k)
      if (ranges[k].bins != bins || bins < 1) throw std::invalid_argument("sweep: histogram ranges need equal bins ≥ 1");
  // Per-thread partials, merged in thread order: the statistics do not
  // depend on scheduling, only on the thread count.
  std::vector<std::array<MomentAccumulator, 3>> part(threads);
  std::vector<uint64_t> hist(static_cast<size_t>(threads) * 3 * bins, 0);
  const bool J = in_.has_J, T = in_.has_T;

  walker.walk(
      [&](const TileView& v) {
        const int64_t block = v.rows * v.cols, L = v.prefix.L;
        const int64_t lines = static_cast<int64_t>(in_.M) * v.rows;
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t line = 0; line < lines; ++line) {
          const int th = omp_get_thread_num();
          std::array<MomentAccumulator, 3>& acc = part[th];
          uint64_t* h = hist.data() + static_cast<size_t>(th) * 3 * bins;
          const int64_t a = line / v.rows, i = line % v.rows;
          const double* jrow = J ? v.J + a * block + i * v.cols : nullptr;
          const double* trow = T ? v.T + a * block + i * v.cols : nullptr;
          for (int64_t j = (v.n == 1 ? 0 : i); j < v.cols; ++j) {
            const double w = v.n == 1 ? 1.0 : tile_multiplicity(v.n, v.prefix.run, L, L + i, L + j);
            const double x[3] = {J ? jrow[j] : 0.0, T ? trow[j] : 0.0, J && T ? jrow[j] * trow[j] : 0.0};
            const bool on[3] = {J, T, J && T};
            for (int k = 0; k < 3; ++k) {
              if (!on[k]) continue;
              if (ranges)
                h[k * bins + histogram_bin(ranges[k], x[k])] += static_cast<uint64_t>(w);
              else
                moments_add(acc[k], x[k], w);
            }
          }
        }
      },
      progress);

  TensorSweep out;
  for (int th = 0; th < threads; ++th)
    for (int k = 0; k < 3; ++k) moments_merge(out.acc[k], part[th][k]);
  if (ranges)
    for (int k = 0; k < 3; ++k) {
      out.histogram[k].assign(bins, 0);
      for (int th = 0; th < threads; ++th)
        for (int b = 0; b < bins; ++b) out.histogram[k][b] += hist[(static_cast<size_t>(th) * 3 + k) * bins + b];
    }
  out.gemm_flops = walker.gemm_flops();
  return out;
}

}  // namespace

std::unique_ptr<TensorBackend> make_cpu_tensor_backend() { return std::make_unique<CpuTensorBackend>(); }

void for_each_cpu_tile(const TensorSources& sources, int order, const std::function<void(const TileView&)>& visit,
                       const SweepProgress& progress) {
  const CpuTensorInputs in = prepare_inputs(sources);
  TileWalker(in, order).walk(visit, progress);
}

}  // namespace taylorscope
