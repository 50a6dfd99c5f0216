#!/usr/bin/env bash
# test/pg/run-citus.sh — enrich, embed_table and generate on a Citus cluster:
# a coordinator and two workers on this machine, deepseek_r1 preloaded on
# all three with the same model.  Prints "citus: N passed, N failed".
#
#   test/pg/run-citus.sh [ROWS]       (ROWS: of each table, default 1000)
#
# Needs Citus installed into the PostgreSQL that pg_config names, and the
# extension installed (make install).  Citus is in no package registry this
# project installs from, so CI cannot run this suite: it is run by hand
# where Citus was built, and reported apart from the other suites.  Without
# Citus it says so and exits 77 (skipped).
#
# The nodes listen on localhost, ports CITUS_PORT .. CITUS_PORT+2 (default
# 5481); as root they run as the user dr1ci, like test/pg/cluster.sh.
# Environment: DR1_MODEL_CACHE (the models), CITUS_KEEP=1 keeps the cluster.
set -uo pipefail
rows=${1:-1000}
bindir=$(pg_config --bindir)
models=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
model=SmolLM2-135M-Instruct-Q4_1.gguf
embedding_model=all-MiniLM-L6-v2-F32.gguf
base_port=${CITUS_PORT:-5481}
ports=("$base_port" $((base_port + 1)) $((base_port + 2)))	# coordinator, workers
coordinator=${ports[0]}
workers=("${ports[1]}" "${ports[2]}")
# short raw prompts and answers ("35 plus one is" " 36"), so that the suite
# runs in minutes on 2 cores
gen_args="max_tokens => 3, temperature => 0, raw => true"

if [ ! -f "$(pg_config --sharedir)/extension/citus.control" ]; then
	echo "citus: not run: Citus is not installed in $(pg_config --sharedir)/extension."
	echo "citus: Citus is in no package registry this project can install from, so CI cannot"
	echo "citus: run this suite; build Citus by hand (README: Scaling out with Citus) to run it."
	echo "citus: 0 passed, 0 failed (skipped)"
	[ -n "${DR1_REQUIRE_ALL:-}" ] && exit 1
	exit 77
fi
for m in "$model" "$embedding_model"; do
	[ -f "$models/$m" ] || { echo "citus: $models/$m is missing"; exit 1; }
done

dir=$(mktemp -d /tmp/dr1-citus.XXXXXX)
chmod 755 "$dir"
as=()
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
	id dr1ci >/dev/null 2>&1 || useradd -m -s /bin/bash dr1ci
	chown dr1ci "$dir"
	as=(runuser -u dr1ci --)
	user=dr1ci
fi

stop_cluster() {
	[ -n "${CITUS_KEEP:-}" ] && { echo "citus: cluster kept in $dir"; return; }
	for p in "${ports[@]}"; do
		"${as[@]}" "$bindir/pg_ctl" -D "$dir/$p" -m fast stop >/dev/null 2>&1
	done
	rm -rf "$dir"
}
trap stop_cluster EXIT

passed=0
failed=0
check() {	# check NAME GOT WANT [FILE to show when not ok]
	if [ "$2" = "$3" ]; then
		echo "ok - $1"
		passed=$((passed + 1))
	else
		echo "not ok - $1: got '$2', want '$3'"
		[ -n "${4:-}" ] && sed 's/^/#   /' "$4"
		failed=$((failed + 1))
	fi
}

q() {	# q PORT SQL...: psql on that node, unaligned, tuples only
	local port=$1
	shift
	"$bindir/psql" -X -q -v ON_ERROR_STOP=1 -At -h localhost -p "$port" -U "$user" -d postgres "$@"
}

start_node() {
	local p=$1
	"${as[@]}" "$bindir/initdb" -D "$dir/$p" -A trust >/dev/null || return 1
	{
		echo "shared_preload_libraries = 'citus,deepseek_r1'"
		echo "deepseek_r1.model = '$dir/$model'"
		echo "deepseek_r1.embedding_model = '$dir/$embedding_model'"
		echo "deepseek_r1.threads = 1"
		echo "listen_addresses = 'localhost'"
		echo "port = $p"
		echo "unix_socket_directories = '$dir'"
	} | "${as[@]}" tee -a "$dir/$p/postgresql.conf" >/dev/null
	"${as[@]}" "$bindir/pg_ctl" -D "$dir/$p" -l "$dir/$p.log" -w start >/dev/null || return 1
	q "$p" -c 'CREATE EXTENSION citus' -c 'CREATE EXTENSION deepseek_r1'
}

wait_ready() {	# both models of a node
	for _ in $(seq 600); do
		[ "$(q "$1" -c 'SELECT state, embedding_state FROM deepseek_r1.status()')" = "ready|ready" ] && return 0
		sleep 0.2
	done
	echo "citus: the models of node $1 did not load" >&2
	return 1
}

