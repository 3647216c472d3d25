#!/bin/sh
# Runs every reliability scenario against a build directory:
#   STRESS=long sh tests/reliability/run.sh build/plain     (what `make stress` does)
# Without STRESS=long the short (CI) form runs.  Exits non-zero when any fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build/plain}
build=$(cd "$build" && pwd) || { echo "run.sh: no build directory $1" >&2; exit 2; }
[ -x "$build/beepgated" ] || { echo "run.sh: $build/beepgated not built" >&2; exit 2; }
fail=0
for t in "$here"/rel_*.py; do
	name=$(basename "$t" .py)
	echo "== $name (STRESS=${STRESS:-short})"
	if ! (cd "$src/tests" && PYTHONPATH="$src/tests" BEEPGATE_SRC="$src" \
	      BEEPGATE_BUILD="$build" python3 -B "$t"); then
		echo "== $name FAILED"
		fail=1
	fi
done
exit $fail
