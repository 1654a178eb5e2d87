#!/bin/sh
# What `make install` puts in place: the two commands, the systemd unit and its user,
# the docs. The unit must pass systemd-analyze verify (where systemd-analyze exists)
# and keep its hardening.
#
# usage: tests/install.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
dest=$(mktemp -d "${HOSO_TEST_TMP:-/tmp}/install-XXXXXX")
trap 'rm -rf "$dest"' EXIT
cmake --install "$build" --prefix "$dest/usr" > /dev/null
for f in usr/bin/hosod usr/bin/hoso usr/lib/systemd/system/hosod.service usr/lib/sysusers.d/hoso.conf \
	usr/share/doc/hoso/operations.md usr/share/doc/hoso/protocol.md; do
	[ -e "$dest/$f" ] || { echo "install: $f is missing"; exit 1; }
done
"$dest/usr/bin/hosod" --help | grep -q '^usage' || { echo "install: hosod --help"; exit 1; }
"$dest/usr/bin/hoso" --help | grep -q '^usage' || { echo "install: hoso --help"; exit 1; }
unit="$dest/usr/lib/systemd/system/hosod.service"
for key in User=hoso NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/hoso ProtectHome=yes \
	PrivateTmp=yes CapabilityBoundingSet= 'ExecReload=/bin/kill -HUP $MAINPID' StateDirectory=hoso; do
	grep -qxF "$key" "$unit" || { echo "install: the unit lacks $key"; exit 1; }
done
grep -q '^u hoso ' "$dest/usr/lib/sysusers.d/hoso.conf" || { echo "install: no hoso user"; exit 1; }
if command -v systemd-analyze > /dev/null 2>&1; then
	# The unit names the configured prefix; check it against the binary just installed.
	sed "s|^ExecStart=[^ ]*/hosod |ExecStart=$dest/usr/bin/hosod |" "$unit" > "$dest/hosod.service"
	systemd-analyze verify "$dest/hosod.service"
	systemd-analyze security --offline=yes --threshold=30 "$dest/hosod.service" > "$dest/security.txt" ||
		{ tail -3 "$dest/security.txt"; echo "install: the unit's exposure is above 3.0"; exit 1; }
fi
echo "install: 1 passed, 0 failed"
