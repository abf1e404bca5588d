#!/usr/bin/env bash
# Live capture with workers: a mixed capture replayed by tcpreplay at its top speed into a veth
# pair between two network namespaces made here, captured on the far end by synprint with every
# analysis on (release build), for each worker count given; prints what tcpreplay sent and what
# libpcap received and dropped (added up over the fanout group's captures).
#   sudo [BUFFER=BYTES] tools/live-workers.sh [PACKETS] [WORKERS...]   (defaults 500000, 1 2)
# BUFFER sets --buffer-size (the total over the workers), else libpcap's default 2 MiB each.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-500000}; shift || true
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 2)
dir=${BENCH_DIR:-/tmp/synprint-bench}
mkdir -p "$dir"
swift build -c release >/dev/null 2>&1
bin=$PWD/.build/release/synprint
capture="$dir/mixed-$packets.pcap"
[ -f "$capture" ] || tools/gencap.py mixed "$capture" "$packets"
tag="spl$$"
cleanup() { ip netns del "${tag}s" 2>/dev/null || true; ip netns del "${tag}r" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "${tag}s"; ip netns add "${tag}r"
ip link add "${tag}a" netns "${tag}s" type veth peer name "${tag}b" netns "${tag}r"
ip -n "${tag}s" link set "${tag}a" up; ip -n "${tag}r" link set "${tag}b" up
printf '| workers | sent | received | dropped | events |\n|---|---|---|---|---|\n'
for workers in "${counts[@]}"; do
  # shellcheck disable=SC2086
  ip netns exec "${tag}r" "$bin" -i "${tag}b" --json --http --alerts /dev/null --connections --flow-stats \
    --workers "$workers" ${BUFFER:+--buffer-size $BUFFER} --stats-interval 0 -o "$dir/live-events.jsonl" --truncate \
    2>"$dir/live.txt" &
  pid=$!
  sleep 1.5
  ip netns exec "${tag}s" tcpreplay -q -i "${tag}a" --topspeed "$capture" >"$dir/replay.txt" 2>&1
  sleep 2
  kill -TERM "$pid"; wait "$pid" || true
  sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$dir/replay.txt")
  received=$(sed -n 's/.*libpcap: received \([0-9]*\), .*/\1/p' "$dir/live.txt")
  dropped=$(sed -n 's/.*dropped \([0-9]*\), interface.*/\1/p' "$dir/live.txt")
  echo "| $workers | ${sent:-?} | ${received:-?} | ${dropped:-?} | $(wc -l <"$dir/live-events.jsonl") |"
done
