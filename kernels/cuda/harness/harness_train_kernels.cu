// The element-wise kernels of a training step (train_kernels.cu), between
// the cuBLAS GEMMs: the mini-batch gather, A + b with σ, softmax
// cross-entropy with δ and the loss/accuracy sums, ∇c as column sums, dA∘σ'
// with ∇b, and the Adam update of the flat θ. Reference: the TS_HD
// functions (activation.hpp, softmax_loss.hpp, optimizer_update.hpp) in plain
// loops on the CPU. Two sizes: a training batch (n = 50: launch-bound, the
// reason the step is a CUDA graph) and an evaluation chunk (n = 4096), at
// the seed's 784-2048-10. These kernels move bytes; their FLOPs are few.
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "cuda/harness/harness.cuh"
#include "cuda/train_kernels.cuh"
#include "taylorscope/activation.hpp"
#include "taylorscope/optimizer_update.hpp"
#include "taylorscope/softmax_loss.hpp"

using namespace taylorscope;

namespace {

// Rounding-only differences: the same formulas, sums in another order
// (column sums over n rows: ≤ n·2^-53 relative to Σ|terms|) and device libm
// (exp, log, tanh within a few ulps): 1e-13 relative with a 1e-13 floor.
constexpr double kTol = 1e-13;

bool run_size(const harness::Options& o, int n, int H, int M, int E) {
  const Activation act = parse_activation("silu");
  const int N = 4 * n;  // rows to gather from
  bool ok = true;
  char size[96];
  std::snprintf(size, sizeof size, "n=%d H=%d M=%d E=%d", n, H, M, E);

  // gather_batch: rows order[s] of Z into X.
  const std::vector<double> Z = harness::random_vector(static_cast<size_t>(N) * E, 1.0, 41);
  std::vector<int32_t> labels(N);
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(42);
  std::shuffle(order.begin(), order.end(), rng);
  for (int32_t& y : labels) y = static_cast<int32_t>(rng() % M);
  double* dZ = harness::to_device(Z);
  int32_t* dlabels = harness::to_device(labels);
  int64_t* dorder = harness::to_device(order);
  double* dX = harness::device_zeros<double>(static_cast<size_t>(n) * E);
  int32_t* dy = harness::device_zeros<int32_t>(n);
  int64_t* drows = harness::device_zeros<int64_t>(n);
  auto gather = [&] { cuda::gather_batch(dZ, dlabels, E, dorder, nullptr, n, n, dX, dy, drows, 0); };
  harness::poison(dX, static_cast<size_t>(n) * E);
  gather();
  std::vector<double> X_want(static_cast<size_t>(n) * E);
  for (int s = 0; s < n; ++s) std::copy_n(&Z[order[s] * E], E, &X_want[static_cast<size_t>(s) * E]);
  ok &= harness::validate("gather X", X_want, harness::to_host(dX, X_want.size()), 0, 0);
  harness::report(o, "gather_batch", size, ok, harness::time_ms(o, gather), 16.0 * n * E, 0);

  // bias_activation: A ← A + b, Hs = σ(A).
  const std::vector<double> A0 = harness::random_vector(static_cast<size_t>(n) * H, 1.0, 43);
  const std::vector<double> b = harness::random_vector(H, 0.1, 44);
  double* dA = harness::to_device(A0);
  double* db = harness::to_device(b);
  double* dHs = harness::device_zeros<double>(A0.size());
  harness::poison(dHs, A0.size());
  cuda::bias_activation(dA, db, dHs, n, H, act, 0);
  std::vector<double> A_want(A0.size()), Hs_want(A0.size());
  for (size_t k = 0; k < A0.size(); ++k) {
    A_want[k] = A0[k] + b[k % H];
    Hs_want[k] = activation_value(act, A_want[k]);
  }
  bool v = harness::validate("A + b", A_want, harness::to_host(dA, A0.size()), 0, 0);
  v &= harness::validate("silu(A)", Hs_want, harness::to_host(dHs, A0.size()), kTol, kTol);
  ok &= v;
  TS_CUDA_CHECK(cudaMemcpy(dA, A_want.data(), A0.size() * 8, cudaMemcpyHostToDevice));
  harness::report(o, "bias_activation", size, v,
                  harness::time_ms(o, [&] { cuda::bias_activation(dA, db, dHs, n, H, act, 0); }), 24.0 * n * H,
                  10.0 * n * H);
  TS_CUDA_CHECK(cudaMemcpy(dA, A_want.data(), A0.size() * 8, cudaMemcpyHostToDevice));

  // softmax_xent: logits + c, δ, Σ loss, Σ correct.
  const std::vector<double> logits0 = harness::random_vector(static_cast<size_t>(n) * M, 2.0, 45);
  const std::vector<double> c = harness::random_vector(M, 0.5, 46);
  std::vector<int32_t> y(labels.begin(), labels.begin() + n);
  double* dlogits = harness::to_device(logits0);
  double* dc = harness::to_device(c);
  int32_t* dyy = harness::to_device(y);
  double* ddelta = harness::device_zeros<double>(logits0.size());
  double* dpart = harness::device_zeros<double>(cuda::softmax_partials_size(n));
  double* dtot = harness::device_zeros<double>(2);
  harness::poison(ddelta, logits0.size());
  cuda::softmax_xent(dlogits, dc, dyy, n, M, ddelta, dpart, dtot, 0);
  std::vector<double> lg = logits0, delta_want(logits0.size()), tot_want(2, 0.0), tot_scale(2, 0.0);
  for (int s = 0; s < n; ++s) {
    for (int a = 0; a < M; ++a) lg[static_cast<size_t>(s) * M + a] += c[a];
    int correct = 0;
    const double loss = softmax_xent_backward(&lg[static_cast<size_t>(s) * M], M, y[s], &delta_want[static_cast<size_t>(s) * M], &correct);
    tot_want[0] += loss;
    tot_scale[0] += std::fabs(loss);
    tot_want[1] += correct;
    tot_scale[1] += 1;
  }
  v = harness::validate("logits + c", lg, harness::to_host(dlogits, lg.size()), 0, 0);
  v &= harness::validate("softmax - onehot", delta_want, harness::to_host(ddelta, lg.size()), kTol, kTol);
  v &= harness::validate_scaled("loss, correct", tot_want, harness::to_host(dtot, 2), tot_scale, kTol);
  ok &= v;
  harness::report(o, "softmax_xent", size, v, harness::time_ms(o, [&] {
                    cuda::softmax_xent(dlogits, dc, dyy, n, M, ddelta, dpart, dtot, 0);
                  }), 24.0 * n * M, 20.0 * n * M);

  // column_sums: ∇c = Σ_s δ/n.
  double* dgc = harness::device_zeros<double>(M);
  TS_CUDA_CHECK(cudaMemcpy(ddelta, delta_want.data(), delta_want.size() * 8, cudaMemcpyHostToDevice));
  cuda::column_sums(ddelta, n, M, 1.0 / n, false, dgc, 0);
  std::vector<double> gc_want(M, 0.0), gc_scale(M, 0.0);
  for (int s = 0; s < n; ++s)
    for (int a = 0; a < M; ++a) {
      gc_want[a] += delta_want[static_cast<size_t>(s) * M + a] / n;
      gc_scale[a] += std::fabs(delta_want[static_cast<size_t>(s) * M + a] / n);
    }
  v = harness::validate_scaled("grad c", gc_want, harness::to_host(dgc, M), gc_scale, kTol);
  ok &= v;
  harness::report(o, "column_sums (grad c)", size, v,
                  harness::time_ms(o, [&] { cuda::column_sums(ddelta, n, M, 1.0 / n, false, dgc, 0); }), 8.0 * n * M,
                  2.0 * n * M);

  // activation_backward_sums: dA ∘= σ'(A), ∇b = Σ_s dA.
  const std::vector<double> dA0 = harness::random_vector(static_cast<size_t>(n) * H, 0.01, 47);
  double* ddA = harness::to_device(dA0);
  double* dgb = harness::device_zeros<double>(H);
  cuda::activation_backward_sums(ddA, dA, n, H, act, false, dgb, 0);
  std::vector<double> dA_want(dA0.size()), gb_want(H, 0.0), gb_scale(H, 0.0);
  for (size_t k = 0; k < dA0.size(); ++k) {
    dA_want[k] = dA0[k] * activation_derivative(act, A_want[k]);
    gb_want[k % H] += dA_want[k];
    gb_scale[k % H] += std::fabs(dA_want[k]);
  }
  v = harness::validate("dA * silu'(A)", dA_want, harness::to_host(ddA, dA0.size()), kTol, kTol);
  v &= harness::validate_scaled("grad b", gb_want, harness::to_host(dgb, H), gb_scale, kTol);
  ok &= v;
  harness::report(o, "activation_backward_sums", size, v, harness::time_ms(o, [&] {
                    cuda::activation_backward_sums(ddA, dA, n, H, act, false, dgb, 0);
                  }), 24.0 * n * H, 12.0 * n * H);

  for (void* p : {static_cast<void*>(dZ), static_cast<void*>(dlabels), static_cast<void*>(dorder),
                  static_cast<void*>(dX), static_cast<void*>(dy), static_cast<void*>(drows), static_cast<void*>(dA),
                  static_cast<void*>(db), static_cast<void*>(dHs), static_cast<void*>(dlogits), static_cast<void*>(dc),
                  static_cast<void*>(dyy), static_cast<void*>(ddelta), static_cast<void*>(dpart),
                  static_cast<void*>(dtot), static_cast<void*>(dgc), static_cast<void*>(ddA), static_cast<void*>(dgb)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

// Adam on the flat θ of 784-2048-10: the step count read on the device.
bool run_adam(const harness::Options& o) {
  ParamLayout layout;
  layout.M = 10;
  layout.H = 2048;
  layout.E = 784;
  const cuda::FlatLayout L = cuda::flat_layout(layout);
  const size_t size = static_cast<size_t>(L.size);
  const std::vector<double> theta = harness::random_vector(size, 0.05, 51), grad = harness::random_vector(size, 0.01, 52);
  const std::vector<double> m0 = harness::random_vector(size, 0.001, 53);
  std::vector<double> v0 = harness::random_vector(size, 1e-4, 54);
  for (double& x : v0) x = x * x;
  OptimizerConfig cfg;
  cfg.kind = OptimizerKind::adam;
  cfg.lr = 1e-3;
  cfg.l2 = 1e-3;
  double* dth = harness::to_device(theta);
  double* dg = harness::to_device(grad);
  double* dm = harness::to_device(m0);
  double* dv = harness::to_device(v0);
  cuda::StepCounter* dcount = harness::device_zeros<cuda::StepCounter>(1);
  cuda::set_step_counter(dcount, 0, 6, 0);  // the 7th step
  cuda::UpdateArgs args;
  args.theta = dth;
  args.grad = dg;
  args.state[0] = dm;  // AdamRule::state_names: adam_m, adam_v
  args.state[1] = dv;
  args.counter = dcount;
  args.L = L;
  args.config = cfg;
  cuda::optimizer_update(args, 0);
  std::vector<double> th = theta, m = m0, v = v0;
  const double b1 = 1 - std::pow(cfg.beta1, 7.0), b2 = 1 - std::pow(cfg.beta2, 7.0);
  for (size_t k = 0; k < size; ++k) {
    double g = grad[k];
    if (static_cast<int64_t>(k) < L.b) g += cfg.l2 * theta[k];
    adam_update(th[k], m[k], v[k], g, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, b1, b2);
  }
  bool ok = harness::validate("adam theta", th, harness::to_host(dth, size), kTol, kTol);
  ok &= harness::validate("adam m", m, harness::to_host(dm, size), kTol, kTol);
  ok &= harness::validate("adam v", v, harness::to_host(dv, size), kTol, kTol);
  harness::report(o, "optimizer_update (adam)", "784-2048-10", ok,
                  harness::time_ms(o, [&] { cuda::optimizer_update(args, 0); }), 8.0 * 7 * size, 15.0 * size);
  for (void* p : {static_cast<void*>(dth), static_cast<void*>(dg), static_cast<void*>(dm), static_cast<void*>(dv),
                  static_cast<void*>(dcount)})
    TS_CUDA_CHECK(cudaFree(p));
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const harness::Options o = harness::parse(argc, argv);
  harness::require_gpu_or_exit("harness_train_kernels");
  bool ok = run_size(o, 50, 2048, 10, 784);
  ok &= run_size(o, 4096, 2048, 10, 784);
  ok &= run_adam(o);
  return ok ? 0 : 1;
}
