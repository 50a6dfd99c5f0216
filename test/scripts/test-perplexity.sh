#!/usr/bin/env bash
# `deepseek-r1 perplexity` on SmolLM2 (issue 15): the figures are sane and
# consistent, a base compared with the run that saved it gives KL 0 and full
# top-1 agreement, the scalar kernels against the default ones give a small
# positive KL, and a damaged base, a base of another text or of another
# window is refused with a message and a non-zero exit.  The numerics of a
# window (NLL against the generation path's logits) are test_perplexity's.
# Prints "perplexity: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
model=$cache/SmolLM2-135M-Instruct-Q4_1.gguf
text=test/data/perplexity/factbook-history.txt
bin=bin/deepseek-r1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
run_ppl() { "$bin" perplexity -m "$model" -f "$text" -t 2 -c 128 --chunks 4 "$@"; }

check() {	# check NAME COMMAND...: count a pass when COMMAND succeeds
	local name=$1; shift
	if "$@"; then passed=$((passed + 1)); echo "ok: $name"
	else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
# json FILE EXPR: EXPR (Python, the object as j) must be true
json() { python3 -c 'import json,math,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }
# refused NAME WANT ARGS...: a non-zero exit whose message contains WANT
refused() {
	local want=$1; shift
	! run_ppl "$@" >"$tmp/out" 2>"$tmp/err" && grep -q -- "$want" "$tmp/err" && [ ! -s "$tmp/out" ]
}

if [ ! -r "$model" ]; then
	if [ -n "${DR1_REQUIRE_ALL:-}" ] && [ "$DR1_REQUIRE_ALL" != 0 ]; then
		echo "FAIL missing prerequisite: $model"; echo "perplexity: 0 passed, 1 failed"; exit 1
	fi
	echo "SKIP $model not found (scripts/fetch-models.sh)"; echo "perplexity: 0 passed, 0 failed"; exit 0
fi

to() { local out=$1; shift; "$@" >"$out"; }	# to FILE CMD...: CMD's stdout into FILE
check "a plain run" to "$tmp/plain.json" run_ppl
check "ppl finite, above 1, = exp(nll_mean); 4 windows of 128, 63 tokens each" json "$tmp/plain.json" \
	'math.isfinite(j["ppl"]) and j["ppl"] > 1 and abs(j["ppl"] - math.exp(j["nll_mean"])) < 1e-6 * j["ppl"] and j["ctx"] == 128 and j["chunks"] == 4 and j["tokens"] == 4 * 63'

check "--kl-base-save" to "$tmp/save.json" run_ppl --kl-base-save "$tmp/base"
check "the base: a header and 4 x 63 records of K = 32" [ "$(stat -c %s "$tmp/base")" -eq $((40 + 252 * (8 + 8 * 32))) ]
check "saving does not change the figures" cmp -s "$tmp/plain.json" "$tmp/save.json"
check "compared with itself" to "$tmp/self.json" run_ppl --kl-base "$tmp/base"
check "against itself: KL 0, top-1 agreement 1, rms_dp 0, base_ppl = ppl" json "$tmp/self.json" \
	'j["kld_mean"] == 0 and j["kld_max"] == 0 and j["top1_agree"] == 1 and j["rms_dp"] == 0 and abs(j["base_ppl"] - j["ppl"]) < 1e-6 * j["ppl"] and j["kl_top"] == 32'
check "the base's window applies: no -c or --chunks needed" \
	to "$tmp/self2.json" "$bin" perplexity -m "$model" -f "$text" -t 2 --kl-base "$tmp/base"
check "... the same figures" cmp -s "$tmp/self.json" "$tmp/self2.json"

scalar() { DR1_QUANT_KERNELS=scalar run_ppl --kl-base "$tmp/base"; }
check "scalar kernels against the default ones" to "$tmp/scalar.json" scalar
check "scalar kernels: a small positive KL, top-1 near 1" json "$tmp/scalar.json" \
	'0 < j["kld_mean"] < 1e-2 and j["kld_p99"] <= j["kld_max"] and j["top1_agree"] > 0.95 and 0 < j["rms_dp"] < 0.05'

head -c 1000 "$tmp/base" >"$tmp/short"
check "a truncated base: refused" refused "truncated" --kl-base "$tmp/short"
head -c 20 "$tmp/base" >"$tmp/tiny"
check "a base shorter than its header: refused" refused "truncated" --kl-base "$tmp/tiny"
{ cat "$tmp/base"; printf 'x'; } >"$tmp/long"
check "a base with trailing bytes: refused" refused "trailing bytes" --kl-base "$tmp/long"
cp "$tmp/base" "$tmp/magic" && printf 'X' | dd of="$tmp/magic" bs=1 seek=0 conv=notrunc 2>/dev/null
check "a base with a wrong magic: refused" refused "not a KL base file" --kl-base "$tmp/magic"
cp "$tmp/base" "$tmp/count" && printf '\377' | dd of="$tmp/count" bs=1 seek=28 conv=notrunc 2>/dev/null
check "a header whose counts disagree: refused" refused "corrupt header" --kl-base "$tmp/count"
# record 10's first entry id (offset 40 + 10 * 264 + 8) set to 0x7fffffff
cp "$tmp/base" "$tmp/id" && printf '\377\377\377\177' | dd of="$tmp/id" bs=1 seek=$((40 + 2640 + 8)) conv=notrunc 2>/dev/null
check "a record with a token outside the vocabulary: refused" refused "corrupt record" --kl-base "$tmp/id"
# record 0's rest (offset 44) set to NaN
cp "$tmp/base" "$tmp/nan" && printf '\000\000\300\177' | dd of="$tmp/nan" bs=1 seek=44 conv=notrunc 2>/dev/null
check "a record with a NaN: refused" refused "corrupt record" --kl-base "$tmp/nan"
check "a base for another window: refused" refused "was saved with -c 128" -c 64 --kl-base "$tmp/base"
tail -c 60000 "$text" >"$tmp/other.txt"
other_text() {
	! "$bin" perplexity -m "$model" -f "$tmp/other.txt" -t 2 --kl-base "$tmp/base" 2>"$tmp/err" >/dev/null &&
		grep -q "different text or tokenization" "$tmp/err"
}
check "a base of another text: refused" other_text
check "--kl-base and --kl-base-save together: refused" refused "exclude each other" \
	--kl-base "$tmp/base" --kl-base-save "$tmp/x"
printf 'Too short.' >"$tmp/short.txt"
too_short() { ! "$bin" perplexity -m "$model" -f "$tmp/short.txt" "$@" 2>"$tmp/err" >/dev/null && grep -q "less than one window" "$tmp/err"; }
check "a text shorter than one window: refused" too_short
no_file() { too_short --kl-base-save "$tmp/none" && [ ! -e "$tmp/none" ]; }
check "... and a failed save leaves no file" no_file
echo "perplexity: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
