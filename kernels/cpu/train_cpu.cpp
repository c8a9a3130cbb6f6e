// The CPU training backend (train_backend.hpp): forward and backward passes
// with BLAS GEMMs, the per-element updates of optimizer_update.hpp, and the
// RNGD preconditioner of rngd_blocks.hpp. float64 throughout.
//
// One mini-batch of n rows X (n×E), labels y:
//   A = X Wᵀ + b,  Hs = σ(A),  logits = Hs Uᵀ + c,  δ = (softmax − onehot)/n
//   ∇U = δᵀ Hs,  ∇c = Σ δ,  dA = (δ U) ∘ σ'(A),  ∇W = dAᵀ X,  ∇b = Σ dA
// BLAS threads the GEMMs; the element-wise loops stay on one thread so no
// second thread pool competes with BLAS's (see blas.hpp).
//
// Data-parallel over the ranks of a Communicator (docs/scaling.md): every
// rank holds the same θ and optimizer state; a step's rows are split with
// shard_range, each rank adds its rows' share of the mean gradient (scaled
// by 1/n of the whole batch) and allreduce_sum (rank order) makes the
// batch's gradient on every rank, so every rank takes the same update. An
// evaluation shards the split's rows the same way. RNGD's blocks need the
// whole batch's statistics: every rank recomputes the batch's forward pass
// on refresh steps (one forward pass every rngd_period steps, against the
// B·(2H + M) doubles a reduction of the statistics would move), so its
// blocks are the single process's. With one rank no collective is called
// and every step is the single-process code, bit for bit.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "cpu/blas.hpp"
#include "cpu/rngd_blocks.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/optimizer.hpp"
#include "taylorscope/rfim.hpp"
#include "taylorscope/softmax_loss.hpp"
#include "taylorscope/train_backend.hpp"

namespace taylorscope {
namespace {

constexpr int64_t kEvalChunkRows = 4096;

class CpuTrainBackend final : public TrainBackend {
 public:
  explicit CpuTrainBackend(Communicator& comm) : comm_(comm) {}
  std::string device_name() const override { return "cpu (BLAS)"; }
  void upload(const Dataset& train, const Dataset& eval) override;
  void init(const Params& theta, const Activation& act, const OptimizerConfig& config) override;
  void step(const std::vector<int64_t>& rows) override;
  void set_order(const std::vector<int64_t>& order) override { order_ = order; }
  void run_batches(int64_t first, int64_t count, int64_t batch_size) override;
  SplitMetrics evaluate(Split split, std::vector<double>* grad) override;
  std::vector<double> flat_params() const override;
  OptimizerState optimizer_state() const override;
  void restore(const std::vector<double>& flat_params, const OptimizerState& state) override;

 private:
  struct Totals {
    double loss = 0;
    int64_t correct = 0;
  };
  // Forward (and with grad, backward, scaled by inv_n) over n contiguous
  // rows X with labels y: added into grad with accumulate, else written
  // over it (no pass to zero it first). Without grad_W the ∇W GEMM is left
  // out (RNGD's step folds it into its update) and dA_ is what it needs.
  // With Cb (n×B, X X_refᵀ) the deferred RNGD term C·X_ref of W joins A.
  // Leaves A_, Hs_, delta_ and dA_ for RNGD.
  Totals forward_backward(const double* X, const int32_t* y, int64_t n, double inv_n, double* grad,
                          bool accumulate = true, bool grad_W = true, const double* Cb = nullptr);
  void gather(const std::vector<int64_t>& rows);
  void refresh_rngd(const std::vector<int64_t>& rows);
  // RNGD's single-process step (docs/rngd.md): P = W X_refᵀ kept current,
  // W held as γV + C X_ref between refreshes, so the step's GEMMs are the
  // forward one and one update of inner dimension B, as SGD's.
  void rngd_step(const std::vector<int64_t>& rows, int64_t n, double inv_n);
  bool rngd_fast() const { return opt_.preconditioned() && comm_.size() == 1; }
  // W ← γV (+ C X_ref for RNGD), C ← 0, γ ← 1: θ holds W itself again.
  void fold();
  void materialize(double* W) const;
  // SGD's single-process step: the W update as one GEMM into θ.
  void sgd_step(int64_t n, double inv_n);
  bool sgd_fast() const { return opt_.kind() == OptimizerKind::sgd && comm_.size() == 1; }
  // P = W X_refᵀ and K_ref = X_ref X_refᵀ, exactly (W folded first); with
  // l2 = 0 only the fold, as the step never reads them then.
  void exact_rngd_products();

