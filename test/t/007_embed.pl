# The embedding model beside the generation model: both resident; embed,
# embed_batch, chunk and rag; embed during a long generation returns fast;
# embed_table cancelled and resumed embeds only what is left; bad input
# gets its SQLSTATE; a missing or corrupt embedding model gives 55000 for
# embed while generate still works, and a crash of its engine costs only
# the embed calls.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use JSON::PP;
use FindBin;
use lib $FindBin::Bin;
use Dr1Test;

my $smol = test_model('SmolLM2-135M-Instruct-Q4_1.gguf');
my $minilm = test_model('all-MiniLM-L6-v2-Q8_0.gguf');
require_model($smol);
require_model($minilm);

my $node = start_node('embed', qq(
deepseek_r1.model = '$smol'
deepseek_r1.embedding_model = '$minilm'
deepseek_r1.threads = 2
deepseek_r1.max_batch = 8
));

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The SQLSTATE and message of a statement that must fail.
sub fails
{
	my ($query) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $query, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $rc != 0 ? $err : '';
}

wait_ready($node, 'both models load',
	"state = 'ready' AND embedding_state = 'ready'");
ok(sql('SELECT embedding_engine_pid <> engine_pid FROM deepseek_r1.status()') eq 't',
	'each model has its own engine process');
is(sql(q{SELECT (mi->'embedding'->>'pooling') || ' ' || (mi->'embedding'->>'embedding_length')
	FROM (SELECT deepseek_r1.model_info() AS mi) m}), 'mean 384',
	'model_info() shows the embedding model: mean pooling, 384 dimensions');

# ---- embed, embed_batch --------------------------------------------------
is(sql(q{SELECT array_length(deepseek_r1.embed('PostgreSQL is a database.'), 1)}), '384',
	'embed gives 384 floats');
ok(abs(sql(q{SELECT sqrt(sum(x::float8 * x)) FROM unnest(deepseek_r1.embed('A unit vector.')) x}) - 1) < 1e-5,
	'... of unit length');
is(sql(q{SELECT deepseek_r1.embed('same text') = deepseek_r1.embed('same text')}), 't',
	'the same text gives the same embedding');
is(sql(q{SELECT deepseek_r1.embed(NULL) IS NULL}), 't', 'embed(NULL) is NULL');
is(sql(q{SELECT string_agg(CASE WHEN e IS NULL THEN 'null' ELSE (e = deepseek_r1.embed(t))::text END, ',' ORDER BY n)
	FROM unnest(ARRAY['first', NULL, 'third']) WITH ORDINALITY AS i(t, n)
	JOIN deepseek_r1.embed_batch(ARRAY['first', NULL, 'third']) WITH ORDINALITY AS b(e, m) ON n = m}),
	'true,null,true', 'embed_batch: the embeddings of embed, in order, NULL for NULL');
my $close = sql(q{WITH e AS (SELECT deepseek_r1.embed('The cat sat on the mat.') a,
	deepseek_r1.embed('A cat was sitting on a rug.') b, deepseek_r1.embed('Interest rates rose in March.') c)
	SELECT (SELECT sum(x::float8 * y) FROM unnest(a, b) u(x, y)) > (SELECT sum(x::float8 * y) FROM unnest(a, c) u(x, y)) FROM e});
is($close, 't', 'a paraphrase is nearer than an unrelated sentence');

# ---- bad input -----------------------------------------------------------
like(fails(q{SELECT deepseek_r1.embed('')}), qr/22023: an input to embed must not be empty/,
	'an empty input: 22023');
like(fails(q{SELECT * FROM deepseek_r1.embed_batch(ARRAY['ok', ''])}), qr/22023.*\n.*inputs\[2\]/,
	'an empty element of a batch: 22023 naming it');
my $long = 'word ' x 2000;
like(fails("SELECT deepseek_r1.embed('$long')"), qr/54000: the input has \d+ tokens; the embedding model takes at most 512/,
	'an input over the model\'s limit: 54000');
is(sql("SELECT array_length(deepseek_r1.embed('$long', truncate => true), 1)"), '384',
	'... embedded when truncate => true');
