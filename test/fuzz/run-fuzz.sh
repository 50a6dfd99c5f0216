#!/usr/bin/env bash
# Build the GGUF reader's libFuzzer target and run it.
#
#   test/fuzz/run-fuzz.sh [SECONDS]        default 60
#
# The corpus (test/fuzz/corpus-gguf, not tracked) is seeded with small
# synthetic models from test/gen/gguf_gen.py.  Prints the number of
# executions and crashes; exits non-zero when the target crashed, leaving
# the input in build/fuzz/crash-*.
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/build/fuzz
corpus=$root/test/fuzz/corpus-gguf
bin=$work/fuzz_gguf
log=$work/fuzz_gguf.log

if ! command -v clang >/dev/null; then
	echo "run-fuzz: installing clang and libclang-rt-14-dev" >&2
	apt-get update -qq && apt-get install -y -qq clang libclang-rt-14-dev >&2
fi

mkdir -p "$work" "$corpus"
echo "run-fuzz: building $bin" >&2
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$root/src/engine" \
	-o "$bin" "$root/test/fuzz/fuzz_gguf.c" \
	"$root/src/engine/gguf.c" "$root/src/engine/dtype.c"

# Seeds: tiny models of several tensor types, one with a custom alignment,
# and a bare header for when python3 or its gguf package is missing.
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
	>"$corpus/seed-empty-v3"
gen=$root/test/gen/gguf_gen.py
tiny=(--layers 1 --dim 32 --ff 64 --heads 2 --kv-heads 1)
if python3 -c 'import gguf, numpy' 2>/dev/null; then
	for w in F32 F16 Q8_0 Q4_1; do
		[ -s "$corpus/seed-$w" ] ||
			python3 "$gen" "${tiny[@]}" --wtype "$w" --out "$corpus/seed-$w" >&2
	done
	[ -s "$corpus/seed-align64" ] ||
		python3 "$gen" "${tiny[@]}" --arch llama --tied --rope-freqs \
			--alignment 64 --wtype Q5_0 --out "$corpus/seed-align64" >&2
else
	echo "run-fuzz: python3 with gguf and numpy not found; bare seed only" >&2
fi

cat >"$work/gguf.dict" <<'DICT'
"GGUF"
"general.alignment"
"split.count"
"split.no"
"\x02\x00\x00\x00"
"\x03\x00\x00\x00"
"\x09\x00\x00\x00\x08\x00\x00\x00"
"\x00\x00\x00\x00\x00\x00\x00\x80"
"\xff\xff\xff\xff\xff\xff\xff\xff"
DICT

echo "run-fuzz: fuzzing for ${secs}s" >&2
status=0
touch "$work/.start"
"$bin" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
	-dict="$work/gguf.dict" -artifact_prefix="$work/" \
	"$corpus" >"$log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
crashes=$(find "$work" -maxdepth 1 -newer "$work/.start" \( -name "crash-*" -o -name "leak-*" -o -name "timeout-*" -o -name "oom-*" \) | wc -l)
echo "run-fuzz: ${execs:-?} executions, exit status $status, $crashes crash file(s) in $work"
if [ "$status" -ne 0 ]; then
	tail -n 40 "$log"
	exit 1
fi
