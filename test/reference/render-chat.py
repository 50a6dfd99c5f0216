#!/usr/bin/env python3
"""Render the chat goldens: what each model's own Jinja chat template makes
of a fixed set of conversations, for test/unit/test_chat.c to compare with.

    render-chat.py [OUTDIR]        default OUTDIR: test/golden

For each model found in $DR1_MODEL_CACHE (default ~/.cache/deepseek_r1/models)
the template (tokenizer.chat_template) and the BOS/EOS texts are read from the
GGUF header with a small parser of our own: gguf-py cannot open the truncated
DeepSeek-R1 file, whose metadata is complete.  Meta's Llama 3 template, which
no file here carries, is written below; Qwen3's comes from the llama.cpp
source tree.  The templates are rendered with
jinja2 set up as Hugging Face transformers sets it up (trim_blocks,
lstrip_blocks, sandboxed).

Writes, for each model NAME:
    chat-NAME-template.txt   the template text, exact bytes
    chat-NAME-N.txt          conversation N (1-based) rendered, exact bytes
and chat-manifest.txt: one line per model, "NAME<TAB>BOS text".

CONVERSATIONS must stay in step with the copy in test/unit/test_chat.c.
"""

import os
import struct
import sys

import jinja2
import jinja2.sandbox
import jinja2.ext

MODELS = [
    ("smollm2", "SmolLM2-135M-Instruct-Q4_1.gguf"),
    ("qwen2.5-coder", "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"),
    ("deepseek-r1-distill-qwen", "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"),
]

# Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
LLAMA3_BOS = "<|begin_of_text|>"
LLAMA3_EOS = "<|eot_id|>"

# Qwen3's template, which no file here carries either: the copy llama.cpp
# keeps for its template tests (models/templates/Qwen-Qwen3-0.6B.jinja, the
# chat_template of Qwen/Qwen3-0.6B, the one Qwen3's other sizes share), read
# from the reference build's source tree.  Its BOS and EOS texts are Qwen's.
QWEN3_TEMPLATE_FILE = os.path.join(
    os.environ.get("DR1_REF_DIR", os.path.expanduser("~/.cache/deepseek_r1/llama.cpp")),
    "llama_cpp_python-0.3.36", "vendor", "llama.cpp", "models", "templates",
    "Qwen-Qwen3-0.6B.jinja")
QWEN3_BOS = "<|endoftext|>"
QWEN3_EOS = "<|im_end|>"

# (messages as (role, content), add_generation_prompt)
CONVERSATIONS = [
    ([("user", "What is 2+2?")], True),
    ([("system", "You are a SQL expert. Answer with SQL only."),
      ("user", "List all tables.")], True),
    ([("user", "Hi"),
      ("assistant", "Hello! How can I help?"),
      ("user", "Tell me a joke.")], True),
    ([("user", "What is 3*7?"),
      ("assistant", "<think>\nLet me compute 3*7.\n</think>\n\n21"),
      ("user", "And 3*8?")], True),
    ([("system", "  Réponds en français.\n"),
      ("user", "Qu'est-ce que 日本語? 🙂\nLine two\n\n"),
      ("assistant", "\u3000C'est du japonais.\u00a0 "),
      ("user", "Merci\t")], True),
    ([("user", "first"),
      ("system", "mid-conversation rule"),
      ("user", "second")], True),
    ([("user", "Classify: great product!"),
      ("assistant", "positive")], False),
    ([("system", "S1"),
      ("system", "S2"),
      ("user", "q"),
      ("assistant", "<think>x</think>mid</think>\nend")], True),
]

T_STRING = 8
T_ARRAY = 9
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
          10: "Q", 11: "q", 12: "d"}


