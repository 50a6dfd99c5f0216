#!/usr/bin/env python3
"""Write a synthetic llama, qwen2, qwen3 or deepseek2 GGUF model with random weights.

The files exercise the engine's loader and kernels on every tensor type
without downloading a model: names, shapes and hyper-parameter keys are
the ones llama.cpp expects, weights are random with a scale that keeps
activations finite, and the vocabulary is either copied from a real model
(--vocab-from) or a minimal byte-level one generated here.

    python3 test/gen/gguf_gen.py --arch qwen2 --wtype Q8_0 --layers 2 \\
        --dim 64 --heads 4 --kv-heads 2 --ff 128 --out /tmp/tiny.gguf

deepseek2 files have the structure of DeepSeek-R1 at a small size: latent
attention (q_lora and kv_lora ranks, a decoupled RoPE part, attn_kv_b split
into attn_k_b and attn_v_b as llama.cpp's converter writes it), leading
dense layers, then MoE layers (sigmoid router with a selection bias,
expert groups, a shared expert, routed scaling) and YaRN RoPE metadata.

Needs numpy and the `gguf` package (pip install gguf numpy).
"""

import argparse
import collections
import concurrent.futures
import mmap
import os
import struct
import sys

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as QT
    from gguf import GGUFValueType as VT
except ImportError as e:
    sys.exit(f"gguf_gen: {e} (pip install gguf numpy)")

WTYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
          "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]

# K-quant -> type used where a row is not a multiple of 256, as llama.cpp's
# quantizer does for narrow models.
K_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}

SHAPES = {
    "r1-qwen-1.5b": dict(arch="qwen2", layers=28, dim=1536, ff=8960,
                         heads=12, kv_heads=2, rope_base=10000.0,
                         vocab=151936, ctx=131072),
    "r1-qwen-7b": dict(arch="qwen2", layers=28, dim=3584, ff=18944,
                       heads=28, kv_heads=4, rope_base=10000.0,
                       vocab=152064, ctx=131072),
}

# deepseek2's own arguments and defaults: DeepSeek-R1's structure, small.
DEEPSEEK2_ARGS = [
    ("--q-lora", int, 128), ("--kv-lora", int, 128), ("--qk-nope", int, 64),
    ("--qk-rope", int, 32), ("--v-head", int, 64),
    ("--dense-layers", int, 1),         # leading layers with a dense FFN
    ("--experts", int, 16), ("--experts-used", int, 4),
    ("--expert-groups", int, 4), ("--groups-used", int, 2),
    ("--shared-experts", int, 1), ("--expert-ff", int, 64),
    ("--routed-scale", float, 2.5),
    ("--yarn-factor", float, 4.0), ("--yarn-orig-ctx", int, 512),
]

# Defaults that give an architecture its real structure when --shape is not
# given: deepseek2 needs a dense layer and MoE layers after it.
ARCH_DEFAULTS = {
    "deepseek2": dict(layers=3, dim=256, ff=512, heads=4, kv_heads=1),
}

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] "
          "+ '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
          "{% endif %}")

CHUNK_ELEMS = 1 << 24           # elements generated per step of a tensor
WEIGHT_STD = 0.02               # of the 2-D weights (--weight-std)


# ---- reading tokenizer metadata from an existing file ----

SCALAR_FMT = {VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h",
              VT.UINT32: "<I", VT.INT32: "<i", VT.FLOAT32: "<f",
              VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q",
              VT.FLOAT64: "<d"}


