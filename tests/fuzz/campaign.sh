#!/bin/sh
# A libFuzzer campaign over every fuzz target (tests/fuzz/fuzz_*.c):
#   sh tests/fuzz/campaign.sh [SECONDS-PER-TARGET [TARGET...]]
# builds them with clang (-fsanitize=fuzzer,address,undefined) in
# $FUZZ_BUILD (default build/fuzz), runs each for the given time (default
# 600 s, `make fuzz`) from its seed corpus tests/fuzz/corpus/<name>/, and
# prints one line per target: executions, new corpus inputs, crashes.  New
# inputs and crash artifacts stay in $FUZZ_BUILD/campaign/<name>/, never in
# the source tree: a crash input is fixed, then copied into the corpus by hand.
# Exits non-zero when any target found a crash, a leak or a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
secs=${1:-600}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD:-$src/build/fuzz}
jobs=${JOBS:-2}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

if [ $# -gt 0 ]; then
	targets=$*
else
	targets=$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
command -v clang >/dev/null || { echo "campaign.sh: clang is needed" >&2; exit 2; }
CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DBEEPGATE_FUZZ=ON -DBEEPGATE_SANITIZE=ON >/dev/null || exit 2
for t in $targets; do
	cmake --build "$build" -j"$jobs" --target "fuzz_$t" >/dev/null || {
		echo "campaign.sh: cannot build fuzz_$t" >&2; exit 2; }
done

fail=0
for t in $targets; do
	out=$build/campaign/$t
	mkdir -p "$out/corpus" "$out/artifacts"
	before=$(ls "$out/corpus" | wc -l)
	# Absolute paths only: a target's initializer may change directory.
	"$build/tests/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/" \
		"$out/corpus" "$here/corpus/$t" >"$out/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
	after=$(ls "$out/corpus" | wc -l)
	crashes=$(ls "$out/artifacts" | wc -l)
	verdict=ok
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		verdict=FAILED
		fail=1
	fi
	echo "fuzz_$t: ${runs:-?} executions in ${secs}s, $((after - before)) new inputs," \
	     "$crashes findings (exit $rc) $verdict"
	[ "$verdict" = ok ] || { grep -m3 -E 'ERROR|SUMMARY|==[0-9]+==' "$out/log"; \
		ls "$out/artifacts" | sed "s|^|  $out/artifacts/|"; }
done
exit $fail
