#!/bin/sh
# The loopback demonstration run by `make demo`.
#   tools/demo.sh BUILD_DIR
# Starts a destination service and beepgated with its built-in configuration
# (loopback only), sends data through the relay and checks it came back
# intact, then stops the relay gracefully and shows its session log.
set -eu
build=${1:-build/plain}
here=$(cd "$(dirname "$0")/.." && pwd)
exec python3 -B "$here/tools/demo.py" "$build"
