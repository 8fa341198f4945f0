#!/usr/bin/env bash
# The mount helper: what mount(8) runs for an fstab line of type fuse.weightfs.
set -euo pipefail
src=${WEIGHTFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${WEIGHTFS_BINARY:-$src/build/weightfs}
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  if [ "${WEIGHTFS_REQUIRE_FUSE:-}" = 1 ]; then echo "FAIL: FUSE unavailable"; exit 1; fi
  echo "SKIP: FUSE unavailable"; exit 77
fi
work=$(mktemp -d)
installed_helper=""
cleanup() {
  for m in "$work/mnt" "$work/mnt2"; do
    if grep -q " $m " /proc/mounts; then "$bin" umount "$m" || fusermount3 -u -z "$m"; fi
  done
  [ -n "$installed_helper" ] && rm -f "$installed_helper"
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
check() { echo "ok   $1"; passed=$((passed + 1)); }

export WEIGHTFS_INSECURE_FAST_KDF=1 WEIGHTFS_BINARY="$bin"
printf 'helper-passphrase\n' > "$work/pass"
mkdir -p "$work/src/models" "$work/mnt" "$work/mnt2"
echo "weights v1" > "$work/src/models/a.bin"
"$bin" init "$work/repo" --passphrase-file "$work/pass" > /dev/null 2>&1
"$bin" import "$work/repo" "$work/src" --passphrase-file "$work/pass" > /dev/null

# Exactly the arguments mount(8) passes for: REPO MNT fuse.weightfs passphrase_file=...,ro 0 0
"$src/scripts/mount.weightfs" "$work/repo" "$work/mnt" -o "rw,passphrase_file=$work/pass,log_file=$work/log,nofail"
grep -q " $work/mnt fuse.weightfs " /proc/mounts && check "helper mounts read-write"
[ "$(cat "$work/mnt/models/a.bin")" = "weights v1" ] && check "files readable through the helper's mount"
echo "new" > "$work/mnt/models/b.bin" && check "read-write mount accepts writes"
"$bin" umount "$work/mnt"

"$src/scripts/mount.weightfs" "$work/repo" "$work/mnt" -o "ro,passphrase_file=$work/pass"
grep " $work/mnt fuse.weightfs " /proc/mounts | grep -q '\bro\b' && check "ro option gives a read-only kernel mount"
[ "$(cat "$work/mnt/models/b.bin")" = "new" ] && check "write from the previous mount was committed"
if touch "$work/mnt/x" 2>/dev/null; then echo "FAIL: write on ro mount succeeded"; exit 1; fi
check "ro mount refuses writes"
"$bin" umount "$work/mnt"

# mount -t fuse.weightfs goes through /sbin/mount.fuse.weightfs; install it for this test only.
if [ ! -e /sbin/mount.fuse.weightfs ] && [ "$(id -u)" -eq 0 ]; then
  installed_helper=/sbin/mount.fuse.weightfs
  ln -s "$src/scripts/mount.weightfs" "$installed_helper"
fi
if [ -e /sbin/mount.fuse.weightfs ]; then
  mount -t fuse.weightfs -o "ro,passphrase_file=$work/pass" "$work/repo" "$work/mnt2"
  [ "$(cat "$work/mnt2/models/a.bin")" = "weights v1" ] && check "mount -t fuse.weightfs works"
  "$bin" umount "$work/mnt2"
fi
echo "$passed passed, 0 failed"
