#!/usr/bin/env bash
# Live capture rate: tcpreplay sends SYNs on the loopback interface while synprint captures them
# there (release build), and the share of SYNs seen and libpcap's drop counters are printed.
#   sudo [BUFFER=BYTES] tools/live-rate.sh [SYNS] [PPS...]   (defaults 300000, and 150000 then --topspeed;
#   BUFFER sets --buffer-size, else libpcap's default 2 MiB)
# Only the loopback interface is used. tcpreplay (Debian's package) takes the other core.
set -euo pipefail
cd "$(dirname "$0")/.."
syns=${1:-300000}; shift || true
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(150000 topspeed)
dir=${BENCH_DIR:-/tmp/synprint-bench}
mkdir -p "$dir"
swift build -c release >/dev/null 2>&1
bin=.build/release/synprint
capture="$dir/live-syn-$syns.pcap"
[ -f "$capture" ] || tools/gencap.py syn "$capture" "$syns"
printf '| rate | mode | SYNs sent | SYNs seen | libpcap dropped |\n|---|---|---|---|---|\n'
for rate in "${rates[@]}"; do
  for mode in "--json" "--json --classify" "--json --http"; do
    # shellcheck disable=SC2086
    "$bin" -i lo $mode -o /dev/null ${BUFFER:+--buffer-size $BUFFER} --stats-interval 0 2>"$dir/live.txt" &
    pid=$!
    sleep 1
    if [ "$rate" = topspeed ]; then speed=(--topspeed); else speed=(--pps="$rate"); fi
    tcpreplay -q -i lo "${speed[@]}" "$capture" >"$dir/replay.txt" 2>&1
    sleep 1
    kill -INT "$pid"; wait "$pid" || true
    seen=$(sed -n 's/.* \([0-9]*\) SYN, .*/\1/p' "$dir/live.txt")
    dropped=$(sed -n 's/.*dropped \([0-9]*\), interface.*/\1/p' "$dir/live.txt")
    actual=$(sed -n 's/.*Rated: [0-9.]* Bps, [0-9.]* Mbps, \([0-9.]*\) pps.*/\1/p' "$dir/replay.txt")
    echo "| $rate (${actual%.*} pps) | $mode | $syns | ${seen:-?} ($(awk "BEGIN{printf \"%.1f\", 100 * ${seen:-0} / $syns}") %) | ${dropped:-?} |"
  done
done