  Communicator& comm_;
  const Dataset* train_ = nullptr;
  const Dataset* eval_ = nullptr;
  Activation act_;
  OptimizerConfig cfg_;
  Optimizer opt_{OptimizerConfig{}};
  ParamLayout L_;
  std::vector<double> theta_, grad_;
  int64_t step_ = 0;
  std::vector<std::vector<double>> state_;  // the optimizer's θ-sized arrays (opt_.state_names())
  cpu::RngdPreconditioner rngd_;
  std::vector<int64_t> rngd_rows_;
  cpu::RfimBatch rngd_batch_;
  // The single-process RNGD step's state: θ's W slot holds V, and
  // W = γ·V + C·X_ref while deferred_ (C is H×B); P = W X_refᵀ (H×B). The
  // scalar γ carries the weight decay, so the update GEMM adds into V with
  // β = 1 (OpenBLAS scales C in a separate pass over it for any other β).
  bool deferred_ = false;
  double gamma_ = 1.0;
  std::vector<double> C_, P_, Kref_, Cb_, Q_, T_;
  // Workspace.
  std::vector<double> X_, A_, Hs_, dS_, logits_, delta_, dA_;
  std::vector<int32_t> y_;
  std::vector<int64_t> order_, batch_rows_, shard_rows_;
  std::vector<double> reduced_;  // evaluate's ∇S, loss and correct count, all-reduced at once
};

void CpuTrainBackend::upload(const Dataset& train, const Dataset& eval) {
  if (train.E != eval.E || train.M != eval.M)
    throw InputError("train and eval data differ in shape: E " + std::to_string(train.E) + " vs " +
                     std::to_string(eval.E) + ", M " + std::to_string(train.M) + " vs " +
                     std::to_string(eval.M));
  require_data_readable_by(train, data_device(), device_name());
  require_data_readable_by(eval, data_device(), device_name());
  train_ = &train;
  eval_ = &eval;
}

void CpuTrainBackend::init(const Params& theta, const Activation& act, const OptimizerConfig& config) {
  if (!train_) throw std::logic_error("CpuTrainBackend::init before upload");
  check_params_fit(theta, train_->E, train_->M, "initial parameters");
  check_optimizer_config(config);
  act_ = act;
  cfg_ = config;
  opt_ = Optimizer(config);
  L_ = layout_of(theta);
  const int state_copies = opt_.state_count();
  check_memory(8.0 * static_cast<double>(L_.size()) * (2 + state_copies),
               "--hidden " + std::to_string(L_.H) + ": the CPU trainer's θ, gradient and optimizer state");
  theta_ = flatten(theta);
  grad_.assign(L_.size(), 0.0);
  step_ = 0;
  state_.assign(state_copies, std::vector<double>(L_.size(), 0.0));
  rngd_ = cpu::RngdPreconditioner{};
  rngd_rows_.clear();
  deferred_ = false;
  gamma_ = 1.0;
}

CpuTrainBackend::Totals CpuTrainBackend::forward_backward(const double* X, const int32_t* y, int64_t n,
                                                          double inv_n, double* grad, bool accumulate,
                                                          bool grad_W, const double* Cb) {
  const int64_t M = L_.M, H = L_.H, E = L_.E;
  const double* U = &theta_[L_.U()];
  const double* W = &theta_[L_.W()];
  const double* b = &theta_[L_.b()];
  const double* c = &theta_[L_.c()];
  if (static_cast<size_t>(n * H) > A_.capacity() || static_cast<size_t>(n * M) > logits_.capacity())
    check_memory(8.0 * static_cast<double>(n) * static_cast<double>(4 * H + 2 * M) -
                     8.0 * static_cast<double>(A_.capacity() + Hs_.capacity() + dS_.capacity() +
                                           dA_.capacity() + logits_.capacity() + delta_.capacity()),
                 "--hidden " + std::to_string(H) + " with " + std::to_string(n) +
                     " rows at a time: the CPU trainer's activations");
  A_.resize(n * H);
  Hs_.resize(n * H);
  logits_.resize(n * M);
  delta_.resize(n * M);

  cpu::gemm_abt(n, H, E, X, W, A_.data(), gamma_);
  if (Cb) {
    const int64_t B = rngd_.batch().B;
    cpu::gemm(false, true, n, H, B, 1.0, Cb, B, C_.data(), B, 1.0, A_.data(), H);
  }
  // σ'(A) is taken here, beside σ(A), while A is in cache; the backward
  // pass then only multiplies.
  double* __restrict dS = nullptr;
  if (grad) {
    dS_.resize(n * H);
    dS = dS_.data();
  }
  for (int64_t s = 0; s < n; ++s) {
    double* __restrict a_row = &A_[s * H];
    double* __restrict h_row = &Hs_[s * H];
    for (int64_t i = 0; i < H; ++i) {
      const double a = a_row[i] + b[i];
      a_row[i] = a;
      h_row[i] = activation_value(act_, a);
      if (dS) dS[s * H + i] = activation_derivative(act_, a);
    }
  }
  cpu::gemm_abt(n, M, H, Hs_.data(), U, logits_.data());
  Totals t;
  for (int64_t s = 0; s < n; ++s) {
    double* lg = &logits_[s * M];
    for (int64_t a = 0; a < M; ++a) lg[a] += c[a];
    int correct = 0;
    t.loss += softmax_xent_backward(lg, static_cast<int>(M), y[s], &delta_[s * M], &correct);
    t.correct += correct;
  }
  if (!grad) return t;

  // δ = softmax − onehot per sample; the 1/n of the mean rides on the GEMMs.
  const double beta = accumulate ? 1.0 : 0.0;
  double* gU = grad + L_.U();
  double* gW = grad + L_.W();
  double* gb = grad + L_.b();
  double* gc = grad + L_.c();
  if (!accumulate) {
    std::fill_n(gb, H, 0.0);
    std::fill_n(gc, M, 0.0);
  }
  cpu::gemm(true, false, M, H, n, inv_n, delta_.data(), M, Hs_.data(), H, beta, gU, H);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t a = 0; a < M; ++a) gc[a] += inv_n * delta_[s * M + a];
  dA_.resize(n * H);
  cpu::gemm(false, false, n, H, M, inv_n, delta_.data(), M, U, H, 0.0, dA_.data(), H);
  for (int64_t s = 0; s < n; ++s) {
    double* __restrict d = &dA_[s * H];
    const double* __restrict ds = &dS[s * H];
    for (int64_t i = 0; i < H; ++i) d[i] *= ds[i];
    for (int64_t i = 0; i < H; ++i) gb[i] += d[i];
  }
  if (grad_W) cpu::gemm(true, false, H, E, n, 1.0, dA_.data(), H, X, E, beta, gW, E);
  return t;
}

void CpuTrainBackend::gather(const std::vector<int64_t>& rows) {
  const int64_t E = L_.E, n = static_cast<int64_t>(rows.size());
  if (static_cast<size_t>(n * E) > X_.capacity())
    check_memory(8.0 * static_cast<double>(n * E - static_cast<int64_t>(X_.capacity())),
                 "--batch " + std::to_string(n) + ": the CPU trainer's copy of a batch");
  X_.resize(n * E);
  y_.resize(n);
  for (int64_t s = 0; s < n; ++s) {
    const int64_t r = rows[s];
    if (r < 0 || r >= train_->N) throw std::out_of_range("train row " + std::to_string(r));
    std::copy_n(train_->row(r), E, &X_[s * E]);
    y_[s] = train_->labels[r];
  }
}

// The blocks are estimated on the batch just passed forward (A_, Hs_, delta_).
void CpuTrainBackend::refresh_rngd(const std::vector<int64_t>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()), H = L_.H;
  cpu::RfimBatch& bt = rngd_batch_;
  bt.B = n;
  bt.E = L_.E;
  bt.H = H;
  bt.M = L_.M;
  bt.x = X_;
  bt.h = Hs_;
  bt.eta = delta_;  // softmax − onehot: add the onehot back
  for (int64_t s = 0; s < n; ++s) bt.eta[s * L_.M + y_[s]] += 1.0;
  bt.nu.resize(n * H);
  for (int64_t k = 0; k < n * H; ++k) bt.nu[k] = rfim_neuron_weight(act_, A_[k], cfg_.rngd_omega);
  rngd_rows_ = rows;
  rngd_.refresh(bt, cfg_.rngd_damping);
}

