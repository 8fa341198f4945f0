#!/usr/bin/env bash
# BENCHMARK (not a test: never registered in ctest, no pass/fail on timings). Measures weightfs
# side by side with a plain directory and gocryptfs on the same disk, in one run:
#   1. sequential write of a 2 GiB file (dd bs=1M conv=fsync from a pre-generated source file)
#   2. sequential read, cold (FUSE filesystems unmounted + remounted, page cache dropped)
#   3. random 4 KiB preads and 4. random 1 MiB preads (seeded aligned offsets), cold
#   5. a numpy.memmap scan of the whole file (uint8 sum in 64 MiB slices), cold
#   6. create / `ls -l` (cold) / delete of 5,000 files of 4 KiB
# Rounds alternate (weightfs, plain, gocryptfs, weightfs, ...) and the best value of each
# measurement is reported, because the machine may be busy with other work. Every read is
# checked against the source data (outside the timed part), so wrong data fails the run.
#
# "Cold" means: `sync; echo 3 > /proc/sys/vm/drop_caches`, and for weightfs and gocryptfs an
# unmount + remount first (so no daemon-side cache survives either). Needs root and FUSE.
#
# Output: progress on stderr, a markdown report (machine, command, table) on stdout, e.g.
#   sudo ./scripts/bench.sh > bench.md
#
# Environment:
#   BENCH_ROUNDS (3)        rounds; each round runs every filesystem once
#   BENCH_DIR (/var/tmp/weightfs-bench)  work dir on a real disk; a run.* dir inside it is
#                           created and removed again (BENCH_DIR itself only if left empty)
#   BENCH_FS ("weightfs plain gocryptfs")  which filesystems to run
#   BENCH_SIZE_MIB (2048)   size of the big file; BENCH_FILES (5000) number of small files
#   BENCH_RAND4K (2000), BENCH_RAND1M (200)  random pread counts; BENCH_SEED (42)
#   BENCH_STEP_TIMEOUT (900) seconds before one step counts as hung
#   WEIGHTFS_BINARY         use this binary instead of building with ./scripts/build.sh
set -Eeuo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/scripts/bench_lib.py"
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/weightfs-bench}
FSES=${BENCH_FS:-weightfs plain gocryptfs}
SIZE_MIB=${BENCH_SIZE_MIB:-2048}
NFILES=${BENCH_FILES:-5000}
FILE_KIB=4
N4K=${BENCH_RAND4K:-2000}
N1M=${BENCH_RAND1M:-200}
SLICE_MIB=64
SEED=${BENCH_SEED:-42}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-900}
PASS=bench-passphrase
BENCH_TAG=bench
# log, die, the cleanup trap, step, record, wfs_mount, ... (see its header)
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"
bench_command_line BENCH_ROUNDS BENCH_DIR BENCH_FS BENCH_SIZE_MIB BENCH_FILES BENCH_RAND4K BENCH_RAND1M \
  BENCH_SEED BENCH_STEP_TIMEOUT WEIGHTFS_BINARY
(( $# == 0 )) || die "bench.sh takes no arguments; configure it with the BENCH_* variables (see above)"

require_positive ROUNDS SIZE_MIB NFILES N4K N1M SEED STEP_TIMEOUT
(( SIZE_MIB >= 2 )) || die "BENCH_SIZE_MIB must be at least 2"
for fs in $FSES; do
  case $fs in weightfs|plain|gocryptfs) ;; *) die "unknown filesystem in BENCH_FS: $fs" ;; esac
done

# --- Preconditions ---------------------------------------------------------------------------
require_root_fuse "dropping the page cache needs it"
[[ " $FSES " != *" gocryptfs "* ]] || command -v gocryptfs >/dev/null ||
  die "gocryptfs is not installed (apt-get install gocryptfs, or BENCH_FS='weightfs plain')"
"$PY" -c 'import numpy' 2>/dev/null || die "$PY has no numpy (apt-get install python3-numpy)"

# --- State for the cleanup trap: only what this script created or started. -----------------
RUN=""
WFS=""
WFS_MNT="" WFS_PID=""   # the mounted weightfs mountpoint and its daemon's pid
GC_MNT="" GC_PID=""     # the mounted gocryptfs mountpoint and its process (started by us, -fg)
CUR_LOG=""              # log of the filesystem in use, shown on failure
RESULTS="" NOTES=""

cleanup_extra() {  # run by cleanup after the weightfs unmount: the gocryptfs we mounted
  if [[ -n $GC_MNT ]] && is_mounted "$GC_MNT"; then
    log "cleanup: unmounting gocryptfs at $GC_MNT"
    fusermount3 -u "$GC_MNT" || fusermount3 -u -z "$GC_MNT"
  fi
  if [[ -n $GC_PID ]]; then
    for _ in $(seq 100); do pid_is "$GC_PID" gocryptfs || break; sleep 0.1; done
    if pid_is "$GC_PID" gocryptfs; then
      log "cleanup: killing the gocryptfs process we started (pid $GC_PID)"
      kill -9 "$GC_PID"
    fi
  fi
}
bench_traps

