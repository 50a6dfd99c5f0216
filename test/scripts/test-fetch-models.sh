#!/usr/bin/env bash
# scripts/fetch-models.sh never lets a damaged model file through: a cached
# copy with a flipped byte, or a truncated one, is noticed and fetched again
# (into a temporary cache seeded from $DR1_MODEL_CACHE, so nothing real is
# touched).  Prints "fetch-models: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
file=SmolLM2-135M-Instruct-Q4_1.gguf
sum=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

check() {	# check NAME COMMAND...: count a pass when COMMAND succeeds
	local name=$1; shift
	if "$@"; then passed=$((passed + 1)); echo "ok: $name"
	else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
refetched() {	# refetched DAMAGE: damage the copy, then fetch-models must replace it
	cp "$cache/$file" "$tmp/$file" && "$@" "$tmp/$file" &&
		DR1_MODEL_CACHE=$tmp scripts/fetch-models.sh smollm2 >"$tmp/out" 2>&1 &&
		grep -q "differs from its size or SHA-256" "$tmp/out" &&
		[ "$(sha256sum "$tmp/$file" | cut -d' ' -f1)" = "$sum" ]
}
flip() { printf 'XXXX' | dd of="$1" bs=1 seek=5000000 conv=notrunc 2>/dev/null; }
cut_short() { truncate -s 1000000 "$1"; }

check "a byte flipped in the cached file: fetched again" refetched flip
check "a truncated cached file: fetched again" refetched cut_short
check "a good cached file: kept" bash -c \
	"DR1_MODEL_CACHE='$tmp' scripts/fetch-models.sh smollm2 | grep -q 'cached, size and SHA-256 verified'"
check "an unknown model name: refused" bash -c "! scripts/fetch-models.sh no-such-model 2>/dev/null"
echo "fetch-models: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
