// The expansion of the action S(tθ) = Σ_k t^k S_k(θ) around θ = 0 and
// everything `taylorscope expand` reports about it (docs/math.md §2–§5).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "taylorscope/activation.hpp"
#include "taylorscope/class_moments.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {

struct ExpansionOptions {
  int order = 8;                                         // K
  std::vector<double> t_values = {0.25, 0.5, 1.0, 1.5, 2.0};  // where S(tθ) is compared
  std::string warning_context;  // put before each warning ("H = 64: "): a caller expanding several θ
  // How the ranks of a communicator of R > 1 split the pass (one rank runs
  // the whole pass whatever this says):
  //   "rows"   — each rank the rows shard_range gives it; PassSums all-reduced;
  //   "hidden" — each rank a slice of the hidden units for stage 1 (H too
  //              large for one device), G all-reduced between the stages,
  //              stage 2 over each rank's share of the rows.
  std::string shard = "rows";
};

// One of the seven named terms of S_2 and S_3 (docs/math.md §3, multiplicities
// corrected). seed_terms() lists the seven in one place, in the order every
// report, table and CSV shows them; nothing else spells their names.
//
// Two shares, each with one meaning everywhere:
//   abs_share  = |value| / Σ |values| over the terms of its order — how much
//                of the order's magnitude the term carries (in [0, 1], sums
//                to 1; the largest names the "dominant" term);
//   of_exact   = value / S_k, k its order, S_k from the jets — the signed
//                fraction of the exact coefficient (sums to 1 up to the
//                closed forms' agreement with the jets).
// Either is NaN when its whole is 0 or not finite (reports write null).
struct SeedTerm {
  std::string name;     // INTERFACES.md key: cc, J_UW (S_2); ccc, Ub_c, Z_UW_c, J_UWb, J_UWW (S_3)
  int order = 0;        // 2 or 3
  std::string formula;  // the term as the table prints it
  double value = 0;
  double count = 0;     // products in its sum (docs/math.md §5); a double because M·H·E^n overflows
  double abs_share = 0;
  double of_exact = 0;
};

struct SeedTerms {
  std::vector<SeedTerm> all;  // S_2's two, then S_3's five
  // Throws std::out_of_range for a name that is not one of the seven.
  const SeedTerm& at(const std::string& name) const;
  double sum(int order) const;  // Σ of the order's values
  double S2() const { return sum(2); }
  double S3() const { return sum(3); }
};

struct DominantTerm {
  int n = 0;
  double JT = 0;     // ⟨J^(n), T^(n)⟩ via the power-sum identity (docs/math.md §4)
  double D = 0;      // D_{n+1} = σ_n/(n!·M) ⟨J^(n), T^(n)⟩
  double S = 0;      // exact S_{n+1}
  double ratio = 0;  // D/S (NaN when S_{n+1} = 0)
  double count = 0;  // M·H·E^n products in the tensor form
};

struct RadiusEstimate {
  double estimate = 0;           // min over orders_used of |S_k|^{-1/k}; NaN when absent
  std::vector<int> orders_used;  // the last max(3, K/3) usable orders (radius.cpp)
  std::vector<double> per_order; // |S_k|^{-1/k} for each order used
  std::string absent_reason;     // why there is no estimate; empty when there is one
  bool available() const { return absent_reason.empty(); }
};

struct ValidityPoint {
  double t = 0, S_direct = 0, partial_sum = 0, abs_error = 0;
};

struct ExpansionResult {
  std::string device;                // this rank's
  int ranks = 1;                     // processes that made it
  std::vector<std::string> devices;  // every rank's device, in rank order
  std::string shard = "rows";        // ExpansionOptions::shard
  int K = 0;
  std::vector<double> sigma_derivs;  // σ^(k)(0), k = 0..K
  double S_direct = 0;               // S(θ) evaluated directly
  std::vector<double> S_k;           // S_0 … S_K
  std::vector<double> partial_sums;  // Σ_{j≤k} S_j
  SeedTerms terms;                   // values, counts and shares
  std::vector<DominantTerm> dominant;  // n = 1 … K−1
  RadiusEstimate radius;
  std::vector<ValidityPoint> validity;
  std::vector<std::pair<std::string, double>> timing_ms;  // phase → ms, in order
  // The report keys that hold no number, and why (expansion_warnings); the
  // JSON lists them as `warnings`, and expand() queues each through warn().
  std::vector<std::string> warnings;
};