void CpuTrainBackend::step(const std::vector<int64_t>& rows) {
  if (theta_.empty()) throw std::logic_error("CpuTrainBackend::step before init");
  if (rows.empty()) throw InputError("a mini-batch needs at least one sample");
  const int64_t n = static_cast<int64_t>(rows.size());
  const double inv_n = 1.0 / static_cast<double>(n);
  const bool parallel = comm_.size() > 1;
  if (!parallel) {
    gather(rows);
    if (rngd_fast() || sgd_fast()) {
      if (rngd_fast())
        rngd_step(rows, n, inv_n);
      else
        sgd_step(n, inv_n);
      ++step_;
      return;
    }
    forward_backward(X_.data(), y_.data(), n, inv_n, grad_.data(), /*accumulate=*/false);
  } else {
    std::fill(grad_.begin(), grad_.end(), 0.0);
    const ShardRange mine = shard_range(n, comm_.rank(), comm_.size());
    if (mine.size() > 0) {  // a batch of fewer rows than ranks leaves some with none
      shard_rows_.assign(rows.begin() + mine.begin, rows.begin() + mine.end);
      gather(shard_rows_);
      forward_backward(X_.data(), y_.data(), mine.size(), inv_n, grad_.data());
    }
    comm_.allreduce_sum(grad_.data(), grad_.size());
  }

  if (opt_.preconditioned()) {  // RNGD over ranks: g ← (G + λI)^{-1} g, block by block
    if (cfg_.l2 > 0)
      for (int64_t k = L_.U(); k < L_.b(); ++k) grad_[k] += cfg_.l2 * theta_[k];  // U and W
    if (RngdRule::refresh_due(cfg_, step_, rngd_.ready())) {
      // The whole batch's forward pass, which one rank alone did not make.
      gather(rows);
      forward_backward(X_.data(), y_.data(), n, inv_n, nullptr);
      refresh_rngd(rows);
    }
    // The blocks act on the gradient where it lies in θ's flat layout.
    rngd_.apply_hidden(&grad_[L_.W()], &grad_[L_.b()]);
    rngd_.apply_output(&grad_[L_.U()], &grad_[L_.c()]);
    opt_.update(step_, theta_.data(), grad_.data(), state_, L_.size(), /*decay=*/0);
  } else {
    opt_.update(step_, theta_.data(), grad_.data(), state_, L_.size(), /*decay=*/L_.b());
  }
  ++step_;
}

