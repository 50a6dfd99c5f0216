#!/usr/bin/env bash
# The README's first command: on a fresh Debian machine install what is
# needed, fetch the small default model, build and install the extension,
# start a throw-away PostgreSQL with it, and run example SQL (generate,
# chat, generate_batch, tokenize, status; then embeddings through pgvector,
# built from Debian's source package, and the one-statement RAG query),
# printing what it does.  The
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
log "fetching the models (the embedding model is converted with the gguf package)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore numpy gguf==0.19.0 2>/dev/null ||
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		--break-system-packages numpy gguf==0.19.0
scripts/fetch-models.sh smollm2 minilm
cache=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}
log "building and installing (make && make install), and pgvector"
make -j"$(nproc)" >/dev/null
as_root make install >/dev/null
as_root test/pg/setup-pgvector.sh

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
\x off
SQL

log "embeddings and RAG (README, \"Embeddings and RAG\")"
cp "$cache/all-MiniLM-L6-v2-Q8_0.gguf" "$cluster_dir/" && chmod 644 "$cluster_dir/all-MiniLM-L6-v2-Q8_0.gguf"
cluster_psql -qc "ALTER SYSTEM SET deepseek_r1.embedding_model = '$cluster_dir/all-MiniLM-L6-v2-Q8_0.gguf'" \
	-c 'SELECT pg_reload_conf()' >/dev/null
for _ in $(seq 300); do
	[ "$(cluster_psql -Atc 'SELECT embedding_state FROM deepseek_r1.status()')" = ready ] && break
	sleep 0.2
done
cluster_psql -e <<'SQL'
CREATE EXTENSION vector;
CREATE EXTENSION deepseek_r1_vector;
CREATE TABLE docs (id serial PRIMARY KEY, body text, emb vector(384));
INSERT INTO docs (body) VALUES
	('The warranty of every appliance we sell lasts two years from the date of delivery.'),
	('Orders above 50 euros are delivered free of charge within three working days.'),
	('Returns are accepted within 30 days if the product is unused and in its box.'),
	('Our support line is open from 8 am to 6 pm, Monday to Friday.'),
	('Gift cards can be used in the online shop and in every store, and never expire.');
CALL deepseek_r1.embed_table('docs', 'body', 'emb');
CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops);
SELECT id, round((emb <=> deepseek_r1.embed('Which products are delivered for free?'))::numeric, 3) AS distance, body
FROM docs ORDER BY emb <=> deepseek_r1.embed('Which products are delivered for free?') LIMIT 2;
SELECT deepseek_r1.rag(q, ARRAY(SELECT body FROM docs ORDER BY emb <=> deepseek_r1.embed(q) LIMIT 3),
                       max_tokens => 48, temperature => 0, include_sources => true)
FROM (VALUES ('How long does the warranty last?')) AS t(q);
SELECT * FROM deepseek_r1.chunk('PostgreSQL is a powerful, open source object-relational database system. '
                                'It has more than 35 years of active development.', 16, 4);
SQL
