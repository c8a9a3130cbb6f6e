// The CPU reference path of the expansion pass (see expansion_pass.hpp for the
// two stages). Each OpenMP thread owns a contiguous range of rows and walks
// it in blocks: a single-threaded DGEMM (one per block or per several,
// rows_per_gemm) gives the block's A0 = Z Wᵀ, and
// everything after it is fused per row while the row is in cache — the
// channels (pass_channels.hpp), the M-wide hidden contraction G = X Uᵀ (by
// hand, four units per instruction: BLAS at M = 10 columns runs far below its
// peak), the class power sums and stage 2 (sample_action.hpp, the same code
// the CUDA kernels run) on the row's G. Nothing of size N×C×H is formed.
//
// Sums: every thread adds its own rows in row order into its own partial
// sums, which are combined in thread order at the end, so a result is
// bitwise the same for the same thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cpu/blas.hpp"
#include "taylorscope/expansion_pass.hpp"
#include "taylorscope/memory_budget.hpp"
#include "taylorscope/pass_channels.hpp"
#include "taylorscope/sample_action.hpp"

namespace taylorscope {
namespace {

// One thread's block of rows walked in class order (walk_rows): 8 MiB of
// A0. The block fixes the order in which rows meet in the jets' sums, so it
// is kept as it was measured and pinned.
constexpr size_t kBlockBytes = size_t{8} << 20;
// One GEMM covers several such blocks, up to kGemmRows rows: OpenBLAS packs
// all of W (H·E) in every call, from L3 or memory when W (12.5 MiB at
// H = 2048) and the A0 blocks outgrow L3, and at 512 rows a call that was
// 4.4% of the pass (bench/RESULTS.md). A0 of such a call leaves L3, but each
// of its entries is written by the GEMM and read once after it, a few bytes
// per thousand flops. kGemmBytes bounds the memory it takes at large H.
constexpr int64_t kGemmRows = 2048;
constexpr size_t kGemmBytes = size_t{64} << 20;
// Hidden units per channel tile: C tiles of this many units (12 KiB at
// C = 12) plus the U slice they meet stay in L1.
constexpr int64_t kUnitTile = 128;
constexpr int64_t kLanes = 4;  // the contraction's vector width (doubles)

int64_t rows_per_block(int64_t H) {
  return std::clamp<int64_t>(static_cast<int64_t>(kBlockBytes / (sizeof(double) * std::max<int64_t>(H, 1))), 64,
                             4096);
}

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// Where a GEMM call starts and ends moves A0's bits: OpenBLAS runs the
// last rows of a call (its count mod 8) through other kernels, which round
// differently (seen at H = 700, 1497-row blocks). Calls that merge or split
// walk blocks therefore do so only at offsets that are multiples of this,
// so every row keeps the kernel it had with one call per block.
constexpr int64_t kGemmRowAlign = 16;

// Rows per GEMM: a whole number of walk blocks (so the blocks, and with them
// every sum's order, are those of one GEMM per block); just one where blocks
// are not a multiple of kGemmRowAlign rows.
int64_t rows_per_gemm(int64_t H) {
  const int64_t block = rows_per_block(H);
  if (block % kGemmRowAlign != 0) return block;
  const int64_t by_bytes = static_cast<int64_t>(kGemmBytes / (sizeof(double) * block * std::max<int64_t>(H, 1)));
  return block * std::clamp<int64_t>((kGemmRows + block - 1) / block, 1, std::max<int64_t>(by_bytes, 1));
}

// std::vector's storage on 64-byte (cache-line) boundaries: a four-wide load
// from a 16-byte-aligned buffer straddles two lines half the time and costs
// two L1 accesses; the contraction is bound by its loads.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t n) { ::operator delete(p, n * sizeof(T), std::align_val_t{64}); }
  bool operator==(const CacheLineAllocator&) const { return true; }
};
using AlignedDoubles = std::vector<double, CacheLineAllocator<double>>;

// What stage 1 and stage 2 read besides the data: one hidden slice of θ
// (W rows, U columns, b entries of units [h0, h1)) and the whole θ's logits.
// U is kept interleaved by class in groups of kLanes units (contract_tile)
// and padded with zeros to a multiple of kLanes units, so the contraction
// never needs a scalar tail.
struct StageInputs {
  int M = 0, K = 0, P = 0, Kp = 0, T = 0, C = 0;
  int64_t H = 0, E = 0, Hpad = 0;     // H: the slice's width
  const double* W = nullptr;          // H×E
  const double* b = nullptr;          // H
  const double* c = nullptr;          // M
  AlignedDoubles U_packed;            // Hpad/4 × M × 4: U interleaved by class (contract_tile)
  std::vector<double> c_shift, t_of;  // M; C (the t of each activation channel)
  SigmoidLadder ladder;               // of the T activation channels (pass_channels.hpp)
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
  in.Hpad = round_up(theta.H, kLanes);
  in.W = theta.W.data();
  in.b = theta.b.data();
  in.c = theta.c.data();
  in.U_packed.assign(static_cast<size_t>(in.M) * in.Hpad, 0.0);
  for (int a = 0; a < in.M; ++a)
    for (int64_t h = 0; h < theta.H; ++h)
      in.U_packed[(h / kLanes * in.M + a) * kLanes + h % kLanes] = theta.U[a * theta.H + h];
  in.c_shift.resize(in.M);
  in.t_of.assign(in.C, 0.0);
  order1_logits(theta.U.data(), theta.c.data(), in.K > 0 ? plan.taylor[0] : 0.0, in.M, theta.H, in.c_shift.data());
  for (int i = 0; i < in.T; ++i) in.t_of[in.Kp + i] = plan.t_values[i];
  in.ladder = make_sigmoid_ladder(plan.act, plan.t_values.data(), in.T);
  return in;
}

using v4d = double __attribute__((vector_size(kLanes * sizeof(double))));

// Four doubles at any 8-byte boundary, as one vector load or store. Not
// memcpy into a v4d: for the accumulators of contract_tile that sent every
// one through the stack and back in 16-byte pieces, ~60 extra memory
// operations per call of a 32-step loop.
using v4d_unaligned = double __attribute__((vector_size(kLanes * sizeof(double)), aligned(8), may_alias));

v4d load4(const double* p) { return *reinterpret_cast<const v4d_unaligned*>(p); }
void store4(double* p, v4d v) { *reinterpret_cast<v4d_unaligned*>(p) = v; }

// lanes[(c·M + α)·4 + l] += Σ_{u ≡ l mod 4, u<n} x[c·n + u] · U_α(u)
// for NC channels and NM classes (n a multiple of 4): four-wide partial sums
// that stay per lane across a row's unit tiles and are summed once per row
// (contract_rows), so a 128-unit tile pays no horizontal sum. NC·NM
// accumulators; per step NC + NM loads feed NC·NM FMAs, so at 2 × 5 the FMA
// units, not the loads, limit it, and M = 10 splits into two tiles.
// U is interleaved by class: U_α(u) at U[u·M + α·4 + u mod 4], so units
// u..u+3 of all M classes are M·4 consecutive doubles and a tile of U is one
// sequential stream for the prefetcher, not M strided rows. Read as M rows
// from L2, the contraction ran at ~60% of its speed with U in L1 (measured
// alone).
template <int NC, int NM>
void contract_tile(const double* x, int64_t n, const double* U, int M, double* lanes) {
  v4d acc[NC][NM];
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c)
#pragma GCC unroll 8
    for (int m = 0; m < NM; ++m) acc[c][m] = load4(lanes + (c * M + m) * kLanes);
  for (int64_t u = 0; u < n; u += kLanes) {
    v4d xv[NC];
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) xv[c] = load4(x + c * n + u);
#pragma GCC unroll 8
    for (int m = 0; m < NM; ++m) {
      v4d uv = load4(U + u * M + m * kLanes);
      // Held in a register: GCC would otherwise fold the load into each of
      // the NC FMAs that use it, NC loads instead of one, and the tile
      // would be bound by the load ports. Only where a v4d is one register
      // (AVX): without it (TS_NATIVE=OFF, SSE2) it is two, which "x" cannot name.
#ifdef __AVX__
      asm("" : "+x"(uv));
#endif
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) acc[c][m] += xv[c] * uv;
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c)
#pragma GCC unroll 8
    for (int m = 0; m < NM; ++m) store4(lanes + (c * M + m) * kLanes, acc[c][m]);
}

