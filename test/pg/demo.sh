#!/usr/bin/env bash
# The README's first command: on a fresh Debian machine install what is
# needed, fetch the small default model, build and install the extension,
# start a throw-away PostgreSQL with it, and run example SQL (generate,
# chat, generate_batch, tokenize, status), printing what it does.  The
# cluster is removed at the end.  As root the server runs as the user dr1ci
# (initdb refuses root).
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
scripts/fetch-models.sh smollm2
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
log "building and installing (make && make install)"
make -j"$(nproc)" >/dev/null
as_root make install >/dev/null

log "starting a throw-away cluster (test/pg/cluster.sh)"
# shellcheck source=test/pg/cluster.sh
source test/pg/cluster.sh
cluster_start "$cache/SmolLM2-135M-Instruct-Q4_1.gguf"

log "example SQL"
cluster_psql -e <<'SQL'
SELECT deepseek_r1.generate('Why is the sky blue?', max_tokens => 48, temperature => 0);
SELECT jsonb_pretty(deepseek_r1.chat('[{"role": "system", "content": "You are a pirate."},
                                       {"role": "user", "content": "Who are you?"}]',
                                     max_tokens => 32, temperature => 0));
SELECT deepseek_r1.generate_batch(ARRAY['Is a carrot a fruit or a vegetable?', 'Is a plum a fruit or a vegetable?'],
                                  temperature => 0, choices => ARRAY['fruit', 'vegetable']);
SELECT deepseek_r1.tokenize('Hello world'), deepseek_r1.count_tokens('Hello world');
SELECT deepseek_r1.model_info()->>'architecture' AS arch, deepseek_r1.model_info()->>'n_vocab' AS vocab;
\x on
SELECT * FROM deepseek_r1.status();
SQL
