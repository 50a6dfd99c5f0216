#!/usr/bin/env bash
# Run the pg_regress suite in a temporary instance, as the current (non-root)
# user, with results under OUTDIR.  Prints "pg_regress: N passed, N failed".
#
#   test/pg/run-regress.sh OUTDIR MODEL_DIR
set -uo pipefail
out=$1
models=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
pgxs=$(dirname "$(pg_config --pgxs)")
mkdir -p "$out"
printf "shared_preload_libraries = 'deepseek_r1'\ndeepseek_r1.model = '%s'\ndeepseek_r1.threads = 2\n" \
	"$models/SmolLM2-135M-Instruct-Q4_1.gguf" >"$out/regress.conf"
"$pgxs/../test/regress/pg_regress" --inputdir="$src" --outputdir="$out" \
	--bindir="$(pg_config --bindir)" --temp-instance="$out/instance" \
	--temp-config="$out/regress.conf" --dbname=contrib_regression deepseek_r1 >"$out/summary.txt" 2>&1
rc=$?
cat "$out/summary.txt"
[ -f "$out/regression.diffs" ] && head -100 "$out/regression.diffs"
passed=$(grep -cE '^(ok|test) .* ok' "$out/summary.txt")
failed=$(grep -cE '(FAILED|failed \(ignored\))' "$out/summary.txt" | head -1)
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "pg_regress: $passed passed, $failed failed"
exit "$rc"