template <int NC>
void contract_channels(const double* x, int64_t n, const double* U, int M, double* lanes) {
  int m = 0;
  for (; m + 5 <= M; m += 5) contract_tile<NC, 5>(x, n, U + m * kLanes, M, lanes + m * kLanes);
  double* rest = lanes + m * kLanes;
  switch (M - m) {
    case 4: contract_tile<NC, 4>(x, n, U + m * kLanes, M, rest); break;
    case 3: contract_tile<NC, 3>(x, n, U + m * kLanes, M, rest); break;
    case 2: contract_tile<NC, 2>(x, n, U + m * kLanes, M, rest); break;
    case 1: contract_tile<NC, 1>(x, n, U + m * kLanes, M, rest); break;
    default: break;
  }
}

// out[k·stride + u] += v[u]^(k+1), k < P, u < n: Σ_{s∈α} (W_β·z_s)^n without
// the bias, by the chain v, v·v, (v·v)·v, … For P known at compile time the
// running power stays in a register (one load-add-store per power); P is
// K − 1 of the expansion, so the common orders are instantiated.
template <int P>
void add_powers_fixed(const double* v, int64_t n, double* out, size_t stride) {
#pragma omp simd
  for (int64_t u = 0; u < n; ++u) {
    double p = v[u];
    out[u] += p;
    for (int k = 1; k < P; ++k) {
      p *= v[u];
      out[k * stride + u] += p;
    }
  }
}