# --- Helpers ---------------------------------------------------------------------------------
wfs_mount_bench() { wfs_mount "$RUN/wfs-mnt" "$RUN/wfs-repo" --log-file "$RUN/weightfs.log"; }
gc_mount() {
  GC_MNT="$RUN/gc-mnt"
  gocryptfs -fg -q -passfile "$RUN/passfile" "$RUN/gc-cipher" "$GC_MNT" </dev/null >>"$RUN/gocryptfs.log" 2>&1 &
  GC_PID=$!
  local i
  for i in $(seq 600); do
    is_mounted "$GC_MNT" && return 0
    kill -0 "$GC_PID" 2>/dev/null || die "gocryptfs exited during start-up (see $RUN/gocryptfs.log)"
    sleep 0.1
  done
  die "gocryptfs did not mount within 60 s"
}
gc_umount() {
  step fusermount3 -u "$GC_MNT"
  local rc=0 i state
  for (( i = 0; i < STEP_TIMEOUT * 10; i++ )); do  # bounded, unlike a bare `wait`
    state=$(awk '{ print $3 }' "/proc/$GC_PID/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]] || break
    sleep 0.1
  done
  [[ -z $state || $state == Z ]] || die "gocryptfs (pid $GC_PID) still runs ${STEP_TIMEOUT} s after its unmount"
  wait "$GC_PID" || rc=$?
  (( rc == 0 )) || die "gocryptfs exited with status $rc (see $RUN/gocryptfs.log)"
  GC_MNT="" GC_PID=""
}

# setup FS: fresh storage, mounted; sets TARGET (where the files go).
setup() {
  case $1 in
    plain)
      mkdir "$RUN/plain"; TARGET="$RUN/plain"; CUR_LOG="" ;;
    weightfs)
      mkdir "$RUN/wfs-mnt"; : >"$RUN/weightfs.log"; CUR_LOG="$RUN/weightfs.log"
      WEIGHTFS_PASSPHRASE=$PASS WEIGHTFS_INSECURE_FAST_KDF=1 step "$WFS" init "$RUN/wfs-repo" >&2
      wfs_mount_bench; TARGET="$WFS_MNT" ;;
    gocryptfs)
      mkdir "$RUN/gc-cipher" "$RUN/gc-mnt"; : >"$RUN/gocryptfs.log"; CUR_LOG="$RUN/gocryptfs.log"
      step gocryptfs -init -q -passfile "$RUN/passfile" -scryptn 10 "$RUN/gc-cipher" >>"$RUN/gocryptfs.log" 2>&1
      gc_mount; TARGET="$GC_MNT" ;;
  esac
}
remount() {
  case $1 in
    weightfs) wfs_umount; wfs_mount_bench ;;
    gocryptfs) gc_umount; gc_mount ;;
  esac
}
teardown() {  # teardown ROUND FS: unmount (timed, recorded) and remove the filesystem's storage
  local r=$1 fs=$2 t
  if [[ $fs != plain ]]; then
    t=$(now)
    case $fs in weightfs) wfs_umount ;; gocryptfs) gc_umount ;; esac
    record "$r" "$fs" umount_end "$(since "$t")"
  fi
  t=$(now)
  case $fs in
    plain) rm -rf --one-file-system "$RUN/plain" ;;
    weightfs)
      # Anything alarming the daemon logged goes into the report.
      grep -iE 'error|fail|corrupt|warn' "$RUN/weightfs.log" | sed "s/^/round $r: /" >>"$NOTES" || true
      rm -rf --one-file-system "$RUN/wfs-repo" "$RUN/wfs-mnt" ;;
    gocryptfs) rm -rf --one-file-system "$RUN/gc-cipher" "$RUN/gc-mnt" ;;
  esac
  log "  ($fs storage removed in $(since "$t") s)"
  CUR_LOG=""
}
cold() {  # cold FS: remount a FUSE filesystem, then drop the page cache
  [[ $1 == plain ]] || remount "$1"
  drop_caches
}

