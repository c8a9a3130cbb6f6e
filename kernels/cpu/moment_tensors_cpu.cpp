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
#include "taylorscope/class_order.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/moment_tensors.hpp"
#include "tensors/cpu_tiles.hpp"

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
  // The copies below: the data sorted by class, U and W.
  const double data_values = src.data ? static_cast<double>(src.data->N) * static_cast<double>(src.data->E) : 0.0;
  const double theta_values = src.theta ? static_cast<double>(src.theta->U.size() + src.theta->W.size()) : 0.0;
  check_memory(8.0 * (data_values + theta_values), "the CPU tensor sweep's copy of the data and θ");
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
    const std::vector<int64_t> order = class_order(d.labels, d.M, d.spec).rows;
    for (int64_t r = 0; r < d.N; ++r) std::copy(d.row(order[r]), d.row(order[r]) + d.E, in.Zs.begin() + r * d.E);
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

// J_α = Σ_α' S_α' / N − S_α / N_α for elements [j0, j1) of row i of every
// class block: the class sums S (M blocks of `block`) into out (M × (j1 − j0)).
void j_from_class_sums(const CpuTensorInputs& in, const double* S, int64_t block, int64_t offset, int64_t len,
                       double* all, double* out) {
  const int M = in.M;
  const double N = static_cast<double>(in.class_begin[M]);
  for (int64_t j = 0; j < len; ++j) all[j] = 0;
  for (int a = 0; a < M; ++a)
    for (int64_t j = 0; j < len; ++j) all[j] += S[a * block + offset + j];
  for (int a = 0; a < M; ++a) {
    const double Na = static_cast<double>(in.class_begin[a + 1] - in.class_begin[a]);
    for (int64_t j = 0; j < len; ++j) out[a * len + j] = j_element(all[j], N, S[a * block + offset + j], Na);
  }
}

// Walks the tiles of order n: per tile, the GEMMs of every class block of S
// (J's class sums) and T. The visitor receives the view with T set and J
// null, and the class sums S, from which it forms the J it needs.
class TileWalker {
 public:
  // extra_tiles: the caller's own buffers of the size of one tile's class
  // blocks (a dense J for --dump), counted in the same memory check.
  TileWalker(const CpuTensorInputs& in, int n, int extra_tiles = 0) : in_(in), n_(n) {
    check_order(n);
    // The first tile is the largest: its class blocks S and T are M × E × E
    // (M × E at n = 1), and each thread's scratch is class rows (or H) × E.
    const double E = static_cast<double>(in.E), block = n == 1 ? E : E * E;
    double rows = static_cast<double>(in.H);
    for (int a = 0; a < in.M && in.has_J; ++a)
      rows = std::max(rows, static_cast<double>(in.class_begin[a + 1] - in.class_begin[a]));
    const int blocks = (in.has_J ? 1 : 0) + (in.has_T ? 1 : 0) + extra_tiles;
    check_memory(8.0 * (blocks * in.M * block + static_cast<double>(scratch_.size()) * rows * E),
                 "the CPU tensor sweep's order-" + std::to_string(n) + " tiles (M = " + std::to_string(in.M) +
                     ", E = " + std::to_string(in.E) + ")");
  }

  double gemm_flops() const { return flops_; }

