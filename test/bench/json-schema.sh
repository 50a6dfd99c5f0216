#!/usr/bin/env bash
# Decode speed with and without a JSON Schema (a benchmark, not a test):
# the same prompt tokens (the prompt with the schema instruction appended
# either way), N generated tokens, greedy, alternating the two runs REPS
# times; prints decode tokens/s of each (the median) and the overhead.
# The schema is an unbounded array of objects (free and bounded strings,
# a bounded integer), so the answer runs to N tokens under the mask.
#
#   test/bench/json-schema.sh MODEL [N] [REPS] [THREADS]
set -uo pipefail	# with a schema, -n cutting the answer makes generate exit 1
cd "$(dirname "$0")/../.."
model=$1
n=${2:-128}
reps=${3:-3}
threads=${4:-2}
prompt="List forty people you can imagine, each with a name, a city and an age."
schema='{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"city":{"type":"string","maxLength":30},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","city","age"]}}'
instruction=$'\n\nAnswer with one JSON value only, compact, that matches this JSON Schema:\n'	# protocol.h
program=bin/deepseek-r1

rate() {	# generated tokens / decode seconds of one run's --timings line
	python3 -c 'import json,sys; t=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.2f %d" % (t["generated_tokens"]/t["decode_s"], t["generated_tokens"]))'
}

plain=() ; masked=()
for ((r = 0; r < reps; r++)); do
	a=$("$program" generate -m "$model" -p "$prompt$instruction$schema" -n "$n" --temp 0 -t "$threads" \
		--device cpu --timings 2>&1 >/dev/null | grep '^{' | rate)
	b=$("$program" generate -m "$model" -p "$prompt" --schema "$schema" -n "$n" --temp 0 -t "$threads" \
		--device cpu --timings 2>&1 >/dev/null | grep '^{' | rate)
	echo "run $r: without schema ${a% *} tok/s (${a#* } tokens), with schema ${b% *} tok/s (${b#* } tokens)"
	plain+=("${a% *}") ; masked+=("${b% *}")
done
python3 - "${plain[*]}" "${masked[*]}" <<'PY'
import statistics, sys
p = statistics.median(map(float, sys.argv[1].split()))
m = statistics.median(map(float, sys.argv[2].split()))
print(f"median: without schema {p:.2f} tok/s, with schema {m:.2f} tok/s, overhead {100 * (p - m) / p:.1f}%")
PY