void CpuTrainBackend::materialize(double* W) const {
  if (gamma_ != 1.0)
    for (int64_t k = 0; k < L_.H * L_.E; ++k) W[k] *= gamma_;
  if (opt_.preconditioned()) {
    const cpu::RfimBatch& r = rngd_.batch();
    cpu::gemm(false, false, L_.H, L_.E, r.B, 1.0, C_.data(), r.B, r.x.data(), L_.E, 1.0, W, L_.E);
  }
}

void CpuTrainBackend::fold() {
  if (!deferred_) return;
  materialize(&theta_[L_.W()]);
  deferred_ = false;
  gamma_ = 1.0;
}

// SGD's step with the L2 decay of W carried by γ (W = γV, as in the RNGD
// step below): W ← (1 − α·l2) W − α dAᵀX_b is γ ← (1 − α·l2)γ and one GEMM
// adding −(α/γ) dAᵀX_b into V, so ∇W is never written and read back and θ's
// W is touched once, by that GEMM. The arithmetic differs from the element
// loop's w − α(g + l2·w) by rounding only.
void CpuTrainBackend::sgd_step(int64_t n, double inv_n) {
  const int64_t H = L_.H, E = L_.E;
  forward_backward(X_.data(), y_.data(), n, inv_n, grad_.data(), /*accumulate=*/false, /*grad_W=*/false);
  const StepScalars none = SgdRule::scalars(cfg_, step_);
  const double lr = cfg_.lr, l2 = cfg_.l2;
  double unused0 = 0, unused1 = 0;
  for (int64_t k = L_.U(); k < L_.W(); ++k)
    SgdRule::update(cfg_, none, theta_[k], l2 > 0 ? grad_[k] + l2 * theta_[k] : grad_[k], unused0, unused1);
  for (int64_t k = L_.b(); k < L_.size(); ++k) SgdRule::update(cfg_, none, theta_[k], grad_[k], unused0, unused1);
  gamma_ *= 1.0 - lr * l2;
  cpu::gemm(true, false, H, E, n, -lr / gamma_, dA_.data(), H, X_.data(), E, 1.0, &theta_[L_.W()], E);
  deferred_ = true;
  if (gamma_ < 1e-3) fold();  // see rngd_step
}

