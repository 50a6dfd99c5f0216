#!/usr/bin/env bash
# filter row by row against filter_batch (a benchmark, not a test): ROWS
# short reviews, the condition "the customer complains", first as
#   SELECT ... WHERE deepseek_r1.filter(review, condition)
# (one request per row, one at a time), then as one filter_batch call over
# the array of all rows (the engine decodes up to max_batch of them
# together).  Reports rows/s of each and whether the answers agree (they
# must: temperature 0, and a row's answer does not depend on its batch).
# Starts its own throw-away cluster (test/pg/cluster.sh); needs the
# extension installed (make install).
#
#   test/bench/filter.sh [MODEL] [ROWS] [MAX_BATCH]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}/SmolLM2-135M-Instruct-Q4_1.gguf}
rows=${2:-200}
batch=${3:-64}

# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$model" "deepseek_r1.max_batch = $batch" "deepseek_r1.context_length = 1024"

# shellcheck source=test/bench/reviews.sh
source test/bench/reviews.sh
reviews_sql "$rows" | cluster_psql -q
echo "model $(basename "$model"), $(nproc) CPUs, $rows rows, max_batch $batch"
cluster_psql -Atq <<SQL
SELECT deepseek_r1.filter('warm up', 'the customer complains') IS NOT NULL;
CREATE TEMP TABLE runs (form text, seconds float8, answers boolean[]);
DO \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	a boolean[];
BEGIN
	SELECT array_agg(deepseek_r1.filter(review, 'the customer complains') ORDER BY id) INTO a
	FROM reviews;
	INSERT INTO runs VALUES ('filter, row by row', extract(epoch FROM clock_timestamp() - t0), a);
	t0 := clock_timestamp();
	SELECT deepseek_r1.filter_batch(array_agg(review ORDER BY id), 'the customer complains') INTO a
	FROM reviews;
	INSERT INTO runs VALUES ('filter_batch', extract(epoch FROM clock_timestamp() - t0), a);
END \$\$;
SELECT '| form | rows | seconds | rows/s | rows kept |';
SELECT '|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s | %s |', form, cardinality(answers), round(seconds::numeric, 1),
			  round((cardinality(answers) / seconds)::numeric, 1),
			  (SELECT count(*) FROM unnest(answers) x WHERE x))
FROM runs ORDER BY form DESC;
SELECT 'answers agree: ' || (count(DISTINCT answers) = 1) FROM runs;
SQL