void add_powers(const double* v, int64_t n, int P, double* out, size_t stride, double* power) {
  switch (P) {
    case 0: return;
    case 1: return add_powers_fixed<1>(v, n, out, stride);
    case 2: return add_powers_fixed<2>(v, n, out, stride);
    case 3: return add_powers_fixed<3>(v, n, out, stride);
    case 4: return add_powers_fixed<4>(v, n, out, stride);
    case 5: return add_powers_fixed<5>(v, n, out, stride);
    case 6: return add_powers_fixed<6>(v, n, out, stride);
    case 7: return add_powers_fixed<7>(v, n, out, stride);
    case 8: return add_powers_fixed<8>(v, n, out, stride);
    default: break;
  }
#pragma omp simd
  for (int64_t u = 0; u < n; ++u) {
    power[u] = v[u];
    out[u] += v[u];
  }
  for (int k = 1; k < P; ++k) {
    double* out_k = out + k * stride;
#pragma omp simd
    for (int64_t u = 0; u < n; ++u) {
      power[u] *= v[u];
      out_k[u] += power[u];
    }
  }
}

// add_powers for two rows v0, v1 of the same class: each sum is loaded and
// stored once for both rows' terms, added row 0 first, then row 1 — the
// additions alone would make, so the same bits. The sums are P streams of
// H doubles per class, each row's P·128 of them per tile read from L2 and
// written back; a pair of one class (walk_rows puts rows in class order, so
// most pairs are) halves that traffic and the loads and stores in L1.
template <int P>
void add_powers_pair_fixed(const double* v0, const double* v1, int64_t n, double* out, size_t stride) {
#pragma omp simd
  for (int64_t u = 0; u < n; ++u) {
    double p0 = v0[u], p1 = v1[u];
    out[u] = (out[u] + p0) + p1;
    for (int k = 1; k < P; ++k) {
      p0 *= v0[u];
      p1 *= v1[u];
      out[k * stride + u] = (out[k * stride + u] + p0) + p1;
    }
  }
}

