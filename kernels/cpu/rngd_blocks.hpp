// RNGD's preconditioner on the CPU (docs/math.md §9, seed 003; docs/rngd.md):
// the relative Fisher information of each hidden neuron and of the softmax
// output layer, estimated from one mini-batch of B samples, applied to a
// gradient as (G + λI)^{-1} ∇ through the Woodbury identity — every block
// has rank ≤ B (hidden) or ≤ B·M (output), far below its size.
//
//   hidden neuron i, x̃ = (z, 1):   G_i = (1/B) Σ_s ν_si x̃_s x̃_sᵀ            (E+1)²
//   output layer, h̃ = (σ(a), 1):    G = (1/B) Σ_s (diag η_s − η_s η_sᵀ) ⊗ h̃_s h̃_sᵀ   (M(H+1))²
//     rows/cols ordered (class α, input j): the parameters (U_α, c_α).
#pragma once

#include <cstdint>
#include <vector>

namespace taylorscope::cpu {

// The mini-batch statistics of one refresh.
struct RfimBatch {
  int64_t B = 0, E = 0, H = 0, M = 0;
  std::vector<double> x;    // B×E inputs z_s
  std::vector<double> nu;   // B×H  ν(a_si)
  std::vector<double> h;    // B×H  σ(a_si)
  std::vector<double> eta;  // B×M  softmax of the logits
};

// Dense blocks, for tests on tiny nets: (E+1)² for neuron i, (M(H+1))² for the output.
std::vector<double> rfim_hidden_dense(const RfimBatch& batch, int64_t neuron);
std::vector<double> rfim_output_dense(const RfimBatch& batch);

class RngdPreconditioner {
 public:
  // Factorises the B×B (per neuron) and BM×BM (output) Woodbury systems.
  void refresh(const RfimBatch& batch, double damping);
  bool ready() const { return batch_.B > 0; }
  // In place, in the parameters' own layout: neuron i's block acts on
  // (∂W_i, ∂b_i), grad_W H×E row-major and grad_b H.
  void apply_hidden(double* grad_W, double* grad_b);
  // The hidden blocks' small systems, all neurons at once: row i of Q
  // (H×B, q_i = [∂W_i ∂b_i] x̃ᵀ over the refresh batch) becomes
  // D_i S_i^{-1} D_i q_i, so that (G_i + λI)^{-1}[∂W_i ∂b_i] =
  // ([∂W_i ∂b_i] − r_i X̃) / λ. The backend's step calls it with a Q it
  // formed without the gradient's GEMM (docs/rngd.md).
  void solve_hidden(double* Q);
  const RfimBatch& batch() const { return batch_; }
  double damping() const { return lambda_; }
  // The output block acts on all (∂U_α, ∂c_α): grad_U M×H row-major, grad_c M.
  void apply_output(double* grad_U, double* grad_c) const;

 private:
  RfimBatch batch_;
  double lambda_ = 0;
  std::vector<double> d_;        // H×B: sqrt(ν_si / B), neuron-major
  // M_i = D_i (λI + D_i K D_i)^{-1} D_i, formed at refresh from the
  // Cholesky factor (four neurons at a time, cholesky_inverse4 in the .cpp),
  // so a step applies each block as one small matrix-vector product instead
  // of two dependent triangular solves; the CUDA path forms (batched trsm
  // against I) and applies the same.
  // Stored as little more than the lower triangles (M_i is exactly
  // symmetric), four neurons interleaved so one vector holds the same entry
  // of four blocks: group g = neurons 4g…4g+3 (zeros past H); in it, rows
  // in panels of four, panel P holding the entries t < 4P + 4 of rows
  // 4P…4P+3 (the 4×4 diagonal tile whole) at ((t·4 + p mod 4)·4 + i mod 4),
  // the panels stored from the last down, the order solve_hidden reads them.
  std::vector<double> hidden_;
  std::vector<double> L_;        // B × M×M: L_s = (I − η_s 1ᵀ) diag(√η_s), so L_s L_sᵀ = diag η_s − η_s η_sᵀ
  std::vector<double> qv_;       // B×4: solve_hidden's four rows of Q, interleaved
  std::vector<double> output_;   // (BM)²: (λI + ΦᵀΦ)^{-1}, from its Cholesky factor likewise
};

}  // namespace taylorscope::cpu
