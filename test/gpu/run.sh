#!/bin/bash
# test/gpu/run.sh OUTDIR — the CUDA backend on a GPU machine, in one command
# that finishes in under 8 minutes (DR1_GPU_BUDGET seconds, default 450):
#
#   1. build with CUDA=1 (test_cuda, bench_cuda, test_cuda_emul) while
#      test/gen/gguf_gen.py writes random-weight GGUFs: the shapes of
#      DeepSeek-R1-Distill-Qwen-1.5B and -7B in Q8_0 and Q4_K_M, and tiny
#      models of the other weight types and of the llama architecture
#   2. test_cuda_emul, then test_cuda: every kernel against the CPU's, then
#      each tiny and 1.5B model against the CPU backend for 64 greedy tokens
#   3. bench_cuda on the four real-shape models: decode tok/s against the
#      HBM roofline, throughput at 1, 8, 64 and 256 sequences
#   4. time permitting: the transformers BF16 peer (peer_hf.py), then
#      test_cuda on the 7B models (16 tokens: the CPU reference is slow)
#
# Writes into OUTDIR (8 files): run.log (all output), gpu.txt, gen.log,
# build.log, test_cuda.log, bench.jsonl, peer.jsonl, summary.md.  Exits 0
# when every test run passed, 1 when one failed, 2 when it could not run.
#
# Needs nvcc, python3 with numpy, and libutf8proc and the Python package
# gguf; where the last two are missing (a machine that reaches no registry)
# it takes them from DR1_GPU_DEPS (default .gpu-deps), which
# test/gpu/prepare-deps.sh fills on a machine that has them.  The models go
# to DR1_GPU_WORK (default /tmp/dr1-gpu, about 17 GB), kept for a rerun.
set -uo pipefail

