// bn-check part 2: seed 004 §7.5.1's conserved row energy, by a teacher–
// student run (docs/bn-check.md).
//
// Both networks: x ∈ R^d → L hidden layers → a scalar, no biases.
//   teacher: h_l = relu(A_l h_{l−1}) (width K), y = a·h_L, then y scaled to
//            RMS 1 over the training set, so step sizes mean the same
//            whatever d, K and L are;
//   student: z_l = W_l h_{l−1} (width N), with BN u_l = γ_l ⊙ BN(z_l) + β_l
//            (per node over the batch, batch_norm.hpp), without u_l = z_l;
//            h_l = relu(u_l); ŷ = v·h_L.
// Loss ½·mean over the batch of (ŷ − y)²; plain SGD on every parameter
// (no momentum, no weight decay: either would break the conservation law
// the run measures). Activations are stored node-major (width × batch), so
// each node's batch is one contiguous row for BN.
//
// Why E_j = ½‖W_j·‖² is conserved with BN: ∇W_j· = δz_j h_{l−1}ᵀ, so
// W_j·∇W_j· = δz_jᵀ z_j, and z_j = std·f_j + mean·1 while δz_j ⊥ {f_j, 1}
// (Thm 5): zero for every batch, not just in expectation. An SGD step then
// changes E_j by exactly ½η²‖∇W_j·‖² (the cross term vanishes), which this
// file accumulates beside the measured energies.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "bn_check/streams.hpp"
#include "cpu/blas.hpp"
#include "taylorscope/batch_norm.hpp"
#include "taylorscope/bn_check.hpp"
#include "taylorscope/counter_rng.hpp"

