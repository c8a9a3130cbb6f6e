// The tile groups and tile GEMMs of a CUDA tensor sweep (tile_plan.hpp).
#include "cuda/tile_plan.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "taylorscope/packed_tiles.hpp"

namespace taylorscope::cuda {
namespace {

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
int64_t ceil_div(int64_t x, int64_t by) { return (x + by - 1) / by; }

// Panels for one square of width c0 in a batch of `batch` classes: as many
// as kMaxPanels while the narrowest (the first, j1 = its width) still covers
// half the multiprocessors with kPanelTile² output tiles.
int panel_count(int c0, int batch, int sms) {
  for (int P = kMaxPanels; P > 1; --P) {
    const int64_t w = round_up(ceil_div(c0, P), kAlign);
    const int64_t t = ceil_div(w, kPanelTile);
    if (2 * t * t * batch >= sms) return P;
  }
  return 1;
}

// `base` holds everything but m and n, with B and C at column 0: one call for
// the whole squares, or one per panel for a single prefix.
void add_squares(std::vector<GemmCall>& calls, GemmCall base, const TileGroup& g, int sms) {
  if (g.rows == 1 || g.K > 1) {
    base.m = g.rows;
    base.n = g.K * g.c0;
    calls.push_back(base);
    return;
  }
  const int w = static_cast<int>(round_up(ceil_div(g.c0, panel_count(g.c0, base.batch, sms)), kAlign));
  for (int j0 = 0; j0 < g.c0; j0 += w) {
    const int j1 = std::min(g.c0, j0 + w);
    GemmCall c = base;
    c.m = j1;  // rows 0..j1−1: everything of columns j0..j1−1 on or above the diagonal
    c.n = j1 - j0;
    c.B = base.B + j0;
    c.C = base.C + static_cast<int64_t>(j0) * base.ldc;
    calls.push_back(c);
  }
}

}  // namespace

SweepPlan plan_sweep(const SweepShape& s, size_t budget_bytes) {
  SweepPlan plan;
  std::vector<TilePrefix> order = tile_prefixes(s.E, s.n);
  const int64_t count = static_cast<int64_t>(order.size());
  const int64_t first = s.tiles.begin, last = std::min(s.tiles.end, count);
  if (first < 0 || first > last) throw std::invalid_argument("plan_sweep: tile range outside the tile order");
  order = std::vector<TilePrefix>(order.begin() + first, order.begin() + last);
  std::stable_sort(order.begin(), order.end(), [](const TilePrefix& a, const TilePrefix& b) { return a.L < b.L; });
  plan.prefixes.reserve(order.size());
  for (const TilePrefix& p : order)
    plan.prefixes.push_back({static_cast<int>(p.L), p.run, static_cast<int>(p.g[0]), static_cast<int>(p.g[1])});

  const int64_t P = static_cast<int64_t>(plan.prefixes.size());
  const int64_t N = s.J ? s.class_begin.back() : 0;
  const int64_t tensors = (s.J ? 1 : 0) + (s.T ? 1 : 0);
  const int64_t y_rows = s.n >= 3 ? (s.J ? N : 0) + (s.T ? s.H : 0) : 0;
  const double gemm_rows = static_cast<double>(N) + (s.T ? static_cast<double>(s.M) * s.H : 0.0);
  for (int64_t p = 0; p < P;) {
    TileGroup g;
    g.first = p;
    g.L0 = s.n >= 3 ? plan.prefixes[p].L / kAlign * kAlign : 0;
    g.c0 = static_cast<int>(s.E - g.L0);
    g.rows = s.n == 1 ? 1 : g.c0;
    g.ld = s.n == 1 ? 1 : static_cast<int>(round_up(g.c0, kAlign));
    g.tile_stride = static_cast<int64_t>(g.ld) * g.c0;
    const int64_t per_tile = s.n == 1 ? g.c0 : static_cast<int64_t>(g.c0) * (g.c0 + 1) / 2;
    const int max_pad = std::max(kAlign - 1, g.c0 / 16);
    const double prefix_flops = 2.0 * gemm_rows * g.rows * g.c0;
    auto bytes = [&](int64_t K) {
      return sizeof(double) * (tensors * s.M * K * g.tile_stride + y_rows * round_up(K * g.c0, kAlign));
    };
    int K = 1;
    while (p + K < P && K < kMaxGroupPrefixes && plan.prefixes[p + K].L - g.L0 <= max_pad &&
           K * prefix_flops < kGroupFlops && bytes(K + 1) <= budget_bytes &&
           round_up(static_cast<int64_t>(K + 1) * g.c0, kAlign) <= INT_MAX)
      ++K;
    g.K = K;
    g.ldy = s.n >= 3 ? static_cast<int>(round_up(static_cast<int64_t>(K) * g.c0, kAlign)) : 0;
    g.elements = K * per_tile;
    g.cache_offset = plan.cache_elements;
    plan.cache_elements += s.M * g.elements;
    plan.tile_doubles = std::max(plan.tile_doubles, static_cast<size_t>(s.M * K * g.tile_stride));
    if (s.n >= 3 && s.J) plan.yJ_doubles = std::max(plan.yJ_doubles, static_cast<size_t>(N * g.ldy));
    if (s.n >= 3 && s.T) plan.yT_doubles = std::max(plan.yT_doubles, static_cast<size_t>(s.H * g.ldy));
    plan.groups.push_back(g);
    p += K;
  }
  return plan;
}

std::vector<GemmCall> tile_gemms(const SweepShape& s, const TileGroup& g, const TileOperands& op, int sms) {
  std::vector<GemmCall> calls;
  if (g.c0 == 0) return calls;
  const int E = static_cast<int>(s.E);
  const int64_t class_tiles = static_cast<int64_t>(g.K) * g.tile_stride;  // one class's K tiles
  if (s.J) {
    // S_α = Z_αᵀ diag(y) Z_α over class α's rows; classes of equal count batch.
    const std::vector<int64_t>& cb = s.class_begin;
    for (int a0 = 0; a0 < s.M;) {
      const int64_t R = cb[a0 + 1] - cb[a0];
      int a1 = a0 + 1;
      while (a1 < s.M && cb[a1 + 1] - cb[a1] == R) ++a1;
      const int64_t row0 = cb[a0];
      GemmCall c;
      c.k = static_cast<int>(R);
      c.batch = a1 - a0;
      c.C = op.S + a0 * class_tiles;
      c.ldc = g.ld;
      c.strideC = class_tiles;
      if (s.n == 1) {  // S_α(0, j) = Σ_r 1 · Z_rj
        c.A = op.ones, c.lda = 1, c.strideA = 0;
        c.B = op.Zs + row0 * E, c.ldb = E;
      } else {
        c.A = op.Zs + row0 * E + g.L0, c.lda = E, c.strideA = R * E;
        if (s.n == 2)
          c.B = op.Zs + row0 * E + g.L0, c.ldb = E;
        else
          c.B = op.YJ + row0 * g.ldy, c.ldb = g.ldy;
      }
      c.strideB = R * c.ldb;
      add_squares(calls, c, g, sms);
      a0 = a1;
    }
  }
  if (s.T) {
    // T_α = (UW_α)ᵀ_{L0} · diag(y) W_{L0} over all H rows: one batch over α.
    const int H = static_cast<int>(s.H);
    GemmCall c;
    c.k = H;
    c.batch = s.M;
    c.C = op.T;
    c.ldc = g.ld;
    c.strideC = class_tiles;
    c.strideB = 0;
    if (s.n == 1) {  // T_α(0, j) = Σ_h U_αh W_hj
      c.A = op.U, c.lda = 1, c.strideA = H;
      c.B = op.W, c.ldb = E;
    } else {
      c.A = op.UW + g.L0, c.lda = E, c.strideA = static_cast<int64_t>(H) * E;
      if (s.n == 2)
        c.B = op.W + g.L0, c.ldb = E;
      else
        c.B = op.YT, c.ldb = g.ldy;
    }
    add_squares(calls, c, g, sms);
  }
  return calls;
}

}  // namespace taylorscope::cuda