void CpuTrainBackend::exact_rngd_products() {
  fold();
  if (!(cfg_.l2 > 0)) return;  // P enters the step only as l2·P, and K_ref only P's update
  const cpu::RfimBatch& r = rngd_.batch();
  P_.resize(L_.H * r.B);
  Kref_.resize(r.B * r.B);
  cpu::gemm_abt(L_.H, r.B, L_.E, &theta_[L_.W()], r.x.data(), P_.data());
  cpu::gemm_abt(r.B, r.B, L_.E, r.x.data(), r.x.data(), Kref_.data());
}

// With g = [∇W ∇b] the gradient (L2 in ∇W), X̃ = [X_ref 1] the refresh batch
// and R the rows D_i S_i^{-1} D_i q_i of Q = g X̃ᵀ (rngd_blocks.hpp), RNGD
// moves W by −(α/λ)(∇W − R X_ref). Here ∇W = dAᵀX_b + l2·W is never formed:
//   Q = dAᵀ (X_b X_refᵀ) + l2·P + ∇b 1ᵀ                       H×B×n, not H×B×E
//   W = γ V + C X_ref:  γ ← β γ,  V ← V − (α/(λγ)) dAᵀ X_b,  C ← β C + (α/λ) R,  β = 1 − α·l2/λ
//   P ← P − (α/λ)(Q − ∇b 1ᵀ − R K_ref)                         H×B×B
// so the step's large GEMMs are A = γ X_b Vᵀ (plus (X_b X_refᵀ) Cᵀ, n×H×B)
// and the V update, as SGD's two. γV and C are folded back into W
// (fold) at each refresh, evaluation and restore, where P and K_ref
// are also recomputed exactly; a checkpoint follows an evaluation, so a
// resumed run starts from the state the uninterrupted one had.
void CpuTrainBackend::rngd_step(const std::vector<int64_t>& rows, int64_t n, double inv_n) {
  const int64_t H = L_.H, E = L_.E;
  if (deferred_) {  // the forward pass needs X_b X_refᵀ for W's deferred part
    const cpu::RfimBatch& r = rngd_.batch();
    Cb_.resize(n * r.B);
    cpu::gemm_abt(n, r.B, E, X_.data(), r.x.data(), Cb_.data());
  }
  forward_backward(X_.data(), y_.data(), n, inv_n, grad_.data(), /*accumulate=*/false, /*grad_W=*/false,
                   deferred_ ? Cb_.data() : nullptr);
  const bool refresh = RngdRule::refresh_due(cfg_, step_, rngd_.ready());
  if (refresh) {
    fold();  // with the old X_ref, before the refresh replaces it
    refresh_rngd(rows);
    exact_rngd_products();
  }
  const cpu::RfimBatch& r = rngd_.batch();
  const int64_t B = r.B;
  if (!deferred_) {  // Cb is X_b X_refᵀ for this batch and the current X_ref
    Cb_.resize(n * B);
    cpu::gemm_abt(n, B, E, X_.data(), r.x.data(), Cb_.data());
  }
  const double l2 = cfg_.l2, lambda = rngd_.damping(), step_scale = cfg_.lr / lambda;
  const double* gb = &grad_[L_.b()];

  // T = dAᵀ Cb + l2·P (Q without ∇b), Q = T + ∇b 1ᵀ.
  T_.resize(H * B);
  Q_.resize(H * B);
  cpu::gemm(true, false, H, B, n, 1.0, dA_.data(), H, Cb_.data(), B, 0.0, T_.data(), B);
  for (int64_t i = 0; i < H; ++i)
    for (int64_t s = 0; s < B; ++s)
      Q_[i * B + s] = RngdRule::hidden_rhs(T_[i * B + s], l2 > 0 ? P_[i * B + s] : 0.0, l2, gb[i]);
  rngd_.solve_hidden(Q_.data());  // Q ← R

  const StepScalars none = RngdRule::scalars(cfg_, step_);
  double unused0 = 0, unused1 = 0;
  double* b = &theta_[L_.b()];
  for (int64_t i = 0; i < H; ++i)
    RngdRule::update(cfg_, none, b[i], RngdRule::bias_direction(&Q_[i * B], B, gb[i], lambda), unused0, unused1);
  // The output layer as in the general path: its products are M-wide.
  double* gU = &grad_[L_.U()];
  const double* U = &theta_[L_.U()];
  if (l2 > 0)
    for (int64_t k = 0; k < L_.W() - L_.U(); ++k) gU[k] += l2 * U[k];
  rngd_.apply_output(gU, &grad_[L_.c()]);
  for (int64_t k = L_.U(); k < L_.W(); ++k) RngdRule::update(cfg_, none, theta_[k], grad_[k], unused0, unused1);
  for (int64_t k = L_.c(); k < L_.size(); ++k) RngdRule::update(cfg_, none, theta_[k], grad_[k], unused0, unused1);

  const double decay = 1.0 - step_scale * l2;
  if (!deferred_) {
    C_.assign(H * B, 0.0);
    gamma_ = 1.0;
  }
  gamma_ *= decay;
  cpu::gemm(true, false, H, E, n, -step_scale / gamma_, dA_.data(), H, X_.data(), E, 1.0, &theta_[L_.W()], E);
  for (int64_t k = 0; k < H * B; ++k) C_[k] = decay * C_[k] + step_scale * Q_[k];
  if (l2 > 0) {  // without L2, P is never read: its H×B×B update is skipped (the default --l2 0)
    cpu::gemm(false, false, H, B, B, -1.0, Q_.data(), B, Kref_.data(), B, 1.0, T_.data(), B);  // T − R K_ref
    for (int64_t k = 0; k < H * B; ++k) P_[k] -= step_scale * T_[k];
  }
  deferred_ = true;
  // A long refresh period with strong decay would shrink γ towards
  // underflow and grow V alike: fold well before (a step-count event, so a
  // resumed run folds where the uninterrupted one did).
  if (gamma_ < 1e-3) fold();
}

