# What the TAP suites share: where the test models are, and what an absent
# one means.  Under DR1_REQUIRE_ALL (test/run-all.sh sets it after fetching
# every model) an absent model is a failure, so that no suite passes by
# skipping; elsewhere its tests are skipped with a visible reason.
package Dr1Test;
use strict;
use warnings;
use Exporter 'import';
use Test::More;

our @EXPORT = qw(test_model have_model require_model);

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

1;