# requests each node's status() counted: "COORD|W1|W2"
requests() {
	local out=() p
	for p in "${ports[@]}"; do out+=("$(q "$p" -c 'SELECT requests FROM deepseek_r1.status()')"); done
	(IFS='|'; echo "${out[*]}")
}

delta() {	# delta BEFORE AFTER: the requests per node between two requests()
	local -a a b
	IFS='|' read -ra a <<<"$1"
	IFS='|' read -ra b <<<"$2"
	echo "$((b[0] - a[0]))|$((b[1] - a[1]))|$((b[2] - a[2]))"
}

# rows of the table's shards per node, as "COORD|W1|W2" (0 where none)
shard_rows() {
	local out=() p
	for p in "${ports[@]}"; do
		out+=("$(q "$coordinator" -c "SELECT coalesce(sum(rows), 0) FROM deepseek_r1.citus_progress('$1', 'summary') WHERE port = $p")")
	done
	(IFS='|'; echo "${out[*]}")
}

enrich_sql() {	# enrich_sql TABLE [BATCH_SIZE]
	echo "CALL deepseek_r1.enrich('$1', 'body', 'summary', '{source} plus one is', ${2:-16}, $gen_args)"
}

filled() {
	q "$coordinator" -c "SELECT count(summary) FROM $1"
}

