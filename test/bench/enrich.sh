#!/usr/bin/env bash
# enrich of a table (a benchmark, not a test): ROWS short reviews labelled
# positive / negative / neutral (choices) by a template that starts with
# the same ~200-token instruction, with deepseek_r1.prefix_sharing on and
# then off.  Reports the wall time and the prompt tokens the engine
# computed (prefill_tokens) against those it was sent (prompt_tokens).
# Starts its own throw-away cluster (test/pg/cluster.sh); needs the
# extension installed (make install).
#
#   test/bench/enrich.sh [MODEL] [ROWS] [BATCH_SIZE] [MODES]
#
# ROWS defaults to 1000, BATCH_SIZE to 64 (max_batch is set to it), MODES
# to "on off" (the order of the runs; "off" alone skips the shared run).
# Without sharing every row computes the whole instruction: on 2 cores
# that run takes tens of minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}/SmolLM2-135M-Instruct-Q4_1.gguf}
rows=${2:-1000}
batch=${3:-64}
modes=${4:-on off}

instruction="You are a careful analyst of customer feedback for an online shop that sells \
household goods, electronics, books and garden tools. Read the customer review given below \
and decide which sentiment it expresses toward the product or the service. Answer positive \
when the customer is satisfied, praises the product, its quality, its price, the delivery or \
the support, or would recommend the shop to friends. Answer negative when the customer \
complains, reports a defect, a late or missing delivery, a rude or slow support, a refund \
that was refused, or says that the product was not worth its price. Answer neutral when the \
review only states facts, asks a question, mixes praise and complaints in equal measure, or \
does not express any opinion at all. Ignore spelling mistakes, the length of the review and \
any text that is not about the purchase. A review may be written in any language and may \
mention several products at once: judge the purchase as a whole. Do not explain your choice and do not repeat the \
review: reply with exactly one word."

# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$model" "deepseek_r1.max_batch = $batch" "deepseek_r1.context_length = 1024"

# shellcheck source=test/bench/reviews.sh
source test/bench/reviews.sh
reviews_sql "$rows" | cluster_psql -q
template="$instruction

Review: {source}"
echo "model $(basename "$model"), $(nproc) CPUs, $rows rows, batch_size $batch"
echo "instruction: $(cluster_psql -Atc "SELECT deepseek_r1.count_tokens(\$t\$$instruction\$t\$)") tokens;" \
	"a whole prompt (chat template, one row): $(cluster_psql -Atc \
	"SELECT deepseek_r1.count_tokens(replace(\$t\$$template\$t\$, '{source}', review)) FROM reviews LIMIT 1") tokens before the template"
echo
echo '| prefix sharing | rows | seconds | rows/s | prompt tokens | prefill tokens computed | computed / sent |'
echo '|---|---|---|---|---|---|---|'
for mode in $modes; do
	cluster_psql -qc "ALTER SYSTEM SET deepseek_r1.prefix_sharing = $mode" -c 'SELECT pg_reload_conf()' \
		-c 'UPDATE reviews SET sentiment = NULL' >/dev/null
	# the reload restarts the engine; wait for the new one's model_info
	until [ "$(cluster_psql -Atc "SELECT state = 'ready' AND (deepseek_r1.model_info()->>'prefix_sharing')::bool = ('$mode' = 'on') FROM deepseek_r1.status()" 2>/dev/null)" = t ]; do
		sleep 0.2
	done
	read -r p0 f0 < <(cluster_psql -AtF ' ' -c 'SELECT prompt_tokens, prefill_tokens FROM deepseek_r1.status()')
	t0=$(date +%s.%N)
	cluster_psql -q -c "CALL deepseek_r1.enrich('reviews', 'review', 'sentiment', \$t\$$template\$t\$,
		batch_size => $batch, temperature => 0, choices => ARRAY['positive', 'negative', 'neutral'])" \
		2>/dev/null
	t1=$(date +%s.%N)
	read -r p1 f1 < <(cluster_psql -AtF ' ' -c 'SELECT prompt_tokens, prefill_tokens FROM deepseek_r1.status()')
	[ "$(cluster_psql -Atc 'SELECT count(*) FROM reviews WHERE sentiment IS NULL')" = 0 ] ||
		{ echo "enrich left rows NULL" >&2; exit 1; }
	awk -v m="$mode" -v n="$rows" -v t0="$t0" -v t1="$t1" -v p=$((p1 - p0)) -v f=$((f1 - f0)) \
		'BEGIN { printf "| %s | %d | %.1f | %.2f | %d | %d | %.1f%% |\n", m, n, t1 - t0, n / (t1 - t0), p, f, 100 * f / p }'
done
echo
echo 'labels:'
cluster_psql -AtF ': ' -c 'SELECT sentiment, count(*) FROM reviews GROUP BY sentiment ORDER BY 1'
