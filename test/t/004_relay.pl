# The relay between backends, the worker and the engine process under
# pressure: DROP DATABASE / DROP TABLESPACE while requests run, multi-MB
# requests from several sessions at once, requests over the frame limit
# (through SQL, and straight to `deepseek-r1 serve`), a stopped engine (the
# watchdog), an engine program that exits at start or never loads (the
# load timeout), a KV cache too small,
# the worker's memory over 100,000 calls, SIGTERM, postmaster death.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Socket;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib $FindBin::Bin;
use Dr1Test;

my $smol = test_model('SmolLM2-135M-Instruct-Q4_1.gguf');
require_model($smol);

my $frame_max = 64 << 20;	# DR1_FRAME_MAX (src/protocol/protocol.h)

my $node = start_node('relay', qq(
deepseek_r1.model = '$smol'
deepseek_r1.threads = 1
deepseek_r1.engine_watchdog = '4s'
max_connections = 40
));

# psql in the background; a statement_timeout makes a hang a failure, not a
# test run that never ends.
sub start_sql
{
	my ($sql, $timeout) = @_;
	my %r = (out => '', err => '');
	$timeout //= '60s';
	$r{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'),
		  '-c', "SET statement_timeout = '$timeout'", '-c', $sql ],
		'>', \$r{out}, '2>', \$r{err});
	return \%r;
}

sub start_long
{
	return start_sql("SELECT deepseek_r1.generate('Count: 1, 2, 3,', max_tokens => 3000, "
		  . "temperature => 0, raw => true)", $_[0]);
}

sub wait_generating
{
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM deepseek_r1.requests WHERE state = 'generating'");
}

