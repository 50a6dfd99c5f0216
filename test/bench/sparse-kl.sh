#!/usr/bin/env bash
# What sparse attention and an 8-bit KV cache cost in quality (a benchmark,
# not a test): `deepseek-r1 perplexity` over a long text, first dense with an
# f16 KV cache, its top-K distributions saved (--kl-base-save), then each
# configuration compared with that base (--kl-base): perplexity, mean and
# 99th percentile KL divergence from the base, top-1 agreement.  Prints a
# markdown table.
#
#   test/bench/sparse-kl.sh [MODEL]
#
# The text: prose then code, so that the scored windows cover both, namely
# the first paragraphs of test/data/perplexity/factbook-history.txt (about
# half the tokens the windows need) followed by argparse.py and typing.py of
# the Python standard library, in a temp file.  Windows of CTX tokens, the
# second half of each scored (as llama-perplexity), and enough of them for
# SCORED tokens.
#
# Environment: MODEL (default: Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf in the
# model cache), CTX (4096), SCORED (8192: at least that many scored tokens),
# CHUNKS (overrides the count derived from SCORED), THREADS (2), BIN
# (./bin/deepseek-r1), BASE_ARGS ("--sparse off --kv-type f16"), CONFIGS
# (one LABEL:ARGS a line, each compared with the base).
#
# Time on 2 cores: each run puts CHUNKS x CTX tokens through the model, with
# full-vocabulary logits for the scored half (5 x 4096 = 20480 tokens by
# default: ~8-12 min with the 0.5B model at 25-40 tok/s), and there are
# 1 + the number of CONFIGS runs: ~40 min for the defaults, ~3x with 1.5B.
# CTX=256 SCORED=512 takes ~15 s a run (a smoke test); CTX=1024 SCORED=2048
# ~1-2 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
model=${1:-${MODEL:-$cache/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf}}
ctx=${CTX:-4096}
scored=${SCORED:-8192}
threads=${THREADS:-2}
bin=${BIN:-./bin/deepseek-r1}
base_args=${BASE_ARGS-"--sparse off --kv-type f16"}
configs=${CONFIGS:-"sparse1k:--sparse on --sparse-budget 1024
sparse2k:--sparse on --sparse-budget 2048
q8_0:--sparse off --kv-type q8_0"}

die() { echo "sparse-kl.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not built (make bin/deepseek-r1)"
[ -f "$model" ] || die "no model file $model"
[ "$ctx" -ge 16 ] || die "CTX must be at least 16"
per_chunk=$((ctx - 1 - ctx / 2))			# scored positions of a window
chunks=${CHUNKS:-$(((scored + per_chunk - 1) / per_chunk))}

# shellcheck source=test/bench/configs.sh
. test/bench/configs.sh
read_configs "$configs"

work=$(mktemp -d /tmp/dr1-sparse-kl.XXXXXX)
trap 'rm -rf "$work"' EXIT
text=$work/text.txt
base=$work/base.kl

# perplexity ARGS...: echo its JSON line; a rejected flag stops the script
ppl() {
	local cmd=("$bin" perplexity -m "$model" -f "$text" -t "$threads" "$@") out rc=0
	echo "  ${cmd[*]}" >&2
	out=$("${cmd[@]}" 2>"$work/err") || rc=$?
	if [ $rc -ne 0 ]; then
		if grep -q 'unknown option' "$work/err"; then
			die "the binary rejects $(grep -o 'unknown option.*' "$work/err" | head -1 | cut -d' ' -f3-)" \
				"(not built with it yet?): ${cmd[*]}"
		fi
		cat "$work/err" >&2
		die "failed: ${cmd[*]}"
	fi
	echo "  $out" >&2
	echo "$out"
}
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

# A rejected flag should fail now, not after the base run: generate one
# token with each config's flags (perplexity needs a whole text).
for i in "${!labels[@]}" base; do
	if [ "$i" = base ]; then a=$base_args; l=base; else a=${argss[$i]}; l=${labels[$i]}; fi
	# shellcheck disable=SC2086 # ARGS are words
	if ! "$bin" generate -m "$model" -p hi -n 1 --temp 0 --raw -c 64 -t "$threads" $a \
		>/dev/null 2>"$work/err"; then
		grep -q 'unknown option' "$work/err" &&
			die "config '$l': the binary rejects $(grep -o 'unknown option.*' "$work/err" | head -1 | cut -d' ' -f3-) (not built with it yet?)"
		cat "$work/err" >&2 ; die "config '$l': generate with '$a' fails"
	fi
done

# The text: prose (about half the tokens needed, whole paragraphs), then code.
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
prose=test/data/perplexity/factbook-history.txt
need=$((chunks * ctx))
prose_tokens=$("$bin" tokenize -m "$model" <"$prose" | wc -w)
python3 - "$prose" "$prose_tokens" $((need / 2)) "$stdlib/argparse.py" "$stdlib/typing.py" >"$text" <<'PY'
import sys
prose, prose_tokens, want, *code = sys.argv[1:]
t = open(prose, encoding="utf-8").read()
cut = int(len(t) * min(1.0, int(want) / int(prose_tokens)))
paras = t[:cut].rsplit("\n\n", 1)[0] if cut < len(t) else t.rstrip("\n")
parts = [paras] + [open(p, encoding="utf-8").read() for p in code]
sys.stdout.write("\n\n".join(parts))
PY
have=$("$bin" tokenize -m "$model" <"$text" | wc -w)
[ "$have" -ge "$need" ] || die "the text has $have tokens, $chunks windows of $ctx need $need: lower CTX or SCORED"
echo "text: $(wc -c <"$text") bytes, $have tokens; $chunks windows of $ctx" >&2

start=$SECONDS
echo "base:" >&2
# shellcheck disable=SC2086
out=$(ppl -c "$ctx" --chunks "$chunks" --kl-base-save "$base" $base_args)
[ "$(field chunks "$out")" = "$chunks" ] || die "the base has $(field chunks "$out") windows, not $chunks"
rows=("$(awk -v a="${base_args:-(defaults)}" -v p="$(field ppl "$out")" \
	'BEGIN{printf "| base | `%s` | %.4f | — | — | — | — |", a, p}')")
tokens=$(field tokens "$out")
for i in "${!labels[@]}"; do
	echo "${labels[$i]}:" >&2
	# ctx and chunks come from the base
	# shellcheck disable=SC2086
	out=$(ppl --kl-base "$base" ${argss[$i]})
	rows+=("$(awk -v l="${labels[$i]}" -v a="${argss[$i]}" -v p="$(field ppl "$out")" \
		-v k="$(field kld_mean "$out")" -v k99="$(field kld_p99 "$out")" \
		-v t="$(field top1_agree "$out")" -v r="$(field rms_dp "$out")" \
		'BEGIN{printf "| %s | `%s` | %.4f | %.5f | %.5f | %.2f%% | %.3f%% |", l, a, p, k, k99, 100*t, 100*r}')")
done

echo
echo "Quality against dense attention with an f16 KV cache: $(basename "$model"), ctx $ctx," \
	"$chunks windows, $tokens scored tokens (prose then Python code)"
echo
echo "| config | args | ppl | kld_mean | kld_p99 | top1_agree | rms_dp |"
echo "|---|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "elapsed: $((SECONDS - start)) s"
