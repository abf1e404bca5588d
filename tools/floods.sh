#!/usr/bin/env bash
# Peak memory of a release build under each flood of tools/genflood.py, with the default memcap:
#   tools/floods.sh      (captures cached in ${BENCH_DIR:-/tmp/synprint-bench})
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/synprint-bench}
mkdir -p "$dir"
swift build -c release >/dev/null
bin=.build/release/synprint
[ -f "$dir/flood-syn.pcap" ] || tools/genflood.py syn 3000000 "$dir/flood-syn.pcap"
[ -f "$dir/flood-randfeat.pcap" ] || tools/genflood.py randfeat 1000000 "$dir/flood-randfeat.pcap"
[ -f "$dir/flood-halfopen.pcap" ] || tools/genflood.py halfopen 65536 5 "$dir/flood-halfopen.pcap"
[ -f "$dir/flood-bigua.pcap" ] || tools/genflood.py bigua 16384 4 "$dir/flood-bigua.pcap"
printf '| flood | packets | seconds | peak memory | what was pushed out |\n|---|---|---|---|---|\n'
for flood in syn randfeat halfopen bigua; do
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$bin" -r "$dir/flood-$flood.pcap" --http --json -o /dev/null --alerts /dev/null 2>"$dir/summary.txt"
  read -r seconds kb < "$dir/time.txt"
  packets=$(sed -n 's/^synprint: \([0-9]*\) packets read.*/\1/p' "$dir/summary.txt")
  evicted=$(sed -n 's/.*no request in time \([0-9]*\), evicted \([0-9]*\), over the head budget \([0-9]*\); \([0-9]*\) hosts kept (\([0-9]*\) evicted.*/\2 connections, \3 heads over budget, \5 hosts/p' "$dir/summary.txt")
  echo "| $flood | $packets | $seconds | $((kb / 1024)) MiB | $evicted |"
done