// Runs the backend's pass (uploading `data` first) and assembles the result.
// Refuses (InputError) fewer than 2 classes and non-finite data or θ, so
// anything not finite in the result is float64 overflowing: those numbers
// stay NaN/Inf in the result, and r.warnings names them.
// Every rank of `comm` calls it with the same data, θ and options; the pass
// is split as options.shard says (sharded_pass) and everything after it is
// computed from the same reduced sums, so every rank returns the same result
// (`device` aside). With comm.size() == 1 it is the single-process pass.
ExpansionResult expand(const Dataset& data, const Params& theta, const Activation& act,
                       const ExpansionOptions& options, ExpansionBackend& backend, Communicator& comm = world());

// The pass over all of `data`, split across the ranks of `comm` by `shard`
// ("rows" or "hidden", ExpansionOptions::shard), uploading what each rank
// needs: the same PassSums on every rank, summed in rank order (bitwise
// reproducible for a fixed R and backend). With "rows" the backend holds
// this rank's rows afterwards (upload again before another run). Any R,
// including 1 (the split then runs on one rank: what tests compare with
// run()); *upload_ms gets the time spent uploading.
// Throws InputError unless `shard` is "rows" or "hidden" (the one place
// that knows the names: the CLI asks before reading data, the library again).
void check_shard(const std::string& shard);

PassSums sharded_pass(const Dataset& data, const Params& theta, const PassPlan& plan, const std::string& shard,
                      ExpansionBackend& backend, Communicator& comm, double* upload_ms = nullptr);

// Element-wise sum of every rank's PassSums in rank order (one
// Communicator::allreduce_sum): jets, direct losses, class power sums, class
// sums and class counts.
void allreduce_pass_sums(PassSums& sums, Communicator& comm);

// One line per report key of `r` that is not a finite number ("S_k[3..8]: not
// finite (overflow in float64)"), or a share or ratio with no whole to divide by.
std::vector<std::string> expansion_warnings(const ExpansionResult& r);

// ⟨J^(n), T^(n)⟩ for n = 1..P from the pass's class power sums (docs/math.md §4):
//   Σ_{α,β} U_αβ ( E_z[(W_β·z)^n] − E_{z|α}[(W_β·z)^n] ).
std::vector<double> contractions_from_power_sums(const PassSums& sums, const Params& theta);

// ⟨J^(n), T^(n)⟩ for n = 1..max_n by one pass of `backend` over `data`: the
// check beside the streamed tensors of moment_tensors.hpp.
// Under R > 1 ranks each takes its rows (shard "rows").
std::vector<double> power_sum_contractions(const Dataset& data, const Params& theta, int max_n,
                                           ExpansionBackend& backend, Communicator& comm = world());

// The closed forms of docs/math.md §3 from the data's first moments
// (first_moments of the pass's class sums), θ and ⟨J^(2),T^(2)⟩, with their
// product counts (§5); shares are left for set_term_shares, which needs the
// exact coefficients.
SeedTerms seed_terms(const FirstMoments& moments, const Params& theta, const std::vector<double>& sigma_derivs,
                     double JT2);

// Fills abs_share and of_exact (see SeedTerm) from the values and S_k, k = 0..K.
void set_term_shares(SeedTerms& terms, const std::vector<double>& S_k);

// Root test on the coefficients: uses the last max(3, K/3) orders k ≥ 1 whose
// S_k is finite, non-zero, not in `zero_by_symmetry` (S_1 on balanced data)
// and not rounding noise beside its neighbours; no estimate from fewer than 3,
// nor when any S_k is not finite.
RadiusEstimate estimate_radius(const std::vector<double>& S_k, const std::vector<int>& zero_by_symmetry = {});

}  // namespace taylorscope