class Header:
    """The metadata of a GGUF file, read from its start only."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.kv = {}
        self.token_offsets = None
        if self.f.read(4) != b"GGUF":
            raise SystemExit("%s: not a GGUF file" % path)
        version, _n_tensors, n_kv = self.unpack("<IQQ")
        if version not in (2, 3):
            raise SystemExit("%s: GGUF version %d" % (path, version))
        for _ in range(n_kv):
            key = self.string().decode()
            (vtype,) = self.unpack("<I")
            self.kv[key] = self.value(vtype, key == "tokenizer.ggml.tokens")

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise SystemExit("truncated metadata")
        return struct.unpack(fmt, data)

    def string(self):
        (n,) = self.unpack("<Q")
        return self.f.read(n)

    def value(self, vtype, index_strings=False):
        if vtype in SCALAR:
            return self.unpack("<" + SCALAR[vtype])[0]
        if vtype == T_STRING:
            return self.string()
        if vtype != T_ARRAY:
            raise SystemExit("unknown value type %d" % vtype)
        etype, n = self.unpack("<IQ")
        if etype in SCALAR:
            self.f.seek(struct.calcsize("<" + SCALAR[etype]) * n, 1)
            return None
        if etype == T_STRING and index_strings:
            # remember where each string starts; decode only those asked for
            offsets = []
            for _ in range(n):
                offsets.append(self.f.tell())
                (length,) = self.unpack("<Q")
                self.f.seek(length, 1)
            return offsets
        for _ in range(n):
            self.value(etype)
        return None

    def token_text(self, key):
        """The text of the token whose id is stored under key, or ''."""
        tid = self.kv.get(key)
        offsets = self.kv.get("tokenizer.ggml.tokens")
        if tid is None or offsets is None or tid >= len(offsets):
            return ""
        here = self.f.tell()
        self.f.seek(offsets[tid])
        text = self.string().decode()
        self.f.seek(here)
        return text


def find_model(cache, filename):
    for candidate in (filename, filename + ".partial"):
        path = os.path.join(cache, candidate)
        if os.path.exists(path):
            return path
    return None


def render(template, bos, eos, messages, add_generation_prompt):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    return env.from_string(template).render(
        messages=[{"role": r, "content": c} for r, c in messages],
        add_generation_prompt=add_generation_prompt,
        bos_token=bos, eos_token=eos)


def write(path, text):
    with open(path, "wb") as f:
        f.write(text.encode())


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "test/golden"
    cache = os.environ.get("DR1_MODEL_CACHE",
                           os.path.expanduser("~/.cache/deepseek_r1/models"))
    sources = []
    for name, filename in MODELS:
        path = find_model(cache, filename)
        if path is None:
            print("render-chat: %s absent, skipped" % filename)
            continue
        h = Header(path)
        template = h.kv["tokenizer.chat_template"].decode()
        sources.append((name, template,
                        h.token_text("tokenizer.ggml.bos_token_id"),
                        h.token_text("tokenizer.ggml.eos_token_id")))
    sources.append(("llama3", LLAMA3_TEMPLATE, LLAMA3_BOS, LLAMA3_EOS))
    if os.path.exists(QWEN3_TEMPLATE_FILE):
        with open(QWEN3_TEMPLATE_FILE, encoding="utf-8") as f:
            sources.append(("qwen3", f.read(), QWEN3_BOS, QWEN3_EOS))
    else:
        print("render-chat: %s absent, skipped" % QWEN3_TEMPLATE_FILE)

    os.makedirs(outdir, exist_ok=True)
    manifest = []
    for name, template, bos, eos in sources:
        write(os.path.join(outdir, "chat-%s-template.txt" % name), template)
        for i, (messages, agp) in enumerate(CONVERSATIONS, 1):
            write(os.path.join(outdir, "chat-%s-%d.txt" % (name, i)),
                  render(template, bos, eos, messages, agp))
        manifest.append("%s\t%s\n" % (name, bos))
        print("render-chat: %s: %d conversations" % (name, len(CONVERSATIONS)))
    write(os.path.join(outdir, "chat-manifest.txt"), "".join(manifest))


if __name__ == "__main__":
    main()
