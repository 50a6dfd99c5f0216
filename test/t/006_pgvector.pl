# pgvector with deepseek_r1_vector, no model needed: ORDER BY emb <=> a
# real[] (what deepseek_r1.embed returns) resolves without a cast, the
# planner inlines the operator so the HNSW index answers it (EXPLAIN), the
# index agrees with exact search (recall@10), the operators give the cast
# form's values for every operator and argument order, NULL in gives NULL,
# and a wrong dimension, a NULL element or an empty array is pgvector's
# error, not a crash.  CREATE EXTENSION deepseek_r1 needs neither the
# preloaded library nor a model, so the node has neither.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgvector');
$node->init;
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The SQLSTATE and message of a statement that must fail.
sub fails
{
	my ($query) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $query, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $rc != 0 ? $err : "no error: $out";
}

# pgvector is a prerequisite (test/pg/setup-pgvector.sh, run by
# test/run-all.sh): absent, the suite fails under DR1_REQUIRE_ALL and is
# skipped elsewhere, as an absent model is (Dr1Test.pm).
if (sql("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'") ne '1')
{
	if ($ENV{DR1_REQUIRE_ALL})
	{
		fail('missing prerequisite: pgvector (test/pg/setup-pgvector.sh)');
		done_testing();
		exit 1;
	}
	plan skip_all => 'SKIP: pgvector is not installed (test/pg/setup-pgvector.sh)';
}

sql('CREATE EXTENSION vector');
sql('CREATE EXTENSION deepseek_r1');
sql('CREATE EXTENSION deepseek_r1_vector');
pass('vector, deepseek_r1 and deepseek_r1_vector are created');

# ---- 3000 random 384-dimensional vectors, 20 queries as real[] --------------
# Uniform random vectors are the hard case for HNSW (no structure to
# follow); the WHERE i > 0 makes each row draw its own array.
sql(q{
SELECT setseed(0.25);
CREATE TABLE items (id integer PRIMARY KEY, emb vector(384));
INSERT INTO items
SELECT i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 384) WHERE i > 0)::vector
FROM generate_series(1, 3000) i;
CREATE TABLE queries (id integer PRIMARY KEY, v real[]);
INSERT INTO queries
SELECT j, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 384) WHERE j > 0)
FROM generate_series(1, 20) j;
CREATE INDEX items_cos ON items USING hnsw (emb vector_cosine_ops);
CREATE INDEX items_l2 ON items USING hnsw (emb vector_l2_ops);
CREATE INDEX items_ip ON items USING hnsw (emb vector_ip_ops);
ANALYZE items, queries;
});

# ---- the un-cast form resolves and the index answers it ---------------------
my %index = ('<=>' => 'items_cos', '<->' => 'items_l2', '<#>' => 'items_ip');
for my $op (sort keys %index)
{
	for my $form ("emb $op (SELECT v FROM queries WHERE id = 1)",
		"(SELECT v FROM queries WHERE id = 1) $op emb")
	{
		like(sql("EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY $form LIMIT 10"),
			qr/Index Scan using $index{$op} on items\n\s+Order By: \(emb \Q$op\E \(\$0\)::vector\)/,
			"ORDER BY $form: an index scan on $index{$op}, ordered by pgvector's own operator");
	}
}
like(sql(q{
PREPARE near(real[]) AS SELECT id FROM items ORDER BY emb <=> $1 LIMIT 10;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE near(NULL)}),
	qr/Index Scan using items_cos on items\n\s+Order By: \(emb <=> \(\$1\)::vector\)/,
	'a prepared statement with a real[] parameter: the generic plan uses the index');
like(sql("SET search_path = pg_catalog; EXPLAIN (COSTS OFF) SELECT id FROM public.items "
	  . "ORDER BY emb OPERATOR(public.<=>) (SELECT v FROM public.queries WHERE id = 1) LIMIT 10"),
	qr/Index Scan using items_cos on items/,
	"with vector's schema off the search_path the operator still means the same and uses the index");
like(sql("EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY emb <=> '[1,2,3]' LIMIT 10"),
	qr/Order By: \(emb <=> '\[1,2,3\]'::vector\)/,
	"emb <=> 'literal' still resolves to vector <=> vector (no ambiguity with real[])");

# The model's functions: planned, never run (no model here).
like(sql("EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY emb <=> deepseek_r1.embed('q') LIMIT 5"),
	qr/Index Scan using items_cos on items\n\s+Order By: \(emb <=> \(deepseek_r1\.embed\('q'::text, false\)\)::vector\)/,
	'ORDER BY emb <=> deepseek_r1.embed(q): the index, embed computed once for the scan');
like(sql("EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY emb <=> deepseek_r1.embed_vector('q') LIMIT 5"),
	qr/Index Scan using items_cos on items\n\s+Order By: \(emb <=> \(deepseek_r1\.embed\('q'::text, false\)\)::vector\)/,
	'embed_vector is inlined to embed(...)::vector, and the index is used');
is(sql("SELECT prorettype::regtype, provolatile, proisstrict FROM pg_proc "
	  . "WHERE oid = 'deepseek_r1.embed_vector(text, boolean)'::regprocedure"),
	'vector|s|f', 'embed_vector returns vector, STABLE and not STRICT like embed');

# ---- the index against exact search -----------------------------------------
# exact: no index; approximate: the index (the seq scan disabled, since
# with ef_search 200 and 3000 rows the planner would rather sort)
my $top10 = 'SELECT q.id AS qid, ARRAY(SELECT i.id FROM items i ORDER BY i.emb <=> q.v LIMIT 10) AS ids FROM queries q';
like(sql("SET enable_seqscan = off; SET hnsw.ef_search = 200; EXPLAIN (COSTS OFF) $top10"),
	qr/Index Scan using items_cos on items i\n\s+Order By: \(emb <=> \(q\.v\)::vector\)/,
	'the approximate top 10 of each query (a correlated real[]) come from the index');
