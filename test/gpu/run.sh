#!/bin/bash
# test/gpu/run.sh OUTDIR — the CUDA backend on a GPU machine, in one command
# that finishes within DR1_GPU_BUDGET seconds (default 330: a 6-minute device
# call with room to spare, twice in a 15-minute allowance):
#
#   1. the build (CUDA=1: test_cuda, bench_cuda, test_cuda_emul) and, at the
#      same time, test/gen/gguf_gen.py writing the tiny models of every
#      weight type and the DeepSeek-R1-Distill-Qwen-1.5B Q4_K_M shape
#   2. test_cuda_emul; then, while the 1.5B Q8_0 and 7B Q4_K_M shapes are
#      generated, test_cuda: every kernel against the CPU's, then the tiny
#      models and the 1.5B Q4_K_M shape against the CPU backend (64 greedy
#      tokens teacher-forced: top-1 agreement, KL divergence, cosine)
#   3. bench_cuda on 1.5B Q4_K_M, then on each other shape generated in
#      time: decode tok/s against the HBM roofline, aggregate tok/s at 1,
#      8, 64 and 256 sequences
#   4. time permitting: the transformers BF16 peer (peer_hf.py); the 7B
#      generation is stopped when the time left is too short to use it
#
# OUTDIR gets summary.md first, rewritten as each step ends (so a run cut
# short still reports what it did), and run.log (all output), steps.tsv,
# gpu.txt, gen.log, build.log, test_cuda.log, bench.jsonl, peer.jsonl.
# Exits 0 when every step that ran passed, 1 when one failed, 2 when it
# could not run (no GPU, no nvcc, no dependencies, the build failed).
#
# Needs nvcc (NVCC, else the PATH, else /usr/local/cuda/bin), python3 with
# numpy, libutf8proc and the Python package gguf; where the last two are
# missing it takes them from DR1_GPU_DEPS (default .gpu-deps), which
# test/gpu/prepare-deps.sh fills on a machine that has them.  The models go
# to DR1_GPU_WORK (default /tmp/dr1-gpu), kept for a rerun.
#
# DR1_GPU_DRY_RUN=1 runs the schedule without a GPU: every build, model and
# test step is a sleep of DR1_GPU_DRY_STEP seconds (default 1), so that the
# ordering, the time limits and the summary can be checked anywhere.
set -uo pipefail

out=${1:?usage: test/gpu/run.sh OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
budget=${DR1_GPU_BUDGET:-330}
work=${DR1_GPU_WORK:-/tmp/dr1-gpu}
deps=${DR1_GPU_DEPS:-$root/.gpu-deps}
dry=${DR1_GPU_DRY_RUN:-0}
dry_step=${DR1_GPU_DRY_STEP:-1}
jobs=$(nproc)
start=$SECONDS
status=0
: > "$out/steps.tsv"

say() { echo "== [$((SECONDS - start))s] $*"; }
left() { echo $((budget - (SECONDS - start))); }

# One line per step in steps.tsv (step, result, seconds, detail), then the
# summary again from everything there is so far.
note() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$((SECONDS - start))" "${3:-}" >> "$out/steps.tsv"
	summarize > /dev/null 2>&1
}

fail() {
	echo "run.sh: $*" >&2
	note "run.sh" "could not run" "$*"
	exit 2
}

# A command, or in a dry run a sleep standing for it.
act() {
	if [ "$dry" = 1 ]; then
		echo "dry run: $*"
		sleep "$dry_step"
	else
		"$@"
	fi
}

# A step: the command under min(cap, time left - reserve) seconds, its
# output appended to a log; skipped when less than need seconds are left.
step() {
	local name=$1 log=$2 need=$3 cap=$4
	shift 4
	local limit=$(($(left) - 10))
	[ "$limit" -gt "$cap" ] && limit=$cap
	if [ "$limit" -lt "$need" ]; then
		say "SKIPPED (time): $name" | tee -a "$log"
		note "$name" "skipped (time)" "$(left)s left, $need s needed"
		return 0
	fi
	say "$name: $*" | tee -a "$log"
	local t0=$SECONDS
	timeout "$limit" bash -c 'act "$@"' act "$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		note "$name" "passed" "$((SECONDS - t0))s"
	else
		[ "$rc" -eq 124 ] && rc="timeout after ${limit}s"
		say "FAILED ($rc): $name" | tee -a "$log"
		note "$name" "FAILED ($rc)" "$((SECONDS - t0))s"
		status=1
	fi
}
export -f act
export dry dry_step

find_nvcc() {
	local n=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
	[ -x "$n" ] && echo "$n"
}

