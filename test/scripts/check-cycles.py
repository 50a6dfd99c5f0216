#!/usr/bin/env python3
"""check-cycles.py — no file may need a file that needs it back.

A module is a source file with its header (src/engine/scheduler.c and
scheduler.h are one module, "engine/scheduler").  Two graphs over modules:

  includes: A -> B when A.c or A.h has  #include "B.h"
  calls:    A -> B when A's object file uses a symbol B's defines (nm)

Each must be acyclic.  Prints every cycle (a strongly connected component
of more than one module) and exits 1 if there is one.

usage: check-cycles.py [BUILD_DIR]   (default build; run after make all)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIRS = ["src/engine", "src/cli", "src/protocol", "src/pg", "kernels"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    d, f = os.path.split(os.path.relpath(path, ROOT))
    return d.replace("src/", "") + "/" + os.path.splitext(f)[0]


def include_graph():
    headers = {}  # header basename -> module
    files = []
    for d in DIRS:
        full = os.path.join(ROOT, d)
        if not os.path.isdir(full):
            continue
        for f in sorted(os.listdir(full)):
            if f.endswith((".c", ".h", ".cu", ".cuh")):
                p = os.path.join(full, f)
                files.append(p)
                if f.endswith((".h", ".cuh")):
                    headers.setdefault(f, module_of(p))
    g = {}
    for p in files:
        a = module_of(p)
        g.setdefault(a, set())
        with open(p, encoding="utf-8", errors="replace") as fh:
            for inc in INCLUDE.findall(fh.read()):
                b = headers.get(os.path.basename(inc))
                if b and b != a:
                    g[a].add(b)
    return g


def call_graph(build):
    objs = []
    for sub in ["engine", "cli", "protocol"]:
        d = os.path.join(ROOT, build, sub)
        if os.path.isdir(d):
            objs += [(os.path.join(d, f), "src/" + sub + "/" + f) for f in sorted(os.listdir(d)) if f.endswith(".o")]
    pg = os.path.join(ROOT, "src/pg")
    objs += [(os.path.join(pg, f), "src/pg/" + f) for f in sorted(os.listdir(pg)) if f.endswith(".o")]
    defined, used = {}, {}
    for o, src in objs:
        a = module_of(os.path.join(ROOT, src))
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        used.setdefault(a, set())
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used[a].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRVWG" and parts[1].isupper():
                defined.setdefault(parts[2], a)
    g = {a: set() for a in used}
    for a, syms in used.items():
        for s in syms:
            b = defined.get(s)
            if b and b != a:
                g[a].add(b)
    return g, len(objs)


def cycles(g):
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on, out = {}, {}, [], set(), []
    n = [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    bad = 0
    inc = include_graph()
    found = cycles(inc)
    print("includes: %d modules, %d edges, %d cycles" % (len(inc), sum(map(len, inc.values())), len(found)))
    for c in found:
        bad = 1
        print("  include cycle: " + " <-> ".join(c) + "   (" + "; ".join(
            "%s -> %s" % (a, ", ".join(sorted(b for b in inc[a] if b in c))) for a in c) + ")")
    calls, n_obj = call_graph(build)
    found = cycles(calls)
    print("calls: %d objects, %d modules, %d edges, %d cycles" % (n_obj, len(calls), sum(map(len, calls.values())), len(found)))
    for c in found:
        bad = 1
        print("  call cycle: " + " <-> ".join(c) + "   (" + "; ".join(
            "%s -> %s" % (a, ", ".join(sorted(b for b in calls[a] if b in c))) for a in c) + ")")
    if n_obj == 0:
        print("no object files under %s: run make all first" % build)
        bad = 1
    print("check-cycles: %d passed, %d failed" % (1 - bad, bad))
    return bad


if __name__ == "__main__":
    sys.exit(main())
