#!/usr/bin/env python3
"""The peer of bench_cuda: Hugging Face transformers in BF16 on the same
shapes (random weights, built on the GPU from a config; nothing is
downloaded), decoding greedily 64 tokens after 128-token prompts for 1, 8,
64 and 256 sequences at once.  One JSON line per measurement:

    {"peer":"transformers","shape":..., "seqs":N, "tok_s":...}

tok_s counts generated tokens over the time of generate() less the time of
the prompt's forward pass, so that it compares with bench_cuda's batch
lines, which time decode steps only.

    python3 test/gpu/peer_hf.py r1-qwen-1.5b r1-qwen-7b
"""

import json
import sys
import time

import torch
import transformers
from transformers import Qwen2Config, Qwen2ForCausalLM

SHAPES = {
    "r1-qwen-1.5b": dict(hidden_size=1536, intermediate_size=8960,
                         num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936),
    "r1-qwen-7b": dict(hidden_size=3584, intermediate_size=18944,
                       num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064),
}
PROMPT = 128
NEW = 64


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def run(shape):
    cfg = Qwen2Config(**SHAPES[shape], max_position_embeddings=4096,
                      tie_word_embeddings=False)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(cfg).eval()
    gen = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    for n in (1, 8, 64, 256):
        ids = torch.randint(0, cfg.vocab_size, (n, PROMPT), device="cuda")
        with torch.no_grad():
            model.generate(ids, max_new_tokens=4, min_new_tokens=4, **gen)
            _, t_prompt = timed(lambda: model(ids))
            _, t_all = timed(lambda: model.generate(
                ids, max_new_tokens=NEW, min_new_tokens=NEW, **gen))
        print(json.dumps({"peer": "transformers " + transformers.__version__,
                          "dtype": "bf16", "shape": shape, "seqs": n,
                          "steps": NEW,
                          "tok_s": round(n * NEW / (t_all - t_prompt), 1)}),
              flush=True)
    del model
    torch.cuda.empty_cache()


def main(argv):
    for shape in argv or sorted(SHAPES):
        run(shape)


if __name__ == "__main__":
    main(sys.argv[1:])
