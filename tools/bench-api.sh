#!/usr/bin/env bash
# Requests per second and latency of the lookup API (release build) under wrk on loopback.
#   tools/bench-api.sh [SECONDS] [CONNECTIONS]      (defaults 10 s, 32 connections)
# synprint reads the sample capture through a FIFO, so its host table is filled and it keeps
# serving; wrk asks /v1/lookup for one of the sample's clients.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}; connections=${2:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
swift build -c release >/dev/null
dir=$(mktemp -d)
trap 'kill $feeder 2>/dev/null || true; rm -rf "$dir"' EXIT
mkfifo "$dir/capture"
.build/release/synprint -r "$dir/capture" --api 127.0.0.1:8249 -o /dev/null 2>"$dir/stderr" &
(cat tools/samples/mixed-os.pcap; sleep $((seconds + 30))) >"$dir/capture" &
feeder=$!
for _ in $(seq 50); do
  curl -sf 'http://127.0.0.1:8249/v1/health' >/dev/null && break
  sleep 0.1
done
ip=$(.build/release/synprint -r tools/samples/mixed-os.pcap --json 2>/dev/null | head -1 \
  | python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["src_ip"])')
echo "lookup of $ip, $connections connections, 2 wrk threads, ${seconds} s"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:8249/v1/lookup?ip=$ip"
