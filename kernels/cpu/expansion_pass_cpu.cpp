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

int64_t rows_per_chunk(int64_t H, int C) {
  return std::clamp<int64_t>(static_cast<int64_t>(kChunkBytes / (sizeof(double) * std::max<int64_t>(H, 1) * (C + 1))),
                             16, 4096);
}

// What stage 1 and stage 2 read besides the data: one hidden slice of θ
// (W rows, U columns, b entries of units [h0, h1)) and the whole θ's logits.
struct StageInputs {
  int M = 0, K = 0, P = 0, Kp = 0, T = 0, C = 0;
  int64_t H = 0, E = 0;               // H: the slice's width
  const double* W = nullptr;          // H×E
  const double* U = nullptr;          // M×H
  const double* b = nullptr;          // H
  const double* c = nullptr;          // M
  std::vector<double> c_shift, t_of;  // M; C (the t of each activation channel)
};

StageInputs stage_inputs(const Params& theta, const PassPlan& plan, int64_t E) {
  StageInputs in;
  const bool stages = !plan.power_sums_only;
  in.M = theta.M;
  in.K = stages ? plan.order : 0;
  in.P = plan.max_power;
  in.Kp = plan.power_channels();
  in.T = stages ? static_cast<int>(plan.t_values.size()) : 0;
  in.C = plan.channels();
  in.H = theta.H;
  in.E = E;
  in.W = theta.W.data();
  in.U = theta.U.data();
  in.b = theta.b.data();
  in.c = theta.c.data();
  in.c_shift.resize(in.M);
  in.t_of.assign(in.C, 0.0);
  order1_logits(theta.U.data(), theta.c.data(), in.K > 0 ? plan.taylor[0] : 0.0, in.M, theta.H, in.c_shift.data());
  for (int i = 0; i < in.T; ++i) in.t_of[in.Kp + i] = plan.t_values[i];
  return in;
}

// Stage 1 for rows lo..hi of a chunk whose A0 is given: channels X[s][ch][β],
// then G[s][ch][α] = Σ_β X[s][ch][β] U[α][β] (G and X indexed from row lo).
void hidden_rows(const StageInputs& in, const PassPlan& plan, const double* A0, int64_t n, double* X, double* G) {
  const int C = in.C;
  const int64_t H = in.H;
  for (int64_t s = 0; s < n; ++s) {
    const double* a0 = &A0[s * H];
    double* xs = &X[s * C * H];
    for (int64_t b = 0; b < H; ++b) {
      const double a = a0[b] + in.b[b];
      pass_channels(a, 0, C, in.Kp, C, in.t_of.data(), plan.act, xs + b, H);
    }
  }
  if (H > 0)
    cpu::gemm_abt(n * C, in.M, H, X, in.U, G);
  else
    std::fill_n(G, n * C * in.M, 0.0);  // no unit in the slice: its share of G is 0
}

// Stage 2 for n rows with labels `labels` and complete G: jets and direct
// losses added into jet[0..K] and direct[0..T).
void sample_rows(const StageInputs& in, const PassPlan& plan, const double* G, const int32_t* labels, int64_t n,
                 double* jet, double* direct) {
  const int M = in.M, C = in.C;
  for (int64_t s = 0; s < n; ++s) {
    const int label = labels[s];
    const double* gs = &G[s * C * M];
    accumulate_sample_jets(gs, in.c_shift.data(), plan.taylor.data(), in.K, M, label, jet);
    for (int i = 0; i < in.T; ++i)
      direct[i] += sample_loss_at_t(gs + (in.Kp + i) * M, in.c, plan.t_values[i], M, label);
  }
}

// class_power[n−1][label][β] += A0[s][β]^n for units b0..b1 of R rows, row
// by row: every element adds its rows in row order.
void add_class_power(const double* A0, const int32_t* labels, int64_t R, int64_t H, int M, int P, int64_t b0,
                     int64_t b1, double* class_power) {
  for (int64_t s = 0; s < R; ++s) {
    const double* a0 = &A0[s * H];
    double* out = &class_power[static_cast<size_t>(labels[s]) * H];
    for (int64_t b = b0; b < b1; ++b) {
      const double v = a0[b];
      double p = v;
      for (int n = 0; n < P; ++n, p *= v) out[static_cast<size_t>(n) * M * H + b] += p;
    }
  }
}

// class_sum[label][γ] += z_sγ for features g0..g1 of R rows, in row order.
void add_class_sums(const Dataset& data, int64_t r0, int64_t R, int64_t g0, int64_t g1, double* class_sum) {
  const int64_t E = data.E;
  for (int64_t s = r0; s < r0 + R; ++s) {
    const double* z = data.row(s);
    double* out = &class_sum[static_cast<size_t>(data.labels[s]) * E];
    for (int64_t g = g0; g < g1; ++g) out[g] += z[g];
  }
}

