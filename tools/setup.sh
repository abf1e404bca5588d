#!/usr/bin/env bash
# Installs the Debian packages synprint builds against, when they are missing, and gnuplot,
# which draws the charts of `synprint report --chart` (its test runs it).
set -euo pipefail
missing=()
for package in libpcap-dev libjson-c-dev libcurl4 gnuplot-nox; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