out=${1:?usage: test/gpu/run.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
budget=${DR1_GPU_BUDGET:-450}
work=${DR1_GPU_WORK:-/tmp/dr1-gpu}
deps=${DR1_GPU_DEPS:-$root/.gpu-deps}
jobs=$(nproc)
start=$SECONDS
status=0

say() { echo "== [$((SECONDS - start))s] $*"; }
fail() { echo "run.sh: $*" >&2; exit 2; }
left() { echo $((budget - (SECONDS - start))); }

# a command under the time left, its output appended to a log and shown
timed() {
	local log=$1 need=$2
	shift 2
	if [ "$(left)" -lt "$need" ]; then
		say "SKIPPED (time): $*" | tee -a "$log"
		return 0
	fi
	say "$*" | tee -a "$log"
	timeout "$(left)" "$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || { say "FAILED ($rc): $*" | tee -a "$log"; status=1; }
}

check_gpu() {
	command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 ||
		fail "no NVIDIA GPU here (nvidia-smi finds none): run this on a GPU machine"
	command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
		fail "nvcc is not installed"
	{
		nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
		"$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" --version | tail -2
		nproc
	} > "$out/gpu.txt"
	cat "$out/gpu.txt"
}

# libutf8proc and gguf from DR1_GPU_DEPS where the machine lacks them
check_deps() {
	local probe='#include <utf8proc.h>
int main(void) { return utf8proc_version() == 0; }'

	if ! echo "$probe" | cc -x c - -lutf8proc -o /dev/null 2>/dev/null; then
		[ -f "$deps/include/utf8proc.h" ] ||
			fail "libutf8proc is missing: run test/gpu/prepare-deps.sh .gpu-deps where it is installed and bring .gpu-deps"
		export CPATH="$deps/include${CPATH:+:$CPATH}"
		export LIBRARY_PATH="$deps/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
	fi
	if ! python3 -c 'import gguf, numpy' 2>/dev/null; then
		local whl
		whl=$(ls "$deps"/gguf-*.whl 2>/dev/null | head -1)
		[ -n "$whl" ] || fail "the Python package gguf is missing: run test/gpu/prepare-deps.sh"
		python3 -m pip install -q --no-index --no-deps --target /tmp/dr1-site "$whl" ||
			fail "cannot install $whl"
		export PYTHONPATH="/tmp/dr1-site${PYTHONPATH:+:$PYTHONPATH}"
	fi
}

gen() {
	local f=$work/$1.gguf
	shift
	[ -s "$f" ] && return 0
	python3 "$root/test/gen/gguf_gen.py" "$@" --jobs "$jobs" --out "$f.tmp" && mv "$f.tmp" "$f"
}

tiny() {
	gen "tiny-$1-$2" --arch "$1" --wtype "$2" --layers 2 --dim 256 --ff 512 --heads 4 \
		--kv-heads 2 --vocab 1024 "${@:3}"
}

generate_models() {
	mkdir -p "$work"
	tiny llama Q4_0 --tied && tiny llama Q4_1 && tiny qwen2 Q5_0 && tiny llama Q5_1 --tied &&
		tiny qwen2 Q5_K && tiny llama F16 && tiny qwen2 BF16 && tiny llama F32 --rope-freqs &&
		gen r1-qwen-1.5b-Q4_K_M --shape r1-qwen-1.5b --wtype Q4_K_M &&
		gen r1-qwen-1.5b-Q8_0 --shape r1-qwen-1.5b --wtype Q8_0 &&
		gen r1-qwen-7b-Q4_K_M --shape r1-qwen-7b --wtype Q4_K_M &&
		gen r1-qwen-7b-Q8_0 --shape r1-qwen-7b --wtype Q8_0
}

build() {
	local mk=(make)

	grep -q 'kernels/cuda.mk' "$root/Makefile" || mk=(make -f Makefile -f kernels/cuda.mk)
	(cd "$root" && "${mk[@]}" CUDA=1 -j"$jobs" cuda-tests)
}

summarize() {
	python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def rows(name):
    try:
        with open(os.path.join(out, name)) as f:
            return [json.loads(l) for l in f if l.startswith("{")]
    except OSError:
        return []
bench, peer = rows("bench.jsonl"), rows("peer.jsonl")
lines = ["# CUDA backend on " + open(os.path.join(out, "gpu.txt")).read().splitlines()[1], ""]
lines += ["| model | decode tok/s | roofline tok/s | fraction | prefill tok/s |", "|---|---|---|---|---|"]
for r in bench:
    if r["what"] == "decode":
        pf = [p["tok_s"] for p in bench if p["what"] == "prefill" and p["model"] == r["model"]]
        lines.append(f"| {r['model']} | {r['tok_s']} | {r['roofline_tok_s']} | {r['fraction']:.0%} | {pf[0] if pf else ''} |")
lines += ["", "| model | 1 seq | 8 | 64 | 256 | (tok/s, decode steps of all sequences together) |", "|---|---|---|---|---|---|"]
models = sorted({r["model"] for r in bench if r["what"] == "batch"})
for m in models:
    v = {r["seqs"]: r["tok_s"] for r in bench if r["what"] == "batch" and r["model"] == m}
    lines.append(f"| {m} | " + " | ".join(str(v.get(n, "")) for n in (1, 8, 64, 256)) + " | |")
for shape in sorted({p["shape"] for p in peer}):
    v = {p["seqs"]: p["tok_s"] for p in peer if p["shape"] == shape}
    lines.append(f"| {peer[0]['peer']} BF16 {shape} | " + " | ".join(str(v.get(n, "")) for n in (1, 8, 64, 256)) + " | |")
copy = [r["copy_gb_s"] for r in bench if r["what"] == "device"]
if copy:
    lines += ["", f"Measured device-to-device copy: {max(copy)} GB/s (read + write); roofline above uses 4800 GB/s."]
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
}

main() {
	say "run.sh: $root -> $out (budget ${budget}s)"
	check_gpu
	check_deps
	say "generating models in $work (gen.log) while building (build.log)"
	generate_models > "$out/gen.log" 2>&1 &
	local gen_pid=$!
	build > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; fail "the build failed (build.log)"; }
	say "built"
	wait "$gen_pid" || { tail -30 "$out/gen.log"; fail "model generation failed (gen.log)"; }
	say "models ready"

	local b=$root/build/test
	timed "$out/test_cuda.log" 5 "$b/test_cuda_emul"
	timed "$out/test_cuda.log" 60 "$b/test_cuda" --tokens 64 "$work"/tiny-*.gguf \
		"$work/r1-qwen-1.5b-Q4_K_M.gguf" "$work/r1-qwen-1.5b-Q8_0.gguf"
	for m in r1-qwen-1.5b-Q4_K_M r1-qwen-1.5b-Q8_0 r1-qwen-7b-Q4_K_M r1-qwen-7b-Q8_0; do
		timed "$out/bench.log.tmp" 30 "$b/bench_cuda" "$work/$m.gguf"
	done
	grep '^{' "$out/bench.log.tmp" > "$out/bench.jsonl" 2>/dev/null
	rm -f "$out/bench.log.tmp"
	timed "$out/peer.log.tmp" 100 python3 "$root/test/gpu/peer_hf.py" r1-qwen-1.5b r1-qwen-7b
	grep '^{' "$out/peer.log.tmp" > "$out/peer.jsonl" 2>/dev/null
	rm -f "$out/peer.log.tmp"
	timed "$out/test_cuda.log" 90 "$b/test_cuda" --no-kernels --tokens 16 \
		"$work/r1-qwen-7b-Q4_K_M.gguf" "$work/r1-qwen-7b-Q8_0.gguf"
	summarize
	say "done: status $status"
	return $status
}

main 2>&1 | tee "$out/run.log"
exit "${PIPESTATUS[0]}"
