# What the TAP suites share: where the test models are, what an absent one
# means, and a cluster that serves one.  Under DR1_REQUIRE_ALL (test/run-all.sh sets it after fetching
# every model) an absent model is a failure, so that no suite passes by
# skipping; elsewhere its tests are skipped with a visible reason.
package Dr1Test;
use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(test_model have_model require_model start_node status wait_ready);

# The path of a test model file in $DR1_MODEL_CACHE.
sub test_model
{
	my ($file) = @_;
	my $cache = $ENV{DR1_MODEL_CACHE} // "$ENV{HOME}/.cache/deepseek_r1/models";
	return "$cache/$file";
}

# Whether the file is readable; when it is not and every prerequisite is
# required, a failing test says so.
sub have_model
{
	my ($path) = @_;
	return 1 if -r $path;
	fail("missing prerequisite: $path (scripts/fetch-models.sh)") if $ENV{DR1_REQUIRE_ALL};
	return 0;
}

# The suite cannot run without the file: skip it, or fail and end it.
sub require_model
{
	my ($path) = @_;
	return if have_model($path);
	if ($ENV{DR1_REQUIRE_ALL})
	{
		done_testing();
		exit 1;
	}
	plan skip_all => "SKIP: $path not found (set DR1_MODEL_CACHE)";
}

# A started cluster NAME with the library preloaded, the settings CONF
# (postgresql.conf lines) and the extension created.
sub start_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'deepseek_r1'\n$conf");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION deepseek_r1');
	return $node;
}

# One column (or expression over the columns) of deepseek_r1.status().
sub status
{
	my ($node, $col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM deepseek_r1.status()");
}

# A test that the worker becomes ready (and, given, that the condition on
# status() holds) within poll_query_until's bound.
sub wait_ready
{
	my ($node, $label, $cond) = @_;
	$cond //= 'true';
	ok($node->poll_query_until('postgres',
		"SELECT state = 'ready' AND ($cond) FROM deepseek_r1.status()"), $label);
}

1;