sql("SET enable_indexscan = off; CREATE TABLE exact AS $top10");
sql("SET enable_seqscan = off; SET hnsw.ef_search = 200; CREATE TABLE approx AS $top10");
my $recall = sql(q{
SELECT round(avg((SELECT count(*) FROM unnest(a.ids) x WHERE x = ANY (e.ids))) / 10, 3)
FROM approx a JOIN exact e USING (qid)});
cmp_ok($recall, '>=', 0.9, "recall\@10 of the index against exact search: $recall (ef_search 200)");
is(sql(q{
SELECT count(*) FROM queries q
WHERE ARRAY(SELECT id FROM items ORDER BY emb <=> q.v LIMIT 10)
   IS DISTINCT FROM ARRAY(SELECT id FROM items ORDER BY emb <=> q.v::vector LIMIT 10)}),
	'0', 'the un-cast ORDER BY returns what the cast one does, for all 20 queries');
is(sql(q{
SELECT count(*) FROM queries q
WHERE ARRAY(SELECT id FROM items ORDER BY emb <=> q.v, id LIMIT 10)
   IS DISTINCT FROM (SELECT ids FROM exact WHERE qid = q.id)}),
	'0', 'exact search through the operator (seq scan and sort) equals the cast form');

# ---- values -----------------------------------------------------------------
is(sql(q{
SELECT count(*) FILTER (WHERE emb <=> v IS DISTINCT FROM emb <=> v::vector
                           OR v <=> emb IS DISTINCT FROM v::vector <=> emb
                           OR emb <=> v IS DISTINCT FROM cosine_distance(emb, v::vector)),
       count(*) FILTER (WHERE emb <-> v IS DISTINCT FROM emb <-> v::vector
                           OR v <-> emb IS DISTINCT FROM v::vector <-> emb
                           OR emb <-> v IS DISTINCT FROM l2_distance(emb, v::vector)),
       count(*) FILTER (WHERE emb <#> v IS DISTINCT FROM emb <#> v::vector
                           OR v <#> emb IS DISTINCT FROM v::vector <#> emb
                           OR emb <#> v IS DISTINCT FROM -inner_product(emb, v::vector)),
       count(*)
FROM items, queries WHERE queries.id <= 3}),
	'0|0|0|9000', '<=>, <-> and <#>, either way round, equal the cast forms and pgvector\'s functions (9000 pairs)');
is(sql(q{SELECT '[1,0]'::vector <=> '{0,1}'::real[], '{3,4}'::real[] <-> '[0,0]'::vector,
	'[1,2]'::vector <#> '{3,4}'::real[]}), '1|5|-11', 'known values: cosine 1, L2 5, negative inner product -11');

# ---- NULL (STRICT) ----------------------------------------------------------
is(sql(q{SELECT ('[1,2]'::vector <=> NULL::real[]) IS NULL, (NULL::real[] <=> '[1,2]'::vector) IS NULL,
	('[1,2]'::vector <-> NULL::real[]) IS NULL, (NULL::vector <#> '{1,2}'::real[]) IS NULL}),
	't|t|t|t', 'a NULL on either side gives NULL');
is(sql(q{SELECT count(*) FILTER (WHERE p.proisstrict AND p.provolatile = 'i' AND p.proparallel = 's'
	AND l.lanname = 'sql' AND p.prosqlbody IS NOT NULL AND p.proconfig IS NULL AND NOT p.prosecdef), count(*)
	FROM pg_operator o JOIN pg_proc p ON o.oprcode = p.oid JOIN pg_language l ON l.oid = p.prolang
	WHERE o.oprname IN ('<=>', '<->', '<#>') AND 'real[]'::regtype IN (o.oprleft, o.oprright)}),
	'6|6', 'the six operator functions: SQL bodies, IMMUTABLE STRICT PARALLEL SAFE, nothing that stops inlining');
is(sql(q{
INSERT INTO queries VALUES (0, NULL);
SELECT (SELECT count(*) FROM (SELECT id FROM items ORDER BY emb <=> v LIMIT 5) s),
       (SELECT count(*) FROM (SELECT id FROM items ORDER BY emb <=> v::vector LIMIT 5) s)
FROM queries WHERE id = 0}),
	'5|5', 'ORDER BY emb <=> NULL through the index: as many rows as the cast form');

# ---- errors are pgvector's --------------------------------------------------
like(fails("SELECT id FROM items ORDER BY emb <=> '{1,2,3}'::real[] LIMIT 5"),
	qr/ERROR:  22000: different vector dimensions (3 and 384|384 and 3)/,
	'a 3-dimensional query against the index: 22000 different vector dimensions');
like(fails("SELECT emb <-> '{1,2}'::real[] FROM items LIMIT 1"),
	qr/ERROR:  22000: different vector dimensions 384 and 2/, '... and in a plain expression');
like(fails("SELECT '[1,2]'::vector <=> '{1,NULL}'::real[]"),
	qr/ERROR:  22004: array must not contain nulls/, 'a NULL element: 22004');
like(fails("SELECT '[1,2]'::vector <#> '{}'::real[]"),
	qr/ERROR:  22000: vector must have at least 1 dimension/, 'an empty array: 22000');
like(fails("SELECT '{1,2}'::real[] <=> '{1,2}'::real[]"),
	qr/ERROR:  42883: operator does not exist: real\[\] <=> real\[\]/,
	'real[] <=> real[] is not defined (no operator between two arrays)');

is(sql('SELECT 1'), '1', 'the server is up');
ok(!$node->log_contains('terminated by signal'), 'no backend crashed');
$node->stop;
done_testing();
