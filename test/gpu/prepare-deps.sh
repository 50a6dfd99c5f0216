#!/bin/bash
# test/gpu/prepare-deps.sh DIR — what test/gpu/run.sh needs on a GPU machine
# that cannot reach a package registry, gathered here into DIR (about 1 MB):
#
#   DIR/include/utf8proc.h, DIR/lib/libutf8proc.a   the engine's one library:
#                                                    this machine's
#                                                    libutf8proc-dev, else the
#                                                    Debian package fetched by
#                                                    apt-get download
#   DIR/gguf-*.whl                                   the model generator's
#                                                    Python package
#
# What cannot be gathered is named in a warning and left out: the run then
# needs it installed on the GPU machine (run.sh checks, and says so).  Exits
# 0 either way; 1 only when DIR cannot be made.
#
# Keep DIR out of git (e.g. echo /.gpu-deps/ >> .git/info/exclude) and send
# it along with the run (the device tool's carry: [".gpu-deps"]).
set -uo pipefail

dir=${1:?usage: test/gpu/prepare-deps.sh DIR}
cc=${CC:-cc}
mkdir -p "$dir/include" "$dir/lib" || exit 1

# The installed header and static library, if libutf8proc-dev is here.
from_system() {
	local header static
	header=$(echo '#include <utf8proc.h>' | "$cc" -x c -E -H - 2>&1 >/dev/null |
		awk '/utf8proc.h/ {print $2; exit}')
	static=$("$cc" -print-file-name=libutf8proc.a 2>/dev/null)
	[ -n "$header" ] && [ -f "$header" ] && [ -n "$static" ] && [ -f "$static" ] || return 1
	cp "$header" "$dir/include/" && cp "$static" "$dir/lib/"
}

# The same files out of the distribution's package, unpacked without
# installing it (apt-get download needs no root).
from_package() {
	local tmp deb
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
	tmp=$(mktemp -d) || return 1
	(cd "$tmp" && apt-get download -q libutf8proc-dev >/dev/null 2>&1) &&
		deb=$(ls "$tmp"/libutf8proc-dev_*.deb 2>/dev/null | head -1) && [ -n "$deb" ] &&
		dpkg-deb -x "$deb" "$tmp/x" &&
		cp "$(find "$tmp/x" -name utf8proc.h | head -1)" "$dir/include/" &&
		cp "$(find "$tmp/x" -name libutf8proc.a | head -1)" "$dir/lib/"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

if from_system; then
	echo "prepare-deps: libutf8proc from this machine"
elif from_package; then
	echo "prepare-deps: libutf8proc from the libutf8proc-dev package (apt-get download)"
else
	echo "prepare-deps: WARNING: no libutf8proc here (neither libutf8proc-dev installed nor" \
		"its package downloadable): the GPU machine must have it" >&2
fi

gguf_version=$(python3 -c 'import importlib.metadata as m; print(m.version("gguf"))' 2>/dev/null || true)
if python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir" "gguf${gguf_version:+==$gguf_version}"; then
	echo "prepare-deps: gguf${gguf_version:+ $gguf_version} wheel"
else
	echo "prepare-deps: WARNING: cannot download the gguf wheel: the GPU machine must have" \
		"the Python package gguf" >&2
fi
ls -l "$dir" "$dir/include" "$dir/lib"
exit 0
