#!/usr/bin/env bash
# Installs the Debian packages synprint builds against, when they are missing; gnuplot,
# which draws the charts of `synprint report --chart` (its test runs it); iproute2 and
# tcpreplay, with which the live workers' test feeds a veth pair; nginx, caddy and haproxy, which the
# forward-auth tests run in front of an upstream; openssl, which makes the certificates of the https store
# test; zookeeper, which replicates the replicated store test's tables; and ClickHouse's
# server, which the fleet store's tests start on loopback (the package's own service is not
# started: the tests run their own servers); and chDB, below.
set -euo pipefail
missing=()
for package in libpcap-dev libjson-c-dev libcurl4 gnuplot-nox clickhouse-server iproute2 tcpreplay nginx caddy haproxy openssl zookeeper; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  # policy-rc.d 101: the packages' own services are not started (no systemd in CI containers).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# chDB (PyPI) embeds a current ClickHouse engine: the tests check the fleet store's SQL on it.
if ! python3 -c 'import chdb' 2>/dev/null; then
  echo "installing chdb (pip)" >&2
  python3 -m pip install -q chdb
fi
