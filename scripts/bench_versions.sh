#!/usr/bin/env bash
# Benchmark (not a test; no pass/fail on any number): the cost of versions (issue 4, "Cost").
#
#   ./scripts/bench_versions.sh
#   BENCH_LARGE_MIB=1024 BENCH_MODEL_HIDDEN=1024 ./scripts/bench_versions.sh   # quick run
#
# 1. Snapshot creation time for a repository of BENCH_SMALL_MIB (100 MiB) and one of
#    BENCH_LARGE_MIB (10 GiB) of weights, each in BENCH_FILES (8) files of distinct random data
#    imported one by one. Measured BENCH_ROUNDS (5) times, the two repositories interleaved:
#    the offline `weightfs snapshot REPO` (after a 4 KiB write made through a mount and
#    committed by its unmount) and `mkdir MNT/.versions/tags/NAME` on a mount (right after a
#    4 KiB write, so the tree changed and the time includes committing it). The medians are
#    printed side by side with their ratio (and the minimum), which should stay near 1 (a snapshot names the root
#    tree: O(metadata), not O(data)).
# 2. Repository growth (stored bytes from `weightfs stats --json`) when one safetensors file
#    (~514 MiB of bf16 at BENCH_MODEL_HIDDEN=2048, 24 tensors from 4 KiB to 128 MiB) is stored
#    and then replaced at the same path by three variants, in turn: an identical re-save, a
#    re-save with extra header metadata (which shifts all tensor data), and one with 3 of the
#    24 tensors rewritten (~9% of the data). Both through `weightfs import --to` and by `cp`
#    into a mount followed by `mkdir .versions/tags/NAME`. Goals (reported, not asserted):
#    identical and metadata-only under 1% of the file; one-in-ten little more than the changed
#    tensors.
#
# Work happens in a fresh directory below BENCH_DIR (default /var/tmp/weightfs-bench-versions,
# which should be on a real disk: about 1.2 x BENCH_LARGE_MIB + 5 GiB are needed), removed at
# the end. The binary is WEIGHTFS_BIN if set, else build/weightfs after ./scripts/build.sh; it
# is copied into the work directory first, so a concurrent rebuild cannot change it mid-run.
# Mounts run in the foreground as children of this script; the EXIT trap unmounts them and
# ends only those children (by pid). Uses /usr/bin/python3 with numpy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CMDLINE="$0${*:+ $*}"
for v in BENCH_DIR BENCH_SMALL_MIB BENCH_LARGE_MIB BENCH_FILES BENCH_ROUNDS BENCH_MODEL_HIDDEN WEIGHTFS_BIN; do
  if [ -n "${!v:-}" ]; then CMDLINE="$v=${!v} $CMDLINE"; fi
done

BENCH_DIR=${BENCH_DIR:-/var/tmp/weightfs-bench-versions}
SMALL_MIB=${BENCH_SMALL_MIB:-100}
LARGE_MIB=${BENCH_LARGE_MIB:-10240}
NFILES=${BENCH_FILES:-8}
ROUNDS=${BENCH_ROUNDS:-5}
HIDDEN=${BENCH_MODEL_HIDDEN:-2048}
PY=/usr/bin/python3
HELPER=$ROOT/scripts/bench_versions.py
export PYTHONPATH=$ROOT/tests/integration${PYTHONPATH:+:$PYTHONPATH}
export WEIGHTFS_PASSPHRASE="benchmark passphrase"
export WEIGHTFS_INSECURE_FAST_KDF=1

if [ -z "${WEIGHTFS_BIN:-}" ]; then
  "$ROOT/scripts/build.sh" >/dev/null
  WEIGHTFS_BIN=$ROOT/build/weightfs
fi

mkdir -p "$BENCH_DIR"
D=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
declare -A MPID=()  # mountpoint -> pid of its foreground `weightfs mount -f`

cleanup() {
  local rc=$? m busy=0
  trap - EXIT INT TERM
  for m in "${!MPID[@]}"; do
    if mountpoint -q "$m"; then
      "$WFS" umount "$m" --timeout 120 >/dev/null 2>&1 || fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null || true
    fi
    if kill -0 "${MPID[$m]}" 2>/dev/null; then kill "${MPID[$m]}" 2>/dev/null || true; fi
    wait "${MPID[$m]}" 2>/dev/null || true
    if mountpoint -q "$m"; then busy=1; fi
  done
  if [ "$busy" = 0 ]; then
    rm -rf "$D"
    rmdir "$BENCH_DIR" 2>/dev/null || true
  else
    echo "bench_versions: a mount below $D is still active; left $D in place" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
  echo "bench_versions: $*" >&2
  exit 1
}