// The class power sums of `count` rows' tiles v[r] (P powers each) into
// out[label[r]·H], row by row in order: paired where two rows share a class
// and P has a fixed-P loop, else one row at a time (add_powers).
void add_row_powers(const double* const* v, const int* labels, int count, int64_t n, int P, double* class_power,
                    int64_t H, size_t stride, double* power) {
  if (count == 2 && labels[0] == labels[1] && P >= 1 && P <= 8) {
    double* out = class_power + static_cast<size_t>(labels[0]) * H;
    switch (P) {
      case 1: return add_powers_pair_fixed<1>(v[0], v[1], n, out, stride);
      case 2: return add_powers_pair_fixed<2>(v[0], v[1], n, out, stride);
      case 3: return add_powers_pair_fixed<3>(v[0], v[1], n, out, stride);
      case 4: return add_powers_pair_fixed<4>(v[0], v[1], n, out, stride);
      case 5: return add_powers_pair_fixed<5>(v[0], v[1], n, out, stride);
      case 6: return add_powers_pair_fixed<6>(v[0], v[1], n, out, stride);
      case 7: return add_powers_pair_fixed<7>(v[0], v[1], n, out, stride);
      case 8: return add_powers_pair_fixed<8>(v[0], v[1], n, out, stride);
      default: break;
    }
  }
  for (int r = 0; r < count; ++r)
    add_powers(v[r], n, P, class_power + static_cast<size_t>(labels[r]) * H, stride, power);
}

// Rows whose stage 1 goes tile by tile together: each unit tile of U
// (M × 128 doubles, 10 KiB at M = 10) comes from L2 once for the group
// instead of once per row (contract_tile says what that costs). Two rows'
// lanes, one row's channels and the U tile still fit L1 (~30 KiB at
// C = 12, M = 10); four rows with 64-unit tiles measured slower.
constexpr int kRowGroup = 2;

// One thread's scratch for a group of rows: the biased pre-activations of a
// unit tile, the tile's channels, the running powers of the class power
// sums, and each row's lanes.
struct RowScratch {
  AlignedDoubles a, x, power, lanes;
  RowScratch(int C, int M)
      : a(kUnitTile),
        x(static_cast<size_t>(std::max(C, 1)) * kUnitTile),
        power(kUnitTile),
        lanes(static_cast<size_t>(kRowGroup) * C * M * kLanes) {}
};

