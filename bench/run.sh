#!/bin/sh
# bench/run.sh BUILD_DIR : measure direct, beepgated, and (when installed)
# HAProxy and socat on loopback; print figures and ratios to direct; write
# docs/benchmarks.md and docs/benchmarks.png.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 -B "$here/run.py" "${1:-build/plain}"
