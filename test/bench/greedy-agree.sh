#!/usr/bin/env bash
# Greedy agreement of long continuations (a benchmark, not a test): for each
# prompt (the text of long files, cut to PROMPT_TOKENS-ish bytes), N tokens
# greedy with the base configuration and with each other one,
#
#   deepseek-r1 generate -m MODEL -f PROMPT -n N --temp 0 --raw --ids -c CTX ARGS
#
# and how many leading tokens equal the base's.  Free-running agreement is
# the weakest of the closeness measures (DESIGN §3.9: one early flip makes
# the rest differ); sparse-kl.sh's teacher-forced KL is the real one.
#
#   test/bench/greedy-agree.sh [MODEL]
#
# Environment: MODEL (Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf in the model
# cache), N (256), PROMPT_BYTES (16000: some 4,000 tokens of prose or code),
# CTX (8192), THREADS (2), BIN (./bin/deepseek-r1), BASE ("--sparse off
# --kv-type f16"), CONFIGS (LABEL:ARGS a line).  The prompts are three
# slices: test/data/perplexity/factbook-history.txt from its start and its
# middle, and Python's argparse.py.  Each run is a prefill of the prompt and
# N decode steps: ~3 min on 2 cores with the 0.5B model.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
model=${1:-${MODEL:-$cache/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf}}
n=${N:-256}
bytes=${PROMPT_BYTES:-16000}
ctx=${CTX:-8192}
threads=${THREADS:-2}
bin=${BIN:-./bin/deepseek-r1}
base=${BASE:-"--sparse off --kv-type f16"}
configs=${CONFIGS:-"sparse1k:--sparse on --sparse-budget 1024
sparse2k:--sparse on --sparse-budget 2048
q8_0:--kv-type q8_0"}

die() { echo "greedy-agree.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not built (make bin/deepseek-r1)"
[ -f "$model" ] || die "no model file $model"
# shellcheck source=test/bench/configs.sh
. test/bench/configs.sh
read_configs "$configs"
work=$(mktemp -d /tmp/dr1-greedy.XXXXXX)
trap 'rm -rf "$work"' EXIT

facts=test/data/perplexity/factbook-history.txt
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
# slice FILE FROM OUT: bytes bytes of FILE from the fraction FROM of it
slice() {
	python3 -c 'import sys
d = open(sys.argv[1], "rb").read(); a = int(len(d) * float(sys.argv[2]))
open(sys.argv[4], "wb").write(d[a:a + int(sys.argv[3])])' "$1" "$2" "$bytes" "$3"
}
slice "$facts" 0 "$work/p1.txt"
slice "$facts" 0.5 "$work/p2.txt"
slice "$stdlib/argparse.py" 0 "$work/p3.txt"

# ids PROMPT ARGS...: the generated ids, one line
ids() {
	local prompt=$1 ; shift
	# shellcheck disable=SC2068 # ARGS are words
	"$bin" generate -m "$model" -f "$prompt" -n "$n" --temp 0 --raw --ids -c "$ctx" -t "$threads" $@ 2>/dev/null \
		| tail -1
}

# agree A B: the number of leading equal ids of two id lines
agree() {
	python3 -c 'import sys,re
a, b = (re.findall(r"-?\d+", s) for s in sys.argv[1:3])
k = 0
while k < min(len(a), len(b)) and a[k] == b[k]: k += 1
print(k, min(len(a), len(b)))' "$1" "$2"
}

echo "| prompt | config | leading tokens equal to the base's |"
echo "|---|---|---:|"
for p in "$work"/p1.txt "$work"/p2.txt "$work"/p3.txt; do
	# shellcheck disable=SC2086
	ref=$(ids "$p" $base)
	for i in "${!labels[@]}"; do
		# shellcheck disable=SC2086
		got=$(ids "$p" $base ${argss[$i]})
		read -r k of <<<"$(agree "$ref" "$got")"
		echo "| $(basename "$p") | ${labels[$i]} | $k of $of |"
	done
done
echo
echo "base: \`$base\`; $(basename "$model"), $n tokens greedy, prompts of $bytes bytes"
