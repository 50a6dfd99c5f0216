# What a user sees when the model cannot be served: a corrupt model file,
# no model set, the library not preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('failures');
$node->init;
my $corrupt = $node->basedir . '/corrupt.gguf';
open(my $fh, '>', $corrupt) or die;
print $fh 'GGUF' . pack('L<', 3) . ("\xff" x 64);
close $fh;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'deepseek_r1'
deepseek_r1.model = '$corrupt'
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION deepseek_r1');

sub run
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}

ok($node->poll_query_until('postgres', "SELECT state = 'failed' FROM deepseek_r1.status()"),
	'a corrupt model file: state failed');
my $reason = $node->safe_psql('postgres', 'SELECT reason FROM deepseek_r1.status()');
ok(length($reason) > 0, "with the reason ($reason)");
my $err = run("SELECT deepseek_r1.generate('Hi')");
like($err, qr/55000: the deepseek_r1 model is not available/, 'generate gives 55000');
like($err, qr/DETAIL:\s+\Q$reason\E/, '... with the load error in DETAIL');
like(run('SELECT deepseek_r1.model_info()'), qr/55000/, 'model_info gives 55000');
like($node->safe_psql('postgres', "SELECT worker_pid > 0 AND engine_pid IS NULL FROM deepseek_r1.status()"),
	qr/t/, 'the worker lives on without an engine process');

$node->safe_psql('postgres', "ALTER SYSTEM SET deepseek_r1.model = ''");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT reason = 'deepseek_r1.model is not set' FROM deepseek_r1.status()"),
	'no model set: failed with that reason');
like(run("SELECT deepseek_r1.tokenize('x')"), qr/55000.*\n.*DETAIL:\s+deepseek_r1.model is not set/,
	'tokenize gives 55000 with it');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET ALL');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
like(run("SELECT deepseek_r1.generate('Hi')"),
	qr/55000: deepseek_r1 is not loaded through shared_preload_libraries.*\n.*HINT:\s+Add deepseek_r1 to shared_preload_libraries/,
	'not preloaded: 55000 with a hint');
like(run('SELECT * FROM deepseek_r1.status()'), qr/55000/, 'status() too');
ok(!$node->log_contains('terminated by signal'), 'no process crashed');

$node->stop;
done_testing();
