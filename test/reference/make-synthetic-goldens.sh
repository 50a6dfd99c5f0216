#!/usr/bin/env bash
# Logits of small synthetic models (random weights, real layouts) from
# llama.cpp, the reference for test/unit/test_synthetic.c.
#
# For every model of the list below: generate it with test/gen/gguf_gen.py
# (deterministic from its seed), run llama-oracle on a fixed prompt and write
# test/golden/synthetic/NAME.txt: the generator arguments, the prompt ids,
# then the logits after the prompt, one per line.  The test regenerates the
# model from the same arguments and compares.  For a mixture-of-experts model
# also test/golden/routing/NAME.txt: the same two lines, then the experts each
# MoE layer chose per token ("LAYER TOKEN EXPERT...").
#
#   make-synthetic-goldens.sh [NAME...]   (default: every model of the list)
set -euo pipefail
cd "$(dirname "$0")/../.."

build=$(test/reference/build-llama-cpp.sh avx2)
src=$(dirname "$build")
oracle=$build/bin/llama-oracle
cc -O2 -o "$oracle" test/reference/llama-oracle.c -I"$src/include" -I"$src/ggml/include" \
	-L"$build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$build/bin"

prompt='Hello world, this is a test of the synthetic model.'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# deepseek2 keeps the generator's defaults: a dense layer, then MoE layers
while read -r name args; do
	[ -n "$name" ] || continue
	[ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
	shape="--layers 2 --dim 256 --ff 512 --heads 4 --kv-heads 2"
	[[ $args != *deepseek2* ]] || shape=""
	# shellcheck disable=SC2086
	python3 test/gen/gguf_gen.py $args $shape --out "$work/$name.gguf" >/dev/null
	# a -long model reads the prompt eleven times over (about 470 tokens):
	# products over many rows, each expert over dozens
	text=$prompt
	[[ $name != *-long ]] || text=$(printf "$prompt %.0s" $(seq 11))
	printf '%s' "$text" | "$oracle" "$work/$name.gguf" 0 raw "$work/$name.logits" \
		"$work/$name.routing" > "$work/$name.json"
	ids=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_ids"])))' "$work/$name.json")
	printf '%s\n%s\n' "$args${shape:+ $shape}" "$ids" | cat - "$work/$name.logits" > "test/golden/synthetic/$name.txt"
	# a mixture of experts: which experts each MoE layer chose for each token
	# (test/unit/test_moe_routing.c)
	if [ -s "$work/$name.routing" ]; then
		mkdir -p test/golden/routing
		printf '%s\n%s\n' "$args${shape:+ $shape}" "$ids" | cat - "$work/$name.routing" > "test/golden/routing/$name.txt"
	fi
	echo "synthetic: $name"
done <<'LIST'
qwen2-f32     --arch qwen2 --wtype F32 --seed 11
qwen2-f16     --arch qwen2 --wtype F16 --seed 12
qwen2-bf16    --arch qwen2 --wtype BF16 --seed 13
qwen2-q8_0    --arch qwen2 --wtype Q8_0 --seed 14
qwen2-q5_0    --arch qwen2 --wtype Q5_0 --seed 15
qwen2-q4_k_m  --arch qwen2 --wtype Q4_K_M --seed 16
qwen2-q5_1-tied --arch qwen2 --wtype Q5_1 --tied --seed 17
llama-q4_0    --arch llama --wtype Q4_0 --seed 21
llama-q4_1    --arch llama --wtype Q4_1 --seed 22
llama-q4_k    --arch llama --wtype Q4_K --seed 23
llama-q5_k    --arch llama --wtype Q5_K --seed 24
llama-q6_k    --arch llama --wtype Q6_K --seed 25
llama-q8_0-tied-ropefreqs --arch llama --wtype Q8_0 --tied --rope-freqs --seed 26
qwen3-q8_0    --arch qwen3 --wtype Q8_0 --seed 31
qwen3-q4_k_m  --arch qwen3 --wtype Q4_K_M --seed 32
qwen3-f16-tied --arch qwen3 --wtype F16 --tied --seed 33
deepseek2-q8_0 --arch deepseek2 --wtype Q8_0 --seed 51
deepseek2-q4_k_m --arch deepseek2 --wtype Q4_K_M --seed 52
deepseek2-q4_k_m-long --arch deepseek2 --wtype Q4_K_M --seed 52
deepseek2-f16 --arch deepseek2 --wtype F16 --seed 53
deepseek2-q6_k-tied --arch deepseek2 --wtype Q6_K --tied --seed 54
LIST
