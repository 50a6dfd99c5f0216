#!/usr/bin/env bash
# Aggregate decode throughput through SQL (a benchmark, not a test): the
# same prompt at temperature 0 with a fixed max_tokens, from 1, 4, 16 and
# 64 concurrent connections (pgbench, each connection running its requests
# one after another), then through one generate_batch call of 16 and of 64
# prompts.  Tokens/s = the tokens the engine generated (status() counters)
# over the wall time.  Starts its own throw-away cluster (test/pg/cluster.sh)
# with max_batch 64; needs the extension installed (make install).
#
#   test/bench/pg-throughput.sh [MODEL] [MAX_TOKENS]
#
# The prompt is a raw completion that never ends on its own (a count), so
# every request generates exactly MAX_TOKENS tokens (default 64).
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}/SmolLM2-135M-Instruct-Q4_1.gguf}
max_tokens=${2:-64}
prompt='Count: 1, 2, 3,'
call="deepseek_r1.generate('$prompt', max_tokens => $max_tokens, temperature => 0, raw => true)"

# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$model" "max_connections = 100" "deepseek_r1.max_batch = 64" \
	"deepseek_r1.context_length = 512"
echo "model $(basename "$model"), $(nproc) CPUs, max_tokens $max_tokens, prompt '$prompt' (raw)"
cluster_psql -qAtc "SELECT $call" >/dev/null	# warm up

generated() { cluster_psql -Atc 'SELECT generated_tokens FROM deepseek_r1.status()'; }
now() { date +%s.%N; }

base=
# report LABEL REQUESTS T0 TOKENS0: one line of the table
report() {
	local tokens seconds
	tokens=$(($(generated) - $4))
	seconds=$(awk -v t0="$3" -v t1="$(now)" 'BEGIN { print t1 - t0 }')
	[ -n "$base" ] || base=$(awk -v t="$tokens" -v s="$seconds" 'BEGIN { print t / s }')
	awk -v l="$1" -v n="$2" -v t="$tokens" -v s="$seconds" -v b="$base" \
		'BEGIN { printf "| %s | %d | %d | %.1f | %.1f | %.2f |\n", l, n, t, s, t / s, t / s / b }'
}

script=$cluster_dir/generate.sql
echo "SELECT $call;" >"$script"
echo
echo '| run | requests | generated tokens | seconds | tokens/s | × 1 connection |'
echo '|---|---|---|---|---|---|'
for clients in 1 4 16 64; do
	# at least 4 requests per run and one per connection
	per_client=$(((4 + clients - 1) / clients))
	t0=$(now)
	g0=$(generated)
	pgbench -n -f "$script" -c "$clients" -j "$clients" -t "$per_client" "$cluster_connstr" \
		>/dev/null
	report "pgbench, $clients connections" $((clients * per_client)) "$t0" "$g0"
done
for n in 16 64; do
	t0=$(now)
	g0=$(generated)
	cluster_psql -qAtc "SELECT deepseek_r1.generate_batch(array_fill('$prompt'::text, ARRAY[$n]),
		max_tokens => $max_tokens, temperature => 0, raw => true)" >/dev/null
	report "generate_batch of $n" "$n" "$t0" "$g0"
done
