#!/usr/bin/env bash
# Our greedy continuations on the synthetic models of
# test/golden/generate-synthetic.list against llama.cpp's: each model is
# regenerated from its arguments, then compared by check_generate.py.
#
#   test/check-synthetic-generate.sh BIN [THREADS]
set -uo pipefail
cd "$(dirname "$0")/.."

bin=$1
threads=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rc=0
while read -r name args; do
	[ -n "$name" ] || continue
	# shellcheck disable=SC2086
	if ! python3 test/gen/gguf_gen.py $args --jobs 1 --out "$work/$name.gguf" >/dev/null; then
		echo "not ok  $name: cannot generate the model (python3 with numpy and gguf needed)"
		echo "generate synthetic-$name: 0 passed, 1 failed"
		rc=1
		continue
	fi
	python3 test/check_generate.py "$bin" "$work/$name.gguf" \
		"test/golden/generate-synthetic-$name.jsonl" "$threads" || rc=1
done < <(grep -v '^#' test/golden/generate-synthetic.list)
exit $rc
