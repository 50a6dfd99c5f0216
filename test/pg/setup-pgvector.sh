#!/usr/bin/env bash
# Install pgvector for PostgreSQL 15 from Debian's source package, for the
# tests (test/t/006_pgvector.pl) and the companion extension
# deepseek_r1_vector.  Debian 12 has no pgvector binary package; the trixie
# suite has the source, which builds with PGXS against PostgreSQL 15.
#
#   test/pg/setup-pgvector.sh        (as root; test/run-all.sh's setup runs it)
#
# Idempotent: when vector.so and vector.control are installed for this
# server it only says so.  Only a deb-src entry is added (Types: deb-src),
# so apt knows no trixie binary package and can never install one: nothing
# is pinned, and `apt-get install` keeps choosing from bookworm alone.
# Its index is fetched on its own (the other sources' lists are left as
# they are).  Set PGVECTOR_REBUILD=1 to build and install again anyway.
set -euo pipefail

pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
libdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)
srcroot=${PGVECTOR_SRC:-/usr/local/src/dr1-pgvector}
list=/etc/apt/sources.list.d/dr1-trixie-src.sources
version=

log() { printf '== pgvector: %s\n' "$*"; }
die() { printf 'pgvector: %s\n' "$*" >&2; exit 1; }

# the default version in vector.control, when it and its script and the module are there
installed() {
	[ -f "$libdir/vector.so" ] && [ -f "$sharedir/extension/vector.control" ] || return 1
	version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$sharedir/extension/vector.control")
	[ -n "$version" ] && [ -f "$sharedir/extension/vector--$version.sql" ]
}

if installed && [ "${PGVECTOR_REBUILD:-}" != 1 ]; then
	log "$version installed ($libdir/vector.so)"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (it writes $list and installs into $libdir)"

# dpkg-source (dpkg-dev) unpacks the source package
if ! command -v dpkg-source >/dev/null; then
	log "installing dpkg-dev"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null; } ||
		die "cannot install dpkg-dev"
fi

# The source entry, written like this machine's debian.sources (deb822).
# Types: deb-src only: no binary package of trixie becomes installable.
cat >"$list" <<'EOF'
# Added by deepseek_r1's test/pg/setup-pgvector.sh: the source of pgvector
# (not packaged for bookworm).  Source packages only, so nothing from
# trixie can be installed as a binary package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

log "fetching the trixie source index"
apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- \
	-o APT::Get::List-Cleanup=0 || die "apt-get update of $list failed"

rm -rf "$srcroot"
mkdir -p "$srcroot"
cd "$srcroot"
log "apt-get source pgvector"
# --only-source: the source package called pgvector, not a binary's source
apt-get source -qq --only-source pgvector >/dev/null 2>apt-source.err ||
	{ cat apt-source.err >&2; die "apt-get source pgvector failed"; }
src=$(find . -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
[ -n "$src" ] || die "apt-get source left no pgvector-* directory in $srcroot"
cd "$src"
log "building $(basename "$src") with PGXS against $("$pg_config" --version)"
# Debian's PGXS builds LLVM bitcode (with_llvm = yes); without clang that
# step fails, and the module does not need it (DESIGN.md §9)
# OPTFLAGS is left as pgvector 0.8 sets it (no -march=native)
mk=(make -s -j"$(nproc)" PG_CONFIG="$pg_config")
if ! "${mk[@]}" >build.log 2>&1; then
	log "the build with LLVM bitcode failed; building with with_llvm=no"
	"${mk[@]}" clean >/dev/null 2>&1 || true
	mk+=(with_llvm=no)
	"${mk[@]}" >build.log 2>&1 || { tail -n 30 build.log >&2; die "build failed"; }
fi
"${mk[@]}" install >>build.log 2>&1 || { tail -n 30 build.log >&2; die "make install failed"; }
installed || die "installed, but $libdir/vector.so or the extension's files are missing"
log "$version installed ($libdir/vector.so)"
