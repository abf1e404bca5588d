#!/usr/bin/env bash
# What the forward-auth check adds through nginx: wrk against two locations of one nginx on
# loopback, one passing requests straight to an upstream (a second nginx server that answers
# 200), one checking each request with synprint first (the three shipped snippets of deploy/nginx),
# while synprint (release build) captures the loopback interface and serves GET /v1/auth.
#   sudo tools/bench-auth.sh [SECONDS] [CONNECTIONS]      (defaults 10 s, 32 connections)
# Needs root (live capture), nginx and wrk (Debian's packages); only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}; connections=${2:-32}
for tool in nginx wrk; do command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install $tool" >&2; exit 1; }; done
swift build -c release >/dev/null 2>&1
dir=$(mktemp -d)
proxy=18480; upstream=18481; api=18482
cleanup() { [ -n "${sensor:-}" ] && kill "$sensor" 2>/dev/null; [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
sed "s/127.0.0.1:8249/127.0.0.1:$api/" deploy/nginx/synprint-upstream.conf >"$dir/synprint-upstream.conf"
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
    upstream app { server 127.0.0.1:$upstream; keepalive 64; }
    include $dir/synprint-upstream.conf;
    server { listen 127.0.0.1:$upstream; location / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:$proxy;
        include $PWD/deploy/nginx/synprint.conf;
        location /plain { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app; }
        location /checked {
            include $PWD/deploy/nginx/synprint-check.conf;
            proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://app;
        }
    }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
.build/release/synprint -i lo --http --api "127.0.0.1:$api" --allow-root -o /dev/null --stats-interval 0 tcp port "$proxy" 2>"$dir/sensor.txt" &
sensor=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api/v1/health" >/dev/null && break; sleep 0.1; done
echo "checked: $(curl -s -D - -o /dev/null -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' "http://127.0.0.1:$proxy/checked" | head -1)"
for path in plain checked; do
  echo "== /$path: wrk, 2 threads, $connections connections, ${seconds} s"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$proxy/$path" | grep -E "Latency|50%|99%|Requests/sec"
done
