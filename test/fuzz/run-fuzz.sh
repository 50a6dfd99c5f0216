#!/usr/bin/env bash
# Build a libFuzzer target (ASan + UBSan) and run it.
#
#   test/fuzz/run-fuzz.sh [TARGET] [SECONDS]      default: gguf, 60 s
#
# TARGET is a fuzz_TARGET.c in this directory:
#   gguf              the GGUF reader
#   protocol_submit   worker -> engine frames (what serve reads)
#   protocol_answer   engine -> worker frames (what the worker and backends read)
#   any other         built with the whole engine (src/engine/*.c)
# `run-fuzz.sh SECONDS` still fuzzes the GGUF reader.
#
# The corpus (test/fuzz/corpus-TARGET, not tracked) is seeded first: small
# synthetic models from test/gen/gguf_gen.py for gguf, a few well-formed
# frame streams for the protocol.  Prints the number of executions and
# crashes; exits non-zero when the target crashed, leaving the input in
# build/fuzz/crash-*.
set -euo pipefail

target=gguf
if [ $# -gt 0 ] && ! [[ $1 =~ ^[0-9]+$ ]]; then
	target=$1
	shift
fi
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/build/fuzz
corpus=$root/test/fuzz/corpus-$target
bin=$work/fuzz_$target
log=$work/fuzz_$target.log
dict=()
libs=()

case $target in
gguf)
	srcs=("$root/src/engine/gguf.c" "$root/src/engine/dtype.c")
	incs=(-I"$root/src/engine")
	max_len=65536
	;;
protocol_submit | protocol_answer)
	srcs=("$root/src/protocol/protocol.c")
	incs=(-I"$root/src/protocol")
	max_len=16384
	;;
*)
	if [ ! -f "$root/test/fuzz/fuzz_$target.c" ]; then
		echo "run-fuzz: no test/fuzz/fuzz_$target.c" >&2
		exit 2
	fi
	srcs=("$root"/src/engine/*.c)
	incs=(-I"$root/src/engine" -I"$root/src/protocol" -I"$root/test/unit")
	libs=(-lutf8proc -lm -pthread)
	max_len=16384
	;;
esac

if ! command -v clang >/dev/null; then
	echo "run-fuzz: installing clang and libclang-rt-14-dev" >&2
	apt-get update -qq && apt-get install -y -qq clang libclang-rt-14-dev >&2
fi

mkdir -p "$work" "$corpus"
echo "run-fuzz: building $bin" >&2
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=c11 -D_GNU_SOURCE -Wall -Wextra "${incs[@]}" \
	-o "$bin" "$root/test/fuzz/fuzz_$target.c" "${srcs[@]}" "${libs[@]}"

seed_gguf() {
	# tiny models of several tensor types, one with a custom alignment, and
	# a bare header for when python3 or its gguf package is missing
	printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
		>"$corpus/seed-empty-v3"
	local gen=$root/test/gen/gguf_gen.py
	local tiny=(--layers 1 --dim 32 --ff 64 --heads 2 --kv-heads 1)
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
	dict=(-dict="$work/gguf.dict")
}

# Well-formed frame streams (protocol.h layouts, little endian); the first
# byte of an input is the fuzzer's piece size, not part of the stream.
seed_protocol() {
	python3 - "$corpus" "$target" <<'PY'
import struct, sys
corpus, target = sys.argv[1], sys.argv[2]
def frame(t, i, p): return struct.pack('<IIQ', len(p), t, i) + p
def s(b): return struct.pack('<I', len(b)) + b
SUBMIT, CANCEL, READY, LOAD_FAILED, STARTED, TOKEN, DONE, ERROR, STATS = range(1, 10)
def submit(kind, msgs=(), stops=(), choices=(), ids=()):
    h = struct.pack('<IIiiffQIIII', kind, 0, 16, 40, 0.7, 0.9, 42, len(msgs), len(stops), len(ids), len(choices))
    body = b''.join(s(r) + s(c) for r, c in msgs) + b''.join(map(s, stops)) + b''.join(map(s, choices))
    return h + body + struct.pack('<%di' % len(ids), *ids)
def done(finish, ids=(), text=b'', content=b'', reasoning=b''):
    return (struct.pack('<IiiIddd', finish, 3, len(text), len(ids), 0.1, 0.2, 0.3) +
            struct.pack('<%di' % len(ids), *ids) + s(text) + s(content) + s(reasoning))
if target == 'protocol_submit':
    seeds = {
        'complete': frame(SUBMIT, 1, submit(1, [(b'system', b'be brief'), (b'user', b'hi')], [b'\n'], [b'yes', b'no'])),
        'tokenize': frame(SUBMIT, 2, submit(2, [(b'user', b'hello world')])) + frame(CANCEL, 2, b''),
        'detokenize': frame(SUBMIT, 3, submit(3, ids=[1, 2, 3, 190])),
        'oversized': struct.pack('<IIQ', (64 << 20) + 1, SUBMIT, 4) + b'\0' * 64 + frame(CANCEL, 5, b''),
    }
else:
    stats = struct.pack('<iiiiqqqq', 3, 100, 0, 1, 10, 10, 5, 0)
    seeds = {
        'ready': frame(READY, 0, b'{"architecture":"llama"}') + frame(STATS, 0, stats),
        'load-failed': frame(LOAD_FAILED, 0, b'cannot open the model'),
        'generate': frame(STARTED, 1, struct.pack('<i', 12)) + frame(TOKEN, 1, struct.pack('<i', 1)) +
                    frame(DONE, 1, done(1, text=b'<think>a</think>b', content=b'b', reasoning=b'a')),
        'tokenize': frame(DONE, 2, done(1, ids=[1, 2, 3])),
        'error': frame(ERROR, 3, struct.pack('<I', 2) + b'the prompt is too long'),
    }
for name, data in seeds.items():
    with open('%s/seed-%s' % (corpus, name), 'wb') as f:
        f.write(bytes([7]) + data)
PY
}

case $target in
gguf) seed_gguf ;;
protocol_*) seed_protocol ;;
esac

echo "run-fuzz: fuzzing $target for ${secs}s" >&2
status=0
touch "$work/.start"
"$bin" -max_total_time="$secs" -max_len="$max_len" -print_final_stats=1 \
	"${dict[@]}" -artifact_prefix="$work/" \
	"$corpus" >"$log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
crashes=$(find "$work" -maxdepth 1 -newer "$work/.start" \( -name "crash-*" -o -name "leak-*" -o -name "timeout-*" -o -name "oom-*" \) | wc -l)
echo "run-fuzz: $target: ${execs:-?} executions, exit status $status, $crashes crash file(s) in $work"
if [ "$status" -ne 0 ]; then
	tail -n 40 "$log"
	exit 1
fi
