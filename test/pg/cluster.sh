# shellcheck shell=bash
# test/pg/cluster.sh — sourced by the scripts that need a throw-away
# PostgreSQL with the extension preloaded (demo.sh, measure.sh,
# test/bench/*.sh).  The extension must be installed (make install).
#
#   cluster_start MODEL [LINE...]  initdb, postgresql.conf (+ LINEs), start,
#                                  CREATE EXTENSION, wait for the model
#   cluster_psql [ARG...]          psql -X connected to it as its superuser
#   cluster_restart                pg_ctl restart, then wait for the model
#   cluster_wait_ready             wait until status() says ready (or failed)
#   cluster_stop                   stop it and remove it (also done at exit)
#
# The cluster lives in a new directory under /tmp and listens only on a Unix
# socket there.  initdb refuses root, so as root the server runs as the
# user dr1ci (created if missing) on a link to (or copy of) the model.
# After cluster_start: $cluster_dir, $cluster_user, $cluster_connstr.

cluster_bindir=$(pg_config --bindir)
cluster_port=${CLUSTER_PORT:-5439}
cluster_dir=
cluster_user=$(id -un)
cluster_connstr=
cluster_as=()

cluster_start() {
	local model=$1
	shift
	cluster_dir=$(mktemp -d /tmp/dr1-cluster.XXXXXX)
	chmod 755 "$cluster_dir"
	if [ "$(id -u)" = 0 ]; then
		id dr1ci >/dev/null 2>&1 || useradd -m -s /bin/bash dr1ci
		chown dr1ci "$cluster_dir"
		cluster_as=(runuser -u dr1ci --)
		cluster_user=dr1ci
	fi
	trap cluster_stop EXIT
	cp -l "$model" "$cluster_dir/" 2>/dev/null || cp "$model" "$cluster_dir/"
	"${cluster_as[@]}" "$cluster_bindir/initdb" -D "$cluster_dir/data" -A trust >/dev/null
	{
		echo "shared_preload_libraries = 'deepseek_r1'"
		echo "deepseek_r1.model = '$cluster_dir/$(basename "$model")'"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$cluster_dir'"
		echo "port = $cluster_port"
		for line in "$@"; do echo "$line"; done
	} | "${cluster_as[@]}" tee -a "$cluster_dir/data/postgresql.conf" >/dev/null
	cluster_connstr="host=$cluster_dir port=$cluster_port user=$cluster_user dbname=postgres"
	"${cluster_as[@]}" "$cluster_bindir/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/server.log" \
		-w start >/dev/null
	cluster_psql -qc 'CREATE EXTENSION deepseek_r1'
	cluster_wait_ready
}

cluster_psql() {
	"$cluster_bindir/psql" -X -d "$cluster_connstr" "$@"
}

cluster_wait_ready() {
	local state
	for _ in $(seq 600); do
		state=$(cluster_psql -Atc 'SELECT state FROM deepseek_r1.status()')
		case $state in
		ready) return 0 ;;
		failed)
			cluster_psql -Atc 'SELECT reason FROM deepseek_r1.status()' >&2
			return 1
			;;
		esac
		sleep 0.2
	done
	echo "the model did not load within 2 minutes" >&2
	return 1
}

cluster_restart() {
	"${cluster_as[@]}" "$cluster_bindir/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/server.log" \
		-w restart >/dev/null
	cluster_wait_ready
}

cluster_stop() {
	[ -n "$cluster_dir" ] || return 0
	"${cluster_as[@]}" "$cluster_bindir/pg_ctl" -D "$cluster_dir/data" -m fast stop >/dev/null 2>&1
	rm -rf "$cluster_dir"
	cluster_dir=
}
