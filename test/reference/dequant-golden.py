#!/usr/bin/env python3
"""Write test/golden/dequant.tsv: the first 64 dequantized values of a few
rows of real model tensors, one row per quant type, as gguf-py computes them.

    dequant-golden.py [MODEL_DIR] > test/golden/dequant.tsv

MODEL_DIR defaults to $DR1_MODEL_CACHE or ~/.cache/deepseek_r1/models.
Needs `pip install gguf numpy`.  Each line carries the absolute file offset
of the row's raw blocks, so the C test (test/unit/test_quant.c) reads them
directly without a GGUF reader; the header names each file with its size
and SHA-256, and the test skips a file whose size differs.
"""

import hashlib
import importlib.metadata
import os
import sys

import gguf
import numpy as np

N_VALUES = 64

# (file, tensor, rows): one tensor per type of interest
PICKS = [
    ("SmolLM2-135M-Instruct-Q4_1.gguf", "blk.0.ffn_gate.weight", [0, 1, 1535]),
    ("SmolLM2-135M-Instruct-Q4_1.gguf", "token_embd.weight", [0, 1, 49151]),
    ("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", "blk.0.ffn_gate.weight", [0, 1, 4863]),
    ("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", "blk.0.attn_v.weight", [0, 1, 127]),
    ("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", "blk.11.ffn_down.weight", [0, 1, 895]),
    ("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", "blk.0.ffn_down.weight", [0, 1, 895]),
    ("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", "blk.0.attn_norm.weight", [0]),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    default = os.environ.get("DR1_MODEL_CACHE",
                             os.path.expanduser("~/.cache/deepseek_r1/models"))
    model_dir = sys.argv[1] if len(sys.argv) > 1 else default
    out = sys.stdout
    out.write("# Dequantized rows of real model tensors, expected by test/unit/test_quant.c.\n")
    out.write("# Written by test/reference/dequant-golden.py with gguf-py %s (gguf.quants.dequantize).\n"
              % importlib.metadata.version("gguf"))
    files = sorted({p[0] for p in PICKS})
    readers = {}
    for name in files:
        path = os.path.join(model_dir, name)
        readers[name] = gguf.GGUFReader(path)
        out.write("# file %s size %d sha256 %s\n" % (name, os.path.getsize(path), sha256(path)))
    out.write("# columns: file, tensor, type name, type number, elements per row, row,\n"
              "#   absolute file offset of the row, then the row's first %d values (%%.9g)\n"
              % N_VALUES)
    for name, tensor, rows in PICKS:
        t = next(t for t in readers[name].tensors if t.name == tensor)
        qtype = t.tensor_type
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        n_per_row = int(t.shape[0])
        row_bytes = n_per_row // block_elems * block_bytes
        raw = np.asarray(t.data).view(np.uint8).reshape(-1)
        for row in rows:
            blocks = raw[row * row_bytes:(row + 1) * row_bytes]
            values = gguf.quants.dequantize(blocks, qtype).reshape(-1)[:N_VALUES]
            offset = int(t.data_offset) + row * row_bytes
            out.write("\t".join([name, tensor, qtype.name, str(int(qtype)), str(n_per_row),
                                 str(row), str(offset),
                                 " ".join("%.9g" % float(v) for v in values)]) + "\n")


if __name__ == "__main__":
    main()
