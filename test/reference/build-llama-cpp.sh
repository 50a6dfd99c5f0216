#!/usr/bin/env bash
# Build llama.cpp, the reference oracle and benchmark peer, outside the
# repository from the llama-cpp-python source package on PyPI.  None of its
# code enters this repository; only our own programs link against it.
#
# Prints the build directory (with bin/llama-tokenize, bin/llama-bench and
# bin/libllama.so).  $DR1_REF_DIR, default ~/.cache/deepseek_r1/llama.cpp.
set -euo pipefail

version=0.3.36
ref=${DR1_REF_DIR:-$HOME/.cache/deepseek_r1/llama.cpp}
src=$ref/llama_cpp_python-$version/vendor/llama.cpp
build=$src/build
if [ -x "$build/bin/llama-tokenize" ] && [ -x "$build/bin/llama-bench" ]; then
	echo "$build"
	exit 0
fi
mkdir -p "$ref"
if [ ! -d "$src" ]; then
	python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
		-d "$ref" "llama-cpp-python==$version" >&2
	tar -xzf "$ref/llama_cpp_python-$version.tar.gz" -C "$ref"
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
	-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
	-DBUILD_SHARED_LIBS=ON >&2
cmake --build "$build" -j"$(nproc)" --target llama-tokenize llama-bench llama >&2
echo "$build"
