#!/usr/bin/env python3
"""Passkey retrieval (a benchmark, not a test): can the model find a 5-digit
key hidden at a given depth of a long, repetitive prompt?

For each context length CTX (--contexts), depth D (--depths, a fraction of
the filler) and trial (--trials, keys drawn from --seed), the prompt is

    <instruction>

    <filler ... "The pass key is NNNNN. Remember it. NNNNN is the pass key." ... filler>

    What is the pass key? The pass key is

sized so that it is about CTX - 64 tokens (--margin).  The filler sentences
are counted with `deepseek-r1 tokenize` once per model (calibration) and
every final prompt is tokenized again to check its length.  Each prompt is
then run through every configuration (--configs, LABEL:EXTRA-ARGS) as

    deepseek-r1 generate -m MODEL -f PROMPT -n 8 --temp 0 --raw -c CTX -t THREADS EXTRA-ARGS

and counts as correct when the key's five digits appear in the output.
Prints a markdown table (correct/trials per context, depth and config) and
writes every run to a JSON file (--out).

Cost on 2 cores: each run is a prefill of ~CTX tokens.  With the 0.5B model
at ~60 prefill tok/s that is 11-19 s at 1024 (measured), ~1.5 min at 4096 and
~3-4 min at 8192, times depths x trials x configs: the default, 2 x 3 x 10
x 2 = 120 runs, takes ~5 hours (~3x with 1.5B); scale down with --contexts,
--depths, --trials, --configs.  A quick check (~1.5 min):

    test/bench/passkey.py --contexts 1024 --trials 2 --configs dense:

Standard library only.
"""
import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time

INSTRUCTION = ("There is an important pass key hidden inside a lot of irrelevant text. "
               "Find it and memorize it. I will quiz you about the pass key.")
FILLER = ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.",
          "There and back again."]
NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = "What is the pass key? The pass key is"
DEFAULT_CONFIGS = ["dense:--sparse off", "sparse1k:--sparse on --sparse-budget 1024"]
N_PREDICT = 8


