#!/usr/bin/env bash
# Runs each libFuzzer harness (Fuzz/) for SECONDS (default 60) from its seed corpus in
# Fuzz/corpus, built with the address sanitizer:
#   tools/fuzz.sh [SECONDS] [HARNESS...]     harnesses: Packet Options HTTPHead DatabaseLine Labels Payload AuthHeaders
# Findings are written to ${FUZZ_DIR:-/tmp/synprint-fuzz}/HARNESS/crash-*; the exit status is 1
# when a harness found one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
harnesses=("$@"); [ ${#harnesses[@]} -gt 0 ] || harnesses=(Packet Options HTTPHead DatabaseLine Labels Payload AuthHeaders)
dir=${FUZZ_DIR:-/tmp/synprint-fuzz}
status=0
for name in "${harnesses[@]}"; do
  SYNPRINT_FUZZ=1 swift build --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz --product "Fuzz$name" >/dev/null 2>&1
  mkdir -p "$dir/$name/corpus"
  cp -n Fuzz/corpus/"$name"/* "$dir/$name/corpus/" 2>/dev/null || true
  log="$dir/$name/log.txt"
  if .build-fuzz/debug/"Fuzz$name" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/$name/" \
       "$dir/$name/corpus" >"$log" 2>&1; then
    runs=$(grep -o "stat::number_of_executed_units: [0-9]*" "$log" | awk "{print \$2}" || true)
    echo "$name: ${seconds} s, ${runs:-?} inputs, no finding"
  else
    echo "$name: FINDING, see $log and $dir/$name/crash-*"
    status=1
  fi
done
exit $status