void CpuTrainBackend::run_batches(int64_t first, int64_t count, int64_t batch_size) {
  const int64_t n = static_cast<int64_t>(order_.size());
  for (int64_t k = first; k < first + count; ++k) {
    const int64_t r0 = k * batch_size, r1 = std::min(n, r0 + batch_size);
    if (batch_size <= 0 || r0 >= n) throw std::out_of_range("run_batches: batch past the order");
    batch_rows_.assign(order_.begin() + r0, order_.begin() + r1);
    step(batch_rows_);
  }
}

std::vector<double> CpuTrainBackend::flat_params() const {
  std::vector<double> theta = theta_;
  if (deferred_) materialize(&theta[L_.W()]);  // as fold() forms it
  return theta;
}

SplitMetrics CpuTrainBackend::evaluate(Split split, std::vector<double>* grad) {
  if (theta_.empty()) throw std::logic_error("CpuTrainBackend::evaluate before init");
  // Every rank evaluates (the sums are all-reduced), so every rank folds
  // here alike; flat_params(), which rank 0 alone may call, only looks.
  fold();
  if (rngd_fast() && rngd_.ready()) exact_rngd_products();
  const Dataset& d = split == Split::train ? *train_ : *eval_;
  if (grad) grad->assign(L_.size(), 0.0);
  const double inv_n = 1.0 / static_cast<double>(d.N);
  // This rank's rows (all of them in a single process).
  const ShardRange mine = shard_range(d.N, comm_.rank(), comm_.size());
  double loss = 0;
  int64_t correct = 0;
  for (int64_t r0 = mine.begin; r0 < mine.end; r0 += kEvalChunkRows) {
    const int64_t n = std::min(kEvalChunkRows, mine.end - r0);
    const Totals t = forward_backward(d.row(r0), &d.labels[r0], n, inv_n, grad ? grad->data() : nullptr);
    loss += t.loss;
    correct += t.correct;
  }
  if (comm_.size() > 1) {  // one all-reduce: [∇S | loss | correct]
    reduced_.clear();
    if (grad) reduced_ = *grad;
    reduced_.push_back(loss);
    reduced_.push_back(static_cast<double>(correct));  // exact: counts < 2^53
    comm_.allreduce_sum(reduced_.data(), reduced_.size());
    const size_t g = reduced_.size() - 2;
    if (grad) std::copy_n(reduced_.begin(), g, grad->begin());
    loss = reduced_[g];
    correct = static_cast<int64_t>(reduced_[g + 1]);
  }
  return {loss * inv_n, static_cast<double>(correct) * inv_n};
}

