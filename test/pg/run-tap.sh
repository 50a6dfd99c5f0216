#!/usr/bin/env bash
# Run the TAP suites (test/t/*.pl) with prove, as the current (non-root)
# user, writing under OUTDIR.  Prints "tap: N passed, N failed".
#
#   test/pg/run-tap.sh OUTDIR
set -uo pipefail
out=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
pgxs=$(dirname "$(pg_config --pgxs)")
mkdir -p "$out"
cd "$out" || exit 1
export PATH="$(pg_config --bindir):$PATH"
export PERL5LIB="$pgxs/../test/perl${PERL5LIB:+:$PERL5LIB}"
export PG_REGRESS="$pgxs/../test/regress/pg_regress"
export TESTDIR="$out"
prove -v "$src"/test/t/*.pl >"$out/prove.txt" 2>&1
rc=$?
cat "$out/prove.txt"
passed=$(grep -cE '^ok [0-9]' "$out/prove.txt")
failed=$(grep -cE '^not ok [0-9]' "$out/prove.txt")
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "tap: $passed passed, $failed failed"
exit "$rc"