class CpuExpansionBackend final : public ExpansionBackend {
 public:
  std::string device_name() const override {
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads, BLAS)";
  }
  void release() override { data_ = nullptr; }
  void upload(const Dataset& data) override {
    data_ = &data;
    staged_ = false;
  }
  PassSums run(const Params& theta, const PassPlan& plan) override;

  void begin_stages(const Params& theta, const PassPlan& plan, ShardRange hidden) override;
  void hidden_stage(ShardRange rows, double* G) override;
  void sample_stage(ShardRange rows, const double* G) override;
  PassSums end_stages() override;

 private:
  const Dataset* data_ = nullptr;
  // Between begin_stages and end_stages: θ's hidden slice (copied: the
  // caller's θ need not outlive the calls), the plan and the running sums.
  bool staged_ = false;
  Params slice_;
  PassPlan plan_;
  StageInputs in_;
  PassSums sums_;
};

PassSums CpuExpansionBackend::run(const Params& theta, const PassPlan& plan) {
  if (!data_) throw std::logic_error("CpuExpansionBackend::run before upload");
  const Dataset& data = *data_;
  check_pass_inputs(data, theta, plan);
  const bool stages = !plan.power_sums_only;
  const StageInputs in = stage_inputs(theta, plan, data.E);
  const int M = in.M, K = in.K, P = in.P, T = in.T, C = in.C;
  const int64_t H = in.H, E = in.E;
  const int threads = omp_get_max_threads();
  const int64_t chunk = rows_per_chunk(H, C);
  // Everything below that grows with H, before any of it is allocated: the
  // chunk's A0, X, G and the P×M×H class power sums.
  const double Hd = static_cast<double>(H), rows = static_cast<double>(chunk);
  check_memory(8.0 * (rows * Hd * (1.0 + C) + rows * C * M + static_cast<double>(P) * M * Hd +
                      static_cast<double>(M) * E + static_cast<double>(threads) * (K + 1 + T)),
               "the CPU expansion pass (H = " + std::to_string(H) + ", order " + std::to_string(K) + ", " +
                   std::to_string(chunk) + " rows at a time)");
  PassSums sums = PassSums::zeros(plan, M, H, E);

  std::vector<double> A0(chunk * H), X(stages ? chunk * C * H : 0), G(stages ? chunk * C * M : 0);
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

    for (int64_t r0 = 0; r0 < data.N; r0 += chunk) {
      const int64_t R = std::min(chunk, data.N - r0);
      const int64_t lo = R * tid / nt, hi = R * (tid + 1) / nt;
      cpu::gemm_abt(hi - lo, H, E, data.row(r0 + lo), theta.W.data(), &A0[lo * H]);
      if (stages) {
        hidden_rows(in, plan, &A0[lo * H], hi - lo, &X[lo * C * H], &G[lo * C * M]);
        sample_rows(in, plan, &G[lo * C * M], &data.labels[r0 + lo], hi - lo, jet, direct);
      }
      // Class power sums of W_β·z (no bias) and class sums of z need every
      // row of the chunk: each thread owns a contiguous β range and a
      // contiguous feature range, so there are no races, and each sum adds
      // its rows in row order whatever the thread count.
#pragma omp barrier
      add_class_power(A0.data(), &data.labels[r0], R, H, M, P, b0, b1, sums.class_power.data());
      add_class_sums(data, r0, R, g0, g1, sums.class_sum.data());
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

void CpuExpansionBackend::begin_stages(const Params& theta, const PassPlan& plan, ShardRange hidden) {
  if (!data_) throw std::logic_error("CpuExpansionBackend::begin_stages before upload");
  check_pass_inputs(*data_, theta, plan);
  if (hidden.begin < 0 || hidden.end > theta.H || hidden.begin > hidden.end)
    throw std::logic_error("CpuExpansionBackend::begin_stages: hidden units outside 0..H");
  const int64_t Hs = hidden.size(), E = data_->E, M = theta.M;
  // The slice as a θ of its own: W rows and b entries are contiguous, U's columns are not.
  slice_ = Params{};
  slice_.M = theta.M;
  slice_.H = Hs;
  slice_.E = theta.E;
  slice_.W.assign(theta.W.begin() + hidden.begin * E, theta.W.begin() + hidden.end * E);
  slice_.b.assign(theta.b.begin() + hidden.begin, theta.b.begin() + hidden.end);
  slice_.c = theta.c;
  slice_.U.resize(static_cast<size_t>(M) * Hs);
  for (int64_t a = 0; a < M; ++a)
    std::copy_n(&theta.U[a * theta.H + hidden.begin], Hs, &slice_.U[a * Hs]);
  plan_ = plan;
  in_ = stage_inputs(slice_, plan_, E);
  // c′ sums U over every unit, not the slice's (stage 2 sees the whole θ).
  order1_logits(theta.U.data(), theta.c.data(), in_.K > 0 ? plan.taylor[0] : 0.0, M, theta.H, in_.c_shift.data());
  sums_ = PassSums::zeros(plan_, theta.M, Hs, E);
  staged_ = true;
}

void CpuExpansionBackend::hidden_stage(ShardRange rows, double* G) {
  if (!staged_) throw std::logic_error("CpuExpansionBackend::hidden_stage outside begin_stages/end_stages");
  const Dataset& data = *data_;
  if (rows.begin < 0 || rows.end > data.N || rows.begin > rows.end)
    throw std::logic_error("CpuExpansionBackend::hidden_stage: rows outside the data");
  const int M = in_.M, P = in_.P, C = in_.C;
  const int64_t H = in_.H, E = in_.E;
  const int threads = omp_get_max_threads();
  const int64_t chunk = rows_per_chunk(H, C);
  const double Hd = static_cast<double>(H), rws = static_cast<double>(chunk);
  check_memory(8.0 * (rws * Hd * (1.0 + C) + static_cast<double>(P) * M * Hd),
               "stage 1 of the CPU expansion pass (" + std::to_string(H) + " hidden units, " +
                   std::to_string(chunk) + " rows at a time)");
  std::vector<double> A0(chunk * H), X(chunk * C * H);
  const cpu::SingleThreadedBlas single_threaded_blas;
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t b0 = H * tid / nt, b1 = H * (tid + 1) / nt;
    for (int64_t r0 = rows.begin; r0 < rows.end; r0 += chunk) {
      const int64_t R = std::min(chunk, rows.end - r0);
      const int64_t lo = R * tid / nt, hi = R * (tid + 1) / nt;
      cpu::gemm_abt(hi - lo, H, E, data.row(r0 + lo), in_.W, &A0[lo * H]);
      if (C > 0) hidden_rows(in_, plan_, &A0[lo * H], hi - lo, &X[lo * C * H], G + (r0 - rows.begin + lo) * C * M);
#pragma omp barrier
      add_class_power(A0.data(), &data.labels[r0], R, H, M, P, b0, b1, sums_.class_power.data());
#pragma omp barrier  // A0 is overwritten by the next chunk
    }
  }
}

void CpuExpansionBackend::sample_stage(ShardRange rows, const double* G) {
  if (!staged_) throw std::logic_error("CpuExpansionBackend::sample_stage outside begin_stages/end_stages");
  const Dataset& data = *data_;
  if (rows.begin < 0 || rows.end > data.N || rows.begin > rows.end)
    throw std::logic_error("CpuExpansionBackend::sample_stage: rows outside the data");
  const int K = in_.K, T = in_.T, M = in_.M, C = in_.C;
  const int64_t E = in_.E;
  const bool stages = !plan_.power_sums_only;
  const int threads = omp_get_max_threads();
  std::vector<double> jet_part(threads * (K + 1), 0.0), direct_part(threads * T, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t n = rows.size();
    const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
    if (stages)
      sample_rows(in_, plan_, G + lo * C * M, &data.labels[rows.begin + lo], hi - lo, &jet_part[tid * (K + 1)],
                  T ? &direct_part[tid * T] : nullptr);
    add_class_sums(data, rows.begin, n, E * tid / nt, E * (tid + 1) / nt, sums_.class_sum.data());
  }
  // Thread order, then into the running total: fixed for a fixed thread count.
  std::vector<double> jet(K + 1, 0.0), direct(T, 0.0);
  for (int t = 0; t < threads; ++t) {
    for (int k = 0; k <= K && stages; ++k) jet[k] += jet_part[t * (K + 1) + k];
    for (int i = 0; i < T; ++i) direct[i] += direct_part[t * T + i];
  }
  for (int k = 0; k <= K && stages; ++k) sums_.jet[k] += jet[k];
  for (int i = 0; i < T; ++i) sums_.direct[i] += direct[i];
  for (int64_t s = rows.begin; s < rows.end; ++s) ++sums_.class_count[data.labels[s]];
}

PassSums CpuExpansionBackend::end_stages() {
  if (!staged_) throw std::logic_error("CpuExpansionBackend::end_stages without begin_stages");
  staged_ = false;
  slice_ = Params{};
  return std::move(sums_);
}

}  // namespace

std::unique_ptr<ExpansionBackend> make_cpu_backend() {
  return std::make_unique<CpuExpansionBackend>();
}

}  // namespace taylorscope
