# Long contexts through SQL: context_length 0 takes the model's own (8192
# for SmolLM2); a prompt of thousands of tokens shows its prefill progress
# in the requests view while it runs, and its passes (a 512-token chunk
# deep into the context takes seconds) stay within a 5 s watchdog because
# the engine reports between layers; sparse attention asked per call gives
# what the program gives with the same flags (and not the dense answer);
# kv_cache_type = q8_0 restarts the engine with about twice the tokens in
# the same kv_cache_memory, says so in status() and model_info(), and
# answers as the program does with --kv-type q8_0.
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

my $node = start_node('long', qq(
deepseek_r1.model = '$smol'
deepseek_r1.threads = 2
deepseek_r1.max_batch = 2
deepseek_r1.context_length = 0
deepseek_r1.kv_cache_memory = '256MB'
deepseek_r1.engine_watchdog = '5s'
));
my $program = $node->config_data('--bindir') . '/deepseek-r1';

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The program's answer to the prompt in file with extra flags, greedy.
sub program_answer
{
	my ($file, $n, @flags) = @_;
	my ($out, $err);
	IPC::Run::run([ $program, 'generate', '-m', $smol, '-f', $file, '-n', $n, '--temp', '0',
					'-t', '2', @flags ], '>', \$out, '2>', \$err)
	  or die "deepseek-r1 generate failed: $err";
	return $out =~ s/\n\z//r;
}

wait_ready($node, 'the worker loads the model');
is(sql(q(SELECT deepseek_r1.model_info()->>'context_length')), '8192',
	'context_length 0 is the model\'s own context');

# ---- prefill progress ------------------------------------------------------
my $long = sql(q(SELECT string_agg('Line ' || i || ': the quick brown fox jumps over the lazy dog.', ' ')
				 FROM generate_series(1, 320) i));
my $n_long = sql("SELECT deepseek_r1.count_tokens(\$\$$long\$\$)");
cmp_ok($n_long, '>', 4500, "a prompt of $n_long tokens");
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  "SELECT length(deepseek_r1.generate(\$\$$long\$\$, max_tokens => 4, temperature => 0)) > 0" ],
	'>', \$out, '2>', \$err);
my @seen;
for (1 .. 1200)
{
	my $p = sql(q(SELECT coalesce(max(prefilled_tokens), -1) || ',' || coalesce(max(prompt_tokens), -1)
				  FROM deepseek_r1.requests));
	my ($done, $total) = split /,/, $p;
	push @seen, $done if $done > 0 && $done < $total && (!@seen || $seen[-1] != $done);
	last unless $h->pumpable;
	$h->pump_nb;
	select(undef, undef, undef, 0.1);
}
$h->finish;
is($out, "t\n", "the $n_long-token prompt is answered") or diag($err);
cmp_ok(scalar(@seen), '>=', 2, 'requests.prefilled_tokens shows the prefill part-way, more than once: '
	  . join(' ', @seen));
my $rising = 1;
$rising &&= $seen[$_] > $seen[$_ - 1] for 1 .. $#seen;
ok($rising, 'and it only rises');

# ---- sparse attention per call ---------------------------------------------
my $mid = sql(q(SELECT string_agg('Item ' || i || ' is a ' || (ARRAY['red','green','blue'])[i % 3 + 1]
				|| ' box.', ' ') FROM generate_series(1, 120) i)) . ' Which color is item 7?';
my $file = $node->basedir . '/mid.txt';
open(my $fh, '>', $file) or die;
print $fh $mid;
close($fh);
my $dense = sql("SELECT deepseek_r1.generate(\$\$$mid\$\$, max_tokens => 24, temperature => 0)");
my $sparse = sql("SELECT deepseek_r1.generate(\$\$$mid\$\$, max_tokens => 24, temperature => 0,
				  sparse => 'on', sparse_budget => 64)");
is($sparse, program_answer($file, 24, '--sparse', 'on', '--sparse-budget', '64'),
	'sparse => on with a budget of 64 answers as deepseek-r1 generate --sparse on --sparse-budget 64');
isnt($sparse, $dense, 'and not as dense attention does');
is($dense, program_answer($file, 24), 'dense answers as the program does');
sql(q(ALTER SYSTEM SET deepseek_r1.sparse_attention = 'on'));
sql(q(ALTER SYSTEM SET deepseek_r1.sparse_budget = 64));
sql('SELECT pg_reload_conf()');
$node->poll_query_until('postgres', q(SELECT current_setting('deepseek_r1.sparse_budget') = '64'));
is(sql("SELECT deepseek_r1.generate(\$\$$mid\$\$, max_tokens => 24, temperature => 0)"), $sparse,
	'the settings give the same sparse answer');
is(sql("SELECT deepseek_r1.generate(\$\$$mid\$\$, max_tokens => 24, temperature => 0, sparse => 'off')"),
	$dense, 'sparse => off overrides them');
sql('ALTER SYSTEM RESET deepseek_r1.sparse_attention');
sql('ALTER SYSTEM RESET deepseek_r1.sparse_budget');

# ---- the 8-bit KV cache ----------------------------------------------------
my $f16_tokens = status($node, 'kv_cache_tokens');
is(status($node, 'kv_cache_type'), 'f16', 'the KV cache is F16 by default');
my $starts = status($node, 'engine_starts');
sql(q(ALTER SYSTEM SET deepseek_r1.kv_cache_type = 'q8_0'));
sql('SELECT pg_reload_conf()');
wait_ready($node, 'kv_cache_type = q8_0 restarts the engine',
	"engine_starts > $starts AND kv_cache_type = 'q8_0'");
my $q8_tokens = status($node, 'kv_cache_tokens');
cmp_ok($q8_tokens / $f16_tokens, '>', 1.7,
	"the same kv_cache_memory holds $q8_tokens tokens in q8_0, $f16_tokens in F16");
is(sql(q(SELECT deepseek_r1.model_info()->>'kv_cache_type')), 'q8_0', 'model_info says q8_0');
is(sql("SELECT deepseek_r1.generate(\$\$$mid\$\$, max_tokens => 24, temperature => 0)"),
	program_answer($file, 24, '--kv-type', 'q8_0'),
	'q8_0 answers as deepseek-r1 generate --kv-type q8_0');

$node->stop;
done_testing();