// Stage 1 for `count` ≤ kRowGroup rows whose A0 (H entries each) are a0[i]:
// writes row i's G[ch][α] = Σ_β U_αβ g_ch(a_β) (C×M) to g[i] and adds
// (A0_β)^n, n = 1..P, into class_power[n−1][labels[i]][β] (P×M×H), tile by
// tile of units. Each row's sums are formed in the same order as alone (its
// tiles in order), and rows meet in a class power sum in their given order,
// so grouping changes no bit.
void contract_rows(const StageInputs& in, const Activation& act, const double* const* a0, const int* labels,
                   int count, RowScratch& scratch, double* class_power, double* const* g) {
  const int M = in.M, P = in.P, C = in.C;
  const int64_t H = in.H;
  const size_t row_lanes = static_cast<size_t>(C) * M * kLanes;
  std::fill(scratch.lanes.begin(), scratch.lanes.begin() + count * row_lanes, 0.0);
  double* const a = scratch.a.data();
  double* const x = scratch.x.data();
  double* const power = scratch.power.data();
  for (int64_t h0 = 0; h0 < H; h0 += kUnitTile) {
    const int64_t valid = std::min(kUnitTile, H - h0);
    const int64_t n = round_up(valid, kLanes);  // U_packed is zero past H
    const double* tiles[kRowGroup];
    for (int r = 0; r < count; ++r) tiles[r] = a0[r] + h0;
    add_row_powers(tiles, labels, count, valid, P, class_power + h0, H, static_cast<size_t>(M) * H, power);
    for (int r = 0; r < count && C > 0; ++r) {
      const double* v = tiles[r];
      const double* b = in.b + h0;
#pragma omp simd
      for (int64_t u = 0; u < valid; ++u) a[u] = v[u] + b[u];
      std::fill(a + valid, a + n, 0.0);  // padding units: finite channels, met by U_packed's zeros
      pass_channels_block(a, n, in.Kp, C, in.t_of.data(), act, x, in.ladder);
      const double* U = in.U_packed.data() + h0 * M;
      double* const lanes = scratch.lanes.data() + r * row_lanes;
      int ch = 0;
      for (; ch + 2 <= C; ch += 2) contract_channels<2>(x + ch * n, n, U, M, lanes + ch * M * kLanes);
      if (ch < C) contract_channels<1>(x + ch * n, n, U, M, lanes + ch * M * kLanes);
    }
  }
  // Lanes in a fixed order: the result depends on H and the data only.
  for (int r = 0; r < count; ++r)
    for (int i = 0; i < C * M; ++i) {
      const double* l = scratch.lanes.data() + r * row_lanes + i * kLanes;
      g[r][i] = (l[0] + l[1]) + (l[2] + l[3]);
    }
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

// class_sum[label][γ] += z_sγ for features g0..g1 of R rows, in row order.
void add_class_sums(const Dataset& data, int64_t r0, int64_t R, int64_t g0, int64_t g1, double* class_sum) {
  const int64_t E = data.E;
  for (int64_t s = r0; s < r0 + R; ++s) {
    const double* z = data.row(s);
    double* out = &class_sum[static_cast<size_t>(data.labels[s]) * E];
#pragma omp simd
    for (int64_t g = g0; g < g1; ++g) out[g] += z[g];
  }
}

// One thread's share of a pass over rows [begin, end): its A0 block, row
// scratch and partial sums, allocated before the parallel region (an
// allocation failure inside it would end the process). The backend keeps
// them from one pass to the next of the same shape (ThreadPasses).
struct ThreadPass {
  AlignedDoubles A0, class_power;
  std::vector<double> g, jet, direct, class_sum;
  std::vector<int64_t> order;  // walk_rows' class order of a block, and its class counts
  RowScratch scratch;
  ThreadPass(const StageInputs& in, int64_t block_rows, int64_t gemm_rows, bool with_class_sum)
      : A0(static_cast<size_t>(gemm_rows) * in.H),
        class_power(static_cast<size_t>(in.P) * in.M * in.H, 0.0),
        g(static_cast<size_t>(kRowGroup) * in.C * in.M),
        jet(in.K + 1, 0.0),
        direct(in.T, 0.0),
        class_sum(with_class_sum ? static_cast<size_t>(in.M) * in.E : 0, 0.0),
        order(static_cast<size_t>(block_rows) + in.M + 1),
        scratch(in.C, in.M) {}
  // The sums back to zero; the rest is written before it is read.
  void reset() {
    std::fill(class_power.begin(), class_power.end(), 0.0);
    std::fill(jet.begin(), jet.end(), 0.0);
    std::fill(direct.begin(), direct.end(), 0.0);
    std::fill(class_sum.begin(), class_sum.end(), 0.0);
  }
};

// Bytes one ThreadPass holds, for check_memory before any is allocated.
double thread_pass_bytes(const StageInputs& in, int64_t block_rows, int64_t gemm_rows) {
  const double H = static_cast<double>(in.H);
  return 8.0 * (static_cast<double>(gemm_rows) * H + static_cast<double>(block_rows) + in.M + 1 +
                kRowGroup * static_cast<double>(in.C) * in.M +
                in.K + 1 + in.T +
                static_cast<double>(in.P) * in.M * H + static_cast<double>(in.M) * in.E +
                (std::max(in.C, 1) + 2.0) * kUnitTile + kRowGroup * static_cast<double>(in.C) * in.M * kLanes);
}

// What the ThreadPass buffers' sizes depend on.
struct PassShape {
  int threads = 0, M = 0, K = 0, P = 0, T = 0, C = 0;
  int64_t H = 0, E = 0, block_rows = 0, gemm_rows = 0;
  bool with_class_sum = false;
  bool operator==(const PassShape&) const = default;
};

// One ThreadPass per thread, kept between passes of the same shape: a fresh
// set each pass cost its allocation's zeroing and first-touch page faults
// (64 MiB of A0 at H = 2048, ~2% of a warm pass in perf). A new shape frees
// the old set before check_memory sees the new one (`what` opens the
// refusal's parenthesis; the thread and row counts close it).
class ThreadPasses {
 public:
  std::vector<ThreadPass>& get(const StageInputs& in, int threads, int64_t block_rows, int64_t gemm_rows,
                               bool with_class_sum, const std::string& what) {
    const PassShape shape{threads, in.M, in.K, in.P, in.T, in.C, in.H, in.E, block_rows, gemm_rows, with_class_sum};
    if (!(shape == shape_) || parts_.empty()) {
      clear();
      check_memory(threads * thread_pass_bytes(in, block_rows, gemm_rows),
                   what + std::to_string(threads) + " threads × " + std::to_string(gemm_rows) + " rows at a time)");
      parts_.reserve(threads);
      for (int t = 0; t < threads; ++t) parts_.emplace_back(in, block_rows, gemm_rows, with_class_sum);
      shape_ = shape;
    } else {
      for (ThreadPass& part : parts_) part.reset();
    }
    return parts_;
  }
  void clear() {
    std::vector<ThreadPass>().swap(parts_);
    shape_ = PassShape{};
  }

 private:
  PassShape shape_;
  std::vector<ThreadPass> parts_;
};

// The rows [begin, end) of thread tid of nt.
ShardRange thread_rows(ShardRange rows, int tid, int nt) {
  const int64_t n = rows.size();
  return {rows.begin + n * tid / nt, rows.begin + n * (tid + 1) / nt};
}

// Walks one thread's rows in blocks of block_rows: A0 by one GEMM per
// gemm_rows (a multiple of block_rows; see kGemmRows), then
// `each_group(rows, a0_rows, count)` for the block's rows in groups of up to
// kRowGroup, the rows of one class together (in row order within it). Why:
// each row adds its powers into its class's P×H slice of the class power
// sums (P·H·8 bytes, 115 KB at H = 2048, K = 8); the ten slices together
// outgrow a core's L2, so in data order, where consecutive rows rarely share
// a class, every row fetched its slice from L3. A block in class order
// reuses one slice for ~R/M rows. `order` is the thread's scratch:
// block_rows entries, then M + 1.
template <class EachGroup>
void walk_rows(const Dataset& data, const StageInputs& in, ShardRange rows, int64_t block_rows, int64_t gemm_rows,
               double* A0_all, std::vector<int64_t>& order, EachGroup each_group) {
  const int64_t H = in.H, E = in.E;
  const auto first = order.begin() + block_rows;  // first[c]: where class c's rows start
  for (int64_t r0 = rows.begin; r0 < rows.end; r0 += block_rows) {
    const int64_t R = std::min(block_rows, rows.end - r0);
    const int64_t in_gemm = (r0 - rows.begin) % gemm_rows;  // this block's first row within its GEMM's
    if (in_gemm == 0 && H > 0)
      cpu::gemm_abt(std::min(gemm_rows, rows.end - r0), H, E, data.row(r0), in.W, A0_all);
    const double* const A0 = A0_all + in_gemm * H;
    // A counting sort by label, stable: the rows' order depends on the data only.
    std::fill(first, first + in.M + 1, 0);
    for (int64_t s = 0; s < R; ++s) ++first[data.labels[r0 + s] + 1];
    for (int c = 0; c < in.M; ++c) first[c + 1] += first[c];
    for (int64_t s = 0; s < R; ++s) order[first[data.labels[r0 + s]]++] = s;
    for (int64_t i = 0; i < R; i += kRowGroup) {
      const int count = static_cast<int>(std::min<int64_t>(kRowGroup, R - i));
      int64_t group[kRowGroup];
      const double* a0[kRowGroup];
      for (int r = 0; r < count; ++r) {
        group[r] = r0 + order[i + r];
        a0[r] = A0 + order[i + r] * H;
      }
      each_group(group, a0, count);
    }
  }
}

class CpuExpansionBackend final : public ExpansionBackend {
 public:
  std::string device_name() const override {
    return "cpu (" + std::to_string(omp_get_max_threads()) + " threads, BLAS)";
  }
  void release() override {
    data_ = nullptr;
    passes_.clear();
  }
  void upload(const Dataset& data) override {
    data_ = nullptr;
    require_data_readable_by(data, *this);
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
  ThreadPasses passes_;  // each thread's buffers, kept for the next pass
};

PassSums CpuExpansionBackend::run(const Params& theta, const PassPlan& plan) {
  if (!data_) throw std::logic_error("CpuExpansionBackend::run before upload");
  const Dataset& data = *data_;
  check_pass_inputs(data, theta, plan);
  const bool stages = !plan.power_sums_only;
  const StageInputs in = stage_inputs(theta, plan, data.E);
  const int M = in.M, K = in.K, T = in.T;
  const int threads = omp_get_max_threads();
  const int64_t block_rows = rows_per_block(in.H), gemm_rows = rows_per_gemm(in.H);
  std::vector<ThreadPass>& parts =
      passes_.get(in, threads, block_rows, gemm_rows, true,
                    "the CPU expansion pass (H = " + std::to_string(in.H) + ", order " + std::to_string(K) + ", ");
  const cpu::SingleThreadedBlas single_threaded_blas;

  // One parallel region, no barrier: each thread runs its own single-threaded
  // GEMMs on its own rows, so BLAS and OpenMP never compete for the cores.
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    ThreadPass& part = parts[tid];
    const ShardRange mine = thread_rows({0, data.N}, tid, nt);
    walk_rows(data, in, mine, block_rows, gemm_rows, part.A0.data(), part.order,
              [&](const int64_t* s, const double* const* a0, int count) {
                int labels[kRowGroup];
                double* g[kRowGroup];
                for (int r = 0; r < count; ++r) {
                  labels[r] = data.labels[s[r]];
                  g[r] = part.g.data() + static_cast<size_t>(r) * in.C * M;
                }
                contract_rows(in, plan.act, a0, labels, count, part.scratch, part.class_power.data(), g);
                for (int r = 0; r < count && stages; ++r)
                  sample_rows(in, plan, g[r], &data.labels[s[r]], 1, part.jet.data(), part.direct.data());
              });
    add_class_sums(data, mine.begin, mine.size(), 0, data.E, part.class_sum.data());
  }

  PassSums sums = PassSums::zeros(plan, M, in.H, data.E);
  for (const ThreadPass& part : parts) {  // thread order: fixed for a fixed thread count
    for (int k = 0; k <= K && stages; ++k) sums.jet[k] += part.jet[k];
    for (int i = 0; i < T; ++i) sums.direct[i] += part.direct[i];
    for (size_t i = 0; i < sums.class_power.size(); ++i) sums.class_power[i] += part.class_power[i];
    for (size_t i = 0; i < sums.class_sum.size(); ++i) sums.class_sum[i] += part.class_sum[i];
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
  const int M = in_.M, C = in_.C;
  const int threads = omp_get_max_threads();
  const int64_t block_rows = rows_per_block(in_.H), gemm_rows = rows_per_gemm(in_.H);
  std::vector<ThreadPass>& parts =
      passes_.get(in_, threads, block_rows, gemm_rows, false,
                  "stage 1 of the CPU expansion pass (" + std::to_string(in_.H) + " hidden units, ");
  const cpu::SingleThreadedBlas single_threaded_blas;
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    ThreadPass& part = parts[tid];
    walk_rows(data, in_, thread_rows(rows, tid, nt), block_rows, gemm_rows, part.A0.data(), part.order,
              [&](const int64_t* s, const double* const* a0, int count) {
                int labels[kRowGroup];
                double* g[kRowGroup];
                for (int r = 0; r < count; ++r) {
                  labels[r] = data.labels[s[r]];
                  g[r] = G + (s[r] - rows.begin) * C * M;
                }
                contract_rows(in_, plan_.act, a0, labels, count, part.scratch, part.class_power.data(), g);
              });
  }
  for (const ThreadPass& part : parts)  // thread order
    for (size_t i = 0; i < sums_.class_power.size(); ++i) sums_.class_power[i] += part.class_power[i];
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