like(fails(q{SELECT deepseek_r1.embed(convert_from('\xc3\x28'::bytea, 'SQL_ASCII'))}), qr/ERROR/,
	'invalid UTF-8 is refused');

# ---- chunk ---------------------------------------------------------------
my $doc = join(' ', map { "Sentence number $_ talks about topic $_." } 1 .. 200);
my $chunks = sql(qq{SELECT count(*), max(deepseek_r1.count_tokens(text)) FROM deepseek_r1.chunk('$doc', 64, 16)});
my ($n_chunks) = split /\|/, $chunks;
ok($n_chunks > 10, "chunk cuts a 200-sentence document into pieces ($n_chunks)");
is(sql(qq{SELECT bool_and(array_length(deepseek_r1.embed(text), 1) = 384) FROM deepseek_r1.chunk('$doc', 64, 16)}),
	't', '... each of which embeds without truncation');
is(sql(qq{SELECT bool_and(position(text IN '$doc') > 0) FROM deepseek_r1.chunk('$doc', 64, 16)}), 't',
	'... each a piece of the document as written');
is(sql(qq{SELECT min(ord) || '-' || max(ord) || ' ' || count(*) FROM deepseek_r1.chunk('$doc', 64, 0)}),
	'1-' . sql(qq{SELECT count(*) FROM deepseek_r1.chunk('$doc', 64, 0)}) . ' '
	  . sql(qq{SELECT count(*) FROM deepseek_r1.chunk('$doc', 64, 0)}), 'chunks are numbered from 1');
is(sql(q{SELECT count(*) FROM deepseek_r1.chunk('   ')}), '0', 'whitespace has no chunk');
like(fails(q{SELECT * FROM deepseek_r1.chunk('x', 64, 64)}), qr/22023: overlap must be/,
	'overlap not below max_tokens: 22023');
like(fails(q{SELECT * FROM deepseek_r1.chunk('x', 10000, 0)}), qr/22023: max_tokens 10000 is more than/,
	'max_tokens over the model\'s limit: 22023');

# ---- embed during a long generation ----------------------------------------
my ($gout, $gerr) = ('', '');
my $gen = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  q{SELECT length(deepseek_r1.generate_batch(array_fill('Write a long story about a dragon.'::text, ARRAY[8]),
	    max_tokens => 400, temperature => 0)::text)} ],
	'>', \$gout, '2>', \$gerr);
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM deepseek_r1.requests WHERE generated_tokens > 0});
my $t0 = time;
is(sql(q{SELECT array_length(deepseek_r1.embed('a question while the engine generates'), 1)}), '384',
	'embed during a long generation');
my $latency = time - $t0;
ok($latency < 2, sprintf('... returns fast (%.0f ms)', 1000 * $latency));
diag(sprintf('embed latency during an 8-sequence generation: %.0f ms', 1000 * $latency));
$gen->finish;
like($gout, qr/^\d+$/, 'the generation finishes too');

# ---- embed_table: committed batches, cancel, resume ------------------------
sql(q{CREATE TABLE docs (id int PRIMARY KEY, body text, emb real[]);
	INSERT INTO docs SELECT g, 'Document ' || g || ' is about ' || (ARRAY['cats', 'ships', 'rain', 'bread'])[1 + g % 4]
	FROM generate_series(1, 400) g;
	INSERT INTO docs VALUES (401, '', NULL), (402, NULL, NULL);});
my ($eout, $eerr) = ('', '');
my $fill = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  q{CALL deepseek_r1.embed_table('docs', 'body', 'emb', batch_size => 8)} ],
	'>', \$eout, '2>', \$eerr);
