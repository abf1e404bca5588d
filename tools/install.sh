#!/usr/bin/env bash
# Installs synprint: the binary, its database, man pages, shell completions (bash, zsh, fish),
# the systemd unit, the logrotate snippet and the default configuration.
#
#   tools/install.sh                    build (release) if needed, install under /usr/local
#   PREFIX=/usr tools/install.sh        install under /usr
#   DESTDIR=stage PREFIX=/usr tools/install.sh   stage the files (packages); no user is made
#
# BINARY names a synprint already built (default .build/release/synprint). An existing
# /etc/synprint/synprint.yaml is kept. Without DESTDIR, as root, the `synprint` system user the
# unit runs as is created when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINARY=${BINARY:-.build/release/synprint}

if [ ! -x "$BINARY" ]; then
  tools/setup.sh
  swift build -c release
fi
root="$DESTDIR$PREFIX"
install -Dm755 "$BINARY" "$root/bin/synprint"
install -Dm644 database/synprint.db.jsonl "$root/share/synprint/synprint.db.jsonl"
install -Dm644 database/tls.jsonl "$root/share/synprint/tls.jsonl"
install -Dm644 database/README.md "$root/share/doc/synprint/DATABASE.md"
# The dashboards and the fleet store's schema and queries, for the people who set them up.
install -Dm644 deploy/grafana-dashboard.json "$root/share/synprint/grafana-dashboard.json"
install -Dm644 deploy/grafana-clickhouse-dashboard.json "$root/share/synprint/grafana-clickhouse-dashboard.json"
install -Dm644 deploy/clickhouse/schema.sql "$root/share/synprint/clickhouse/schema.sql"
for snippet in deploy/nginx/*.conf; do
  install -Dm644 "$snippet" "$root/share/synprint/nginx/$(basename "$snippet")"
done
install -Dm644 deploy/haproxy/synprint.lua "$root/share/synprint/haproxy/synprint.lua"
for query in deploy/clickhouse/queries/*.sql; do
  install -Dm644 "$query" "$root/share/synprint/clickhouse/queries/$(basename "$query")"
done

# Man pages from the argument parser's description of the commands: its generate-manual tool
# (what `swift package generate-manual` runs), pointed at the binary being installed so that
# nothing is rebuilt.
manuals=$(mktemp -d)
trap 'rm -rf "$manuals"' EXIT
swift build --product generate-manual >/dev/null 2>&1 || { echo "cannot build the generate-manual tool" >&2; exit 1; }
"$(swift build --show-bin-path)/generate-manual" "$BINARY" --multi-page --authors "the synprint authors" --output-directory "$manuals"
for page in "$manuals"/*.1; do
  [ "$(basename "$page")" = synprint.help.1 ] && continue  # the `help` pseudo-command
  install -Dm644 "$page" "$root/share/man/man1/$(basename "$page")"
done

"$BINARY" --generate-completion-script bash | install -Dm644 /dev/stdin "$root/share/bash-completion/completions/synprint"
"$BINARY" --generate-completion-script zsh | install -Dm644 /dev/stdin "$root/share/zsh/vendor-completions/_synprint"
"$BINARY" --generate-completion-script fish | install -Dm644 /dev/stdin "$root/share/fish/vendor_completions.d/synprint.fish"

sed "s#/usr/bin/synprint#$PREFIX/bin/synprint#" deploy/synprint.service \
  | install -Dm644 /dev/stdin "$root/lib/systemd/system/synprint.service"
install -Dm644 deploy/synprint.logrotate "$DESTDIR/etc/logrotate.d/synprint"
if [ ! -e "$DESTDIR/etc/synprint/synprint.yaml" ]; then
  install -Dm644 deploy/synprint.yaml "$DESTDIR/etc/synprint/synprint.yaml"
fi

if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ] && ! getent passwd synprint >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin synprint
fi
echo "installed synprint under $root"