namespace taylorscope {
namespace {

using Matrix = std::vector<double>;  // row-major

struct Net {
  int depth = 0;
  std::vector<int> width;           // width[0] = d, width[l] of hidden layer l (1..depth)
  std::vector<Matrix> W;            // W[l−1]: width[l] × width[l−1]
  Matrix v;                         // width[depth]
  std::vector<Matrix> gamma, beta;  // per hidden layer, used with BN only
};

// He-scaled Gaussian weights (variance 2/fan-in, so ReLU layers keep their
// signal), read in order from one Philox stream; the last layer 1/fan-in.
Net random_net(int d, int width, int depth, uint64_t seed, uint64_t stream) {
  Net n;
  n.depth = depth;
  n.width.assign(depth + 1, width);
  n.width[0] = d;
  uint64_t i = 0;
  for (int l = 1; l <= depth; ++l) {
    Matrix w(static_cast<size_t>(n.width[l]) * n.width[l - 1]);
    const double sd = std::sqrt(2.0 / n.width[l - 1]);
    for (double& a : w) a = sd * philox_normal(seed, stream, i++);
    n.W.push_back(std::move(w));
    n.gamma.emplace_back(width, 1.0);
    n.beta.emplace_back(width, 0.0);
  }
  n.v.resize(width);
  for (double& a : n.v) a = std::sqrt(1.0 / width) * philox_normal(seed, stream, i++);
  return n;
}

// What a forward pass keeps for the backward.
struct Trace {
  std::vector<Matrix> h;                 // h[0] = input batch, h[l] = relu(u_l)
  std::vector<Matrix> f;                 // BN's standardised z_l (with BN)
  std::vector<Matrix> u;                 // pre-ReLU values
  std::vector<std::vector<double>> std;  // BN's per-node std (with BN)
  std::vector<double> out;               // ŷ
};

// Returns false when BN meets a node whose batch is constant (std = 0),
// where BN is undefined. The trace's buffers are reused from step to step
// (resize and assign keep their capacity): a run allocates once, not per
// step.
bool forward(const Net& n, bool bn, const Matrix& x, int64_t B, Trace& t) {
  t.h.resize(n.depth + 1);
  t.f.resize(n.depth + 1);
  t.u.resize(n.depth + 1);
  t.std.resize(n.depth + 1);
  t.h[0].assign(x.begin(), x.end());
  for (int l = 1; l <= n.depth; ++l) {
    const int rows = n.width[l], inner = n.width[l - 1];
    Matrix& u = t.u[l];
    u.resize(static_cast<size_t>(rows) * B);  // every entry written by the GEMM
    cpu::gemm(false, false, rows, B, inner, 1.0, n.W[l - 1].data(), inner, t.h[l - 1].data(), B, 0.0, u.data(), B);
    if (bn) {
      t.f[l].assign(u.size(), 0.0);
      t.std[l].assign(rows, 0.0);
      for (int j = 0; j < rows; ++j) {
        double* fj = t.f[l].data() + static_cast<size_t>(j) * B;
        const double s = bn_forward(u.data() + static_cast<size_t>(j) * B, static_cast<int>(B), fj);
        if (!(s > 0)) return false;
        t.std[l][j] = s;
        for (int64_t i = 0; i < B; ++i) u[j * B + i] = n.gamma[l - 1][j] * fj[i] + n.beta[l - 1][j];
      }
    }
    t.h[l].resize(u.size());
    for (size_t k = 0; k < u.size(); ++k) t.h[l][k] = std::max(u[k], 0.0);
  }
  t.out.assign(B, 0.0);
  const int last = n.width[n.depth];
  for (int j = 0; j < last; ++j)
    for (int64_t i = 0; i < B; ++i) t.out[i] += n.v[j] * t.h[n.depth][j * B + i];
  return true;
}

double batch_loss(const std::vector<double>& out, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += (out[i] - y[i]) * (out[i] - y[i]);
  return s / (2.0 * static_cast<double>(y.size()));
}

// ∇ of the batch loss with respect to every parameter, into g (Net's
// shape; its buffers reused across steps), with dh and dz as scratch.
void gradient(const Net& n, bool bn, const Trace& t, const std::vector<double>& y, Net& g, Matrix& dh, Matrix& dz) {
  const int64_t B = static_cast<int64_t>(y.size());
  if (g.W.size() != n.W.size()) g = n;  // the shapes; every entry is overwritten, γ and β zeroed without BN
  for (int l = 0; l < n.depth; ++l) {
    std::fill(g.gamma[l].begin(), g.gamma[l].end(), 0.0);
    std::fill(g.beta[l].begin(), g.beta[l].end(), 0.0);
  }
  std::vector<double> e(B);
  for (int64_t i = 0; i < B; ++i) e[i] = (t.out[i] - y[i]) / static_cast<double>(B);
  const int last = n.width[n.depth];
  dh.resize(static_cast<size_t>(last) * B);
  for (int j = 0; j < last; ++j) {
    double gv = 0;
    for (int64_t i = 0; i < B; ++i) {
      gv += e[i] * t.h[n.depth][j * B + i];
      dh[j * B + i] = n.v[j] * e[i];
    }
    g.v[j] = gv;
  }
  for (int l = n.depth; l >= 1; --l) {
    const int rows = n.width[l], inner = n.width[l - 1];
    dz.resize(static_cast<size_t>(rows) * B);
    for (size_t k = 0; k < dz.size(); ++k) dz[k] = t.u[l][k] > 0 ? dh[k] : 0.0;  // through the ReLU: δu
    if (bn) {
      for (int j = 0; j < rows; ++j) {
        double* dzj = dz.data() + static_cast<size_t>(j) * B;
        const double* fj = t.f[l].data() + static_cast<size_t>(j) * B;
        double gg = 0, gb = 0;
        for (int64_t i = 0; i < B; ++i) {
          gg += dzj[i] * fj[i];
          gb += dzj[i];
          dzj[i] *= n.gamma[l - 1][j];  // δf = γ δu
        }
        g.gamma[l - 1][j] = gg;
        g.beta[l - 1][j] = gb;
        bn_backward(fj, t.std[l][j], dzj, static_cast<int>(B), dzj);
      }
    }
    cpu::gemm(false, true, rows, inner, B, 1.0, dz.data(), B, t.h[l - 1].data(), B, 0.0, g.W[l - 1].data(), inner);
    if (l > 1) {
      dh.resize(static_cast<size_t>(inner) * B);  // every entry written by the GEMM
      cpu::gemm(true, false, inner, B, rows, 1.0, n.W[l - 1].data(), inner, dz.data(), B, 0.0, dh.data(), B);
    }
  }
}

void sgd_step(Net& n, const Net& g, double lr) {
  auto step = [lr](Matrix& p, const Matrix& d) {
    for (size_t k = 0; k < p.size(); ++k) p[k] -= lr * d[k];
  };
  for (int l = 0; l < n.depth; ++l) {
    step(n.W[l], g.W[l]);
    step(n.gamma[l], g.gamma[l]);
    step(n.beta[l], g.beta[l]);
  }
  step(n.v, g.v);
}

// E[layer][row] = ½‖W_row·‖².
std::vector<std::vector<double>> row_energies(const Net& n) {
  std::vector<std::vector<double>> E(n.depth);
  for (int l = 1; l <= n.depth; ++l) {
    const int rows = n.width[l], inner = n.width[l - 1];
    E[l - 1].assign(rows, 0.0);
    for (int j = 0; j < rows; ++j) {
      double s = 0;
      for (int k = 0; k < inner; ++k) s += n.W[l - 1][j * inner + k] * n.W[l - 1][j * inner + k];
      E[l - 1][j] = 0.5 * s;
    }
  }
  return E;
}

bool all_finite(const Net& n) {
  auto ok = [](const Matrix& m) { return std::all_of(m.begin(), m.end(), [](double a) { return std::isfinite(a); }); };
  for (int l = 0; l < n.depth; ++l)
    if (!ok(n.W[l]) || !ok(n.gamma[l]) || !ok(n.beta[l])) return false;
  return ok(n.v);
}

struct TrainingSet {
  Matrix x;               // d × samples, node-major
  std::vector<double> y;  // samples
};

TrainingSet make_training_set(const EnergyConfig& c) {
  const int64_t M = c.samples;
  TrainingSet s;
  s.x.resize(static_cast<size_t>(c.input_dim) * M);
  for (int64_t i = 0; i < M; ++i)
    for (int k = 0; k < c.input_dim; ++k)
      s.x[k * M + i] = philox_normal(c.seed, bn_streams::kInputs, static_cast<uint64_t>(i) * c.input_dim + k);
  const Net teacher = random_net(c.input_dim, c.teacher_width, c.depth, c.seed, bn_streams::kTeacher);
  Trace t;
  forward(teacher, false, s.x, M, t);
  double ms = 0;
  for (double a : t.out) ms += a * a;
  const double rms = std::sqrt(ms / static_cast<double>(M));
  if (!(rms > 0))
    throw std::runtime_error(
        "the teacher's labels are all zero (every path through its ReLUs is dead); try another --seed");
  s.y = t.out;
  for (double& a : s.y) a /= rms;
  return s;
}

}  // namespace

EnergyRun train_student(const EnergyConfig& c, double lr, bool bn) {
  const TrainingSet data = make_training_set(c);
  const int64_t M = c.samples, B = c.batch > 0 ? c.batch : c.samples;
  Net net = random_net(c.input_dim, c.student_width, c.depth, c.seed, bn_streams::kStudent);

  EnergyRun run;
  run.lr = lr;
  run.bn = bn;
  run.steps = std::max<int64_t>(1, std::llround(c.time / lr));
  for (int k = 0; k <= c.records; ++k) {
    const int64_t s = std::llround(static_cast<double>(run.steps) * k / c.records);
    if (run.record_steps.empty() || s != run.record_steps.back()) run.record_steps.push_back(s);
  }
  const std::vector<std::vector<double>> E0 = row_energies(net);
  std::vector<std::vector<double>> predicted(c.depth, std::vector<double>(c.student_width, 0.0));
  for (const auto& layer : E0)
    for (double e : layer) run.initial_energy_max = std::max(run.initial_energy_max, e);

  Matrix xb(static_cast<size_t>(c.input_dim) * B);
  std::vector<double> yb(B);
  Trace trace;
  Net g;
  Matrix dh, dz;
  size_t next_record = 0;
  for (int64_t s = 0;; ++s) {
    // Step s's batch: samples s·B, s·B + 1, … (mod M); the whole set when B = M.
    const Matrix* x = &data.x;
    const std::vector<double>* y = &data.y;
    if (B != M) {
      for (int64_t i = 0; i < B; ++i) {
        const int64_t src = (s * B + i) % M;
        for (int k = 0; k < c.input_dim; ++k) xb[k * B + i] = data.x[k * M + src];
        yb[i] = data.y[src];
      }
      x = &xb;
      y = &yb;
    }
    const bool ok = forward(net, bn, *x, B, trace) && all_finite(net);
    const double loss = ok ? batch_loss(trace.out, *y) : std::nan("");
    if (!std::isfinite(loss)) {
      run.finite = false;
      break;
    }
    if (next_record < run.record_steps.size() && run.record_steps[next_record] == s) {
      run.energy.push_back(row_energies(net));
      run.loss.push_back(loss);
      ++next_record;
    }
    if (s == run.steps) break;
    gradient(net, bn, trace, *y, g, dh, dz);
    for (int l = 0; l < c.depth; ++l) {
      const int inner = net.width[l];
      for (int j = 0; j < c.student_width; ++j) {
        double sq = 0;
        for (int k = 0; k < inner; ++k) sq += g.W[l][j * inner + k] * g.W[l][j * inner + k];
        predicted[l][j] += 0.5 * lr * lr * sq;
      }
    }
    sgd_step(net, g, lr);
  }
  run.record_steps.resize(run.energy.size());  // a diverged run ends at its last finite record

  double worst_gap = 0, worst_change = 0;
  for (const auto& E : run.energy) {
    double d = 0;
    for (int l = 0; l < c.depth; ++l)
      for (int j = 0; j < c.student_width; ++j) d = std::max(d, std::fabs(E[l][j] - E0[l][j]));
    run.drift.push_back(d);
    run.max_drift = std::max(run.max_drift, d);
  }
  if (run.finite) {
    const auto& E = run.energy.back();
    for (int l = 0; l < c.depth; ++l)
      for (int j = 0; j < c.student_width; ++j) {
        worst_gap = std::max(worst_gap, std::fabs(E[l][j] - E0[l][j] - predicted[l][j]));
        worst_change = std::max(worst_change, std::fabs(E[l][j] - E0[l][j]));
      }
    run.second_order_gap = worst_change > 0 ? worst_gap / worst_change : 0.0;
  } else {
    run.second_order_gap = std::nan("");
  }
  return run;
}

double student_gradient_error(const EnergyConfig& c, bool bn, double h) {
  const TrainingSet data = make_training_set(c);
  const Net net = random_net(c.input_dim, c.student_width, c.depth, c.seed, bn_streams::kStudent);
  Trace trace;
  if (!forward(net, bn, data.x, c.samples, trace)) return std::nan("");
  Net g;
  Matrix dh, dz;
  gradient(net, bn, trace, data.y, g, dh, dz);

  // The parameter groups, as pointers into a net: each W_l, then γ, β (with
  // BN) and v. A direction moves one group only, so a wrong gradient in a
  // small group is not drowned by the others.
  auto groups = [&](Net& n) {
    std::vector<std::vector<Matrix*>> out;
    for (int l = 0; l < n.depth; ++l) out.push_back({&n.W[l]});
    if (bn) {
      out.emplace_back();
      for (Matrix& m : n.gamma) out.back().push_back(&m);
      out.emplace_back();
      for (Matrix& m : n.beta) out.back().push_back(&m);
    }
    out.push_back({&n.v});
    return out;
  };
  Net grad = g;
  const std::vector<std::vector<Matrix*>> grad_groups = groups(grad);
  double worst = 0;
  uint64_t draw = 0;
  for (size_t k = 0; k < grad_groups.size(); ++k) {
    Net up = net, down = net;
    const std::vector<Matrix*> up_group = groups(up)[k], down_group = groups(down)[k];
    double analytic = 0;
    for (size_t m = 0; m < up_group.size(); ++m)
      for (size_t i = 0; i < up_group[m]->size(); ++i) {
        const double d = philox_normal(c.seed, bn_streams::kProbe, draw++);
        analytic += d * (*grad_groups[k][m])[i];
        (*up_group[m])[i] += h * d;
        (*down_group[m])[i] -= h * d;
      }
    Trace tu, td;
    if (!forward(up, bn, data.x, c.samples, tu) || !forward(down, bn, data.x, c.samples, td)) return std::nan("");
    const double numeric = (batch_loss(tu.out, data.y) - batch_loss(td.out, data.y)) / (2 * h);
    worst = std::max(worst, std::fabs(numeric - analytic) / std::max(std::fabs(analytic), 1e-300));
  }
  return worst;
}

}  // namespace taylorscope
