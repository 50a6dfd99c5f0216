#!/usr/bin/env bash
# The README's first command: on a fresh Debian machine install what is
# needed, fetch the small default model, build and install the extension,
# start a throw-away PostgreSQL with it, and run example SQL (generate,
# chat, tokenize, status), printing what it does.  The cluster is removed
# at the end.  As root the server runs as the user dr1ci (initdb refuses root).
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs="build-essential libutf8proc-dev pkg-config postgresql-15 postgresql-server-dev-15 python3-pip"
# shellcheck disable=SC2086
if ! dpkg -s $pkgs >/dev/null 2>&1; then
	log "installing Debian packages: $pkgs"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi
log "fetching the model"
scripts/fetch-models.sh
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
log "building and installing (make && make install)"
make -j"$(nproc)" >/dev/null
as_root make install >/dev/null

dir=$(mktemp -d /tmp/dr1-demo.XXXXXX)
model=$dir/SmolLM2-135M-Instruct-Q4_1.gguf
cp -l "$cache/SmolLM2-135M-Instruct-Q4_1.gguf" "$model" 2>/dev/null ||
	cp "$cache/SmolLM2-135M-Instruct-Q4_1.gguf" "$model"
chmod 755 "$dir"
run=()
if [ "$(id -u)" = 0 ]; then
	id dr1ci >/dev/null 2>&1 || useradd -m -s /bin/bash dr1ci
	chown dr1ci "$dir"
	run=(runuser -u dr1ci --)
fi
bindir=$(pg_config --bindir)
cleanup() {
	"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

log "starting a throw-away cluster in $dir (model $model)"
"${run[@]}" "$bindir/initdb" -D "$dir/data" -A trust >/dev/null
cat <<CONF | "${run[@]}" tee -a "$dir/data/postgresql.conf" >/dev/null
shared_preload_libraries = 'deepseek_r1'
deepseek_r1.model = '$model'
listen_addresses = ''
unix_socket_directories = '$dir'
port = 5434
CONF
"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

log "example SQL"
"${run[@]}" "$bindir/psql" -X -e -h "$dir" -p 5434 -d postgres <<'SQL'
CREATE EXTENSION deepseek_r1;
SELECT pg_sleep(0.1) FROM generate_series(1, 100)
 WHERE (SELECT state FROM deepseek_r1.status()) <> 'ready' LIMIT 1;
SELECT deepseek_r1.generate('Why is the sky blue?', max_tokens => 48, temperature => 0);
SELECT jsonb_pretty(deepseek_r1.chat('[{"role": "system", "content": "You are a pirate."},
                                       {"role": "user", "content": "Who are you?"}]',
                                     max_tokens => 32, temperature => 0));
SELECT deepseek_r1.tokenize('Hello world'), deepseek_r1.count_tokens('Hello world');
SELECT deepseek_r1.model_info()->>'architecture' AS arch, deepseek_r1.model_info()->>'n_vocab' AS vocab;
\x on
SELECT * FROM deepseek_r1.status();
SQL