# a cancel mid-way, then a rerun that does only the rest
cancel_and_rerun() {	# TABLE EXPECTED_NODE_REQUESTS_OF_ALL_ROWS
	local t=$1 before after got pid f1 f2 progress=0 views=1
	q "$coordinator" -c "UPDATE $t SET summary = NULL"
	before=$(requests)
	# small batches: many commits, so that the cancel comes between them
	q "$coordinator" -c "$(enrich_sql "$t" 4)" >"$dir/cancel-$t.out" 2>&1 &
	pid=$!
	# until a batch is committed (on docs: on both workers)
	for _ in $(seq 600); do
		if [ "$t" = docs ]; then
			[ "$(q "$coordinator" -c "SELECT count(*) FROM deepseek_r1.citus_progress('docs', 'summary') WHERE rows_filled > 0")" = 2 ] && break
		else
			[ "$(filled "$t")" -gt 0 ] && break
		fi
		sleep 0.1
	done
	# the progress per node, seen from the coordinator while it runs
	if [ "$t" = docs ]; then
		progress=$(q "$coordinator" -c "SELECT count(*) FROM deepseek_r1.citus_progress('docs', 'summary') WHERE rows_filled > 0 AND rows_filled < rows")
		"$bindir/psql" -X -v ON_ERROR_STOP=1 -h localhost -p "$coordinator" -U "$user" -d postgres \
			-c "SELECT * FROM deepseek_r1.citus_progress('docs', 'summary')" \
			-c "SELECT n.nodename, n.nodeport, r.result FROM run_command_on_all_nodes(\$\$SELECT string_agg(task || ' ' || task_done || '/' || task_total, ', ') FROM deepseek_r1.requests\$\$) r JOIN pg_dist_node n USING (nodeid) ORDER BY n.nodeport" \
			>"$dir/progress.out" 2>&1
		views=$?
		sed 's/^/#   /' "$dir/progress.out"
	fi
	q "$coordinator" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL deepseek_r1.enrich(''$t''%'" >/dev/null
	wait "$pid"
	check "$t: the canceled enrich stops with 57014" \
		"$(grep -c 'canceling statement due to user request' "$dir/cancel-$t.out")" 1 "$dir/cancel-$t.out"
	sleep 2
	f1=$(filled "$t")
	sleep 1
	f2=$(filled "$t")
	check "$t: nothing is written after the cancel" "$f2" "$f1"
	check "$t: the cancel came mid-way" "$([ "$f1" -gt 0 ] && [ "$f1" -lt "$rows" ] && echo yes)" yes
	if [ "$t" = docs ]; then
		check "docs: citus_progress shows each node part done while it runs" "$progress" 2
		check "docs: the nodes' requests views are read from the coordinator" "$views" 0
	fi
	before=$(requests)
	q "$coordinator" -c "$(enrich_sql "$t")" >/dev/null 2>&1
	after=$(requests)
	got=$(delta "$before" "$after")
	IFS='|' read -ra d <<<"$got"
	check "$t: the rerun generates only the $((rows - f1)) rows left" "$((d[0] + d[1] + d[2]))" "$((rows - f1))"
	check "$t: every row filled after the rerun" "$(filled "$t")" "$rows"
	[ "$2" = coordinator ] && check "$t: the rerun ran on the coordinator" "$got" "$((rows - f1))|0|0"
}

echo "citus: a coordinator and two workers, ports ${ports[*]}, $rows rows per table, under $dir"
for m in "$model" "$embedding_model"; do
	cp -l "$models/$m" "$dir/" 2>/dev/null || cp "$models/$m" "$dir/"
	chmod 644 "$dir/$m"
done
for p in "${ports[@]}"; do
	start_node "$p" || { echo "citus: node $p did not start"; cat "$dir/$p.log"; exit 1; }
done
q "$coordinator" -c "SELECT citus_set_coordinator_host('localhost', $coordinator)" >/dev/null
for p in "${workers[@]}"; do q "$coordinator" -c "SELECT citus_add_node('localhost', $p)" >/dev/null; done
for p in "${ports[@]}"; do wait_ready "$p" || exit 1; done

# docs: distributed in 8 shards; ref: a reference table (on every node);
# loc: a plain table of the coordinator.  The same rows in each.
if ! q "$coordinator" >/dev/null <<SQL
SET citus.shard_count = 8;
CREATE TABLE docs (id int PRIMARY KEY, body text, summary text, emb real[]);
SELECT create_distributed_table('docs', 'id');
INSERT INTO docs (id, body) SELECT i, (i * 7)::text FROM generate_series(1, $rows) i;
CREATE TABLE ref (id int PRIMARY KEY, body text, summary text);
SELECT create_reference_table('ref');
INSERT INTO ref (id, body) SELECT id, body FROM docs;
CREATE TABLE loc (id int PRIMARY KEY, body text, summary text);
INSERT INTO loc (id, body) SELECT id, body FROM docs;
SQL
then
	echo "citus: cannot create the tables"
	exit 1
fi

echo "# enrich on the distributed table"
before=$(requests)
q "$coordinator" -c "$(enrich_sql docs)" >"$dir/enrich-docs.out" 2>&1
check "docs: enrich finishes" $? 0
after=$(requests)
check "docs: every row filled" "$(filled docs)" "$rows"
IFS='|' read -ra d <<<"$(delta "$before" "$after")"
check "docs: the nodes' requests add up to the rows" "$((d[0] + d[1] + d[2]))" "$rows"
check "docs: each node's requests are its shards' rows" "$(delta "$before" "$after")" "$(shard_rows docs)"
check "docs: both workers hold shards" "$([ "${d[1]}" -gt 0 ] && [ "${d[2]}" -gt 0 ] && echo yes)" yes
check "docs: the coordinator reports each node's shards" \
	"$(grep -c 'enrich: 4 shards of public.docs done on localhost' "$dir/enrich-docs.out")" 2
check "docs: citus_progress counts every row filled" \
	"$(q "$coordinator" -c "SELECT sum(rows_filled) = $rows AND bool_and(rows = rows_filled) FROM deepseek_r1.citus_progress('docs', 'summary')")" t
before=$(requests)
q "$coordinator" -c "$(enrich_sql docs)" >/dev/null 2>&1
check "docs: a second run generates nothing" "$(delta "$before" "$(requests)")" "0|0|0"

echo "# enrich on the reference table and on the local table"
for t in ref loc; do
	before=$(requests)
	q "$coordinator" -c "$(enrich_sql "$t")" >/dev/null 2>&1
	check "$t: enrich finishes" $? 0
	check "$t: every row filled" "$(filled "$t")" "$rows"
	check "$t: the coordinator generated each row once" "$(delta "$before" "$(requests)")" "$rows|0|0"
done
check "ref: every node's copy holds the same answers" \
	"$(q "$coordinator" -c "SELECT count(DISTINCT result) || ' ' || count(*) FROM run_command_on_placements('ref', \$\$SELECT count(summary) || md5(string_agg(summary, '|' ORDER BY id)) FROM %s\$\$)")" "1 3"
answers() {	# TABLE COLUMN: a digest of the column's values in the order of id
	q "$coordinator" -c "SELECT count($2) || ' ' || md5(string_agg($2::text, '|' ORDER BY id)) FROM $1"
}
check "docs, ref: the answers of one node (loc) at temperature 0" \
	"$(answers docs summary) $(answers ref summary)" "$(answers loc summary) $(answers loc summary)"

echo "# cancel mid-way, then rerun"
cancel_and_rerun docs workers
cancel_and_rerun ref coordinator
cancel_and_rerun loc coordinator

echo "# a failing node is named with its shards"
q "$coordinator" -c "UPDATE docs SET summary = NULL WHERE id % 10 = 0"
left=$(q "$coordinator" -c "SELECT rows - rows_filled FROM deepseek_r1.citus_progress('docs', 'summary') WHERE port = ${workers[1]}")
q "${workers[1]}" -c "ALTER SYSTEM SET deepseek_r1.max_tokens_limit = 2" -c "SELECT pg_reload_conf()" >/dev/null
q "$coordinator" -c "$(enrich_sql docs)" >"$dir/fail.out" 2>&1
check "docs: enrich fails when a node refuses" $? 1
check "docs: the error names the failing node's shards and their node" \
	"$(grep -Ec "^(DETAIL:  |)shard [0-9]+ \(public.docs_[0-9]+\) on localhost:${workers[1]}: max_tokens must be between 1 and 2" "$dir/fail.out")" 4 \
	"$dir/fail.out"
check "docs: the error counts the failed shards" \
	"$(grep -c 'ERROR:  enrich failed on 4 of 8 shards of public.docs' "$dir/fail.out")" 1
check "docs: the error names no shard of the other nodes" \
	"$(grep -Ec "on localhost:(${workers[0]}|$coordinator):" "$dir/fail.out")" 0
check "docs: the other node's shards are done, the failing node's untouched" "$(filled docs)" \
	"$((rows - left))"
q "${workers[1]}" -c "ALTER SYSTEM RESET deepseek_r1.max_tokens_limit" -c "SELECT pg_reload_conf()" >/dev/null
q "$coordinator" -c "$(enrich_sql docs)" >/dev/null 2>&1
check "docs: the rerun after the failure fills every row" "$(filled docs)" "$rows"

echo "# embed_table on the distributed table"
before=$(requests)
q "$coordinator" -c "CALL deepseek_r1.embed_table('docs', 'body', 'emb')" >/dev/null 2>&1
check "docs: embed_table finishes" $? 0
check "docs: every row embedded" "$(q "$coordinator" -c "SELECT count(*) FROM docs WHERE array_length(emb, 1) = 384")" "$rows"
check "docs: the workers embedded their own shards' rows" "$(delta "$before" "$(requests)")" "$(shard_rows docs)"
q "$coordinator" -c "CREATE TABLE loc_emb AS SELECT id, deepseek_r1.embed(body) AS emb FROM loc"
check "docs: the embeddings of one node" "$(answers docs emb)" "$(answers loc_emb emb)"

echo "# a distributed SELECT ... generate()"
before=$(requests)
q "$coordinator" -c "CREATE TABLE dist_answers AS SELECT id, deepseek_r1.generate(body || ' plus one is', $gen_args) AS answer FROM docs"
check "docs: each node generated for its own shards' rows" "$(delta "$before" "$(requests)")" "$(shard_rows docs)"
q "$coordinator" -c "CREATE TABLE local_answers AS SELECT id, deepseek_r1.generate(body || ' plus one is', $gen_args) AS answer FROM loc"
check "docs: the answers of enrich and of generate agree" "$(answers dist_answers answer)" "$(answers docs summary)"
check "docs: the answers equal one node's at temperature 0" "$(answers dist_answers answer)" \
	"$(answers local_answers answer)"

echo "# what is refused, and a table Citus manages on the coordinator"
for t in docs ref; do
	check "$t: Citus refuses generate() in an UPDATE (use enrich)" \
		"$(q "$coordinator" -c "UPDATE $t SET summary = deepseek_r1.generate(body) WHERE id = 1" 2>&1)" \
		"ERROR:  functions used in UPDATE queries on distributed tables must not be VOLATILE"
done
q "$coordinator" >/dev/null <<SQL
CREATE TABLE nokey (body text, summary text);
SELECT create_reference_table('nokey');
INSERT INTO nokey VALUES ('1', NULL);
SET citus.shard_replication_factor = 2;
CREATE TABLE twice (id int, body text, summary text);
SELECT create_distributed_table('twice', 'id', shard_count => 2);
INSERT INTO twice VALUES (1, '1', NULL);
CREATE TABLE managed (id int PRIMARY KEY, body text, summary text);
INSERT INTO managed SELECT id, body FROM loc WHERE id <= 20;
SELECT citus_add_local_table_to_metadata('managed');
SQL
refused() {	# TABLE: the SQLSTATE and first line of enrich's error
	q "$coordinator" -c '\set VERBOSITY sqlstate' -c "$(enrich_sql "$1")" 2>&1 | head -1
}
check "nokey: a reference table without a key is refused" "$(refused nokey)" "ERROR:  0A000"
check "twice: replicated shards are refused" "$(refused twice)" "ERROR:  0A000"
q "$coordinator" -c "$(enrich_sql managed)" >/dev/null 2>&1
check "managed: a Citus local table is filled on the coordinator" \
	"$(answers managed summary)" "$(answers "(SELECT * FROM loc WHERE id <= 20) l" summary)"
check "loc: citus_progress refuses a table Citus does not know" \
	"$(q "$coordinator" -c '\set VERBOSITY sqlstate' -c "SELECT * FROM deepseek_r1.citus_progress('loc', 'summary')" 2>&1)" \
	"ERROR:  42809"

echo "citus: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