def die(msg):
    print(f"passkey.py: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, stdin=None):
    """Run a command; return (rc, stdout, stderr) as text."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def rejected_flag(stderr):
    """The option the binary says it does not know, or None."""
    for line in stderr.splitlines():
        if "unknown option" in line:
            return line.split("unknown option", 1)[1].strip()
    return None


class Model:
    def __init__(self, binary, path):
        self.bin, self.path = binary, path
        rc, out, err = run([binary, "info", "-m", path])
        if rc != 0:
            die(f"`{binary} info -m {path}` failed:\n{err.strip()}")
        self.info = json.loads(out)
        # generate --raw puts a BOS before the text when the model asks for one
        self.bos = 1 if self.info.get("add_bos_token") else 0

    def count(self, text):
        """Tokens of `text` as `generate --raw` feeds it (BOS included)."""
        rc, out, err = run([self.bin, "tokenize", "-m", self.path], stdin=text)
        if rc != 0:
            die(f"tokenize failed:\n{err.strip()}")
        return len(out.split()) + self.bos


def build_prompt(n_sentences, depth, key):
    filler = [FILLER[i % len(FILLER)] for i in range(n_sentences)]
    at = round(depth * n_sentences)
    body = filler[:at] + [NEEDLE.format(key=key)] + filler[at:]
    return f"{INSTRUCTION}\n\n{' '.join(body)}\n\n{QUESTION}"


class Sizer:
    """How many filler sentences make a prompt of `target` tokens."""

    def __init__(self, model):
        self.model = model
        blocks = 40  # calibration: 200 sentences, both with the needle
        base = model.count(build_prompt(0, 0.5, 12345))
        full = model.count(build_prompt(blocks * len(FILLER), 0.5, 12345))
        self.base = base
        self.per_sentence = (full - base) / (blocks * len(FILLER))
        print(f"calibration: {base} tokens without filler, "
              f"{self.per_sentence:.3f} tokens per filler sentence", file=sys.stderr)

    def prompt(self, target, depth, key):
        """A prompt of at most `target` tokens, as close as the sentences allow."""
        n = max(0, int((target - self.base) / self.per_sentence))
        for _ in range(6):
            text = build_prompt(n, depth, key)
            tokens = self.model.count(text)
            if tokens > target:
                n -= max(1, int((tokens - target) / self.per_sentence + 0.999))
            elif target - tokens > 2 * self.per_sentence:
                n += int((target - tokens) / self.per_sentence) - 1 or 1
            else:
                return text, tokens
            if n < 0:
                die(f"a context of {target} tokens cannot hold the instruction and question")
        if tokens > target:
            die(f"cannot size a prompt of at most {target} tokens (last try: {tokens})")
        return text, tokens


def parse_configs(specs):
    configs = []
    for s in specs:
        label, sep, args = s.partition(":")
        if not sep or not label:
            die(f"config '{s}' is not LABEL:EXTRA-ARGS (e.g. 'dense:--sparse off' or 'plain:')")
        configs.append((label, shlex.split(args)))
    if len({c[0] for c in configs}) != len(configs):
        die("config labels must differ")
    return configs


def preflight(args, configs):
    """A one-token generate per config: a rejected flag fails here, not hours in."""
    for label, extra in configs:
        cmd = [args.bin, "generate", "-m", args.model, "-p", "hi", "-n", "1", "--temp", "0",
               "--raw", "-c", "64", "-t", str(args.threads)] + extra
        rc, _, err = run(cmd)
        if rc != 0:
            flag = rejected_flag(err)
            if flag:
                die(f"config '{label}': the binary rejects the option {flag} "
                    f"(not built with it yet?): {shlex.join(cmd)}")
            die(f"config '{label}': {shlex.join(cmd)} failed:\n{err.strip()}")


def csv_list(kind):
    def parse(s):
        try:
            return [kind(x) for x in s.replace(",", " ").split()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of {kind.__name__}: {s}")
    return parse


def main():
    cache = os.environ.get("DR1_MODEL_CACHE",
                           os.path.expanduser("~/.cache/deepseek_r1/models"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(cache, "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"))
    ap.add_argument("--bin", default="./bin/deepseek-r1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contexts", type=csv_list(int), default=[4096, 8192],
                    help="context lengths, comma-separated (default 4096,8192)")
    ap.add_argument("--depths", type=csv_list(float), default=[0.1, 0.5, 0.9],
                    help="needle depths as fractions of the filler (default 0.1,0.5,0.9)")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--margin", type=int, default=64,
                    help="tokens of the context left out of the prompt (default 64)")
    ap.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, metavar="LABEL:ARGS",
                    help="generate configurations, each LABEL:EXTRA-ARGS "
                         f"(default: {' '.join(repr(c) for c in DEFAULT_CONFIGS)})")
    ap.add_argument("--out", help="JSON results (default: $TMPDIR/passkey-MODEL.json)")
    args = ap.parse_args()

    if not os.access(args.bin, os.X_OK):
        die(f"{args.bin} is not an executable (make bin/deepseek-r1)")
    if not os.path.isfile(args.model):
        die(f"no model file {args.model}")
    if args.trials < 1 or not args.contexts or not args.depths:
        die("need at least one trial, context and depth")
    if any(not 0 <= d <= 1 for d in args.depths):
        die("depths are fractions between 0 and 1")
    configs = parse_configs(args.configs)
    stem = os.path.splitext(os.path.basename(args.model))[0]
    out_path = args.out or os.path.join(tempfile.gettempdir(), f"passkey-{stem}.json")

    t_start = time.monotonic()
    model = Model(args.bin, args.model)
    trained = model.info.get("context_length")
    for ctx in args.contexts:
        if ctx - args.margin < 64:
            die(f"context {ctx} is too small for a margin of {args.margin}")
        if trained and ctx > trained:
            print(f"warning: context {ctx} exceeds the model's trained {trained}", file=sys.stderr)
    preflight(args, configs)
    sizer = Sizer(model)

    result = {
        "model": args.model, "bin": args.bin, "threads": args.threads, "seed": args.seed,
        "trials": args.trials, "contexts": args.contexts, "depths": args.depths,
        "margin": args.margin, "n_predict": N_PREDICT,
        "configs": [{"label": l, "args": a} for l, a in configs],
        "runs": [], "summary": [], "elapsed_s": None,
    }
    correct = {}  # (ctx, depth, label) -> count
    n_runs = len(args.contexts) * len(args.depths) * args.trials * len(configs)
    done = 0

    def save():
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, out_path)

    with tempfile.TemporaryDirectory(prefix="dr1-passkey.") as work:
        prompt_file = os.path.join(work, "prompt.txt")
        for ctx in args.contexts:
            for depth in args.depths:
                for trial in range(args.trials):
                    rng = random.Random(f"{args.seed}:{ctx}:{depth}:{trial}")
                    key = f"{rng.randint(10000, 99999)}"
                    text, tokens = sizer.prompt(ctx - args.margin, depth, key)
                    with open(prompt_file, "w") as f:
                        f.write(text)
                    for label, extra in configs:
                        cmd = [args.bin, "generate", "-m", args.model, "-f", prompt_file,
                               "-n", str(N_PREDICT), "--temp", "0", "--raw", "-c", str(ctx),
                               "-t", str(args.threads)] + extra
                        t0 = time.monotonic()
                        rc, out, err = run(cmd)
                        secs = time.monotonic() - t0
                        if rc != 0:
                            flag = rejected_flag(err)
                            save()
                            die(f"config '{label}' " + (f"rejected option {flag}" if flag else
                                f"failed:\n{err.strip()}") + f"\n  command: {shlex.join(cmd)}")
                        ok = key in out
                        k = (ctx, depth, label)
                        correct[k] = correct.get(k, 0) + ok
                        done += 1
                        result["runs"].append({
                            "ctx": ctx, "depth": depth, "trial": trial, "config": label,
                            "key": key, "prompt_tokens": tokens, "output": out.rstrip("\n"),
                            "correct": ok, "seconds": round(secs, 3)})
                        print(f"[{done}/{n_runs}] ctx={ctx} depth={depth} trial={trial} "
                              f"{label}: key {key} -> {out.strip()!r} "
                              f"{'OK' if ok else 'miss'} ({tokens} tokens, {secs:.1f}s)",
                              file=sys.stderr, flush=True)
                        save()

    elapsed = time.monotonic() - t_start
    labels = [l for l, _ in configs]
    result["summary"] = [{"ctx": c, "depth": d, "config": l, "correct": correct[(c, d, l)],
                          "trials": args.trials}
                         for c in args.contexts for d in args.depths for l in labels]
    result["elapsed_s"] = round(elapsed, 1)
    save()

    print(f"\nPasskey retrieval: {os.path.basename(args.model)}, {args.threads} threads, "
          f"seed {args.seed}, prompt = ctx - {args.margin} tokens\n")
    print("| ctx | depth | " + " | ".join(labels) + " |")
    print("|---:|---:|" + "---:|" * len(labels))
    for c in args.contexts:
        for d in args.depths:
            cells = [f"{correct[(c, d, l)]}/{args.trials}" for l in labels]
            print(f"| {c} | {d:g} | " + " | ".join(cells) + " |")
    n = len(args.contexts) * len(args.depths) * args.trials
    totals = [f"{sum(correct[(c, d, l)] for c in args.contexts for d in args.depths)}/{n}"
              for l in labels]
    print("| all | all | " + " | ".join(f"**{t}**" for t in totals) + " |")
    for label, extra in configs:
        print(f"\n- {label}: `{shlex.join(extra) or '(no extra args)'}`", end="")
    print(f"\n\nelapsed: {elapsed:.0f} s ({elapsed / 60:.1f} min); results: {out_path}")


if __name__ == "__main__":
    main()