sub timed_sql
{
	my ($sql) = @_;
	my $t0 = time;
	my ($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '30s'; $sql",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $err, time - $t0);
}

# A check after something that could leave the service stuck: bounded.
sub query
{
	my ($sql) = @_;
	my ($rc, $out) = $node->psql('postgres', "SET statement_timeout = '30s'; $sql");
	return $out;
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker'");
}

wait_ready($node, 'the worker loads the model');

# ---- DROP DATABASE and DROP TABLESPACE wait for every process's barrier
$node->safe_psql('postgres', 'CREATE DATABASE scratch');
my $tsdir = $node->basedir . '/ts';
mkdir $tsdir or die "mkdir $tsdir: $!";
$node->safe_psql('postgres', "CREATE TABLESPACE scratch_ts LOCATION '$tsdir'");
# a dropped table leaves its first file until the next checkpoint: DROP
# TABLESPACE then waits for a barrier (an empty tablespace needs none)
$node->safe_psql('postgres', 'CREATE TABLE gone (x int) TABLESPACE scratch_ts; '
	  . 'INSERT INTO gone VALUES (1); DROP TABLE gone');
my $long = start_long();
ok(wait_generating(), 'a generation runs');
my ($rc, $err, $secs) = timed_sql('DROP DATABASE scratch');
is($rc, 0, 'DROP DATABASE while a request runs succeeds') or diag($err);
ok($secs < 10, sprintf('... in seconds (%.1f s)', $secs));
($rc, $err, $secs) = timed_sql('DROP TABLESPACE scratch_ts');
is($rc, 0, 'DROP TABLESPACE while a request runs succeeds') or diag($err);
ok($secs < 10, sprintf('... in seconds (%.1f s)', $secs));
$node->safe_psql('postgres', 'SELECT pg_cancel_backend(pid) FROM deepseek_r1.requests');
$long->{h}->finish;

# ---- several sessions sending multi-MB texts at once
my $big = "repeat('hello world ', 200000)";	# 2.4 MB, 400,000 tokens
my $count = query("SELECT deepseek_r1.count_tokens($big)");
ok($count > 100000, "count_tokens of a 2.4 MB text ($count)");
my @runs = map { start_sql($_ % 2
		? "SELECT deepseek_r1.count_tokens($big)"
		: "SELECT cardinality(deepseek_r1.tokenize($big))") } 1 .. 4;
$_->{h}->finish for @runs;
is(scalar(grep { $_->{out} eq "$count\n" } @runs), 4,
	'four sessions tokenizing 2.4 MB texts at once are all answered')
  or diag(join("\n", map { $_->{err} } @runs));
is(query("SELECT deepseek_r1.tokenize('hi') IS NOT NULL"), 't',
	'then tokenize(\'hi\') still works');

# ---- a request over the frame limit
my $n = $frame_max + 1024;
($rc, $err) = timed_sql("SELECT deepseek_r1.count_tokens(repeat('x', $n))");
like($err, qr/54000:.*(limit|at most)/s, 'a request over the frame limit gives 54000 naming the limit')
  or diag($err);
is(query("SELECT deepseek_r1.count_tokens('hello world')"), '2', 'the next call is served');

# ---- hostile frames straight to the engine program: answered, never fatal
sub frame
{
	my ($type, $id, $payload) = @_;
	return pack('LLQ', length($payload), $type, $id) . $payload;
}

sub read_frames_until
{
	my ($sock, $want_id) = @_;
	my %got;
	my $buf = '';
	my $deadline = time + 60;
	while (time < $deadline)
	{
		my $rin = '';
		vec($rin, fileno($sock), 1) = 1;
		next unless select(my $rout = $rin, undef, undef, 1) > 0;
		my $r = sysread($sock, $buf, 1 << 20, length $buf);
		last unless $r;
		while (length($buf) >= 16)
		{
			my ($len, $type, $id) = unpack('LLQ', $buf);
			last if length($buf) < 16 + $len;
			$got{$id} = [ $type, substr($buf, 16, $len) ] if $id;
			substr($buf, 0, 16 + $len) = '';
		}
		return \%got if exists $got{$want_id};
	}
	return \%got;
}

{
	my $program = $node->config_data('--bindir') . '/deepseek-r1';
	local $^F = 255;	# the engine's end must survive the exec
	socketpair(my $ours, my $theirs, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
	my $pid = fork();
	if ($pid == 0)
	{
		close $ours;
		open(STDIN, '<', '/dev/null');
		# fd 3 in the child is the engine's end
		require POSIX;
		POSIX::dup2(fileno($theirs), 3) or POSIX::_exit(1);
		# DR1_PROTOCOL_VERSION (src/protocol/protocol.h)
		exec($program, 'serve', '--fd', '3', '--protocol', '5', '-m', $smol, '-t', '1')
		  or POSIX::_exit(127);
	}
	close $theirs;
	my ($submit_kind_tokenize, $submit, $error, $done) = (2, 1, 8, 7);
	# struct dr1_submit: ... n_choices, chunk_overlap, sparse_budget,
	# sparse_min_context, and 4 bytes of padding
	my $hdr = pack('LLllffQLLLLlllL', $submit_kind_tokenize, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
	my $tok = $hdr . pack('L', 4) . 'user' . pack('L', 2) . 'hi';
	syswrite($ours, frame($submit, 7, 'garbage'));
	syswrite($ours, pack('LLQ', $frame_max + 1, $submit, 8));
	my $chunk = "\0" x (1 << 20);
	my $left = $frame_max + 1;
	while ($left > 0)
	{
		my $w = syswrite($ours, $chunk, $left < length $chunk ? $left : length $chunk);
		last unless defined $w;
		$left -= $w;
	}
	syswrite($ours, frame($submit, 9, $tok));
	my $got = read_frames_until($ours, 9);
	is($got->{7}[0], $error, 'serve answers a malformed SUBMIT with an ERROR');
	is($got->{8}[0], $error, 'serve answers a SUBMIT over the frame limit with an ERROR');
	is(unpack('L', $got->{8}[1] // ''), 2, '... code DR1_ERR_TOO_LONG');
	is($got->{9}[0], $done, 'and answers the next request');
	ok(kill(0, $pid), 'serve is still running');
	close $ours;
	waitpid($pid, 0);
	is($?, 0, 'serve exits cleanly at end of file');
}

# ---- a stopped engine: the watchdog fails the call, a new engine serves
my $stopped = status($node, 'engine_pid');
$long = start_long();
ok(wait_generating(), 'a generation runs');
kill 'STOP', $stopped;
my $t0 = time;
$long->{h}->finish;
my $elapsed = time - $t0;
like($long->{err}, qr/XX000: .*deepseek_r1.engine_watchdog/,
	'SIGSTOP of the engine: the call fails naming the watchdog')
  or diag($long->{err});
ok($elapsed < 15, sprintf('... within a bounded time (%.1f s)', $elapsed));
kill 'CONT', $stopped;
wait_ready($node, 'a new engine process serves');
isnt(status($node, 'engine_pid'), $stopped, '... with a new pid');
is(query("SELECT deepseek_r1.count_tokens('hello world')"), '2', 'and answers');

# ---- a KV cache too small for a request: 54000
my $previous = status($node, 'engine_pid');
$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.kv_cache_memory = '2MB'");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT state = 'ready' AND engine_pid <> $previous FROM deepseek_r1.status()"),
	'the engine restarts with a 2 MB KV cache');
($rc, $err) = timed_sql(
	"SELECT deepseek_r1.generate(repeat('word ', 200), max_tokens => 4, raw => true)");
like($err, qr/54000: the KV cache is too small/, 'a request the KV cache cannot hold gives 54000')
  or diag($err);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET deepseek_r1.kv_cache_memory');
$node->reload;

# ---- an engine program that exits at start: failed within seconds
$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.engine_program = '/bin/false'");
$node->reload;
$t0 = time;
ok($node->poll_query_until('postgres', "SELECT state = 'failed' FROM deepseek_r1.status()"),
	'an engine program that exits at start: state failed');
$elapsed = time - $t0;
ok($elapsed < 15, sprintf('... within seconds (%.1f s)', $elapsed));
like(status($node, 'reason'), qr/3 times/, '... with the reason');
($rc, $err, $secs) = timed_sql("SELECT deepseek_r1.tokenize('hi')");
like($err, qr/55000/, 'a call gives 55000');
ok($secs < 2, sprintf('... at once (%.1f s)', $secs));

# ---- an engine program that never finishes loading: bounded by load_timeout
my $hang = $node->basedir . '/hang.sh';
open(my $hfh, '>', $hang) or die;
print $hfh "#!/bin/sh\nexec sleep 600\n";
close $hfh;
chmod 0755, $hang;
$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.engine_program = '$hang'");
$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.load_timeout = '1s'");
$node->reload;
$t0 = time;
ok($node->poll_query_until('postgres', "SELECT state = 'failed' FROM deepseek_r1.status()"),
	'an engine that never loads: state failed');
$elapsed = time - $t0;
ok($elapsed < 20, sprintf('... after three load timeouts (%.1f s)', $elapsed));
like(status($node, 'reason'), qr/3 times/, '... with the reason');
ok($node->log_contains('did not load the model within 1000 ms'), 'the log says why');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET deepseek_r1.load_timeout');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET deepseek_r1.engine_program');
$node->reload;
wait_ready($node, 'a reload retries and the model loads');

# ---- the worker's memory stays flat over 100,000 calls
sub worker_anon_kb
{
	open(my $fh, '<', '/proc/' . worker_pid() . '/status') or return -1;
	my ($kb) = map { /^RssAnon:\s+(\d+)/ ? $1 : () } <$fh>;
	return $kb;
}

my $script = $node->basedir . '/tokenize.sql';
open(my $fh, '>', $script) or die;
print $fh "SELECT deepseek_r1.tokenize('x');\n";
close $fh;
sub calls
{
	my ($per_client) = @_;
	$node->command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-t', $per_client, '-f', $script,
		'-d', $node->connstr('postgres') ], "pgbench: " . 4 * $per_client . " calls");
}
calls(2500);	# warm up: caches, the largest buffers
my $before = worker_anon_kb();
calls(25000);
my $after = worker_anon_kb();
ok($after - $before < 5 * 1024,
	"the worker's private memory is flat over 100,000 calls ($before kB -> $after kB)");

