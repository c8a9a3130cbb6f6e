#!/usr/bin/env bash
# Runs the expansion pass's two stage kernels (hidden_contraction.cu,
# sample_action_kernel.cu) on the CPU, without a GPU: their source text is
# extracted verbatim (everything but the launches and the inline-PTX MMA),
# compiled with g++ against shim.hpp — one std::thread per CUDA thread,
# blocks one after another, __syncthreads a block barrier, warp collectives
# through per-warp barriers, the m8n8k4 f64 MMA computed from the PTX ISA's
# fragment layout — and compared with plain CPU loops (emu.cpp). It checks
# indexing, channel groups, U packing and barriers; not timing, not the
# hardware's rounding. Usage: kernels/cuda/harness/emulate/run.sh (from
# anywhere; needs g++ with C++20). Exit 0 when every case matches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
cu=$root/kernels/cuda
work=$(mktemp -d /tmp/ts-emulate.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$cu" "$work" <<'PY'
import re, sys
cu, work = sys.argv[1:3]
s = open(f"{cu}/hidden_contraction.cu").read()
body = s[s.index("namespace {"):s.index("template <int NT>\nvoid launch")]
body, n = re.subn(r"__device__ __forceinline__ void mma_8x8x4\(double& d0, double& d1, double a, double b\) \{.*?\n\}\n",
                  "inline void mma_8x8x4(double& d0, double& d1, double a, double b) { emu_mma(d0, d1, a, b); }\n",
                  body, flags=re.S)
assert n == 1, "the MMA wrapper of hidden_contraction.cu was not found"
open(f"{work}/hc_body.inc", "w").write(body + "}  // namespace\n")
host = s[s.index("int hidden_contraction_class_tiles"):s.index("void hidden_contraction(const")]
open(f"{work}/hc_host.inc", "w").write(host)
s = open(f"{cu}/sample_action_kernel.cu").read()
body = s[s.index("namespace {"):s.index("}  // namespace\n\nsize_t sample_action_partials_size")] + "}  // namespace\n"
assert "extern __shared__ double smem[];" in body
open(f"{work}/sa_body.inc", "w").write(body.replace("extern __shared__ double smem[];", "double* smem = emu_dynamic_smem;"))
PY
g++ -std=c++20 -O1 -pthread -I"$root/include" -I"$here" -I"$work" -o "$work/emu" "$here/emu.cpp" \
  "$root/kernels/activation_taylor.cpp"
"$work/emu"
