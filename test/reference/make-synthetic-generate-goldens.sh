#!/usr/bin/env bash
# Greedy continuations of 32 tokens from llama.cpp on the synthetic models of
# test/golden/generate-synthetic.list, for every prompt of
# test/golden/prompts.jsonl, raw and in the model's chat template
# (make-generate-goldens.py): test/golden/generate-synthetic-NAME.jsonl.
#
#   make-synthetic-generate-goldens.sh [NAME...]   (default: every model of the list)
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -v '^#' test/golden/generate-synthetic.list | while read -r name args; do
	[ -n "$name" ] || continue
	[ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
	# shellcheck disable=SC2086
	python3 test/gen/gguf_gen.py $args --out "$work/$name.gguf" >/dev/null
	python3 test/reference/make-generate-goldens.py "$work/$name.gguf" \
		"test/golden/generate-synthetic-$name.jsonl" 32 2>/dev/null
	echo "generate goldens: $name"
done
