#!/bin/bash
# test/gpu/prepare-deps.sh DIR — what test/gpu/run.sh needs on a GPU machine
# that cannot reach a package registry, gathered here into DIR (about 1 MB):
#
#   DIR/include/utf8proc.h, DIR/lib/libutf8proc.a   the engine's one library
#                                                    (from this machine's
#                                                    libutf8proc-dev)
#   DIR/gguf-*.whl                                   the model generator's
#                                                    Python package
#
# Keep DIR out of git (e.g. echo /.gpu-deps/ >> .git/info/exclude) and send
# it along with the run (the device tool's carry: [".gpu-deps"]).
set -euo pipefail

dir=${1:?usage: test/gpu/prepare-deps.sh DIR}
mkdir -p "$dir/include" "$dir/lib"

header=$(echo '#include <utf8proc.h>' | cc -x c -E -H - 2>&1 >/dev/null | awk '/utf8proc.h/ {print $2; exit}')
static=$(cc -print-file-name=libutf8proc.a)
if [ -z "$header" ] || [ ! -f "$static" ] || [ "$static" = libutf8proc.a ]; then
	echo "prepare-deps: libutf8proc-dev is not installed here (apt-get install libutf8proc-dev)" >&2
	exit 1
fi
cp "$header" "$dir/include/"
cp "$static" "$dir/lib/"

gguf_version=$(python3 -c 'import importlib.metadata as m; print(m.version("gguf"))' 2>/dev/null || true)
python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir" "gguf${gguf_version:+==$gguf_version}"
ls -l "$dir" "$dir/include" "$dir/lib"