check_gpu() {
	local nvcc
	nvcc=$(find_nvcc) || fail "nvcc is not installed (set NVCC, or put it on the PATH)"
	if [ "$dry" = 1 ]; then
		printf 'dry run\n(no GPU)\n%s\n' "$($nvcc --version | tail -1)" > "$out/gpu.txt"
		return 0
	fi
	command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 ||
		fail "no NVIDIA GPU here (nvidia-smi finds none): run this on a GPU machine"
	{
		nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
		"$nvcc" --version | tail -2
		nproc
	} > "$out/gpu.txt"
	cat "$out/gpu.txt"
	export NVCC=$nvcc
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
	echo "gen: $f"
	act python3 "$root/test/gen/gguf_gen.py" "$@" --jobs "$jobs" --out "$f.tmp" || return 1
	if [ "$dry" = 1 ]; then
		echo "dry run" > "$f"
	else
		mv -f "$f.tmp" "$f"
	fi
}

tiny() {
	gen "tiny-$1-$2" --arch "$1" --wtype "$2" --layers 2 --dim 256 --ff 512 --heads 4 \
		--kv-heads 2 --vocab 1024 "${@:3}"
}

# What the parity tests need first.
generate_first() {
	mkdir -p "$work"
	tiny llama Q4_0 --tied && tiny llama Q4_1 && tiny qwen2 Q5_0 && tiny llama Q5_1 --tied &&
		tiny qwen2 Q5_K && tiny llama F16 && tiny qwen2 BF16 && tiny llama F32 --rope-freqs &&
		gen r1-qwen-1.5b-Q4_K_M --shape r1-qwen-1.5b --wtype Q4_K_M
}

# The other shapes, while the tests run; killed when time runs short.
generate_rest() {
	gen r1-qwen-1.5b-Q8_0 --shape r1-qwen-1.5b --wtype Q8_0 &&
		gen r1-qwen-7b-Q4_K_M --shape r1-qwen-7b --wtype Q4_K_M
}

# The build, leaving two minutes of the budget for the tests.
build() {
	local mk=(make)

	grep -q 'kernels/cuda.mk' "$root/Makefile" || mk=(make -f Makefile -f kernels/cuda.mk)
	(cd "$root" && act timeout "$(($(left) - 120))" "${mk[@]}" CUDA=1 ${NVCC:+NVCC=$NVCC} -j"$jobs" cuda-tests)
}

# Wait for a background job for at most limit seconds; 0 when it ended well.
wait_for() {
	local pid=$1 limit=$2 t0=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		[ $((SECONDS - t0)) -ge "$limit" ] && return 1
		sleep 1
	done
	wait "$pid"
}

# Stop a background job and everything it started (the generator's
# worker processes too), children first.
stop_tree() {
	local child
	for child in $(pgrep -P "$1"); do
		stop_tree "$child"
	done
	kill -TERM "$1" 2>/dev/null
}
stop_job() {
	stop_tree "$1"
	wait "$1" 2>/dev/null
}

