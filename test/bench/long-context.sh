#!/usr/bin/env bash
# Decode speed deep into a long context (a benchmark, not a test): for each
# DEPTH in CONTEXTS and each configuration (dense attention, sparse
# attention with a budget of 1024 and 2048 tokens, an 8-bit KV cache),
#
#   deepseek-r1 bench -m MODEL -d DEPTH -p 16 -n N_GEN -c DEPTH+48+N_GEN -t THREADS ARGS
#
# i.e. N_GEN single-token decode steps after a context of DEPTH tokens, as
# llama-bench -d.  Prints a markdown table: decode tok/s, ms per token, the
# speedup over the first config (dense) at the same depth, and the share of
# the step that the context costs, (t(DEPTH) - t(0)) / t(DEPTH) with t(0) the
# dense step at depth 0 (for dense, the share of attention in the step).
#
#   test/bench/long-context.sh [MODEL]
#
# Environment: MODEL (the default: Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf in
# the model cache), CONTEXTS ("4096 8192"), THREADS (2), N_GEN (16), BIN
# (./bin/deepseek-r1), CONFIGS (one LABEL:ARGS a line; the first is the
# baseline of the speedups), e.g. CONFIGS=$'dense:\nq8:--kv-type q8_0'.
#
# RANDOM_KV=1 passes --random-kv: the context is random keys and values
# instead of a prefill.  The decode steps do the same work either way (a
# sparse step reads its budget whatever the keys), so this measures speed
# at 16K and 32K in seconds; the answers mean nothing (quality is
# sparse-kl.sh's and passkey.py's).
#
# Time on 2 cores: each run first fills DEPTH tokens of context (a prefill,
# ~60 tok/s for the 0.5B model, slower as the context grows), so it is about
# 1-1.5 min at 4096 and 3-4 min at 8192: ~20 min for the defaults with 0.5B,
# ~3x that with 1.5B; with RANDOM_KV=1 a run takes seconds.  CONTEXTS="2048"
# and fewer CONFIGS cut it down.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
model=${1:-${MODEL:-$cache/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf}}
contexts=${CONTEXTS:-4096 8192}
threads=${THREADS:-2}
n_gen=${N_GEN:-16}
bin=${BIN:-./bin/deepseek-r1}
configs=${CONFIGS:-"dense:--sparse off
sparse1k:--sparse on --sparse-budget 1024
sparse2k:--sparse on --sparse-budget 2048
q8_0:--sparse off --kv-type q8_0"}

die() { echo "long-context.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not built (make bin/deepseek-r1)"
[ -f "$model" ] || die "no model file $model"

# shellcheck source=test/bench/configs.sh
. test/bench/configs.sh
read_configs "$configs"

# bench DEPTH ARGS...: echo decode_tok_s; a rejected flag stops the script
bench() {
	local depth=$1 out err rc rate ; shift
	local cmd=("$bin" bench -m "$model" -p 16 -n "$n_gen" -t "$threads" -c $((depth + 48 + n_gen)))
	[ "$depth" -gt 0 ] && cmd+=(-d "$depth")
	[ "$depth" -gt 0 ] && [ "${RANDOM_KV:-0}" = 1 ] && cmd+=(--random-kv)
	cmd+=("$@")
	err=$(mktemp) ; rc=0
	out=$("${cmd[@]}" 2>"$err") || rc=$?
	if [ $rc -ne 0 ]; then
		if grep -q 'unknown option' "$err"; then
			die "the binary rejects $(grep -o 'unknown option.*' "$err" | head -1 | cut -d' ' -f3-)" \
				"(not built with it yet?): ${cmd[*]}"
		fi
		cat "$err" >&2 ; rm -f "$err"
		die "failed: ${cmd[*]}"
	fi
	rm -f "$err"
	echo "  ${cmd[*]}" >&2
	echo "  $out" >&2
	rate=$(sed -n 's/.*"decode_tok_s":\([0-9.eE+-]*\).*/\1/p' <<<"$out")
	[ -n "$rate" ] || die "no decode_tok_s in the output of ${cmd[*]}"
	echo "$rate"
}

# one fast call per config (and -d) first: a missing flag fails in seconds
for i in "${!labels[@]}"; do
	# shellcheck disable=SC2086 # ARGS are words
	bench 1 ${argss[$i]} >/dev/null
done

start=$SECONDS
echo "depth 0, ${labels[0]}" >&2
# shellcheck disable=SC2086
t0_rate=$(bench 0 ${argss[0]})
rows=("$(awk -v l="${labels[0]}" -v r="$t0_rate" 'BEGIN{printf "| 0 | %s | %.2f | %.1f | 1.00 | 0%% |", l, r, 1000/r}')")
for depth in $contexts; do
	base_rate=
	for i in "${!labels[@]}"; do
		echo "depth $depth, ${labels[$i]}" >&2
		# shellcheck disable=SC2086
		rate=$(bench "$depth" ${argss[$i]})
		[ -n "$base_rate" ] || base_rate=$rate
		rows+=("$(awk -v d="$depth" -v l="${labels[$i]}" -v r="$rate" -v b="$base_rate" -v r0="$t0_rate" \
			'BEGIN{t=1000/r; t0=1000/r0; printf "| %d | %s | %.2f | %.1f | %.2f | %.0f%% |", d, l, r, t, r/b, 100*(t-t0)/t}')")
	done
done

echo
echo "Decode after a long context: $(basename "$model"), $threads threads, $n_gen tokens a run$([ "${RANDOM_KV:-0}" = 1 ] && echo ', random KV context')"
echo
echo "| depth | config | decode tok/s | ms/token | speedup vs ${labels[0]} | context share (t-t0)/t |"
echo "|---:|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
for i in "${!labels[@]}"; do echo "- ${labels[$i]}: \`${argss[$i]:-(no extra args)}\`"; done
echo
echo "t0: ${labels[0]} at depth 0.  elapsed: $((SECONDS - start)) s"