mkdir "$D/bin"
cp "$WEIGHTFS_BIN" "$D/bin/weightfs"
WFS=$D/bin/weightfs

# wfs ARGS...: runs weightfs with stderr kept aside (the fast-KDF warning is noise here) and
# shown only on failure.
wfs() {
  if ! "$WFS" "$@" 2>"$D/wfs.err"; then
    cat "$D/wfs.err" >&2
    die "weightfs $* failed"
  fi
}

need_kb=$(((LARGE_MIB * 12 / 10 + 5 * 1024) * 1024))
avail_kb=$(df -Pk "$D" | awk 'NR == 2 { print $4 }')
[ "$avail_kb" -ge "$need_kb" ] || die "$D has $((avail_kb / 1024)) MiB free, need $((need_kb / 1024)) MiB"

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
secs() { awk -v us="$1" 'BEGIN { printf "%.6f", us / 1e6 }'; }
msec() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
stored() { wfs stats "$1" --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["stored_bytes"])'; }
RESULTS=$D/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }

# mount_repo REPO MNT / umount_repo MNT
mount_repo() {
  mkdir -p "$2"
  "$WFS" mount -f "$1" "$2" 2>>"$D/mount.log" &
  MPID[$2]=$!
  local i
  for ((i = 0; i < 600; i++)); do
    if mountpoint -q "$2"; then return 0; fi
    if ! kill -0 "${MPID[$2]}" 2>/dev/null; then
      tail -5 "$D/mount.log" >&2
      die "weightfs mount $1 $2 failed"
    fi
    sleep 0.05
  done
  die "weightfs mount $1 $2: not mounted after 30 s"
}
umount_repo() {
  wfs umount "$1"
  wait "${MPID[$1]}" || die "the mount daemon of $1 exited with status $?"
  unset "MPID[$1]"
}

# poke FILE SIZE_BYTES: overwrites 4 KiB at a random 4 KiB-aligned offset with random bytes.
poke() {
  local blocks=$(($2 / 4096))
  dd if=/dev/urandom of="$1" bs=4096 count=1 seek=$(((RANDOM * 32768 + RANDOM) % blocks)) conv=notrunc status=none
}

echo "# weightfs versions benchmark"
echo
echo "- command:  $CMDLINE"
echo "- binary:   $WEIGHTFS_BIN ($("$WFS" --version)), copied to $WFS"
echo "- work dir: $D on $(df -P "$D" | awk 'NR == 2 { print $1 }') ($(stat -f -c %T "$D"))"
echo "- cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; memory $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "- load average at start: $(loadavg) (other processes share the machine)"
echo "- date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
T_START=$(now_us)

# ---------------------------------------------------------------------------------------------
# 1. Snapshot creation time.

SIZES=("$SMALL_MIB" "$LARGE_MIB")
declare -A FILESIZE=()  # "<mib>/<i>" -> bytes of weights-<i>.bin
for m in "${SIZES[@]}"; do
  repo=$D/repo-$m
  wfs init "$repo" >/dev/null
  import_us=0
  for ((i = 0; i < NFILES; i++)); do
    fm=$((m / NFILES + (i < m % NFILES ? 1 : 0)))
    "$PY" "$HELPER" gen "$D/src.bin" "$fm" $((m * 100 + i + 1))
    t0=$(now_us)
    wfs import "$repo" "$D/src.bin" --to "/weights/weights-$i.bin" -m "weights $i" >/dev/null
    import_us=$((import_us + $(now_us) - t0))
    FILESIZE[$m/$i]=$((fm << 20))
    rm -f "$D/src.bin"
  done
  record "import_$m" "$(secs "$import_us")"
  sync  # so that writeback of the imported data does not fall into the timed snapshots
  echo "repository of $m MiB: imported $NFILES files in $(printf '%.1f' "$(secs "$import_us")") s; stored $(stored "$repo") bytes; load $(loadavg)"
done

echo
echo "offline snapshots (a 4 KiB write through a mount, unmount, then timed \`weightfs snapshot REPO\`):"
for ((r = 1; r <= ROUNDS; r++)); do
  line="  round $r:"
  for m in "${SIZES[@]}"; do
    repo=$D/repo-$m mnt=$D/mnt-$m
    i=$((r % NFILES))
    mount_repo "$repo" "$mnt"
    poke "$mnt/weights/weights-$i.bin" "${FILESIZE[$m/$i]}"
    umount_repo "$mnt"
    sync
    t0=$(now_us)
    wfs snapshot "$repo" -m "offline $r" >/dev/null
    dt=$(secs $(($(now_us) - t0)))
    record "offline_$m" "$dt"
    line+=" $m MiB $(msec "$dt");"
  done
  echo "$line load $(loadavg)"
