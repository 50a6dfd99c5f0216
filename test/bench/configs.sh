# shellcheck shell=bash
# configs.sh: sourced by the long-context benchmarks (long-context.sh,
# sparse-kl.sh, greedy-agree.sh).  read_configs CONFIGS: one LABEL:ARGS a
# line (ARGS the extra flags of that configuration) into the arrays labels
# and argss; die (the sourcing script's) on a malformed line or none.
read_configs() {
	labels=() ; argss=()
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		[[ $line == *:* ]] || die "config '$line' is not LABEL:ARGS"
		labels+=("${line%%:*}") ; argss+=("${line#*:}")
	done <<<"$1"
	[ ${#labels[@]} -gt 0 ] || die "no configs"
}