# ---- SIGTERM of the worker while multi-MB requests stream: gone within a second
my $worker = worker_pid();
my $engine = status($node, 'engine_pid');
@runs = map { start_sql("SELECT deepseek_r1.count_tokens($big)") } 1 .. 3;
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM deepseek_r1.requests'),
	'requests are in flight');
$t0 = time;
kill 'TERM', $worker;
usleep(20_000) while kill(0, $worker) && time - $t0 < 5;
$elapsed = time - $t0;
ok(!kill(0, $worker), sprintf('SIGTERM: the worker exits within a second (%.3f s)', $elapsed));
ok($elapsed < 1.0, '... under 1 s');
ok(!kill(0, $engine), '... and its engine process with it');
$_->{h}->finish for @runs;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'deepseek_r1 worker' AND pid <> $worker"),
	'the postmaster starts the worker again');
wait_ready($node, '... and it loads the model');
ok(!$node->log_contains('terminated by signal|reinitializing'), 'no process crashed');

# ---- postmaster death: the worker and the engine follow
$worker = worker_pid();
$engine = status($node, 'engine_pid');
$node->kill9;
$t0 = time;
usleep(50_000) while (kill(0, $worker) || kill(0, $engine)) && time - $t0 < 10;
ok(!kill(0, $worker) && !kill(0, $engine),
	sprintf('postmaster death: the worker and the engine exit (%.1f s)', time - $t0));

done_testing();
