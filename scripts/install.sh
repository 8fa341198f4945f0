#!/usr/bin/env bash
# Installs the built binary and the mount helper: PREFIX/bin/weightfs (default /usr/local) and
# /sbin/mount.fuse.weightfs + /sbin/mount.weightfs, so /etc/fstab lines of type fuse.weightfs work.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
SBIN=${SBIN:-/sbin}
[ -x build/weightfs ] || ./scripts/build.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO install -D -m 0755 build/weightfs "$PREFIX/bin/weightfs"
$SUDO install -D -m 0755 scripts/mount.weightfs "$SBIN/mount.fuse.weightfs"
$SUDO ln -sf mount.fuse.weightfs "$SBIN/mount.weightfs"
echo "installed $PREFIX/bin/weightfs and $SBIN/mount.fuse.weightfs"
