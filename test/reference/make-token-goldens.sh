#!/usr/bin/env bash
# Regenerate test/golden/tokens-<name>.tsv: llama.cpp's token ids for every
# text of test/golden/texts.jsonl, without and with special-token parsing,
# for each vocabulary whose file is present (and for the R1 vocabulary
# under the gpt-2 pre-tokenizer).
#
#   test/reference/make-token-goldens.sh      (from the repository root)
#
# Needs llama.cpp (test/reference/build-llama-cpp.sh builds it outside the
# repository) and the models in $DR1_MODEL_CACHE (default
# ~/.cache/deepseek_r1/models).  tokenize-ref.c is compiled against libllama
# into a temporary directory.
set -euo pipefail

cd "$(dirname "$0")/../.."
build=$(test/reference/build-llama-cpp.sh avx2)
src=$(dirname "$build")
models=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc -O2 -I"$src/include" -I"$src/ggml/include" -o "$tmp/tokenize-ref" \
	test/reference/tokenize-ref.c -L"$build/bin" -lllama \
	-Wl,-rpath,"$build/bin"

# One text a line as hex: the exact bytes, no newline added.
python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.loads(line).encode("utf-8").hex())
' test/golden/texts.jsonl >"$tmp/texts.hex"

run() {
	local name=$1 file=$2
	if [ ! -f "$file" ]; then
		echo "skip $name: $file not found" >&2
		return
	fi
	"$tmp/tokenize-ref" "$file" "$tmp/texts.hex" >"test/golden/tokens-$name.tsv"
	echo "wrote test/golden/tokens-$name.tsv ($(wc -l <"test/golden/tokens-$name.tsv") lines)" >&2
}

# The R1 vocabulary with tokenizer.ggml.pre replaced, for a split no
# vocabulary at hand uses: plain GPT-2's.  (Llama 3's would give the same ids
# as qwen2's here: the vocabulary has no tokens of several digits.)
with_pre() {
	python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
key = b"tokenizer.ggml.pre"
at = d.index(struct.pack("<Q", len(key)) + key) + 8 + len(key) + 4
old = struct.unpack("<Q", d[at:at + 8])[0]
new = sys.argv[3].encode()
open(sys.argv[2], "wb").write(d[:at] + struct.pack("<Q", len(new)) + new + d[at + 8 + old:])
' "$1" "$2" "$3"
}

run smollm2 "$models/SmolLM2-135M-Instruct-Q4_1.gguf"
run qwen2 "$models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
run deepseek-r1-qwen test/data/deepseek-r1-qwen-vocab.gguf
with_pre test/data/deepseek-r1-qwen-vocab.gguf "$tmp/gpt2.gguf" gpt-2
run gpt2 "$tmp/gpt2.gguf"