bench_one() {  # bench_one ROUND FS
  local r=$1 fs=$2 t dt big
  log "round $r/$ROUNDS: $fs"
  setup "$fs"
  big="$TARGET/big.bin"

  # 1. Sequential write, source file in the page cache, nothing else dirty.
  cat "$SRC" >/dev/null
  sync
  t=$(now)
  step dd if="$SRC" of="$big" bs=1M conv=fsync status=none
  dt=$(since "$t")
  [[ $(step stat -c %s "$big") == $((SIZE_MIB * 1048576)) ]] || die "$fs: $big has the wrong size after the write"
  record "$r" "$fs" seq_write "$(per_s "$SIZE_MIB" "$dt")"
  if [[ $fs != plain ]]; then
    t=$(now); remount "$fs"; record "$r" "$fs" remount_write "$(since "$t")"
  fi

  # 2. Sequential read, cold (just remounted).
  drop_caches
  t=$(now)
  step dd if="$big" of=/dev/null bs=1M status=none
  record "$r" "$fs" seq_read "$(per_s "$SIZE_MIB" "$(since "$t")")"

  # 3./4. Random preads, cold.
  cold "$fs"
  dt=$(step "$PY" "$LIB" pread "$big" 4096 "$N4K" "$SEED" "$SRC")
  record "$r" "$fs" rand4k "$(per_s "$N4K" "$dt")"
  cold "$fs"
  dt=$(step "$PY" "$LIB" pread "$big" 1048576 "$N1M" "$SEED" "$SRC")
  record "$r" "$fs" rand1m "$(per_s "$N1M" "$dt")"

  # 5. numpy.memmap scan, cold.
  cold "$fs"
  dt=$(step "$PY" "$LIB" scan "$big" "$SRC_SUM" "$SLICE_MIB")
  record "$r" "$fs" mmap_scan "$(per_s "$SIZE_MIB" "$dt")"

  # 6. Small files: create, `ls -l` cold, delete.
  dt=$(step "$PY" "$LIB" create "$TARGET/small" "$NFILES" $((FILE_KIB * 1024)) "$SEED")
  record "$r" "$fs" create "$dt"
  if [[ $fs != plain ]]; then
    t=$(now); remount "$fs"; record "$r" "$fs" remount_create "$(since "$t")"
  fi
  drop_caches
  dt=$(step "$PY" "$LIB" ls "$TARGET/small" "$NFILES" $((FILE_KIB * 1024)))
  record "$r" "$fs" ls "$dt"
  dt=$(step "$PY" "$LIB" delete "$TARGET/small" "$NFILES")
  record "$r" "$fs" delete "$dt"

  teardown "$r" "$fs"
}

# --- Build, work dir, source file ------------------------------------------------------------
if [[ -n ${WEIGHTFS_BINARY:-} ]]; then
  BIN_SRC=$WEIGHTFS_BINARY
else
  log "building weightfs (./scripts/build.sh)"
  "$ROOT/scripts/build.sh" >&2
  BIN_SRC="$ROOT/build/weightfs"
fi
[[ -x $BIN_SRC ]] || die "no weightfs binary at $BIN_SRC"

make_run_dir
# A private copy, so a concurrent rebuild of build/weightfs cannot change the binary mid-run.
WFS="$RUN/weightfs"
cp "$BIN_SRC" "$WFS"
printf '%s\n' "$PASS" >"$RUN/passfile"
RESULTS="$RUN/results.tsv"
NOTES="$RUN/notes.txt"
: >"$RESULTS"; : >"$NOTES"

SRC="$RUN/source.bin"
log "generating the ${SIZE_MIB} MiB source file (seed $SEED)"
SRC_SUM=$(step "$PY" "$LIB" gen "$SRC" "$SIZE_MIB" "$SEED")

ORDER=""  # always weightfs, plain, gocryptfs, whatever the order in BENCH_FS
for fs in weightfs plain gocryptfs; do
  [[ " $FSES " != *" $fs "* ]] || ORDER+=" $fs"
done
# shellcheck disable=SC2086  # a list of names, split on purpose
run_rounds $ORDER

# --- Report ----------------------------------------------------------------------------------
machine_info
GC_VER=$( { gocryptfs -version 2>/dev/null || true; } | awk '{ sub(/;$/, "", $2); print $2; exit }')
{
  echo "### weightfs benchmark"
  echo
  echo "- Command: \`$COMMAND_LINE\`"
  echo "- weightfs $GIT_REV, $(uname -s) $(uname -r), $(nproc) CPUs ($CPU), $MEM RAM"
  echo "- Disk: $DISK at $BENCH_DIR; gocryptfs ${GC_VER:-n/a} (scryptn 10); weightfs with the cheap test KDF"
  echo "- Rounds: $ROUNDS, alternating weightfs → plain → gocryptfs; $ELAPSED s in total; load average $LOAD_START at the start, $LOAD_END at the end"
  echo "- Cold = \`sync; echo 3 > /proc/sys/vm/drop_caches\`, after an unmount + remount for the FUSE filesystems"
  echo
  "$PY" "$LIB" table "$RESULTS" "$SIZE_MIB" "$NFILES" "$FILE_KIB" "$N4K" "$N1M" "$SLICE_MIB"
  print_notes "weightfs daemon log lines mentioning errors or warnings:"
}
log "done in $ELAPSED s"
