# Inputs and outputs at the edge of the backend: token ids that decode to
# a NUL byte give U+FFFD (no crash); the limits on ids, text and request
# bytes and the range of top_k are checked before anything is sent, with
# the limit in the message; enrich stops with 55000 when a trigger or a
# rule keeps its target NULL; status() and requests show other roles'
# calls and the model path only as pg_stat_activity would; in a LATIN1
# database an answer it cannot represent gets '?' for those characters,
# and the other answers of its batch are not affected.
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

my $node = start_node('inputs', qq(
deepseek_r1.model = '$smol'
deepseek_r1.threads = 2
deepseek_r1.context_length = 1024
));

sub sql { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

# The error of a statement that must fail, with its SQLSTATE.
sub error_of
{
	my ($sql, @opts) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose', @opts ]);
	return $rc == 0 ? "no error: $out" : $err;
}

ok($node->poll_query_until('postgres', "SELECT state = 'ready' FROM deepseek_r1.status()"),
	'the worker loads the model');

# ---- token ids that decode to a NUL byte ------------------------------------
# SmolLM2's token 190 is the byte 0x00; with a long text after it the old
# backend converted past the copy that stopped at the NUL, and crashed.
is(sql("SELECT deepseek_r1.detokenize(ARRAY[190]) = U&'\\FFFD'"), 't',
	'token 190 (a NUL byte) comes back as U+FFFD');
is(sql("SELECT deepseek_r1.detokenize(deepseek_r1.tokenize('ab') || 190 || deepseek_r1.tokenize('cd'))"
	  . " = 'ab' || U&'\\FFFD' || 'cd'"), 't', '... with the text around it kept');
is(sql("SELECT left(t, 1) = U&'\\FFFD' AND length(t) > 262143 FROM "
	  . "deepseek_r1.detokenize(ARRAY[190] || array_fill(260, ARRAY[262143])) t"), 't',
	'a NUL and then 262,143 more ids (the limit) decode');

# ---- limits checked before anything is sent ---------------------------------
like(error_of("SELECT deepseek_r1.detokenize(ARRAY[190] || array_fill(260, ARRAY[20000000]))"),
	qr/54000: detokenize takes at most 262144 token ids, not 20000001/,
	'20,000,001 ids: 54000 with the limit');
like(error_of("SELECT deepseek_r1.generate(repeat('a', 8388609))"),
	qr/54000: deepseek_r1 takes texts of at most 8388608 bytes, not 8388609/,
	'a prompt over 8 MiB: 54000 with the limit');
like(error_of("SELECT deepseek_r1.count_tokens(repeat('é', 4194305))"),
	qr/54000: deepseek_r1 takes texts of at most 8388608 bytes, not 8388610/,
	'... counted in UTF-8, for tokenize too');
like(error_of("SELECT deepseek_r1.generate('hi', stop => array_fill(repeat('x', 8388608), ARRAY[16]))"),
	qr/54000: a deepseek_r1 request may hold at most \d+ bytes, not \d+/,
	'a request over the frame limit: 54000 with the limit');
like(error_of("SELECT deepseek_r1.generate('hi', top_k => 1000001)"),
	qr/22023: top_k must be 0 \(off\) or between 1 and 1000000, not 1000001/,
	'top_k above the limit: 22023 with the range');
isnt(sql("SELECT deepseek_r1.generate('Say hi', top_k => 1000000, max_tokens => 4)"), '',
	'top_k at the limit is accepted by the engine too');
is(sql('SELECT 1'), '1', 'the server is still up');

# ---- enrich with a trigger or a rule that keeps the target NULL -------------
sql(q{
CREATE TABLE kept (id int, src text, dst text);
INSERT INTO kept SELECT i, 'word ' || i, NULL FROM generate_series(1, 4) i;
CREATE FUNCTION keep_null() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.dst := NULL; RETURN NEW; END$$;
CREATE TRIGGER keep BEFORE UPDATE ON kept FOR EACH ROW EXECUTE FUNCTION keep_null();
CREATE TABLE ruled (LIKE kept);
INSERT INTO ruled SELECT * FROM kept;
CREATE RULE nothing AS ON UPDATE TO ruled DO INSTEAD NOTHING;
});
for my $t ('kept', 'ruled')
{
	like(error_of("SET statement_timeout = '120s';\n"
		  . "CALL deepseek_r1.enrich('$t', 'src', 'dst', 'Repeat: {source}', batch_size => 2, "
		  . "max_tokens => 2, temperature => 0);"),
		qr/55000: enrich cannot fill column dst of public.$t: its answers do not stay written/,
		"enrich on a table whose $t target stays NULL stops with 55000");
}

# ---- who sees other roles' calls and the model path -------------------------
sql(q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN IN ROLE pg_read_all_stats;
GRANT EXECUTE ON FUNCTION deepseek_r1.generate TO alice;
});
my ($out, $err) = ('', '');
my $slow = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=alice', '-c',
	  "SELECT deepseek_r1.generate('Count: 1, 2, 3,', max_tokens => 3000, temperature => 0, raw => true)" ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM deepseek_r1.requests'),
	"alice's slow call is in flight");
sub as_role { return $node->safe_psql('postgres', $_[1], extra_params => [ '-U', $_[0] ]); }
is(as_role('bob', 'SELECT count(*) FROM deepseek_r1.requests'), '0', 'bob does not see her call');
is(as_role('bob', 'SELECT model IS NULL, state FROM deepseek_r1.status()'), 't|ready',
	'bob sees the state but not the model path');
is(as_role('alice', 'SELECT count(*) FROM deepseek_r1.requests'), '1', 'alice sees her own call');
is(as_role('carol', 'SELECT count(*) FROM deepseek_r1.requests'), '1',
	'a member of pg_read_all_stats sees it');
is(as_role('carol', 'SELECT model FROM deepseek_r1.status()'), $smol, '... and the model path');
is(sql('SELECT model FROM deepseek_r1.status()'), $smol, 'the superuser sees the model path');
sql('SELECT pg_cancel_backend(pid) FROM deepseek_r1.requests');
$slow->finish;
like($err, qr/canceling statement due to user request/, "alice's call is cancelled");

# ---- a LATIN1 database ------------------------------------------------------
sql("CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
sql('CREATE EXTENSION deepseek_r1', 'latin');
my $japanese = 'Write the Japanese word for thank you in hiragana.';
is(sql("SELECT deepseek_r1.generate('$japanese', max_tokens => 8, temperature => 0) ~ '[^\\u0001-\\u00ff]'"),
	't', 'in UTF8 the answer to the Japanese prompt has characters outside LATIN1');
is(sql("SELECT count(a), count(*) FILTER (WHERE a LIKE '%?%'), (array_agg(a ORDER BY o))[2] !~ '[?]' "
	  . "FROM unnest(deepseek_r1.generate_batch(ARRAY['$japanese', 'Say hi'], max_tokens => 8, "
	  . "temperature => 0)) WITH ORDINALITY u(a, o)", 'latin'),
	'2|1|t', "in LATIN1 that answer gets '?' and the batch's other answer is intact");
is(sql('SELECT deepseek_r1.detokenize(ARRAY[190])', 'latin'), '?',
	"in LATIN1 the NUL's U+FFFD becomes '?'");

ok(!$node->log_contains('terminated by signal'), 'no backend crashed');
$node->stop;
done_testing();
