#!/usr/bin/env bash
# Builds a Debian package of synprint with dpkg-deb: the binary (Swift's runtime linked in with
# --static-swift-stdlib, so only system libraries are needed), the database, man pages,
# completions, the systemd unit, logrotate snippet and configuration.
#
#   tools/make-deb.sh           writes dist/synprint_VERSION_ARCH.deb
#   tools/make-deb.sh --test    also installs it with dpkg, runs `synprint --version` and a capture
#                               from the installed files, and removes it again (root only)
#
# BINARY names a release binary already built with --static-swift-stdlib (as CI's is).
set -euo pipefail
cd "$(dirname "$0")/.."
test_install=false
[ "${1:-}" = "--test" ] && test_install=true

tools/setup.sh
BINARY=${BINARY:-}
if [ -z "$BINARY" ]; then
  swift build -c release --static-swift-stdlib
  BINARY=.build/release/synprint
fi
version=$("$BINARY" --version)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" PREFIX=/usr BINARY="$BINARY" tools/install.sh >/dev/null

# Depends: the packages that own the shared libraries the binary itself needs (not theirs).
needed=$(objdump -p "$BINARY" | awk '/NEEDED/ { print $2 }')
depends=$(for name in $needed; do
  library=$(ldd "$BINARY" | awk -v name="$name" '$1 == name && $3 ~ /^\// { print $3 }')
  if [ -n "$library" ]; then dpkg -S "$library" 2>/dev/null || dpkg -S "$(readlink -f "$library")" 2>/dev/null || true; fi
done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
size=$(du -sk "$stage" | cut -f1)

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: synprint
Version: $version
Architecture: $arch
Maintainer: synprint maintainers <synprint@localhost>
Installed-Size: $size
Depends: $depends, adduser
Suggests: gnuplot-nox
Section: net
Priority: optional
Description: passive TCP/IP OS fingerprinting sensor
 synprint names the operating system behind every TCP SYN and SYN+ACK it sees
 on an interface or in capture files, compares it with the OS that a User-Agent
 claims, and flags clients likely behind a VPN or proxy.
CONTROL
printf '/etc/synprint/synprint.yaml\n/etc/logrotate.d/synprint\n' >"$stage/DEBIAN/conffiles"
cat >"$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd synprint >/dev/null || adduser --system --group --no-create-home synprint >/dev/null
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
POSTINST
cat >"$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ] && getent passwd synprint >/dev/null; then deluser --system synprint >/dev/null || true; fi
POSTRM
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

mkdir -p dist
package="dist/synprint_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$package" >/dev/null
echo "$package"

if $test_install; then
  [ "$(id -u)" -eq 0 ] || { echo "--test installs the package: run as root" >&2; exit 1; }
  dpkg -s synprint >/dev/null 2>&1 && { echo "synprint is already installed; not testing over it" >&2; exit 1; }
  trap 'dpkg --purge synprint >/dev/null 2>&1 || true; rm -rf "$stage"' EXIT
  dpkg -i "$package" >/dev/null
  [ "$(/usr/bin/synprint --version)" = "$version" ]
  events=$(cd / && /usr/bin/synprint -r "$OLDPWD/tools/samples/mixed-os.pcap" --json --classify | grep -c '"os":{"class"')
  [ "$events" -gt 0 ]
  man -w synprint >/dev/null
  [ -f /usr/share/bash-completion/completions/synprint ]
  systemd-analyze verify /usr/lib/systemd/system/synprint.service
  getent passwd synprint >/dev/null
  echo "installed $package: synprint $version classified $events packets, unit verified"
fi
