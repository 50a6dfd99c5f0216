#!/usr/bin/env bash
# Prefill and decode speed of deepseek-r1 against llama.cpp's llama-bench on
# the same GGUF file and thread count, interleaved (ours, theirs, ours, ...)
# so that machine noise hits both alike.  Prints medians, the ratio, and the
# decode roofline: bytes of weights read per token over the measured memory
# bandwidth.  Not a test: it never fails on speed.
#
#   test/bench/vs-llama.cpp MODEL.gguf [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1
threads=${2:-2}
rounds=${3:-5}

make -s bin/deepseek-r1
# the fastest llama.cpp that runs here: the build for every instruction set
# this CPU reports, or the AVX2 one if that build cannot evaluate
build=$(test/reference/build-llama-cpp.sh fast)
if ! "$build/bin/llama-bench" -m "$model" -p 8 -n 0 -t "$threads" -r 1 >/dev/null 2>&1; then
	echo "vs-llama.cpp: $build does not run here; comparing with the AVX2 build" >&2
	build=$(test/reference/build-llama-cpp.sh avx2)
fi
echo "llama.cpp: $build"
cc -O2 -pthread -o build/membw test/bench/membw.c

declare -A ours theirs
for ((i = 0; i < rounds; i++)); do
	for pp in 128 512; do
		ours[pp$pp]+="$(bin/deepseek-r1 bench -m "$model" -p $pp -n 1 -t "$threads" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["prefill_tok_s"])') "
		theirs[pp$pp]+="$("$build/bin/llama-bench" -m "$model" -p $pp -n 0 -t "$threads" -r 1 -o json 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])') "
	done
	ours[tg128]+="$(bin/deepseek-r1 bench -m "$model" -p 1 -n 128 -t "$threads" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tok_s"])') "
	theirs[tg128]+="$("$build/bin/llama-bench" -m "$model" -p 0 -n 128 -t "$threads" -r 1 -o json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])') "
done

bw=$(build/membw "$threads")
weights=$(python3 - "$model" <<'PY'
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
# bytes read per decoded token: every tensor except the embedding table,
# of which one row is read (the output matrix is read whole, tied or not)
total = sum(int(t.n_bytes) for t in r.tensors if t.name != "token_embd.weight")
if not any(t.name == "output.weight" for t in r.tensors):
    total += sum(int(t.n_bytes) for t in r.tensors if t.name == "token_embd.weight")
print(total)
PY
)
python3 - "$model" "$threads" "$bw" "$weights" "${ours[pp128]}" "${theirs[pp128]}" \
	"${ours[pp512]}" "${theirs[pp512]}" "${ours[tg128]}" "${theirs[tg128]}" <<'PY'
import statistics, sys
model, threads, bw, weights = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
vals = [list(map(float, s.split())) for s in sys.argv[5:]]
roof = bw * 1e9 / weights
print(f"model {model}, {threads} threads, {len(vals[0])} rounds, memory bandwidth {bw:.1f} GB/s")
print(f"{'test':8} {'ours tok/s':>11} {'llama.cpp':>11} {'ratio':>7}")
for name, o, t in zip(["pp128", "pp512", "tg128"], vals[0::2], vals[1::2]):
    mo, mt = statistics.median(o), statistics.median(t)
    extra = f"   roofline {roof:.1f} tok/s ({weights / 1e6:.1f} MB/token)" if name == "tg128" else ""
    print(f"{name:8} {mo:11.1f} {mt:11.1f} {mo / mt:7.2f}{extra}")
PY
