#!/usr/bin/env bash
# Set up what the tests need on a fresh Debian machine, build, and run every
# suite.  Ends with one line "N passed, N failed" summing all suites, and
# exits non-zero if anything failed.  .ci/run calls exactly this.
#
# Every prerequisite is fetched first, so none may be missing afterwards:
# DR1_REQUIRE_ALL turns a test's "model absent" into a failure, and a suite
# that ran no test fails.  In CI (CI=true) every model is downloaded and
# assembled again even when the cache holds it, so that a broken fetch
# cannot hide behind a warm cache.
set -uo pipefail
cd "$(dirname "$0")/.."
export DR1_REQUIRE_ALL=1
export DR1_MODEL_CACHE=${DR1_MODEL_CACHE:-$HOME/.cache/deepseek_r1/models}

log() { printf '== %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

setup() {
	# the server and its headers come together so that their minor versions match
	local pkgs="build-essential libutf8proc-dev pkg-config postgresql-15 postgresql-server-dev-15 libipc-run-perl"
	# shellcheck disable=SC2086
	if ! dpkg -s $pkgs >/dev/null 2>&1; then
		log "installing Debian packages: $pkgs"
		as_root apt-get update -qq &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null ||
			{ echo "cannot install $pkgs"; return 1; }
	fi
	# pgvector (test/t/006_pgvector.pl, deepseek_r1_vector): built from
	# Debian's trixie source package; quick when already installed
	as_root test/pg/setup-pgvector.sh || { echo "cannot install pgvector"; return 1; }
	log "installing Python packages (numpy, gguf 0.19.0: the pinned writer of convert-minilm.py, jinja2; jsonschema: check-json-schema.py's validator) for the generators"
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore numpy gguf==0.19.0 jinja2 jsonschema ||
		python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
			--break-system-packages numpy gguf==0.19.0 jinja2 jsonschema ||
		{ echo "cannot install numpy, gguf, jinja2 and jsonschema with pip"; return 1; }
	if [ "${CI:-}" = true ]; then
		log "fetching test models: cold path (--refetch: every model downloaded, assembled and verified anew)"
		scripts/fetch-models.sh --refetch all || return 1
	else
		log "fetching test models (cached files verified by size and SHA-256)"
		scripts/fetch-models.sh all || return 1
	fi
}

total_passed=0
total_failed=0
failed_suites=()

# run NAME CMD...: run a suite, echo its output, add up its summary lines.
run() {
	local name=$1; shift
	local out rc p f
	log "suite $name"
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=0; f=0
	while read -r line; do
		[[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]] || continue
		p=$((p + BASH_REMATCH[1])); f=$((f + BASH_REMATCH[2]))
	done <<<"$out"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1		# a suite that crashed or could not run counts as a failure
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "suite $name ran no test"
		f=1
	fi
	[ "$f" -gt 0 ] && failed_suites+=("$name")
	total_passed=$((total_passed + p)); total_failed=$((total_failed + f))
}

if ! setup; then
	echo "0 passed, 1 failed"
	exit 1
fi

log "building"
# build/test/test_cuda_emul: the CUDA kernels' index arithmetic, on the host
if ! make -j"$(nproc)" all unit-tests build/test/test_cuda_emul >/dev/null; then
	make all unit-tests build/test/test_cuda_emul	# show the errors
	echo "0 passed, 1 failed"
	exit 1
fi

for t in build/test/test_*; do
	run "$(basename "$t")" "$t"
done
run fetch-models test/scripts/test-fetch-models.sh
# deepseek-r1 perplexity: figures, a KL base against itself and the scalar kernels, damaged bases
run perplexity test/scripts/test-perplexity.sh
# no source file needs a file that needs it back (includes and calls)
run check-cycles python3 test/scripts/check-cycles.py build
# schema-constrained decoding: 1,008 sampled answers over 24 schemas, validated by jsonschema
run json-schema python3 test/scripts/check-json-schema.py
# greedy continuations against llama.cpp's (test/reference/make-generate-goldens.py)
# on the fastest kernels; where the CPU has AVX-512 VNNI (whose kernels give the
# AVX2 kernels' bits, DESIGN.md §3.9) once more capped at AVX2
kernel_caps=(default)
grep -q '^flags.*avx512f.*avx512bw.*avx512vl.*avx512_vnni' /proc/cpuinfo && kernel_caps+=(avx2)
for cap in "${kernel_caps[@]}"; do
	for g in test/golden/generate-smollm2.jsonl test/golden/generate-qwen2.jsonl; do
		model=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["model"])' "$g")
		name=$(basename "$g"); env=()
		[ "$cap" = default ] || { name="$name ($cap)"; env=(DR1_QUANT_KERNELS="$cap"); }
		run "$name" env "${env[@]}" python3 test/check_generate.py bin/deepseek-r1 \
			"$DR1_MODEL_CACHE/$model" "$g" 2
	done
	# the synthetic qwen3 and deepseek2 models (test/golden/generate-synthetic.list)
	name="generate-synthetic"; env=()
	[ "$cap" = default ] || { name="$name ($cap)"; env=(DR1_QUANT_KERNELS="$cap"); }
	run "$name" env "${env[@]}" bash test/check-synthetic-generate.sh bin/deepseek-r1 2
done

# The extension: pg_regress and TAP in temporary instances.  initdb refuses
# root, so as root the suites run as the user dr1ci from a copy it can read.
pg_suites() {
	local tmp user=() models=$DR1_MODEL_CACHE
	log "installing the extension"
	as_root make install >/dev/null || return 1
	tmp=$(mktemp -d /tmp/dr1-pgtest.XXXXXX)
	mkdir -p "$tmp/src/test"
	cp -r sql expected "$tmp/src/"
	cp -r test/t test/pg test/data test/golden "$tmp/src/test/"
	if [ "$(id -u)" = 0 ]; then
		id dr1ci >/dev/null 2>&1 || useradd -m -s /bin/bash dr1ci || return 1
		models=$tmp/models
		mkdir -p "$models"
		for m in "$DR1_MODEL_CACHE"/*.gguf; do
			[ -f "$m" ] && { cp -l "$m" "$models/" 2>/dev/null || cp "$m" "$models/"; }
		done
		# the model files stay root's (they may be hard links to the cache)
		chown dr1ci "$tmp" && chown -R dr1ci "$tmp/src"
		chmod 755 "$tmp" "$models"
		user=(runuser -u dr1ci --)
	fi
	run pg_regress "${user[@]}" env DR1_MODEL_CACHE="$models" \
		"$tmp/src/test/pg/run-regress.sh" "$tmp/regress" "$models"
	run tap "${user[@]}" env DR1_MODEL_CACHE="$models" DR1_REQUIRE_ALL=1 "$tmp/src/test/pg/run-tap.sh" "$tmp/tap"
	rm -rf "$tmp"
}
if ! pg_suites; then
	echo "cannot set up the PostgreSQL suites"
	total_failed=$((total_failed + 1)); failed_suites+=(postgresql)
fi

[ ${#failed_suites[@]} -gt 0 ] && echo "failed suites: ${failed_suites[*]}"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
