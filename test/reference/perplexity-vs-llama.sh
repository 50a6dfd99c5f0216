#!/usr/bin/env bash
# Our perplexity against llama.cpp's llama-perplexity on the same text, window
# and model (issue 15).
#
#   test/reference/perplexity-vs-llama.sh MODEL [TEXT] [CTX] [CHUNKS] [BATCH]
#
# TEXT defaults to test/data/perplexity/factbook-history.txt, CTX to 512,
# CHUNKS to 8, BATCH (llama-perplexity's -b) to CTX: one window per batch,
# one KV stream, micro-batches of 512 tokens of that window: the pass we
# mirror, so the figures should agree to the printed digits.  With its
# default -b 2048 llama-perplexity runs 4 windows per batch on 4 KV streams,
# each micro-batch 128 tokens of each window, which sums some products in
# another order (K-quants) and should still agree to ~4 digits.  Builds
# llama-perplexity (outside the repository, with build-llama-cpp.sh) if
# needed.  Flash attention is off for llama.cpp, as for every reference we
# compare with (docs/architecture.md).  Prints one line: model, ctx, chunks,
# batch, ours, llama.cpp's, relative difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1
text=${2:-test/data/perplexity/factbook-history.txt}
ctx=${3:-512}
chunks=${4:-8}
batch=${5:-$ctx}
threads=$(nproc)

build=$(test/reference/build-llama-cpp.sh avx2)
if [ ! -x "$build/bin/llama-perplexity" ]; then
	cmake --build "$build" -j"$threads" --target llama-perplexity >&2
fi
ours=$(bin/deepseek-r1 perplexity -m "$model" -f "$text" -c "$ctx" --chunks "$chunks" -t "$threads" |
	python3 -c 'import json,sys; print("%.6f" % json.load(sys.stdin)["ppl"])')
theirs=$("$build/bin/llama-perplexity" -m "$model" -f "$text" -c "$ctx" --chunks "$chunks" -t "$threads" \
	-b "$batch" -fa off 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
[ -n "$theirs" ] || { echo "perplexity-vs-llama: no estimate from llama-perplexity" >&2; exit 1; }
python3 -c 'import sys; m, c, n, bt, a, b = sys.argv[1:]; a, b = float(a), float(b)
print("%s ctx %s chunks %s -b %s: ours %.4f llama.cpp %.4f (relative difference %.2e)" % (m, c, n, bt, a, b, abs(a - b) / b))' \
	"$(basename "$model")" "$ctx" "$chunks" "$batch" "$ours" "$theirs"
