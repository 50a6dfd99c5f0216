#!/usr/bin/env bash
# Measurements for the extension (not a test): what the SQL path adds to a
# request, and the resident memory of the worker, the engine process and
# 16 open backends.  Starts a throw-away cluster (cluster.sh).
#
#   test/pg/measure.sh MODEL [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1
n=${2:-50}
# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$model"
psql="cluster_psql -Atq"

echo "== generate(p, max_tokens => 1): $n calls, time in SQL vs the engine's own time"
$psql <<SQL
CREATE TEMP TABLE t (sql_ms float8, engine_ms float8);
DO \$\$
DECLARE
	t0 timestamptz;
	sql_ms float8;
BEGIN
	PERFORM deepseek_r1.generate('Hi', max_tokens => 1, temperature => 0);	-- warm up
	FOR i IN 1..$n LOOP
		t0 := clock_timestamp();
		PERFORM deepseek_r1.generate('Hi', max_tokens => 1, temperature => 0);
		sql_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
		INSERT INTO t SELECT sql_ms, last_engine_ms FROM deepseek_r1.status();
	END LOOP;
END \$\$;
SELECT format('median SQL %s ms, median engine %s ms, median difference %s ms (p90 %s ms)',
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_ms)::numeric, 3),
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY engine_ms)::numeric, 3),
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sql_ms - engine_ms)::numeric, 3),
	round(percentile_cont(0.9) WITHIN GROUP (ORDER BY sql_ms - engine_ms)::numeric, 3))
FROM t;
SQL

echo "== resident memory with 16 connections open (each has run a generate)"
fifo=()
for i in $(seq 16); do
	mkfifo "$cluster_dir/in$i"
	$psql <"$cluster_dir/in$i" >/dev/null &
	exec {fd}>"$cluster_dir/in$i"
	fifo+=("$fd")
	echo "SELECT deepseek_r1.generate('Hi', max_tokens => 1);" >&"$fd"
done
sleep 3
rss() {	# rss PID: VmRSS and its anonymous / file / shared-memory parts, kB
	awk '/^(VmRSS|RssAnon|RssFile|RssShmem)/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$1/status"
}
worker=$($psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker'")
engine=$($psql -c 'SELECT engine_pid FROM deepseek_r1.status()')
echo "worker $worker: $(rss "$worker")"
echo "engine $engine: $(rss "$engine")"
for pid in $($psql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"); do
	echo "backend $pid: $(rss "$pid")"
done
for fd in "${fifo[@]}"; do exec {fd}>&-; done
wait