summarize() {
	python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def text(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read()
    except OSError:
        return ""
def rows(name):
    r = []
    for l in text(name).splitlines():
        if l.startswith("{"):
            try:
                r.append(json.loads(l))
            except ValueError:
                pass
    return r
gpu = text("gpu.txt").splitlines()
lines = ["# CUDA backend: test/gpu/run.sh", "", "GPU: " + (gpu[1] if len(gpu) > 1 else "(not known yet)"), ""]
lines += ["| step | result | at (s) | detail |", "|---|---|---|---|"]
for l in text("steps.tsv").splitlines():
    f = (l.split("\t") + ["", "", "", ""])[:4]
    lines.append("| " + " | ".join(f) + " |")
parity = [l for l in text("test_cuda.log").splitlines()
          if "agreement" in l or "cosine" in l or l.startswith(("FAIL", "test_cuda:", "kernels:"))]
if parity:
    lines += ["", "## Parity (test_cuda)", "", "```"] + parity[-60:] + ["```"]
bench, peer = rows("bench.jsonl"), rows("peer.jsonl")
dec = [r for r in bench if r.get("what") == "decode"]
if dec:
    lines += ["", "| model | decode tok/s | roofline tok/s | fraction | prefill tok/s |", "|---|---|---|---|---|"]
    for r in dec:
        pf = [p["tok_s"] for p in bench if p.get("what") == "prefill" and p["model"] == r["model"]]
        lines.append(f"| {r['model']} | {r['tok_s']} | {r['roofline_tok_s']} | {r['fraction']:.0%} | {pf[0] if pf else ''} |")
models = sorted({r["model"] for r in bench if r.get("what") == "batch"})
if models or peer:
    lines += ["", "| model | 1 seq | 8 | 64 | 256 | (tok/s, decode steps of all sequences together) |", "|---|---|---|---|---|---|"]
for m in models:
    v = {r["seqs"]: r["tok_s"] for r in bench if r.get("what") == "batch" and r["model"] == m}
    lines.append(f"| {m} | " + " | ".join(str(v.get(n, "")) for n in (1, 8, 64, 256)) + " | |")
for shape in sorted({p["shape"] for p in peer}):
    v = {p["seqs"]: p["tok_s"] for p in peer if p["shape"] == shape}
    lines.append(f"| {peer[0]['peer']} BF16 {shape} | " + " | ".join(str(v.get(n, "")) for n in (1, 8, 64, 256)) + " | |")
copy = [r["copy_gb_s"] for r in bench if r.get("what") == "device"]
if copy:
    lines += ["", f"Measured device-to-device copy: {max(copy)} GB/s (read + write); roofline above uses 4800 GB/s."]
open(os.path.join(out, "summary.md.tmp"), "w").write("\n".join(lines) + "\n")
os.replace(os.path.join(out, "summary.md.tmp"), os.path.join(out, "summary.md"))
print("\n".join(lines))
EOF
}

bench() {
	step "bench_cuda $1" "$out/bench.log" "$2" "$3" "$root/build/test/bench_cuda" "$work/$1.gguf"
	grep -h '^{' "$out/bench.log" > "$out/bench.jsonl" 2>/dev/null
	summarize > /dev/null 2>&1
}

main() {
	local b=$root/build/test gen_pid rest_pid
	note "run.sh" "started" "budget ${budget}s$([ "$dry" = 1 ] && echo ", dry run")"
	say "run.sh: $root -> $out (budget ${budget}s)"
	check_gpu
	[ "$dry" = 1 ] || check_deps
	note "checks" "passed" "$(head -2 "$out/gpu.txt" | tail -1)"

	say "generating the tiny and 1.5B Q4_K_M models in $work (gen.log) while building (build.log)"
	generate_first > "$out/gen.log" 2>&1 &
	gen_pid=$!
	build > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; stop_job "$gen_pid"; fail "the build failed (build.log)"; }
	note "build" "passed" "build.log"
	step test_cuda_emul "$out/test_cuda.log" 5 60 "$b/test_cuda_emul"
	wait_for "$gen_pid" $(($(left) - 60)) || { tail -30 "$out/gen.log"; stop_job "$gen_pid"; fail "the tiny and 1.5B models were not generated in time (gen.log)"; }
	note "models: tiny, 1.5B Q4_K_M" "generated" "gen.log"

	generate_rest >> "$out/gen.log" 2>&1 &
	rest_pid=$!
	step "test_cuda (kernels, tiny, 1.5B Q4_K_M)" "$out/test_cuda.log" 60 150 "$b/test_cuda" \
		--tokens 64 "$work"/tiny-*.gguf "$work/r1-qwen-1.5b-Q4_K_M.gguf"
	bench r1-qwen-1.5b-Q4_K_M 30 60
	# the other shapes only if they are ready while a bench still fits
	for m in r1-qwen-1.5b-Q8_0 r1-qwen-7b-Q4_K_M; do
		while [ ! -s "$work/$m.gguf" ] && kill -0 "$rest_pid" 2>/dev/null && [ "$(left)" -gt 70 ]; do
			sleep 2
		done
		if [ -s "$work/$m.gguf" ]; then
			bench "$m" 30 60
		else
			note "bench_cuda $m" "skipped (time)" "not generated with $(left)s left"
		fi
	done
	if kill -0 "$rest_pid" 2>/dev/null; then
		stop_job "$rest_pid"
		note "models: 1.5B Q8_0, 7B Q4_K_M" "stopped (time)" "gen.log"
	fi
	if [ "$dry" = 1 ] || python3 -c 'import torch, transformers' 2>/dev/null; then
		step "peer (transformers BF16)" "$out/peer.log" 90 150 python3 "$root/test/gpu/peer_hf.py" \
			r1-qwen-1.5b r1-qwen-7b
		grep -h '^{' "$out/peer.log" > "$out/peer.jsonl" 2>/dev/null
	else
		note "peer (transformers BF16)" "skipped" "torch or transformers is not installed"
	fi
	note "run.sh" "done" "status $status"
	summarize
	say "done: status $status"
	return $status
}

main 2>&1 | tee "$out/run.log"
exit "${PIPESTATUS[0]}"
