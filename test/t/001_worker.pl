# The worker and its engine process under a live server: start, restart
# after SIGKILL of the engine and after pg_terminate_backend of the worker,
# reload with another model, cancel and timeouts, 16 concurrent sessions,
# privileges.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use Dr1Test;
use Time::HiRes qw(time usleep);

my $smol = test_model('SmolLM2-135M-Instruct-Q4_1.gguf');
my $qwen = test_model('Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf');
require_model($smol);

my $node = start_node('worker', qq(
deepseek_r1.model = '$smol'
deepseek_r1.threads = 1
max_connections = 40
));

# A long generation in the background; returns the IPC::Run harness.
sub start_long
{
	my ($out, $err, $pre) = @_;
	my $sql = ($pre // '') . "SELECT deepseek_r1.generate('Count: 1, 2, 3,', max_tokens => 3000, "
	  . "temperature => 0, raw => true);";
	return IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', $out, '2>', $err);
}

sub wait_generating
{
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM deepseek_r1.requests WHERE state = 'generating'");
}

my $hi = "SELECT deepseek_r1.generate('What is 2+2?', max_tokens => 24, temperature => 0)";
my $answer = 'The answer to this classic math problem is 4.';

# worker start
wait_ready($node, 'the worker loads the model');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker'"),
	'1', 'the worker shows in pg_stat_activity');
is($node->safe_psql('postgres', $hi), $answer, 'generate answers');
my $engine = status($node, 'engine_pid');
ok($engine > 0, 'an engine process runs');
$node->reload;
usleep(300_000);
is(status($node, 'engine_pid'), $engine, 'a reload without changes keeps the engine process');

# SIGKILL of the engine process in the middle of a generation
my ($out, $err) = ('', '');
my $other = $node->background_psql('postgres');
$other->query_safe('SELECT 1');
my $log_offset = -s $node->logfile;
my $h = start_long(\$out, \$err);
ok(wait_generating(), 'the long generation runs');
my $t0 = time;
kill 'KILL', status($node, 'engine_pid');
$h->finish;
my $elapsed = time - $t0;
like($err, qr/XX000: the deepseek_r1 engine process was killed/, 'the query fails with a clear error');
ok($elapsed < 1.0, sprintf('... within 1 s (%.3f s)', $elapsed));
is($other->query_safe('SELECT 2'), '2', 'another open session keeps working');
wait_ready($node, 'the engine process is restarted');
is($node->safe_psql('postgres', $hi), $answer, 'the next generate succeeds');
ok(!$node->log_contains('terminated by signal|reinitializing|crash', $log_offset),
	'no crash recovery in the server log');
$other->quit;

# pg_terminate_backend of the worker: the postmaster starts it again
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker' AND pid <> $worker"),
	'the worker comes back');
wait_ready($node, '... and loads the model again');
is($node->safe_psql('postgres', $hi), $answer, 'generate works after the worker restart');
ok(!$node->log_contains('terminated by signal|reinitializing', $log_offset), 'still no crash recovery');

# statement_timeout and cancel: 57014, nothing left in flight
($out, $err) = ('', '');
$h = start_long(\$out, \$err, "SET statement_timeout = '1500ms';");
$h->finish;
like($err, qr/57014/, 'statement_timeout gives 57014');
ok($node->poll_query_until('postgres',
	'SELECT (SELECT count(*) FROM deepseek_r1.requests) = 0 AND engine_in_flight = 0 FROM deepseek_r1.status()'),
	'requests is empty and the engine freed the request');

($out, $err) = ('', '');
$h = start_long(\$out, \$err);
ok(wait_generating(), 'a generation to cancel runs');
my $canceled = status($node, 'requests_canceled');
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM deepseek_r1.requests");
$h->finish;
like($err, qr/57014: canceling statement due to user request/, 'cancel gives 57014');
ok($node->poll_query_until('postgres',
	'SELECT (SELECT count(*) FROM deepseek_r1.requests) = 0 AND engine_in_flight = 0 FROM deepseek_r1.status()'),
	'requests is empty and the engine freed the request');
ok(status($node, 'requests_canceled') > $canceled, 'the worker counted the cancel');

($out, $err) = ('', '');
$h = start_long(\$out, \$err, "SET deepseek_r1.request_timeout = '700ms';");
$h->finish;
like($err, qr/57014: canceling deepseek_r1 request due to deepseek_r1.request_timeout/,
	'request_timeout gives 57014');

# 16 concurrent sessions
my @runs;
for my $i (1 .. 16)
{
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $hi ],
		'>', \$r{out}, '2>', \$r{err});
	push @runs, \%r;
}
$_->{h}->finish for @runs;
is(scalar(grep { $_->{out} eq "$answer\n" && $_->{err} eq '' } @runs), 16,
	'16 concurrent sessions all get the answer');
is($node->safe_psql('postgres', 'SELECT count(*) FROM deepseek_r1.requests'), '0',
	'no slot leaked');

# privileges
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN');
my ($rc, $stdout, $stderr) = $node->psql('postgres', $hi,
	extra_params => [ '-U', 'alice', '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/42501/, 'a role without the grant gets 42501');
$node->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION deepseek_r1.generate TO alice');
($rc, $stdout, $stderr) = $node->psql('postgres', $hi, extra_params => [ '-U', 'alice' ]);
is($stdout, $answer, 'with the grant it succeeds');

# SIGHUP with another model file
SKIP:
{
	skip "SKIP: $qwen not found", 3 unless have_model($qwen);
	$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.model = '$qwen'");
	$node->reload;
	ok($node->poll_query_until('postgres',
		"SELECT state = 'ready' AND model = '$qwen' FROM deepseek_r1.status()"),
		'a reload switches to the other model');
	is($node->safe_psql('postgres', "SELECT deepseek_r1.model_info()->>'architecture'"),
		'qwen2', 'model_info describes it');
	ok(length($node->safe_psql('postgres',
		"SELECT deepseek_r1.generate('Hi', max_tokens => 4, temperature => 0)")) > 0,
		'and it answers');
}

$node->stop;
done_testing();
