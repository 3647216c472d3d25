#!/bin/sh
# Install the Debian packages beepgate needs to build and test, only when missing.
# Usage: tools/deps.sh [build|test|bench]
set -eu
want="build-essential cmake pkg-config bison flex libevent-dev libssl-dev libsasl2-dev
      libsasl2-modules sasl2-bin libxml2-dev libcunit1-dev python3 openssl"
case "${1:-build}" in
  test)  want="$want valgrind clang socat gsasl procps iproute2 groff-base dpkg-dev" ;;
  bench) want="$want haproxy socat gnuplot-nox procps util-linux" ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