class HeaderReader:
    """Just enough of a GGUF parser to read the metadata section; it does
    not look at tensors, so it works on a file whose data is truncated."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.buf[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, vtype):
        if vtype == VT.STRING:
            return self.string(), None
        if vtype == VT.ARRAY:
            sub = VT(self.take("<I"))
            n = self.take("<Q")
            if sub == VT.STRING:
                return [self.string() for _ in range(n)], sub
            dt = np.dtype(SCALAR_FMT[sub])
            arr = np.frombuffer(self.buf, dt, n, self.pos)
            self.pos += n * dt.itemsize
            return arr.tolist(), sub
        return self.take(SCALAR_FMT[vtype]), None

    def metadata(self):
        if self.buf[:4] != b"GGUF":
            raise ValueError("not a GGUF file")
        self.pos = 8
        self.take("<Q")
        n_kv = self.take("<Q")
        out = {}
        for _ in range(n_kv):
            key = self.string().decode()
            vtype = VT(self.take("<I"))
            out[key] = (vtype,) + self.value(vtype)
        return out


def copy_vocab(writer, path):
    """Copy every tokenizer.* key of another model; return the vocab size."""
    meta = HeaderReader(path).metadata()
    n_vocab = 0
    for key, (vtype, val, sub) in meta.items():
        if not key.startswith("tokenizer."):
            continue
        writer.add_key_value(key, val, vtype, sub)
        if key == "tokenizer.ggml.tokens":
            n_vocab = len(val)
    if n_vocab == 0:
        sys.exit(f"gguf_gen: {path} has no tokenizer.ggml.tokens")
    return n_vocab


# ---- a minimal self-contained vocabulary ----

def byte_symbols():
    """GPT-2's map from bytes to printable characters."""
    keep = (list(range(ord("!"), ord("~") + 1)) +
            list(range(ord("¡"), ord("¬") + 1)) +
            list(range(ord("®"), ord("ÿ") + 1)))
    chars = {}
    extra = 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_min_vocab(writer, pad_to):
    tokens = byte_symbols()
    merges = ["Ġ t", "h e", "i n", "e r", "a n", "Ġt he", "o n", "Ġ a",
              "r e", "Ġ s"]
    tokens += ["".join(m.split(" ")) for m in merges]
    types = [1] * len(tokens)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    first_special = len(tokens)
    tokens += specials
    types += [3] * len(specials)
    while len(tokens) < pad_to:
        tokens.append(f"[PAD{len(tokens)}]")
        types.append(4)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(first_special)
    writer.add_eos_token_id(first_special + 2)
    writer.add_pad_token_id(first_special)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    return len(tokens)


# ---- weights ----

def quantized_type(wtype, role):
    """Type of a 2-D weight for --wtype; Q4_K_M follows llama.cpp's mix."""
    if wtype != "Q4_K_M":
        return wtype
    if role in ("attn_v", "ffn_down", "output"):
        return "Q6_K"
    return "Q4_K"


