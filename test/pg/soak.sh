#!/usr/bin/env bash
# Soak test (not part of CI): many clients against one cluster for a while,
# mixing generate, generate_batch, chat, tokenize and count_tokens with
# random statement timeouts and cancels, while the engine process is
# SIGKILLed every minute and a database is created and dropped every two.
# Reports the calls, the errors by SQLSTATE, PostgreSQL crashes (must be 0),
# request slots and KV blocks still in use at the end (must be 0), and the
# worker's and the engine's RSS at the start and the end.  Exits non-zero
# when a crash, a leak or a hung client is seen.
#
#   test/pg/soak.sh [CLIENTS] [SECONDS] [MODEL]     default 32, 600, SmolLM2
#
# Needs the extension installed (make install).  Every loop is bounded in
# calls and time; the cluster listens only on a Unix socket.
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-32}
seconds=${2:-600}
model=${3:-${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}/SmolLM2-135M-Instruct-Q4_1.gguf}

# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$model" "max_connections = $((clients + 20))" "deepseek_r1.threads = 2" \
	"deepseek_r1.max_batch = 16" "deepseek_r1.context_length = 1024"
out=$cluster_dir/soak
mkdir -p "$out"
chmod 777 "$out"

rss() {	# rss PID: resident kB, or - when it is gone
	awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -
}
pids() { cluster_psql -Atc "SELECT worker_pid, coalesce(engine_pid, 0) FROM deepseek_r1.status()"; }

IFS='|' read -r worker0 engine0 <<<"$(pids)"
rss_worker0=$(rss "$worker0") rss_engine0=$(rss "$engine0")
deadline=$(($(date +%s) + seconds))

# One client: random calls, each under a random statement_timeout (some
# short enough to cancel it mid-way), until the deadline; one line per call
# in its log: "ok" or the SQLSTATE.
client() {
	local n=$1 log=$out/client-$1.log sql t
	RANDOM=$((n * 7919))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		t=$((RANDOM % 4000 + 50))
		case $((RANDOM % 5)) in
		0) sql="SELECT deepseek_r1.generate('Say something about the number $RANDOM.', max_tokens => $((RANDOM % 24 + 1)), temperature => 0.7)" ;;
		1) sql="SELECT deepseek_r1.generate_batch(ARRAY['Name a colour.', 'Name a fruit.', 'Count to $((RANDOM % 9))'], max_tokens => 8)" ;;
		2) sql="SELECT deepseek_r1.chat('[{\"role\": \"user\", \"content\": \"Hello $RANDOM\"}]', max_tokens => 12)" ;;
		3) sql="SELECT deepseek_r1.tokenize(repeat('soak test $RANDOM ', $((RANDOM % 2000 + 1))))" ;;
		4) sql="SELECT deepseek_r1.count_tokens(repeat('x', $((RANDOM % 200000 + 1))))" ;;
		esac
		if timeout 120 "$cluster_bindir/psql" -X -q -v VERBOSITY=verbose -d "$cluster_connstr" \
			-c "SET statement_timeout = $t" -c "$sql" >/dev/null 2>"$log.err"; then
			echo ok
		elif [ $? -eq 124 ]; then
			echo HUNG
		else
			grep -oE '^(ERROR|FATAL): +[0-9A-Z]{5}' "$log.err" | head -1 | awk '{print $2}' | grep . || echo other
		fi
	done >"$log"
}

# The DBA: SIGKILL the engine every minute, CREATE/DROP DATABASE every two.
dba() {
	local tick=0 pid
	while [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 10
		tick=$((tick + 10))
		if [ $((tick % 60)) -eq 0 ]; then
			pid=$(cluster_psql -Atc 'SELECT engine_pid FROM deepseek_r1.status()')
			[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && echo "$(date +%T) SIGKILL engine $pid"
		fi
		if [ $((tick % 120)) -eq 0 ]; then
			if timeout 60 "$cluster_bindir/psql" -X -q -d "$cluster_connstr" -c 'CREATE DATABASE soak_db' \
				-c 'DROP DATABASE soak_db'; then
				echo "$(date +%T) CREATE/DROP DATABASE ok"
			else
				echo "$(date +%T) CREATE/DROP DATABASE FAILED or hung"
			fi
		fi
	done >"$out/dba.log" 2>&1
}

echo "soak: $clients clients for $seconds s on $(basename "$model"), engine SIGKILL every 60 s, CREATE/DROP DATABASE every 120 s"
for ((i = 0; i < clients; i++)); do client "$i" & done
dba &
wait

# Let the last cancels and the restarted engine settle, then look for leaks.
cluster_wait_ready
for _ in $(seq 100); do
	idle=$(cluster_psql -Atc "SELECT requests_in_flight = 0 AND engine_in_flight = 0 AND kv_blocks_used = 0
		FROM deepseek_r1.status()")
	[ "$idle" = t ] && break
	sleep 0.2
done
IFS='|' read -r worker1 engine1 <<<"$(pids)"
slots=$(cluster_psql -Atc 'SELECT count(*) FROM deepseek_r1.requests')
status=$(cluster_psql -Atc "SELECT requests_in_flight, engine_in_flight, kv_blocks_used, engine_starts
	FROM deepseek_r1.status()")
crashes=$(grep -cE 'terminated by signal|was terminated|reinitializing|crash' "$cluster_dir/server.log" || true)

echo "calls: $(cat "$out"/client-*.log | wc -l)"
echo "results:"
cat "$out"/client-*.log | sort | uniq -c | sort -rn | sed 's/^/  /'
echo "DBA actions:"
sed 's/^/  /' "$out/dba.log"
echo "requests in flight, engine in flight, KV blocks used, engine starts at the end: $status"
echo "request slots still listed in deepseek_r1.requests: $slots"
echo "PostgreSQL crash lines in the server log: $crashes"
echo "worker RSS: $rss_worker0 kB (pid $worker0) at the start, $(rss "$worker1") kB (pid $worker1) at the end"
echo "engine RSS: $rss_engine0 kB at the start, $(rss "$engine1") kB at the end (a new process after each SIGKILL)"
IFS='|' read -r in_flight engine_in_flight kv _ <<<"$status"
hung=$(cat "$out"/client-*.log | grep -c HUNG || true)
if [ "$crashes" -ne 0 ] || [ "$slots" -ne 0 ] || [ "$in_flight" -ne 0 ] || [ "$engine_in_flight" -ne 0 ] ||
	[ "$kv" -ne 0 ] || [ "$hung" -ne 0 ] || grep -q FAILED "$out/dba.log"; then
	echo "soak: FAILED"
	exit 1
fi
echo "soak: passed"