  // The tiles [tiles.begin, tiles.end) of the tile order, in that order.
  void walk(const std::function<void(const TileView&, const double* S)>& visit, const SweepProgress& progress,
            const TileRange& tiles = {}) {
    const std::vector<TilePrefix> prefixes = tile_prefixes(in_.E, n_);
    const int M = in_.M;
    const int64_t count = static_cast<int64_t>(prefixes.size());
    const int64_t first = tiles.begin, last = std::min(tiles.end, count);
    if (first < 0 || first > last) throw std::invalid_argument("tensor sweep: tile range outside the tile order");
    const int64_t total = last - first;
    for (int64_t t = 0; t < total; ++t) {
      TileView v;
      v.n = n_;
      v.prefix = prefixes[first + t];
      v.cols = in_.E - v.prefix.L;
      v.rows = n_ == 1 ? 1 : v.cols;
      const int64_t block = v.rows * v.cols;
      if (in_.has_J) S_.resize(M * block);
      if (in_.has_T) T_.resize(M * block);
      const int jobs = (in_.has_J ? M : 0) + (in_.has_T ? M : 0);
      {
        const cpu::SingleThreadedBlas single_threaded_blas;
#pragma omp parallel
        {
          std::vector<double>& Y = scratch_[omp_get_thread_num()];
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
      if (in_.has_J) flops_ += 2.0 * in_.class_begin[M] * v.rows * v.cols;
      if (in_.has_T) {
        flops_ += 2.0 * M * in_.H * v.rows * v.cols;
        v.T = T_.data();
      }
      visit(v, in_.has_J ? S_.data() : nullptr);
      if (progress) progress(t + 1, total);
    }
  }

 private:
  const CpuTensorInputs& in_;
  int n_;
  double flops_ = 0;
  std::vector<double> S_, T_;
  std::vector<std::vector<double>> scratch_ = std::vector<std::vector<double>>(omp_get_max_threads());  // Y per thread
};

class CpuTensorBackend final : public TensorBackend {
 public:
  std::string device_name() const override {
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads, BLAS)";
  }
  void upload(const TensorSources& sources) override {
    if (sources.data) require_data_readable_by(*sources.data, data_device(), device_name());
    in_ = prepare_inputs(sources);
  }
  int64_t E() const override { return in_.E; }
  TensorSweep sweep(int order, const HistogramRange* ranges, const SweepProgress& progress,
                    const TileRange& tiles) override;

 private:
  CpuTensorInputs in_;
};

TensorSweep CpuTensorBackend::sweep(int n, const HistogramRange* ranges, const SweepProgress& progress,
                                    const TileRange& tiles) {
  if (!in_.has_J && !in_.has_T) throw std::logic_error("CpuTensorBackend::sweep before upload");
  TileWalker walker(in_, n);
  const int threads = omp_get_max_threads();
  const int bins = ranges ? ranges[0].bins : 0;
  if (ranges)
    for (int k = 0; k < 3; ++k)
      if (ranges[k].bins != bins || bins < 1) throw std::invalid_argument("sweep: histogram ranges need equal bins ≥ 1");
  // Per-thread partials over a static schedule, merged in thread order: the
  // statistics are the same on every run with the same thread count.
  std::vector<std::array<MomentAccumulator, 3>> part(threads);
  std::vector<uint64_t> hist(static_cast<size_t>(threads) * 3 * bins, 0);
  // Per thread: one row of J for every class, the row of Σ_α S_α, one row of J∘T.
  std::vector<std::vector<double>> line_buffers(threads, std::vector<double>((in_.M + 2) * in_.E));
  const bool J = in_.has_J, T = in_.has_T;

  walker.walk(
      [&](const TileView& v, const double* S) {
        const int64_t block = v.rows * v.cols, L = v.prefix.L;
        const int M = in_.M;
        // Rows dealt round-robin: balanced over the triangle's shrinking rows,
        // and each row lands in the same thread's accumulator on every run.
#pragma omp parallel for schedule(static, 1)
        for (int64_t i = 0; i < v.rows; ++i) {
          const int th = omp_get_thread_num();
          std::array<MomentAccumulator, 3>& acc = part[th];
          uint64_t* h = hist.data() + static_cast<size_t>(th) * 3 * bins;
          const int64_t j0 = v.n == 1 ? 0 : i, len = v.cols - j0;
          // Row i of every class: J formed from the class sums here, so the
          // full J block is never written; J∘T beside it.
          double* jrows = line_buffers[th].data();
          double* all = jrows + M * in_.E;
          double* product = all + in_.E;
          if (J) j_from_class_sums(in_, S, block, i * v.cols + j0, len, all, jrows);
          // The diagonal element (j = i) has its own multiplicity; every
          // other element of the row shares one (packed_tiles.hpp).
          const double w_diag = v.n == 1 ? 1.0 : tile_multiplicity(v.n, v.prefix.run, L, L + i, L + i);
          const double w_rest = v.n == 1 ? 1.0 : tile_multiplicity(v.n, v.prefix.run, L, L + i, L + i + 1);
          for (int a = 0; a < M; ++a) {
            const double* x[3] = {J ? jrows + a * len : nullptr, T ? v.T + a * block + i * v.cols + j0 : nullptr,
                                  product};
            if (J && T)
              for (int64_t j = 0; j < len; ++j) product[j] = x[0][j] * x[1][j];
            const bool on[3] = {J, T, J && T};
            for (int k = 0; k < 3; ++k) {
              if (!on[k]) continue;
              if (ranges) {
                for (int64_t j = 0; j < len; ++j)
                  h[k * bins + histogram_bin(ranges[k], x[k][j])] += static_cast<uint64_t>(j == 0 ? w_diag : w_rest);
              } else {
                moments_add(acc[k], x[k][0], w_diag);
                moments_merge(acc[k], block_moments(x[k] + 1, len - 1, w_rest));
              }
            }
          }
        }
      },
      progress, tiles);

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
  std::vector<double> J, all(in.E);
  TileWalker(in, order, in.has_J ? 1 : 0).walk(
      [&](const TileView& tile, const double* S) {
        TileView v = tile;
        if (S) {
          const int64_t block = v.rows * v.cols;
          J.resize(in.M * block);
          std::vector<double> rows(in.M * v.cols);
          for (int64_t i = 0; i < v.rows; ++i) {
            j_from_class_sums(in, S, block, i * v.cols, v.cols, all.data(), rows.data());
            for (int a = 0; a < in.M; ++a)
              std::copy(rows.begin() + a * v.cols, rows.begin() + (a + 1) * v.cols, J.begin() + a * block + i * v.cols);
          }
          v.J = J.data();
        }
        visit(v);
      },
      progress);
}

}  // namespace taylorscope
