#!/usr/bin/env bash
# Build llama.cpp, the reference oracle and benchmark peer, outside the
# repository from the llama-cpp-python source package on PyPI.  None of its
# code enters this repository; only our own programs link against it.
#
#   test/reference/build-llama-cpp.sh [avx2|fast]
#
#   avx2 (default)  AVX2, FMA, F16C, BMI2 and nothing wider: the numerics the
#                   CPU backend mirrors, so goldens made with it are the same
#                   on every machine
#   fast            also AVX-512 (F/CD/BW/DQ/VL), VNNI, VBMI and BF16 where
#                   this CPU reports them: the benchmark peer
#
# Both name their instruction sets (GGML_NATIVE=OFF) and leave AMX off: AMX
# tiles fault in these VMs, and a native build dies with SIGSEGV in
# ggml_backend_amx_mul_mat on a Sapphire Rapids class Xeon.  On a CPU with
# nothing beyond AVX2 the two builds are the same and share one directory.
#
# Prints the build directory (bin/llama-tokenize, bin/llama-bench,
# bin/libllama.so).  $DR1_REF_DIR, default ~/.cache/deepseek_r1/llama.cpp.
set -euo pipefail

variant=${1:-avx2}
version=0.3.36
ref=${DR1_REF_DIR:-$HOME/.cache/deepseek_r1/llama.cpp}
src=$ref/llama_cpp_python-$version/vendor/llama.cpp

has() { grep -qw "$1" /proc/cpuinfo; }

has avx2 && has fma && has f16c || { echo "build-llama-cpp: this CPU lacks AVX2/FMA/F16C" >&2; exit 1; }
flags=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
	-DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
name=avx2
case $variant in
avx2)
	flags+=(-DGGML_AVX512=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_BF16=OFF) ;;
fast)
	on() { if has "$1"; then echo ON; else echo OFF; fi; }
	if has avx512f && has avx512cd && has avx512bw && has avx512dq && has avx512vl; then
		name=avx512
		flags+=(-DGGML_AVX512=ON -DGGML_AVX512_VNNI="$(on avx512_vnni)"
			-DGGML_AVX512_VBMI="$(on avx512vbmi)" -DGGML_AVX512_BF16="$(on avx512_bf16)")
		for f in avx512_vnni:vnni avx512vbmi:vbmi avx512_bf16:bf16; do
			if has "${f%:*}"; then name+=-${f#*:}; fi
		done
	else
		flags+=(-DGGML_AVX512=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_BF16=OFF)
	fi ;;
*)
	echo "build-llama-cpp: unknown variant '$variant' (avx2 or fast)" >&2; exit 2 ;;
esac

build=$src/build-$name
if [ -x "$build/bin/llama-tokenize" ] && [ -x "$build/bin/llama-bench" ] && [ -f "$build/bin/libllama.so" ]; then
	echo "$build"
	exit 0
fi
mkdir -p "$ref"
if [ ! -d "$src" ]; then
	python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
		-d "$ref" "llama-cpp-python==$version" >&2
	tar -xzf "$ref/llama_cpp_python-$version.tar.gz" -C "$ref"
fi
echo "build-llama-cpp: building $name (${flags[*]}) in $build" >&2
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=ON "${flags[@]}" >&2
cmake --build "$build" -j"$(nproc)" --target llama-tokenize llama-bench llama >&2
echo "$build"
