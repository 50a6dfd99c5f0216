#!/usr/bin/env python3
"""Write the llama.cpp embedding goldens (test_embed checks them).

    python3 test/reference/make-embed-goldens.py      (from the repository root)

test/golden/embed-minilm-llama.tsv: all-MiniLM-L6-v2 as F32, F16 and Q8_0
(scripts/fetch-models.sh minilm), mean pooling as the files say, over 112
texts of mixed languages and lengths: 100 taken from tokens-minilm.tsv (the
HF WordPiece golden, 3 to 254 tokens) and 12 longer ones made by joining
consecutive texts (up to 250 tokens: sentence-transformers, the other
reference, cuts inputs at 256).  llama.cpp is given HF's ids, so the file
compares the forward pass and the pooling; test_embed checks separately
that our ids are HF's.

test/golden/embed-smollm2-llama.tsv: SmolLM2-135M-Instruct Q4_1 (a
decoder; no pooling_type in the file, so "last", as the engine pools it),
over 30 of the same texts, tokenized by llama.cpp itself (BOS as the file
says, no control tokens).

One line per (reference, text): the reference (llama-F32, llama-F16,
llama-Q8_0, llama-Q4_1), the text's UTF-8 as hex, the input ids, and the
L2-normalised embedding (7 significant digits), tab-separated.  Needs the
llama.cpp build (test/reference/build-llama-cpp.sh avx2; embed-oracle.c is
compiled against it), pip's tokenizers, and the models in $DR1_MODEL_CACHE.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = Path(os.environ.get("DR1_MODEL_CACHE", Path.home() / ".cache/deepseek_r1/models"))
MINILM = [("llama-F32", "all-MiniLM-L6-v2-F32.gguf"), ("llama-F16", "all-MiniLM-L6-v2-F16.gguf"),
          ("llama-Q8_0", "all-MiniLM-L6-v2-Q8_0.gguf")]
SMOLLM2 = ("llama-Q4_1", "SmolLM2-135M-Instruct-Q4_1.gguf")
N_PICKED, N_LONG, N_DECODER, MAX_TOKENS = 100, 12, 30, 250


def wordpiece_reference():
    spec = importlib.util.spec_from_file_location("wp", HERE / "make-wordpiece-goldens.py")
    wp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wp)
    return wp.reference_tokenizer


def build_oracle(tmp):
    build = subprocess.run([str(HERE / "build-llama-cpp.sh"), "avx2"], check=True,
                           capture_output=True, text=True).stdout.strip()
    src = Path(build).parent
    out = Path(tmp) / "embed-oracle"
    subprocess.run(["cc", "-O2", "-o", str(out), str(HERE / "embed-oracle.c"), f"-I{src}/include",
                    f"-I{src}/ggml/include", f"-L{build}/bin", "-lllama", "-lm",
                    f"-Wl,-rpath,{build}/bin"], check=True)
    return out


def pick_texts(tok):
    """(text, HF ids): every other usable text of the WordPiece golden, then long joins."""
    usable = []
    for line in open("test/golden/tokens-minilm.tsv", encoding="utf-8"):
        hexed, ids = line.rstrip("\n").split("\t")
        if 5 <= len(ids.split()) <= MAX_TOKENS:
            usable.append(bytes.fromhex(hexed).decode("utf-8"))
    picked = usable[::2][:N_PICKED]
    longs, i = [], 0
    while len(longs) < N_LONG and i < len(usable):
        text = usable[i]
        while i + 1 < len(usable) and len(tok.encode(text + " " + usable[i + 1]).ids) <= MAX_TOKENS:
            i += 1
            text += " " + usable[i]
        if len(tok.encode(text).ids) > 100:
            longs.append(text)
        i += 1
    texts = picked + longs
    return [(t, tok.encode(t).ids) for t in texts]


def oracle(prog, model, pooling, mode, lines):
    res = subprocess.run([str(prog), str(model), pooling, mode], input="".join(lines),
                         capture_output=True, text=True, check=True)
    return [[float(x) for x in l.strip("[]\n").split(",")] for l in res.stdout.splitlines()]


def row(ref, text, ids, emb):
    return "\t".join([ref, text.encode("utf-8").hex(), " ".join(map(str, ids)),
                      " ".join(f"{x:.7g}" for x in emb)]) + "\n"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        prog = build_oracle(tmp)
        texts = pick_texts(wordpiece_reference()(tmp))
        out = []
        for ref, file in MINILM:
            embs = oracle(prog, MODELS / file, "mean", "ids", [" ".join(map(str, ids)) + "\n" for _, ids in texts])
            out += [row(ref, t, ids, e) for (t, ids), e in zip(texts, embs)]
        Path("test/golden/embed-minilm-llama.tsv").write_text("".join(out), encoding="utf-8")
        dec = [t for t, _ in texts[::len(texts) // N_DECODER]][:N_DECODER]
        ref, file = SMOLLM2
        res = oracle(prog, MODELS / file, "last", "text", [t.encode("utf-8").hex() + "\n" for t in dec])
        ids = subprocess.run([str(prog), str(MODELS / file), "last", "tokens"],
                             input="".join(t.encode("utf-8").hex() + "\n" for t in dec),
                             capture_output=True, text=True, check=True).stdout.splitlines()
        Path("test/golden/embed-smollm2-llama.tsv").write_text(
            "".join(row(ref, t, i.split(), e) for t, i, e in zip(dec, ids, res)), encoding="utf-8")
    print(f"wrote test/golden/embed-minilm-llama.tsv ({len(texts)} texts x {len(MINILM)} files) and "
          f"test/golden/embed-smollm2-llama.tsv ({len(dec)} texts)", file=sys.stderr)


if __name__ == "__main__":
    main()
