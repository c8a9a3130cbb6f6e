// The class-moment tensors J^(n) and the weight tensors T^(n) (docs/math.md §3, §6),
// streamed tile by tile, and the element statistics of J, T and J∘T.
//
// Both tensors are weighted symmetric power sums over rows r,
//     P_{α γ1…γn} = Σ_r A_{rα} X_{rγ1} ⋯ X_{rγn},
//   J^(n): rows are samples,      X = Z, A_{sα} = 1/N − [m_s = α]/N_α
//          (computed as class sums S_α = Σ_{s∈α} z⊗n, J_α = Σ_α' S_α'/N − S_α/N_α:
//          each sample enters one class's GEMM, M times fewer FLOPs);
//   T^(n): rows are hidden units, X = W, A_{βα} = U_αβ.
// With the tile of packed_tiles.hpp fixed (prefix p, smallest index L), the
// tile of class α is the GEMM  X_Lᵀ · diag(A_α ∘ X_{γ1} ∘ ⋯ ∘ X_{γ_{n−2}}) · X_L,
// X_L the columns L..E−1 of X, of which the upper triangle is kept.
// The whole tensor is never in memory: a backend reduces each tile into
// MomentAccumulators (and, in a second sweep, histograms) and drops it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/element_stats.hpp"
#include "taylorscope/hd.hpp"
#include "taylorscope/packed_tiles.hpp"
#include "taylorscope/params.hpp"

namespace taylorscope {

// The three element streams, in this order everywhere (arrays of 3).
enum TensorStream : int { kStreamJ = 0, kStreamT = 1, kStreamJT = 2 };
const char* stream_name(int stream);  // "J", "T", "JT"

// J_α at one element from the class sums there: all = Σ_α' S_α' (summed in
// class order), s = S_α, N = Σ counts, count = N_α. Two IEEE divisions, not
// products with reciprocals, and no multiply for a compiler to fuse: the CPU
// and the CUDA kernels form bit-identical J, so an element exactly on a
// histogram edge lands in the same bin on both.
TS_HD double j_element(double all, double N, double s, double count) { return all / N - s / count; }

// What to stream: J needs the data, T needs θ (its U and W); J∘T needs both.
struct TensorSources {
  const Dataset* data = nullptr;
  const Params* theta = nullptr;
};

// Called between tiles: (tiles done, tiles in the sweep).
using SweepProgress = std::function<void(int64_t done, int64_t total)>;

struct TensorSweep {
  std::array<MomentAccumulator, 3> acc;              // J, T, J∘T; empty for an absent source
  std::array<std::vector<uint64_t>, 3> histogram;    // filled when ranges were given
  double gemm_flops = 0;                             // FLOPs the tile GEMMs performed
};

class TensorBackend {
 public:
  virtual ~TensorBackend() = default;
  virtual std::string device_name() const = 0;
  // The CUDA device whose memory upload() can read a data set's values from
  // where they are, or -1: host memory only (require_data_readable_by).
  virtual int data_device() const { return -1; }
  // Copies what the sweeps need (the data sorted by class; U and W). Throws
  // InputError when θ does not fit the data or a class of the data is empty.
  virtual void upload(const TensorSources& sources) = 0;
  // E of what the last upload() made resident (0 before one): the shape the
  // tiles of packed_tiles.hpp, and their partition among ranks, depend on.
  virtual int64_t E() const = 0;
  // One pass over the packed elements of order n (1..4) of the tiles
  // `tiles` of tile_prefixes(E, n) — every tile by default. With `ranges` (an
  // array of 3), also counts each stream's histogram over its range.
  // Progress counts the tiles of the range.
  virtual TensorSweep sweep(int order, const HistogramRange* ranges, const SweepProgress& progress,
                            const TileRange& tiles = {}) = 0;
};

std::unique_ptr<TensorBackend> make_cpu_tensor_backend();
// Throws InputError when CUDA is unavailable or `device` does not exist.
std::unique_ptr<TensorBackend> make_cuda_tensor_backend(int device);
// For a --device value: make_tensor_backend in backends.hpp.

// The CPU tiles as values (TileView, for_each_cpu_tile, dense_tensor) are
// host/tensors/cpu_tiles.hpp's: CPU-only helpers, not the library's API.

// ---- orchestration (host/tensors) ----

struct TensorStatistics {
  int order = 0;
  std::string device;                // this rank's
  int ranks = 1;                     // the processes that swept the tiles
  std::vector<std::string> devices;  // every rank's device, in rank order
  bool has_J = false, has_T = false;
  ElementStats J, T, JT;
  double dot = 0;        // ⟨J^(n), T^(n)⟩ = Σ of J∘T with multiplicities
  double gemm_flops = 0; // the tile GEMMs of both sweeps (a backend that kept the elements skips the second's)
  std::vector<std::pair<std::string, double>> timing_ms;
  // The statistics that hold no number, and why (tensor_warnings); the
  // report lists them, and tensor_statistics queues each through warn().
  std::vector<std::string> warnings;
};

// Two sweeps over what the backend's last upload() made resident: moments,
// min and max first; then the histograms over [min, max]. Uploading is the
// caller's, so several orders of the same sources share one upload.
// `warning_context` goes before each warning ("H = 64, n = 2: ").
//
// Collective over `comm`: every rank uploads the same sources and sweeps its
// share of the tiles (tile_share: contiguous, balanced by tile_cost). The
// ranks' moment accumulators are gathered and merged in rank order before
// the histogram sweep, so every rank holds the same global min and max and
// bins every element as one process would; the counts are then summed. Every
// rank returns the same statistics; with one rank the sweeps cover every
// tile and nothing is exchanged (the single-process result, bit for bit).
TensorStatistics tensor_statistics(TensorBackend& backend, int order, int bins, const SweepProgress& progress = {},
                                   const std::string& warning_context = "", Communicator& comm = world());

// One line per statistic of `s` that is not a finite number, naming its
// report key ("J.{std, skewness}: not finite (overflow in float64)").
std::vector<std::string> tensor_warnings(const TensorStatistics& s);

}  // namespace taylorscope