done

echo "snapshots on a mount (a 4 KiB write, then timed \`mkdir MNT/.versions/tags/NAME\`):"
for m in "${SIZES[@]}"; do mount_repo "$D/repo-$m" "$D/mnt-$m"; done
for ((r = 1; r <= ROUNDS; r++)); do
  line="  round $r:"
  for m in "${SIZES[@]}"; do
    mnt=$D/mnt-$m
    i=$(((r + 3) % NFILES))
    poke "$mnt/weights/weights-$i.bin" "${FILESIZE[$m/$i]}"
    sync -f "$D"  # the underlying disk only: the 4 KiB stays uncommitted in the mount
    t0=$(now_us)
    mkdir "$mnt/.versions/tags/s$r"
    dt=$(secs $(($(now_us) - t0)))
    [ -d "$mnt/.versions/tags/s$r" ] || die "$mnt/.versions/tags/s$r missing after mkdir"
    record "mount_$m" "$dt"
    line+=" $m MiB $(msec "$dt");"
  done
  echo "$line load $(loadavg)"
done
for m in "${SIZES[@]}"; do umount_repo "$D/mnt-$m"; done
for m in "${SIZES[@]}"; do
  n=$(wfs log "$D/repo-$m" | grep -c '^snapshot ' || true)
  [ "$n" -eq $((NFILES + 2 * ROUNDS)) ] || die "repository of $m MiB has $n snapshots, expected $((NFILES + 2 * ROUNDS))"
  rm -rf "$D/repo-$m" "$D/mnt-$m"
done

# ---------------------------------------------------------------------------------------------
# 2. Repository growth per version of a safetensors file.

echo
t0=$(now_us)
mkdir "$D/model"
"$PY" "$HELPER" model "$D/model" "$HIDDEN" 7 "$D/model.json"
echo "generated the model and its variants in $(printf "%.1f" "$(secs $(($(now_us) - t0)))") s: $(stat -c %s "$D/model/base.safetensors") bytes each"
VARIANTS=(base resave meta tenth)

echo "import path (\`weightfs import REPO FILE --to /model.safetensors\`):"
repo=$D/repo-import
wfs init "$repo" >/dev/null
before=$(stored "$repo")
for v in "${VARIANTS[@]}"; do
  t0=$(now_us)
  wfs import "$repo" "$D/model/$v.safetensors" --to /model.safetensors -m "$v" >/dev/null
  dt=$(secs $(($(now_us) - t0)))
  after=$(stored "$repo")
  record "growth_import_$v" $((after - before))
  echo "  $v: +$((after - before)) bytes (import $dt s; load $(loadavg))"
  before=$after
done
record unreachable_import "$(wfs gc "$repo" --dry-run --grace 0 --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["unreachable_bytes"])')"
wfs check "$repo" >/dev/null
rm -rf "$repo"

echo "mount path (\`cp FILE MNT/model.safetensors\`, \`mkdir MNT/.versions/tags/NAME\`, umount):"
repo=$D/repo-mount mnt=$D/mnt-model
wfs init "$repo" >/dev/null
before=$(stored "$repo")
for v in "${VARIANTS[@]}"; do
  mount_repo "$repo" "$mnt"
  t0=$(now_us)
  cp "$D/model/$v.safetensors" "$mnt/model.safetensors"
  mkdir "$mnt/.versions/tags/$v"
  umount_repo "$mnt"
  dt=$(secs $(($(now_us) - t0)))
  after=$(stored "$repo")
  record "growth_mount_$v" $((after - before))
  echo "  $v: +$((after - before)) bytes (cp + mkdir + umount $dt s; load $(loadavg))"
  before=$after
done
record unreachable_mount "$(wfs gc "$repo" --dry-run --grace 0 --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["unreachable_bytes"])')"
wfs check "$repo" >/dev/null
# The last version must read back byte-exact from the repository.
wfs cat "$repo" /model.safetensors | cmp -s - "$D/model/tenth.safetensors" || die "the stored model differs from the one-in-ten variant"
rm -rf "$repo" "$mnt"

echo
echo "load average at end: $(loadavg); total $(awk -v us=$(($(now_us) - T_START)) 'BEGIN { printf "%.0f", us / 1e6 }') s"
echo
"$PY" "$HELPER" report "$RESULTS" "$D/model.json" "$SMALL_MIB" "$LARGE_MIB" "$NFILES" "$ROUNDS" "$CMDLINE"