def k_quant_blocks(rng, n_blocks, qname, std):
    """Random K-quant blocks.  Any byte pattern is a valid block; only the
    sub-block scales are kept to 4 bits so that the super-block scales d
    and dmin, chosen to give about the wanted std, stay normal fp16."""
    size = gguf.GGML_QUANT_SIZES[QT[qname]][1]
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    # std of the dequantized values for d = 1, measured with gguf.quants
    unit = {"Q4_K": 64.0, "Q5_K": 129.0, "Q6_K": 171.0}[qname]
    d = (std / unit * rng.uniform(0.75, 1.25, n_blocks)).astype(np.float16)
    if qname == "Q6_K":
        scales = rng.integers(-16, 16, size=(n_blocks, 16), dtype=np.int8)
        blocks[:, 192:208] = scales.view(np.uint8)
        blocks[:, 208:210] = d.view(np.uint8).reshape(-1, 2)
        return blocks
    # dmin centres the unsigned quants: about the mean of q
    mid = {"Q4_K": 7.5, "Q5_K": 15.5}[qname]
    dmin = (d.astype(np.float32) * mid).astype(np.float16)
    blocks[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
    blocks[:, 2:4] = dmin.view(np.uint8).reshape(-1, 2)
    blocks[:, 4:12] &= 0x0F
    return blocks


def encode_rows(task):
    """One chunk of a tensor as the bytes stored in the file.  Each chunk
    has its own random stream, so the output does not depend on --jobs."""
    seed, qname, rows, cols, std, mean = task
    rng = np.random.default_rng(seed)
    if qname in K_FALLBACK:
        n_blocks = rows * cols // 256
        return k_quant_blocks(rng, n_blocks, qname, std).tobytes()
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    x *= std
    x += mean
    if qname == "F32":
        return x.tobytes()
    return np.asarray(gguf.quants.quantize(x, QT[qname])).tobytes()


class Tensor:
    def __init__(self, name, ne, qname, std, mean=0.0):
        self.name, self.ne, self.qname = name, ne, qname
        self.std, self.mean = std, mean
        block, size = gguf.GGML_QUANT_SIZES[QT[qname]]
        rows = 1
        for n in ne[1:]:
            rows *= n
        self.rows = rows
        self.nbytes = rows * (ne[0] // block) * size

    def chunks(self, seed, index):
        """Work items for encode_rows, in file order."""
        step = max(1, CHUNK_ELEMS // self.ne[0])
        for k, r in enumerate(range(0, self.rows, step)):
            yield ([seed, index, k], self.qname, min(step, self.rows - r),
                   self.ne[0], self.std, self.mean)


def write_data(fout, tasks, jobs):
    """Encode chunks, in parallel when jobs > 1, and write them in order;
    at most 2 * jobs chunks are held in memory at once."""
    if jobs <= 1:
        for t in tasks:
            fout.write(encode_rows(t))
        return
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        pending = collections.deque()
        for t in tasks:
            pending.append(pool.submit(encode_rows, t))
            if len(pending) >= 2 * jobs:
                fout.write(pending.popleft().result())
        while pending:
            fout.write(pending.popleft().result())


def weight(name, ne, qname):
    """A 2-D weight, falling back from a K-quant (or failing) where its row
    length is not a multiple of the block size."""
    block = gguf.GGML_QUANT_SIZES[QT[qname]][0]
    if ne[0] % block != 0 and qname in K_FALLBACK:
        qname = K_FALLBACK[qname]
        block = gguf.GGML_QUANT_SIZES[QT[qname]][0]
    if ne[0] % block != 0:
        sys.exit(f"gguf_gen: {name}: row of {ne[0]} is not a multiple of "
                 f"the {qname} block size {block}")
    return Tensor(name, ne, qname, WEIGHT_STD)


def outer_tensors(a, n_vocab, w):
    """The embedding, the final norm and (untied) the output projection."""
    emb_type = "Q4_K" if a.wtype == "Q4_K_M" else a.wtype
    ts = [weight("token_embd.weight", [a.dim, n_vocab], emb_type),
          Tensor("output_norm.weight", [a.dim], "F32", 0.1, 1.0)]
    if not a.tied:
        ts.append(weight("output.weight", [a.dim, n_vocab], w("output")))
    return ts


def model_tensors(a, n_vocab):
    head_dim = a.dim // a.heads
    kv_dim = head_dim * a.kv_heads
    w = lambda role: quantized_type(a.wtype, role)
    ts = outer_tensors(a, n_vocab, w)
    if a.rope_freqs:
        ts.append(Tensor("rope_freqs.weight", [head_dim // 2], "F32",
                         0.0, 1.0))
    for i in range(a.layers):
        p = f"blk.{i}."
        ts.append(Tensor(p + "attn_norm.weight", [a.dim], "F32", 0.1, 1.0))
        ts.append(weight(p + "attn_q.weight", [a.dim, a.dim], w("attn_q")))
        ts.append(weight(p + "attn_k.weight", [a.dim, kv_dim], w("attn_k")))
        ts.append(weight(p + "attn_v.weight", [a.dim, kv_dim], w("attn_v")))
        if a.arch == "qwen2":
            ts.append(Tensor(p + "attn_q.bias", [a.dim], "F32", 0.1))
            ts.append(Tensor(p + "attn_k.bias", [kv_dim], "F32", 0.1))
            ts.append(Tensor(p + "attn_v.bias", [kv_dim], "F32", 0.1))
        if a.arch == "qwen3":
            ts.append(Tensor(p + "attn_q_norm.weight", [head_dim], "F32",
                             0.1, 1.0))
            ts.append(Tensor(p + "attn_k_norm.weight", [head_dim], "F32",
                             0.1, 1.0))
        ts.append(weight(p + "attn_output.weight", [a.dim, a.dim],
                         w("attn_output")))
        ts.append(Tensor(p + "ffn_norm.weight", [a.dim], "F32", 0.1, 1.0))
        ts.append(weight(p + "ffn_gate.weight", [a.dim, a.ff], w("ffn_gate")))
        ts.append(weight(p + "ffn_up.weight", [a.dim, a.ff], w("ffn_up")))
        ts.append(weight(p + "ffn_down.weight", [a.ff, a.dim], w("ffn_down")))
    return ts


def deepseek2_layer(a, i, w):
    """One deepseek2 layer: latent attention, then a dense or MoE block."""
    p = f"blk.{i}."
    k_mla = a.qk_nope + a.qk_rope
    ts = [Tensor(p + "attn_norm.weight", [a.dim], "F32", 0.1, 1.0),
          weight(p + "attn_q_a.weight", [a.dim, a.q_lora], w("attn_q")),
          Tensor(p + "attn_q_a_norm.weight", [a.q_lora], "F32", 0.1, 1.0),
          weight(p + "attn_q_b.weight", [a.q_lora, a.heads * k_mla],
                 w("attn_q")),
          weight(p + "attn_kv_a_mqa.weight", [a.dim, a.kv_lora + a.qk_rope],
                 w("attn_k")),
          Tensor(p + "attn_kv_a_norm.weight", [a.kv_lora], "F32", 0.1, 1.0),
          weight(p + "attn_k_b.weight", [a.qk_nope, a.kv_lora, a.heads],
                 w("attn_k")),
          weight(p + "attn_v_b.weight", [a.kv_lora, a.v_head, a.heads],
                 w("attn_v")),
          weight(p + "attn_output.weight", [a.heads * a.v_head, a.dim],
                 w("attn_output")),
          Tensor(p + "ffn_norm.weight", [a.dim], "F32", 0.1, 1.0)]
    if i < a.dense_layers:
        return ts + [
            weight(p + "ffn_gate.weight", [a.dim, a.ff], w("ffn_gate")),
            weight(p + "ffn_up.weight", [a.dim, a.ff], w("ffn_up")),
            weight(p + "ffn_down.weight", [a.ff, a.dim], w("ffn_down"))]
    shared_ff = a.expert_ff * a.shared_experts
    return ts + [
        # the router stays F32, as llama.cpp's converter and quantizer keep it
        Tensor(p + "ffn_gate_inp.weight", [a.dim, a.experts], "F32", WEIGHT_STD),
        Tensor(p + "exp_probs_b.bias", [a.experts], "F32", 0.05),
        weight(p + "ffn_gate_exps.weight", [a.dim, a.expert_ff, a.experts],
               w("ffn_gate")),
        weight(p + "ffn_up_exps.weight", [a.dim, a.expert_ff, a.experts],
               w("ffn_up")),
        weight(p + "ffn_down_exps.weight", [a.expert_ff, a.dim, a.experts],
               w("ffn_down")),
        weight(p + "ffn_gate_shexp.weight", [a.dim, shared_ff], w("ffn_gate")),
        weight(p + "ffn_up_shexp.weight", [a.dim, shared_ff], w("ffn_up")),
        weight(p + "ffn_down_shexp.weight", [shared_ff, a.dim],
               w("ffn_down"))]


def deepseek2_tensors(a, n_vocab):
    w = lambda role: quantized_type(a.wtype, role)
    ts = outer_tensors(a, n_vocab, w)
    for i in range(a.layers):
        ts += deepseek2_layer(a, i, w)
    return ts


def add_deepseek2_hparams(writer, a):
    """The keys llama.cpp's converter writes for DeepSeek-V3/R1."""
    arch = a.arch
    counts = {
        "leading_dense_block_count": a.dense_layers,
        "attention.q_lora_rank": a.q_lora,
        "attention.kv_lora_rank": a.kv_lora,
        # MLA as MQA over the latent: K is latent + RoPE part, V the latent
        "attention.key_length": a.kv_lora + a.qk_rope,
        "attention.value_length": a.kv_lora,
        "attention.key_length_mla": a.qk_nope + a.qk_rope,
        "attention.value_length_mla": a.v_head,
        "rope.dimension_count": a.qk_rope,
        "expert_feed_forward_length": a.expert_ff,
        "expert_count": a.experts,
        "expert_used_count": a.experts_used,
        "expert_shared_count": a.shared_experts,
        "expert_group_count": a.expert_groups,
        "expert_group_used_count": a.groups_used,
        "expert_gating_func": 2,        # sigmoid
        "rope.scaling.original_context_length": a.yarn_orig_ctx,
    }
    for key, value in counts.items():
        writer.add_uint32(f"{arch}.{key}", value)
    writer.add_float32(f"{arch}.expert_weights_scale", a.routed_scale)
    writer.add_bool(f"{arch}.expert_weights_norm", True)
    writer.add_string(f"{arch}.rope.scaling.type", "yarn")
    writer.add_float32(f"{arch}.rope.scaling.factor", a.yarn_factor)
    # 0.1 * mscale_all_dim, as the converter writes it (R1: mscale_all_dim 1)
    writer.add_float32(f"{arch}.rope.scaling.yarn_log_multiplier", 0.1)


# ---- the file ----

def add_hparams(writer, a):
    arch = a.arch
    writer.add_string("general.name", f"synthetic {arch} {a.wtype}")
    writer.add_uint32(f"{arch}.block_count", a.layers)
    writer.add_uint32(f"{arch}.context_length", a.ctx)
    writer.add_uint32(f"{arch}.embedding_length", a.dim)
    writer.add_uint32(f"{arch}.feed_forward_length", a.ff)
    writer.add_uint32(f"{arch}.attention.head_count", a.heads)
    writer.add_uint32(f"{arch}.attention.head_count_kv", a.kv_heads)
    writer.add_float32(f"{arch}.rope.freq_base", a.rope_base)
    writer.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", a.rms_eps)
    if arch == "deepseek2":
        add_deepseek2_hparams(writer, a)
    if a.alignment:
        writer.add_custom_alignment(a.alignment)


def write_model(a):
    writer = gguf.GGUFWriter(a.out, a.arch)
    add_hparams(writer, a)
    if a.vocab_from:
        n_vocab = copy_vocab(writer, a.vocab_from)
    else:
        n_vocab = write_min_vocab(writer, a.vocab or 0)
    tensors = (deepseek2_tensors if a.arch == "deepseek2" else model_tensors)(a, n_vocab)
    for t in tensors:
        shape = list(reversed(t.ne))
        writer.add_tensor_info(t.name, shape, np.dtype(np.float32),
                               t.nbytes, QT[t.qname])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    # Stream the data, a chunk of rows at a time, in the layout the tensor
    # infos promise: each tensor starts at a multiple of the alignment.
    fout = writer.fout[0]
    writer.write_padding(fout, fout.tell())
    for i, t in enumerate(tensors):
        write_data(fout, t.chunks(a.seed, i), a.jobs)
        writer.write_padding(fout, t.nbytes)
    writer.close()
    return n_vocab, len(tensors)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["qwen2", "qwen3", "llama", "deepseek2"],
                   default="qwen2")
    p.add_argument("--wtype", choices=WTYPES, default="F32")
    p.add_argument("--tied", action="store_true",
                   help="no output.weight: the output reuses token_embd")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--ff", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--rope-base", type=float, default=10000.0)
    p.add_argument("--rms-eps", type=float, default=1e-6)
    p.add_argument("--alignment", type=int, default=0,
                   help="write general.alignment (a power of two)")
    p.add_argument("--vocab", type=int, default=0,
                   help="pad the generated vocabulary to this size")
    p.add_argument("--shape", choices=sorted(SHAPES))
    p.add_argument("--vocab-from", metavar="GGUF",
                   help="copy the tokenizer.* keys of this model")
    p.add_argument("--rope-freqs", action="store_true",
                   help="add rope_freqs.weight (llama 3 style)")
    g = p.add_argument_group("deepseek2")
    for flag, kind, default in DEEPSEEK2_ARGS:
        g.add_argument(flag, type=kind, default=default)
    p.add_argument("--weight-std", type=float, default=WEIGHT_STD,
                   help="spread of the 2-D weights: larger gives sharper "
                   "attention")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes encoding the weights (default: all CPUs)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.shape:                 # a preset's values, unless given explicitly
        p.set_defaults(**SHAPES[a.shape])
        a = p.parse_args(argv)
    elif a.arch in ARCH_DEFAULTS:
        p.set_defaults(**ARCH_DEFAULTS[a.arch])
        a = p.parse_args(argv)
    if a.arch == "deepseek2":
        if a.experts % a.expert_groups or a.groups_used > a.expert_groups or \
                a.experts_used > a.experts or a.dense_layers >= a.layers:
            p.error("deepseek2: experts must split into groups, and a layer "
                    "after the dense ones must remain")
        return a
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        p.error("dim must split into heads of even size, heads into kv-heads")
    if a.rope_freqs and a.arch != "llama":
        p.error("--rope-freqs is for --arch llama")
    return a


def main(argv):
    global WEIGHT_STD
    a = parse_args(argv)
    WEIGHT_STD = a.weight_std
    n_vocab, n_tensors = write_model(a)
    print(f"gguf_gen: wrote {a.out}: {a.arch} {a.wtype}, {a.layers} layers, "
          f"dim {a.dim}, vocab {n_vocab}, {n_tensors} tensors")


if __name__ == "__main__":
    main(sys.argv[1:])