OptimizerState CpuTrainBackend::optimizer_state() const {
  OptimizerState s;
  s.step = step_;
  const std::vector<std::string> names = opt_.state_names();
  for (size_t i = 0; i < names.size(); ++i) s.arrays.emplace_back(names[i], state_[i]);
  if (opt_.preconditioned() && rngd_.ready()) {
    const auto& name = RngdRule::refresh_arrays;
    s.arrays.emplace_back(name[0], std::vector<double>(rngd_rows_.begin(), rngd_rows_.end()));
    s.arrays.emplace_back(name[1], rngd_batch_.nu);
    s.arrays.emplace_back(name[2], rngd_batch_.h);
    s.arrays.emplace_back(name[3], rngd_batch_.eta);
  }
  return s;
}

void CpuTrainBackend::restore(const std::vector<double>& flat, const OptimizerState& s) {
  // Everything is checked and built aside first: a bad checkpoint leaves the
  // backend as it was.
  if (static_cast<int64_t>(flat.size()) != L_.size())
    throw InputError("checkpoint parameters do not match the model's size");
  auto take = [&](const std::string& name, size_t size) {
    const std::vector<double>* v = s.find(name);
    if (!v || v->size() != size) throw InputError("checkpoint lacks a valid optimizer array '" + name + "'");
    return *v;
  };
  std::vector<std::vector<double>> state;
  for (const std::string& name : opt_.state_names()) state.push_back(take(name, L_.size()));
  cpu::RngdPreconditioner rngd;
  cpu::RfimBatch bt;
  std::vector<int64_t> rngd_rows;
  const auto& rngd_name = RngdRule::refresh_arrays;
  if (opt_.preconditioned() && s.find(rngd_name[0])) {
    rngd_rows = rngd_checkpoint_rows(*s.find(rngd_name[0]), train_->N);
    const int64_t n = static_cast<int64_t>(rngd_rows.size());
    bt.B = n;
    bt.E = L_.E;
    bt.H = L_.H;
    bt.M = L_.M;
    bt.nu = take(rngd_name[1], n * L_.H);
    bt.h = take(rngd_name[2], n * L_.H);
    bt.eta = take(rngd_name[3], n * L_.M);
    gather(rngd_rows);
    bt.x = X_;
    rngd.refresh(bt, cfg_.rngd_damping);
  }
  theta_ = flat;
  step_ = s.step;
  state_ = std::move(state);
  rngd_ = std::move(rngd);
  rngd_batch_ = std::move(bt);
  rngd_rows_ = std::move(rngd_rows);
  deferred_ = false;
  gamma_ = 1.0;
  if (rngd_fast() && rngd_.ready()) exact_rngd_products();  // as the evaluation before the checkpoint did
}

}  // namespace

std::unique_ptr<TrainBackend> make_cpu_train_backend(Communicator& comm) {
  return std::make_unique<CpuTrainBackend>(comm);
}

}  // namespace taylorscope
