#!/usr/bin/env bash
# Throughput of a release build against tcpdump on generated captures, in one run.
#   tools/bench.sh [SYNS] [MIXED_PACKETS] [DB_ENTRIES]     (defaults 1000000 2000000 100000)
# Captures are generated once into ${BENCH_DIR:-/tmp/synprint-bench} and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
syns=${1:-1000000}; mixed=${2:-2000000}; entries=${3:-100000}
dir=${BENCH_DIR:-/tmp/synprint-bench}
mkdir -p "$dir"
swift build -c release >/dev/null
bin=.build/release/synprint
[ -f "$dir/syn-$syns.pcap" ] || tools/gencap.py syn "$dir/syn-$syns.pcap" "$syns"
[ -f "$dir/mixed-$mixed.pcap" ] || tools/gencap.py mixed "$dir/mixed-$mixed.pcap" "$mixed"
[ -f "$dir/db-$entries.jsonl" ] || tools/gendb.py "$entries" "$dir/db-$entries.jsonl"
cat "$dir/syn-$syns.pcap" "$dir/mixed-$mixed.pcap" >/dev/null   # warm the page cache

# best of three wall-clock seconds and the peak resident set of that run
measure() {
  local best="" rss=""
  for _ in 1 2 3; do
    local out
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null 2>&1
    out=$(tail -1 "$dir/time.txt")
    local t=${out% *} m=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}
rate() { awk "BEGIN{printf \"%.0f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }

printf '| run | seconds | rate | peak memory |\n|---|---|---|---|\n'
read -r t m < <(measure "$bin" -r "$dir/syn-$syns.pcap" --json -o /dev/null)
echo "| $syns SYNs, --json | $t | $(rate "$syns" "$t") SYN/s | $((m / 1024)) MiB |"
read -r t m < <(measure "$bin" -r "$dir/syn-$syns.pcap" --json --classify -o /dev/null)
echo "| $syns SYNs, --json --classify (shipped database) | $t | $(rate "$syns" "$t") SYN/s | $((m / 1024)) MiB |"
read -r tl m < <(measure "$bin" -r "$dir/syn-$syns.pcap" --json --classify --db "$dir/db-$entries.jsonl" -o /dev/null)
echo "| $syns SYNs, --json --classify ($entries-entry database, load included) | $tl | $(rate "$syns" "$tl") SYN/s | $((m / 1024)) MiB |"
read -r t m < <(measure "$bin" -r "$dir/syn-$syns.pcap" --classify --db "$dir/db-$entries.jsonl" -o /dev/null 'port 1')
echo "| load the $entries-entry database only (the filter matches nothing) | $t | | $((m / 1024)) MiB |"
echo "| $syns SYNs with the $entries-entry database, after the load | $(awk "BEGIN{printf \"%.2f\", $tl - $t}") | $(rate "$syns" "$(awk "BEGIN{print $tl - $t}")") SYN/s | |"
read -r ts ms < <(measure "$bin" -r "$dir/mixed-$mixed.pcap" --json -o /dev/null)
read -r tt mt < <(measure tcpdump -r "$dir/mixed-$mixed.pcap" -w /dev/null)
read -r th mh < <(measure "$bin" -r "$dir/mixed-$mixed.pcap" --json --http --alerts /dev/null -o /dev/null)
read -r tc mc < <(measure "$bin" -r "$dir/mixed-$mixed.pcap" --json --classify --connections -o /dev/null)
read -r tf mf < <(measure "$bin" -r "$dir/mixed-$mixed.pcap" --json --classify --flow-stats -o /dev/null)
echo "| $mixed mixed packets, synprint --json | $ts | $(rate "$mixed" "$ts") packets/s | $((ms / 1024)) MiB |"
echo "| $mixed mixed packets, synprint --json --http --alerts (classify, follow HTTP, verdicts) | $th | $(rate "$mixed" "$th") packets/s | $((mh / 1024)) MiB |"
echo "| $mixed mixed packets, synprint --json --classify --connections (conn events) | $tc | $(rate "$mixed" "$tc") packets/s | $((mc / 1024)) MiB |"
echo "| $mixed mixed packets, synprint --json --classify --flow-stats (flowstats events) | $tf | $(rate "$mixed" "$tf") packets/s | $((mf / 1024)) MiB |"
echo "| $mixed mixed packets, tcpdump -w /dev/null | $tt | $(rate "$mixed" "$tt") packets/s | $((mt / 1024)) MiB |"
read -r tb mb < <(measure "$bin" db build -r "$dir/mixed-$mixed.pcap" --min-count 1 -o "$dir/learned.jsonl")
echo "| db build from the $mixed mixed packets (HTTP labels) | $tb | $(rate "$mixed" "$tb") packets/s | $((mb / 1024)) MiB |"
echo
awk "BEGIN{printf \"synprint / tcpdump on the mixed capture: %.2fx (with --http: %.2fx, with --connections: %.2fx, with --flow-stats: %.2fx)\n\", $ts / $tt, $th / $tt, $tc / $tt, $tf / $tt}"
