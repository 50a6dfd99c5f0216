#!/usr/bin/env python3
"""Greedy continuations from llama.cpp, the reference for our generate tests.

    make-generate-goldens.py MODEL.gguf OUT.jsonl [N_PREDICT]

For every prompt of test/golden/prompts.jsonl, in two modes:
  raw   the prompt as a plain completion (llama.cpp's tokenization, BOS per
        the model);
  chat  the prompt as the user turn of the model's own chat template,
        rendered with jinja2 from the GGUF's tokenizer.chat_template, set up
        as Hugging Face transformers sets it up.
Runs llama-oracle (built from llama-oracle.c against the llama.cpp build of
build-llama-cpp.sh) and writes one JSON object per prompt and mode.
"""
import json
import os
import subprocess
import sys

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_oracle():
    build = subprocess.check_output([os.path.join(HERE, "build-llama-cpp.sh"), "avx2"], text=True).strip()
    src = os.path.dirname(build)
    out = os.path.join(build, "bin", "llama-oracle")
    subprocess.check_call([
        "cc", "-O2", "-o", out, os.path.join(HERE, "llama-oracle.c"),
        "-I" + os.path.join(src, "include"), "-I" + os.path.join(src, "ggml", "include"),
        "-L" + os.path.join(build, "bin"), "-lllama", "-lggml", "-lggml-base",
        "-Wl,-rpath," + os.path.join(build, "bin")])
    return out


def field(reader, key):
    f = reader.fields.get(key)
    return f.contents() if f is not None else None


def chat_renderer(path):
    r = gguf.GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"]
    bos_id = field(r, "tokenizer.ggml.bos_token_id")
    eos_id = field(r, "tokenizer.ggml.eos_token_id")
    tok_text = lambda i: bytes(tokens.parts[tokens.data[i]]).decode() if i is not None else ""
    # set up as Hugging Face transformers sets it up (as render-chat.py does)
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])

    def raise_exception(msg):
        raise RuntimeError(msg)

    env.globals["raise_exception"] = raise_exception
    tmpl = env.from_string(field(r, "tokenizer.chat_template"))
    return lambda prompt: tmpl.render(
        messages=[{"role": "user", "content": prompt}], add_generation_prompt=True,
        bos_token=tok_text(bos_id), eos_token=tok_text(eos_id))


def main():
    model, out_path = sys.argv[1], sys.argv[2]
    n_predict = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    oracle = build_oracle()
    render = chat_renderer(model)
    with open(os.path.join(ROOT, "test", "golden", "prompts.jsonl"), encoding="utf-8") as f:
        prompts = [json.loads(line) for line in f if line.strip()]
    with open(out_path, "w", encoding="utf-8") as out:
        for mode in ("raw", "chat"):
            for p in prompts:
                text = p if mode == "raw" else render(p)
                res = subprocess.run([oracle, model, str(n_predict), "raw" if mode == "raw" else "special"],
                                     input=text.encode(), capture_output=True, check=True)
                ref = json.loads(res.stdout)
                rec = {"model": os.path.basename(model), "prompt": p, "mode": mode, "n_predict": n_predict}
                rec.update(ref)
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                print(mode, len(ref["ids"]), p[:40], file=sys.stderr)


if __name__ == "__main__":
    main()