$node->poll_query_until('postgres', q{SELECT count(emb) >= 40 FROM docs});
sql(q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL deepseek_r1.embed_table%'});
$fill->finish;
like($eerr, qr/canceling statement/, 'embed_table is cancelled mid-way');
my $done = sql(q{SELECT count(emb) FROM docs});
ok($done >= 40 && $done < 400, "... keeping the committed batches ($done rows)");
sql(q{CREATE TABLE before AS SELECT id, emb FROM docs WHERE emb IS NOT NULL});
my $notices = `psql -XAtq -d '@{[$node->connstr('postgres')]}' -c "CALL deepseek_r1.embed_table('docs', 'body', 'emb', batch_size => 64)" 2>&1`;
my $left = 400 - $done;
like($notices, qr/embed_table: $left of $left rows done/, "the second run embeds only the $left rows left");
is(sql(q{SELECT count(emb) FROM docs}), '400', 'every non-empty row is embedded');
is(sql(q{SELECT count(*) FROM docs d JOIN before b USING (id) WHERE d.emb = b.emb}), $done,
	'rows embedded by the first run are untouched');
is(sql(q{SELECT bool_and(emb = deepseek_r1.embed(body)) FROM docs WHERE id % 37 = 0}), 't',
	'embed_table writes embed()\'s embeddings');
is(sql(q{SELECT count(*) FROM docs WHERE id > 400 AND emb IS NULL}), '2', 'empty and NULL sources stay NULL');
like(fails(q{CALL deepseek_r1.embed_table('docs', 'body', 'id')}), qr/42804: target column "id" is of type integer/,
	'a target that cannot take real[]: 42804');

# ---- retrieval through pgvector: the RAG corpus (test/data/rag) -------------
sub read_jsonl
{
	my ($file) = @_;
	open(my $f, '<:encoding(UTF-8)', $file) or die "$file: $!";
	my @rows = map { decode_json_utf8($_) } grep { /\S/ } <$f>;
	return @rows;
}
sub decode_json_utf8 { return JSON::PP->new->decode($_[0]); }
sub quoted { my ($t) = @_; $t =~ s/'/''/g; return "'$t'"; }

my $rag = "$FindBin::Bin/../data/rag";
my @passages = read_jsonl("$rag/passages.jsonl");
my @questions = read_jsonl("$rag/questions.jsonl");
my $reference = JSON::PP->new->decode(do { local $/; open(my $f, '<', "$FindBin::Bin/../golden/rag-reference.json") or die; <$f> });
sql('CREATE EXTENSION vector; CREATE EXTENSION deepseek_r1_vector;
	CREATE TABLE passages (id int PRIMARY KEY, body text, emb vector(384));
	CREATE TABLE questions (q text, answer_id int);');
sql('INSERT INTO passages (id, body) VALUES '
	  . join(', ', map { "($_->{id}, " . quoted($_->{text}) . ')' } @passages));
sql('INSERT INTO questions VALUES '
	  . join(', ', map { '(' . quoted($_->{question}) . ", $_->{answer_id})" } @questions));
$t0 = time;
sql(q{CALL deepseek_r1.embed_table('passages', 'body', 'emb')});
diag(sprintf('embed_table of %d passages into vector(384): %.1f s', scalar @passages, time - $t0));
sql(q{CREATE INDEX passages_hnsw ON passages USING hnsw (emb vector_cosine_ops)});
my $found_sql = q{SELECT count(*) FILTER (WHERE answer_id = ANY(ARRAY(
	SELECT id FROM passages ORDER BY emb <=> deepseek_r1.embed(q) LIMIT 5))) FROM questions};
like(sql(q{EXPLAIN (COSTS OFF) SELECT id FROM passages
	ORDER BY emb <=> deepseek_r1.embed('a question') LIMIT 5}), qr/Index Scan using passages_hnsw/,
	'ORDER BY emb <=> deepseek_r1.embed(q), no cast: the HNSW index answers');
my $hnsw = sql("SET hnsw.ef_search = 100; $found_sql") / @questions;
# exact search, each question embedded once
my $exact = sql(q{SET enable_indexscan = off;
	WITH e AS MATERIALIZED (SELECT answer_id, deepseek_r1.embed(q)::vector AS v FROM questions)
	SELECT count(*) FILTER (WHERE answer_id = ANY(ARRAY(
		SELECT id FROM passages ORDER BY emb <=> e.v LIMIT 5))) FROM e}) / @questions;
diag(sprintf('recall@5 over %d questions: HNSW %.3f, exact %.3f (ours); exact with sentence-transformers %.3f',
	scalar @questions, $hnsw, $exact, $reference->{recall_at_5}));
ok($hnsw >= $reference->{recall_at_5} - 0.01,
	sprintf('recall@5 through HNSW (%.3f) within 1 point of exact search with the reference embeddings (%.3f)',
		$hnsw, $reference->{recall_at_5}));
like(sql(q{SELECT deepseek_r1.rag(q, ARRAY(SELECT body FROM passages ORDER BY emb <=> deepseek_r1.embed(q) LIMIT 5),
	max_tokens => 32, temperature => 0) FROM (VALUES ('What is the capital of France?')) AS t(q)}), qr/\S/,
	'the one-statement RAG query of DESIGN.md §1 answers');

# ---- rag -----------------------------------------------------------------
my $answer = sql(q{SELECT deepseek_r1.rag('What colour is the ball?',
	ARRAY['The ball in the garden is red.', 'The sky was grey all day.'],
	max_tokens => 48, temperature => 0, include_sources => true)});
like($answer, qr/\n\nSources: (none|\[[12]\](, \[[12]\])?)$/, 'rag answers, with the passages it cited');
like(fails(q{SELECT deepseek_r1.rag('q', ARRAY[]::text[])}), qr/22023: documents must hold at least one passage/,
	'rag without passages: 22023');
like(fails(q{SELECT deepseek_r1.rag('q', ARRAY['a', NULL])}), qr/22023: every string in documents must be non-empty and not NULL/,
	'rag with a NULL passage: 22023');

# ---- privileges ----------------------------------------------------------
sql(q{CREATE ROLE nobody LOGIN});
like(fails(q{SET ROLE nobody; SELECT deepseek_r1.embed('x')}), qr/42501: permission denied for function embed/,
	'embed is not granted to PUBLIC');

# ---- failures of the embedding model ---------------------------------------
my $embed_pid = sql(q{SELECT embedding_engine_pid FROM deepseek_r1.status()});
kill 'KILL', $embed_pid;
$node->poll_query_until('postgres',
	qq{SELECT embedding_state = 'ready' AND embedding_engine_pid <> $embed_pid FROM deepseek_r1.status()});
is(sql(q{SELECT array_length(deepseek_r1.embed('after a crash'), 1)}), '384',
	'a killed embedding engine is restarted and serves');
is(sql(q{SELECT engine_starts FROM deepseek_r1.status()}) >= 3 ? 'ok' : 'no', 'ok', '... counted as a start');

my $corrupt = $node->data_dir . '/corrupt.gguf';
open(my $fh, '>', $corrupt) or die;
print $fh 'GGUF' . ("\0" x 64);
close $fh;
foreach my $case ([ 'missing', '/nonexistent/model.gguf' ], [ 'corrupt', $corrupt ])
{
	my ($what, $path) = @$case;
	sql(qq{ALTER SYSTEM SET deepseek_r1.embedding_model = '$path'; SELECT pg_reload_conf()});
	$node->poll_query_until('postgres', q{SELECT embedding_state = 'failed' FROM deepseek_r1.status()});
	like(fails(q{SELECT deepseek_r1.embed('x')}), qr/55000: the deepseek_r1 embedding model is not available/,
		"a $what embedding model: embed gives 55000");
	like(sql(q{SELECT deepseek_r1.generate('Hi', max_tokens => 4, temperature => 0)}), qr/./,
		'... while generate still works');
}
sql(q{ALTER SYSTEM SET deepseek_r1.embedding_model = ''; SELECT pg_reload_conf()});
$node->poll_query_until('postgres',
	q{SELECT embedding_reason = 'deepseek_r1.embedding_model is not set' FROM deepseek_r1.status()});
like(fails(q{SELECT deepseek_r1.embed('x')}), qr/55000.*\n.*deepseek_r1.embedding_model is not set/,
	'no embedding model: 55000 saying so');
ok(!$node->log_contains('terminated by signal|reinitializing'),
	'no backend crashed (the killed engine process is not a backend)');

$node->stop;
done_testing();
