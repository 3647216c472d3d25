#!/bin/sh
# The loopback demonstration run by `make demo`.
#   tools/demo.sh BUILD_DIR
# 1. beepgated with its built-in configuration forwards a stream (sha256 checked);
# 2. IDXP alerts from an analyzer to a manager through relays A and B in
#    end-to-end TLS, with a check that no alert text reached either relay.
# See tools/demo.py and docs/idxp-peer.md.
set -eu
build=${1:-build/plain}
here=$(cd "$(dirname "$0")/.." && pwd)
exec python3 -B "$here/tools/demo.py" "$build"
