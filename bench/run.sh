#!/bin/sh
# bench/run.sh BUILD_DIR : the whole benchmark, on loopback.
#   run.py      the forward listener against a direct connection, a minimal
#               blocking relay, HAProxy and socat (when installed);
#   tunnels.py  established TUNNELs through one and two relays, tunnel
#               set-up with SASL, 10 to 10,000 idle tunnels, workers.
# Each prints its figures and ratios to the baseline of the same run and
# rewrites its generated section of docs/benchmarks.md (and its PNG plot);
# the hand-written analysis around the sections is kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build/plain}
python3 -B "$here/run.py" "$build"
python3 -B "$here/tunnels.py" "$build"
