# Batches: generate_batch equals generate prompt by prompt, alone or with a
# KV pool so small that the engine preempts; cancel and statement_timeout
# free every KV block of a batch; a batch larger than max_batch shares the
# engine with other sessions; enrich cancelled mid-way and run again
# generates only the rows still NULL, each row once, also with two runs at
# a time; NULLs in arrays; choices give only listed labels.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use Dr1Test;

my $smol = test_model('SmolLM2-135M-Instruct-Q4_1.gguf');
require_model($smol);

my $node = start_node('batch', qq(
deepseek_r1.model = '$smol'
deepseek_r1.threads = 2
deepseek_r1.max_batch = 16
deepseek_r1.context_length = 1024
max_connections = 40
));

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Bounded wait (poll_query_until's timeout) for the engine to hold nothing.
sub engine_idle
{
	return $node->poll_query_until('postgres',
		'SELECT (SELECT count(*) FROM deepseek_r1.requests) = 0 AND engine_in_flight = 0 '
		  . 'AND kv_blocks_used = 0 FROM deepseek_r1.status()');
}

# psql in the background; returns the IPC::Run harness.
sub start_psql
{
	my ($sql, $out, $err) = @_;
	return IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', $out, '2>', $err);
}

wait_ready($node, 'the worker loads the model');

# ---- batch invariance ------------------------------------------------------
my @prompts = (
	'The capital of France is', 'Write a haiku about the ocean.', 'What is 17 times 23?',
	'def fibonacci(n):', 'List three primary colors.', 'Once upon a time,',
	'SELECT name FROM users WHERE', 'Why is the sky blue?', 'The quick brown fox',
	'In machine learning, overfitting means', '1, 2, 3, 5, 8,', 'Hello! How are you?',
	'Describe a cat.', 'Tell me a joke.', 'What does an index do?', 'Summarize Hamlet.');
my $values = join(', ', map { my $i = $_ + 1; "($i, \$\$$prompts[$_]\$\$)" } 0 .. $#prompts);
my $args = 'max_tokens => 24, temperature => 0';
sql("CREATE TABLE prompts (i int, p text); INSERT INTO prompts VALUES $values;
	 CREATE TABLE alone AS SELECT i, deepseek_r1.generate(p, $args) AS a FROM prompts;");
is(sql('SELECT count(DISTINCT a) FROM alone'), '16', '16 prompts answered one at a time, all different');

# answers of a batch that equal the answers alone (and the batch's preemptions)
sub same_as_alone
{
	my $pre = status($node, 'preemptions');
	my $same = sql("SELECT count(*) FROM alone JOIN unnest(deepseek_r1.generate_batch(
		(SELECT array_agg(p ORDER BY i) FROM prompts), $args)) WITH ORDINALITY AS b(a, i) USING (i)
		WHERE alone.a = b.a");
	return ($same, status($node, 'preemptions') - $pre);
}

my ($same, $preempted) = same_as_alone();
is($same, '16', 'generate_batch of the 16 prompts equals each generated alone');

# ---- a KV pool far too small: preemption, same answers -------------------------
my $starts = status($node, 'engine_starts');
sql("ALTER SYSTEM SET deepseek_r1.kv_cache_memory = '9MB'");	# 12 blocks of 32 tokens
$node->reload;
wait_ready($node, 'the engine restarts with a 12-block KV pool', 'engine_starts > ' . $starts);
is(status($node, 'kv_blocks_total'), '12', 'status() shows the pool');
($same, $preempted) = same_as_alone();
ok($preempted > 0, "the batch was preempted ($preempted times)");
is($same, '16', '... and its answers still equal the answers alone');
ok(engine_idle(), '... and no KV block is left in use');

$starts = status($node, 'engine_starts');
sql('ALTER SYSTEM RESET deepseek_r1.kv_cache_memory');
$node->reload;
wait_ready($node, 'the engine restarts with the default pool', 'engine_starts > ' . $starts);

# ---- cancel and statement_timeout free the whole batch -------------------------
my $long = "SELECT deepseek_r1.generate_batch(array_fill('Count: 1, 2, 3,'::text, ARRAY[16]), "
  . 'max_tokens => 1000, temperature => 0, raw => true)';
my ($out, $err) = ('', '');
my $h = start_psql($long, \$out, \$err);
ok($node->poll_query_until('postgres',
	'SELECT engine_in_flight = 16 AND kv_blocks_used > 0 FROM deepseek_r1.status()'),
	'the 16 prompts of a batch run in the engine at once');
ok($node->poll_query_until('postgres',
	"SELECT prompts = 16 AND state = 'generating' FROM deepseek_r1.requests"),
	'requests shows one call of 16 prompts, generating');
my $canceled = status($node, 'requests_canceled');
sql('SELECT pg_cancel_backend(pid) FROM deepseek_r1.requests');
$h->finish;
like($err, qr/57014: canceling statement due to user request/, 'cancel gives 57014');
ok(engine_idle(), 'after the cancel the engine holds no request and no KV block');
is(status($node, 'requests_canceled') - $canceled, 16, 'the 16 requests were counted as canceled');

($out, $err) = ('', '');
$h = start_psql("SET statement_timeout = '3s'; $long", \$out, \$err);
$h->finish;
like($err, qr/57014: canceling statement due to statement timeout/, 'statement_timeout gives 57014');
ok(engine_idle(), '... and frees every KV block of the batch');

# ---- a batch larger than max_batch does not shut out another session -----------
# 32 equal prompts: the first 16 run and end together, then the other 16.
# The single call made meanwhile takes one of the places the first 16
# free, so it ends while the second 16 still run.
($out, $err) = ('', '');
$h = start_psql("SELECT deepseek_r1.generate_batch(array_fill('Count: 1, 2, 3,'::text, ARRAY[32]), "
	  . 'max_tokens => 40, temperature => 0, raw => true)', \$out, \$err);
ok($node->poll_query_until('postgres',
	"SELECT prompts = 32 AND state = 'generating' FROM deepseek_r1.requests"),
	'a batch of 32 prompts runs');
sql("SELECT deepseek_r1.generate('Hi', max_tokens => 4, temperature => 0)");
is(sql('SELECT prompts_done FROM deepseek_r1.requests WHERE prompts = 32'), '16',
	'a single call made meanwhile ends while the batch\'s second half runs');
$h->finish;
is($err, '', '... and the batch ends well');

# ---- NULLs in arrays ---------------------------------------------------------------
is(sql("SELECT array_to_string(array_agg(a IS NULL ORDER BY n), ',')
		FROM unnest(deepseek_r1.generate_batch(ARRAY[NULL, 'Tell me a joke.', NULL, 'Describe a cat.'],
											   $args)) WITH ORDINALITY AS t(a, n)"),
	't,f,t,f', 'NULL prompts give NULL answers in their places');
is(sql("SELECT deepseek_r1.generate_batch(ARRAY[NULL, 'Tell me a joke.', NULL, 'Describe a cat.'], $args)
		= ARRAY[NULL, (SELECT a FROM alone WHERE i = 14), NULL, (SELECT a FROM alone WHERE i = 13)]"),
	't', '... and the others their answers alone');

# ---- choices ---------------------------------------------------------------------------
my $labels = "ARRAY['very positive', 'positive', 'neutral', 'negative', 'very negative']";
is(sql("SELECT count(*) FROM unnest(deepseek_r1.generate_batch(
		(SELECT array_agg(p ORDER BY i) FROM prompts), temperature => 1.5, seed => 7,
		system => 'Rate the sentiment of the text.', choices => $labels)) AS a
		WHERE a = ANY ($labels)"),
	'16', 'sampled at temperature 1.5, every answer is one of the labels');
ok(sql("SELECT count(DISTINCT a) FROM unnest(deepseek_r1.generate_batch(
		(SELECT array_agg(p ORDER BY i) FROM prompts), temperature => 1.5, seed => 7,
		system => 'Rate the sentiment of the text.', choices => $labels)) AS a") > 1,
	'... and not always the same one');

# ---- enrich: cancelled mid-way, then run again ---------------------------------
sub make_table
{
	my ($name, $rows) = @_;
	sql("CREATE TABLE $name (id int PRIMARY KEY, body text, summary text);
		 INSERT INTO $name SELECT i, 'Item number ' || i || ' of the list.' FROM generate_series(1, $rows) i;
		 CREATE TABLE ${name}_updates (id int);
		 CREATE FUNCTION ${name}_log() RETURNS trigger LANGUAGE plpgsql AS
		   \$\$ BEGIN INSERT INTO ${name}_updates VALUES (NEW.id); RETURN NEW; END \$\$;
		 CREATE TRIGGER log AFTER UPDATE ON $name FOR EACH ROW EXECUTE FUNCTION ${name}_log();");
}
my $enrich = "CALL deepseek_r1.enrich('docs', 'body', 'summary', 'Summarize in a few words: {source}', "
  . 'batch_size => 4, max_tokens => 16, temperature => 0)';

make_table('docs', 40);
($out, $err) = ('', '');
$h = start_psql($enrich, \$out, \$err);
ok($node->poll_query_until('postgres', 'SELECT count(summary) >= 8 FROM docs'),
	'enrich commits its batches as it goes');
ok($node->poll_query_until('postgres',
	"SELECT task = 'enrich public.docs.summary' AND task_total = 40 AND task_done >= 8 AND prompts = 4
	 FROM deepseek_r1.requests"),
	'requests shows its progress');
sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL deepseek_r1.enrich%'");
$h->finish;
like($err, qr/57014/, 'the cancelled enrich gives 57014');
like($err, qr/NOTICE:  00000: enrich: 8 of 40 rows done/, '... after a NOTICE per batch');
my $filled = sql('SELECT count(summary) FROM docs');
ok($filled >= 8 && $filled < 40 && $filled % 4 == 0,
	"only whole batches were kept ($filled rows)");
ok(engine_idle(), 'the engine is idle');

my $served = status($node, 'requests');
my ($rc, $stdout, $stderr) = $node->psql('postgres', $enrich);
is($rc, 0, 'enrich run again succeeds');
my $rest = 40 - $filled;
like($stderr, qr/enrich: $rest of $rest rows done\z/, "... and reports the $rest rows left");
is(status($node, 'requests') - $served, $rest, "... having the engine serve exactly $rest requests");
is(sql('SELECT count(*) FROM docs WHERE summary IS NULL'), '0', 'every row is filled');
is(sql('SELECT count(*) || \' \' || count(DISTINCT id) FROM docs_updates'), '40 40',
	'each row was written exactly once');

# ---- two enrich runs on the same table at once ----------------------------------
make_table('docs2', 24);
(my $enrich2 = $enrich) =~ s/'docs'/'docs2'/;
$served = status($node, 'requests');
my @runs;
for (1 .. 2)
{
	my %r = (out => '', err => '');
	$r{h} = start_psql($enrich2, \$r{out}, \$r{err});
	push @runs, \%r;
}
$_->{h}->finish for @runs;
is(scalar(grep { $_->{h}->result == 0 } @runs), 2, 'two concurrent enrich runs succeed');
is(sql('SELECT count(*) FROM docs2 WHERE summary IS NULL'), '0', '... fill every row');
is(sql('SELECT count(*) || \' \' || count(DISTINCT id) FROM docs2_updates'), '24 24',
	'... each exactly once');
is(status($node, 'requests') - $served, 24, '... with 24 requests between them');

ok(engine_idle(), 'nothing is left in flight');
$node->stop;
done_testing();
