#!/usr/bin/env bash
# How --workers scales: the mixed capture with every analysis on (--http --alerts --connections
# --flow-stats), for 1, 2, 4, 8... workers up to MAX (default: twice the cores), best of three
# wall-clock runs each, beside tcpdump's time from the same run; then the CPU seconds of each
# kind of thread in one more run (tools/thread-times.py): the busiest bounds the sensor once
# every thread has a core. Take it on the machine that will run the sensor: the figures mean
# little on another.
#   tools/scale.sh [MIXED_PACKETS] [MAX_WORKERS]        (defaults 2000000, 2 x nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
mixed=${1:-2000000}; max=${2:-$((2 * $(nproc)))}
dir=${BENCH_DIR:-/tmp/synprint-bench}
mkdir -p "$dir"
swift build -c release >/dev/null
bin=.build/release/synprint
capture="$dir/mixed-$mixed.pcap"
[ -f "$capture" ] || tools/gencap.py mixed "$capture" "$mixed"
cat "$capture" >/dev/null   # warm the page cache

measure() {   # best of three: seconds and peak resident set (KiB)
  local best="" rss=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null 2>&1
    local out t m
    out=$(tail -1 "$dir/time.txt"); t=${out% *}; m=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

read -r tt _ < <(measure tcpdump -r "$capture" -w /dev/null)
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $mixed mixed packets, every analysis on"
echo
printf '| workers | seconds | packets/s | speed-up | x tcpdump | peak memory | events |\n|---|---|---|---|---|---|---|\n'
threads=$(printf '| workers | capture thread | output thread | busiest worker |\n|---|---|---|---|')
base=""
workers=1
while [ "$workers" -le "$max" ]; do
  run=("$bin" -r "$capture" --json --http --alerts /dev/null --connections --flow-stats --workers "$workers")
  read -r t m < <(measure "${run[@]}" -o /dev/null)
  events=$("${run[@]}" 2>/dev/null | wc -l)
  base=${base:-$t}
  awk -v w="$workers" -v t="$t" -v b="$base" -v n="$mixed" -v td="$tt" -v m="$m" -v e="$events" \
    'BEGIN{printf "| %d | %.2f | %.0f | %.2fx | %.2fx | %d MiB | %d |\n", w, t, n / t, b / t, t / td, m / 1024, e}'
  # The capture thread keeps the process's name; workers are "worker N" (none with one worker).
  cpu=$(tools/thread-times.py -- "${run[@]}" -o /dev/null | awk -F'|' -v w="$workers" '
    NR > 2 { name = $2; gsub(/^ +| +$/, "", name); t = $3 + 0
             if (name == "output") o = t; else if (name ~ /^worker /) { if (t > k) k = t } else if (c == "") c = t }
    END { printf "| %d | %.2f | %.2f | %s |", w, c, o, (k == "" ? "-" : sprintf("%.2f", k)) }')
  threads="$threads"$'\n'"$cpu"
  workers=$((workers * 2))
done
echo
echo "tcpdump -r -w /dev/null: $tt s"
echo
echo "CPU seconds per thread, one run each:"
echo
echo "$threads"
