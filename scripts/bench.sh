#!/usr/bin/env bash
# BENCHMARK (not a test: never registered in ctest, no pass/fail on timings). Measures weightfs
# side by side with a plain directory, gocryptfs and securefs on the same disk, in one run, what
# issue #9 ("How it is measured") asks:
#   1. sequential write of a 2 GiB file (dd bs=1M conv=fsync from a pre-generated source file)
#   2. sequential read, cold (FUSE filesystems unmounted + remounted, page cache dropped), then
#      3. the same read again right away, warm (no remount, no drop_caches)
#   4. random 4 KiB preads and 5. random 1 MiB preads (seeded aligned offsets), cold
#   6. a numpy.memmap scan of the whole file (uint8 sum in 64 MiB slices), cold
#   7. a model load of a 2 GiB safetensors file of 201 tensors of mixed sizes and dtypes (written
#      by bench_lib.py gen_model, copied in untimed), cold: (a) every tensor copied into memory
#      with np.array() of a numpy.memmap slice, (b) as vLLM's prefetch strategy and the Run:ai
#      streamer read it: 8 threads, each with its own fd, 16 MiB preads over its share of the file
#   8. four processes each reading its own shard (512 MiB = a quarter of the size) at the same
#      time, cold; aggregate MiB/s from the first start to the last end
#   9. create / `ls -l` (cold) / delete of 5,000 files of 4 KiB (also on securefs, which runs
#      only these rows)
#  10. `ls -lR` (cold, then warm) and os.stat (warm) of 5,000 files in 5 directories, on a private
#      weightfs mount and on a shared (--allow-other) one whose policy gives a second role (the
#      default role) a different view of one subtree only; root, bound to admin, measures
#  11. `weightfs import` and `weightfs export` (offline, of a directory holding the model file),
#      against `cp -r` of the same directory (each cold and ending with `sync`)
# For weightfs it also measures, per row, the daemon's CPU seconds (utime + stime from
# /proc/PID/stat over the timed step) per GiB moved, and its peak RSS (VmHWM from
# /proc/PID/status before each unmount), printed against the bound --cache-size + 64 MiB.
# Rounds alternate (weightfs, plain, gocryptfs, securefs, weightfs, ...) and the best value of
# each measurement is reported, because the machine may be busy with other work. Every read is
# checked against the source data (outside the timed part), so wrong data fails the run.
#
# "Cold" means: `sync; echo 3 > /proc/sys/vm/drop_caches`, and for the FUSE filesystems an
# unmount + remount first (so no daemon-side cache survives either). Needs root and FUSE.
#
# Output: progress on stderr, a markdown report (machine, command, table) on stdout, e.g.
#   sudo ./scripts/bench.sh > bench.md
#   BENCH_SIZE_MIB=256 BENCH_FILES=500 BENCH_ROUNDS=1 ./scripts/bench.sh   # a quick run
#
# Environment:
#   BENCH_ROUNDS (3)        rounds; each round runs every filesystem once
#   BENCH_DIR (/var/tmp/weightfs-bench)  work dir on a real disk with about 7 x BENCH_SIZE_MIB
#                           free; a run.* dir inside it is created and removed again (BENCH_DIR
#                           itself only if left empty)
#   BENCH_FS ("weightfs plain gocryptfs securefs")  which filesystems to run
#   BENCH_SIZE_MIB (2048)   size of the big file and (about) of the model file
#   BENCH_SHARD_MIB (BENCH_SIZE_MIB / 4)  size of each of the 4 shards
#   BENCH_FILES (5000)      number of small files, and of files in the tree
#   BENCH_TREE_DIRS (5)     directories of the tree (one of them is the subtree the policy hides
#                           from the second role)
#   BENCH_RAND4K (2000), BENCH_RAND1M (200)  random pread counts; BENCH_SEED (42)
#   BENCH_CACHE_MIB (256)   --cache-size of every weightfs mount
#   BENCH_STEP_TIMEOUT (900) seconds before one step counts as hung
#   WEIGHTFS_BINARY         use this binary instead of building with ./scripts/build.sh
set -Eeuo pipefail
export LC_ALL=C
umask 022  # the policy file must not be group/world writable

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/scripts/bench_lib.py"
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/weightfs-bench}
FSES=${BENCH_FS:-weightfs plain gocryptfs securefs}
SIZE_MIB=${BENCH_SIZE_MIB:-2048}
SHARD_MIB=${BENCH_SHARD_MIB:-$(( ${BENCH_SIZE_MIB:-2048} / 4 ))}
NFILES=${BENCH_FILES:-5000}
TREE_DIRS=${BENCH_TREE_DIRS:-5}
FILE_KIB=4
N4K=${BENCH_RAND4K:-2000}
N1M=${BENCH_RAND1M:-200}
SLICE_MIB=64
SEED=${BENCH_SEED:-42}
CACHE_MIB=${BENCH_CACHE_MIB:-256}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-900}
PASS=bench-passphrase
BENCH_TAG=bench
HIDDEN_SUBTREE=/tree/d00  # the one subtree the shared mount's second role does not see
# log, die, the cleanup trap, step, record, wfs_mount, ... (see its header)
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"
bench_command_line BENCH_ROUNDS BENCH_DIR BENCH_FS BENCH_SIZE_MIB BENCH_SHARD_MIB BENCH_FILES BENCH_TREE_DIRS \
  BENCH_RAND4K BENCH_RAND1M BENCH_SEED BENCH_CACHE_MIB BENCH_STEP_TIMEOUT WEIGHTFS_BINARY
(( $# == 0 )) || die "bench.sh takes no arguments; configure it with the BENCH_* variables (see above)"

require_positive ROUNDS SIZE_MIB SHARD_MIB NFILES TREE_DIRS N4K N1M SEED CACHE_MIB STEP_TIMEOUT
(( SIZE_MIB >= 4 )) || die "BENCH_SIZE_MIB must be at least 4"
(( SHARD_MIB * 4 <= SIZE_MIB )) || die "4 shards of BENCH_SHARD_MIB ($SHARD_MIB) must fit in BENCH_SIZE_MIB ($SIZE_MIB)"
(( CACHE_MIB >= 16 )) || die "BENCH_CACHE_MIB must be at least 16 (weightfs mount --cache-size)"
(( TREE_DIRS >= 2 && TREE_DIRS <= 100 )) || die "BENCH_TREE_DIRS must be 2 to 100"
for fs in $FSES; do
  case $fs in weightfs|plain|gocryptfs|securefs) ;; *) die "unknown filesystem in BENCH_FS: $fs" ;; esac
done

# --- Preconditions ---------------------------------------------------------------------------
require_root_fuse "dropping the page cache needs it"
for fs in gocryptfs securefs; do
  [[ " $FSES " != *" $fs "* ]] || command -v $fs >/dev/null ||
    die "$fs is not installed (./scripts/setup.sh, or leave it out of BENCH_FS)"
done
"$PY" -c 'import numpy' 2>/dev/null || die "$PY has no numpy (apt-get install python3-numpy)"
CLK_TCK=$(getconf CLK_TCK)
RAND4K_MIB=$(awk -v n="$N4K" 'BEGIN { printf "%.6f", n * 4 / 1024 }')

# --- State for the cleanup trap: only what this script created or started. -----------------
RUN=""
WFS=""
WFS_MNT="" WFS_PID=""   # the mounted weightfs mountpoint and its daemon's pid
GC_MNT="" GC_PID=""     # the mounted gocryptfs mountpoint and its process (started by us, -fg)
SF_MNT="" SF_PID=""     # the mounted securefs mountpoint and its process (started by us, foreground)
CUR_LOG=""              # log of the filesystem in use, shown on failure
RESULTS="" NOTES=""

# cleanup_extra: run by cleanup after the weightfs unmount: the gocryptfs and securefs we mounted
cleanup_fg_fuse() {  # cleanup_fg_fuse NAME MNT PID
  if [[ -n $2 ]] && is_mounted "$2"; then
    log "cleanup: unmounting $1 at $2"
    fusermount3 -u "$2" || fusermount3 -u -z "$2"
  fi
  if [[ -n $3 ]]; then
    for _ in $(seq 100); do pid_is "$3" "$1" || break; sleep 0.1; done
    if pid_is "$3" "$1"; then
      log "cleanup: killing the $1 process we started (pid $3)"
      kill -9 "$3"
    fi
  fi
}
cleanup_extra() {
  cleanup_fg_fuse gocryptfs "$GC_MNT" "$GC_PID"
  cleanup_fg_fuse securefs "$SF_MNT" "$SF_PID"
}
bench_traps

# --- Helpers ---------------------------------------------------------------------------------
wfs() { WEIGHTFS_PASSPHRASE=$PASS WEIGHTFS_INSECURE_FAST_KDF=1 step "$WFS" "$@"; }
wfs_mount_bench() {  # wfs_mount_bench [OPTS...]: the repository of the round at RUN/wfs-mnt
  wfs_mount "$RUN/wfs-mnt" "$RUN/wfs-repo" --cache-size "$CACHE_MIB" --log-file "$RUN/weightfs.log" "$@"
}
wfs_cpu() {  # the daemon's utime + stime so far, in clock ticks (fields 14 and 15; comm may hold spaces)
  sed 's/^.*) //' "/proc/$WFS_PID/stat" | awk '{ print $12 + $13 }'
}
# wfs_umount_bench ROUND PHASE: records the daemon's peak RSS (VmHWM, MiB) as rss:PHASE, then
# unmounts; PHASE names the last measurement of that mount.
wfs_umount_bench() {
  local hwm
  hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$WFS_PID/status")
  [[ -n $hwm ]] || die "no VmHWM in /proc/$WFS_PID/status"
  record "$1" weightfs "rss:$2" "$hwm"
  wfs_umount
}

# A FUSE filesystem that runs in the foreground as our child (gocryptfs -fg, securefs mount):
# fg_mount NAME MNT LOG CMD... starts it and waits for the mount; sets FG_PID.
fg_mount() {
  local name=$1 mnt=$2 flog=$3 i
  shift 3
  "$@" </dev/null >>"$flog" 2>&1 &
  FG_PID=$!
  for i in $(seq 600); do
    is_mounted "$mnt" && return 0
    kill -0 "$FG_PID" 2>/dev/null || die "$name exited during start-up (see $flog)"
    sleep 0.1
  done
  die "$name did not mount within 60 s"
}
fg_umount() {  # fg_umount NAME MNT PID LOG: unmounts and waits (bounded) for the process to exit
  local name=$1 mnt=$2 pid=$3 flog=$4 rc=0 i state
  step fusermount3 -u "$mnt"
  for (( i = 0; i < STEP_TIMEOUT * 10; i++ )); do  # bounded, unlike a bare `wait`
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]] || break
    sleep 0.1
  done
  [[ -z $state || $state == Z ]] || die "$name (pid $pid) still runs ${STEP_TIMEOUT} s after its unmount"
  wait "$pid" || rc=$?
  (( rc == 0 )) || die "$name exited with status $rc (see $flog)"
}
gc_mount() {
  GC_MNT="$RUN/gc-mnt"
  fg_mount gocryptfs "$GC_MNT" "$RUN/gocryptfs.log" \
    gocryptfs -fg -q -passfile "$RUN/passfile" "$RUN/gc-cipher" "$GC_MNT"
  GC_PID=$FG_PID
}
gc_umount() { fg_umount gocryptfs "$GC_MNT" "$GC_PID" "$RUN/gocryptfs.log"; GC_MNT="" GC_PID=""; }
# securefs 0.13 has no passfile option: the file serves as its --keyfile (used instead of a
# password, so nothing is asked on the terminal). `securefs mount` stays in the foreground.
sf_mount() {
  SF_MNT="$RUN/sf-mnt"
  fg_mount securefs "$SF_MNT" "$RUN/securefs.log" \
    securefs mount --keyfile "$RUN/passfile" "$RUN/sf-cipher" "$SF_MNT"
  SF_PID=$FG_PID
}
sf_umount() { fg_umount securefs "$SF_MNT" "$SF_PID" "$RUN/securefs.log"; SF_MNT="" SF_PID=""; }

# setup FS: fresh storage, mounted; sets TARGET (where the files go).
setup() {
  case $1 in
    plain)
      mkdir "$RUN/plain"; TARGET="$RUN/plain"; CUR_LOG="" ;;
    weightfs)
      mkdir "$RUN/wfs-mnt"; : >"$RUN/weightfs.log"; CUR_LOG="$RUN/weightfs.log"
      wfs init "$RUN/wfs-repo" >&2
      # The policy of the shared-mount rows; on the private mounts the admin slot decides alone.
      wfs policy set "$RUN/wfs-repo" "$RUN/policy.yaml" >&2
      wfs_mount_bench; TARGET="$WFS_MNT" ;;
    gocryptfs)
      mkdir "$RUN/gc-cipher" "$RUN/gc-mnt"; : >"$RUN/gocryptfs.log"; CUR_LOG="$RUN/gocryptfs.log"
      step gocryptfs -init -q -passfile "$RUN/passfile" -scryptn 10 "$RUN/gc-cipher" >>"$RUN/gocryptfs.log" 2>&1
      gc_mount; TARGET="$GC_MNT" ;;
    securefs)
      mkdir "$RUN/sf-cipher" "$RUN/sf-mnt"; : >"$RUN/securefs.log"; CUR_LOG="$RUN/securefs.log"
      # PBKDF2 with few rounds: a cheap KDF like the others' (the KDF is not what is measured).
      step securefs create --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1000 --keyfile "$RUN/passfile" \
        "$RUN/sf-cipher" </dev/null >>"$RUN/securefs.log" 2>&1
      sf_mount; TARGET="$SF_MNT" ;;
  esac
}
remount() {  # remount ROUND FS PHASE
  case $2 in
    weightfs) wfs_umount_bench "$1" "$3"; wfs_mount_bench ;;
    gocryptfs) gc_umount; gc_mount ;;
    securefs) sf_umount; sf_mount ;;
  esac
}
teardown() {  # teardown ROUND FS: unmount (timed, recorded) and remove the filesystem's storage
  local r=$1 fs=$2 t
  if [[ $fs != plain ]]; then
    if [[ $fs == weightfs ]]; then
      # the shared mount's VmHWM (read before the timed unmount, which must not include it)
      record "$r" weightfs "rss:tree (shared mount)" \
        "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$WFS_PID/status")"
    fi
    t=$(now)
    case $fs in weightfs) wfs_umount ;; gocryptfs) gc_umount ;; securefs) sf_umount ;; esac
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
    securefs) rm -rf --one-file-system "$RUN/sf-cipher" "$RUN/sf-mnt" ;;
  esac
  log "  ($fs storage removed in $(since "$t") s)"
  CUR_LOG=""
}
cold() {  # cold ROUND FS PHASE: remount a FUSE filesystem, then drop the page cache
  [[ $2 == plain ]] || remount "$1" "$2" "$3"
  drop_caches
}
timed() {  # timed CMD...: runs CMD (its output to stderr), prints its wall-clock seconds
  local t
  t=$(now)
  step "$@" >&2
  since "$t"
}
# measure ROUND FS KEY PER MOVED_MIB CMD...: runs CMD, which prints the seconds of its timed
# part, and records PER / seconds under KEY ("-": the seconds themselves). For weightfs also
# records cpu:KEY, the daemon's CPU seconds over CMD per GiB moved (MOVED_MIB; "-": none).
measure() {
  local r=$1 fs=$2 key=$3 per=$4 moved=$5 c0="" c1 dt
  shift 5
  [[ $fs != weightfs || $moved == - ]] || c0=$(wfs_cpu)
  dt=$("$@")
  [[ -z $c0 ]] || c1=$(wfs_cpu)
  if [[ $per == - ]]; then record "$r" "$fs" "$key" "$dt"; else record "$r" "$fs" "$key" "$(per_s "$per" "$dt")"; fi
  if [[ -n $c0 ]]; then
    record "$r" "$fs" "cpu:$key" "$(awk -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v m="$moved" \
      'BEGIN { printf "%.3f", c / hz / (m / 1024) }')"
  fi
}

bench_one() {  # bench_one ROUND FS
  local r=$1 fs=$2
  log "round $r/$ROUNDS: $fs"
  setup "$fs"
  if [[ $fs != securefs ]]; then
    bench_data "$r" "$fs"
  fi
  bench_small "$r" "$fs"
  if [[ $fs == weightfs || $fs == plain ]]; then
    bench_tree "$r" "$fs"
  fi
  teardown "$r" "$fs"
  case $fs in
    plain) bench_cp "$r" ;;
    weightfs) bench_import_export "$r" ;;
  esac
}

bench_data() {  # bench_data ROUND FS: the big-file, model and shard rows
  local r=$1 fs=$2 t big=$TARGET/big.bin i
  # 1. Sequential write, source file in the page cache, nothing else dirty.
  cat "$SRC" >/dev/null
  sync
  measure "$r" "$fs" seq_write "$SIZE_MIB" "$SIZE_MIB" timed dd if="$SRC" of="$big" bs=1M conv=fsync status=none
  [[ $(step stat -c %s "$big") == $((SIZE_MIB * 1048576)) ]] || die "$fs: $big has the wrong size after the write"
  if [[ $fs != plain ]]; then
    t=$(now); remount "$r" "$fs" seq_write; record "$r" "$fs" remount_write "$(since "$t")"
  fi

  # 2./3. Sequential read, cold (just remounted), then warm.
  drop_caches
  measure "$r" "$fs" seq_read "$SIZE_MIB" "$SIZE_MIB" timed dd if="$big" of=/dev/null bs=1M status=none
  measure "$r" "$fs" seq_read_warm "$SIZE_MIB" "$SIZE_MIB" timed dd if="$big" of=/dev/null bs=1M status=none

  # 4./5. Random preads, cold.
  cold "$r" "$fs" seq_read_warm
  measure "$r" "$fs" rand4k "$N4K" "$RAND4K_MIB" step "$PY" "$LIB" pread "$big" 4096 "$N4K" "$SEED" "$SRC"
  cold "$r" "$fs" rand4k
  measure "$r" "$fs" rand1m "$N1M" "$N1M" step "$PY" "$LIB" pread "$big" 1048576 "$N1M" "$SEED" "$SRC"

  # 6. numpy.memmap scan, cold.
  cold "$r" "$fs" rand1m
  measure "$r" "$fs" mmap_scan "$SIZE_MIB" "$SIZE_MIB" step "$PY" "$LIB" scan "$big" "$SRC_SUM" "$SLICE_MIB"

  # 7. Model load, cold. The model and the shards are written untimed (and the big file is
  # removed first, so the disk holds one data set at a time).
  rm "$big"
  step cp "$MODEL" "$TARGET/model.safetensors"
  for i in 0 1 2 3; do
    step dd if="$SRC" of="$TARGET/shard$i.bin" bs=1M skip=$((i * SHARD_MIB)) count="$SHARD_MIB" status=none
  done
  sync
  cold "$r" "$fs" mmap_scan
  measure "$r" "$fs" model_mmap "$MODEL_MIB" "$MODEL_MIB" step "$PY" "$LIB" model_mmap "$TARGET/model.safetensors" "$MANIFEST"
  cold "$r" "$fs" model_mmap
  measure "$r" "$fs" model_pread "$MODEL_MIB" "$MODEL_MIB" step "$PY" "$LIB" model_pread "$TARGET/model.safetensors" "$MANIFEST" 8 16

  # 8. Four shards read by four processes at the same time, cold.
  cold "$r" "$fs" model_pread
  measure "$r" "$fs" shards $((4 * SHARD_MIB)) $((4 * SHARD_MIB)) step "$PY" "$LIB" shards "$SRC" "$SHARD_MIB" \
    "$TARGET/shard0.bin" "$TARGET/shard1.bin" "$TARGET/shard2.bin" "$TARGET/shard3.bin"
  rm "$TARGET/model.safetensors" "$TARGET"/shard?.bin
}

bench_small() {  # bench_small ROUND FS: create, `ls -l` (cold), delete of NFILES small files
  local r=$1 fs=$2 t
  measure "$r" "$fs" create - - step "$PY" "$LIB" create "$TARGET/small" "$NFILES" $((FILE_KIB * 1024)) "$SEED"
  if [[ $fs != plain ]]; then
    t=$(now); remount "$r" "$fs" create; record "$r" "$fs" remount_create "$(since "$t")"
  fi
  drop_caches
  measure "$r" "$fs" ls - - step "$PY" "$LIB" ls "$TARGET/small" "$NFILES" $((FILE_KIB * 1024))
  measure "$r" "$fs" delete - - step "$PY" "$LIB" delete "$TARGET/small" "$NFILES"
}

tree_rows() {  # tree_rows ROUND FS SUFFIX: ls -lR cold, ls -lR warm, os.stat warm
  local r=$1 fs=$2 s=$3
  drop_caches
  measure "$r" "$fs" "tree_lsr_cold$s" - - step "$PY" "$LIB" ls_r "$TARGET/tree" "$NFILES" $((FILE_KIB * 1024))
  measure "$r" "$fs" "tree_lsr_warm$s" - - step "$PY" "$LIB" ls_r "$TARGET/tree" "$NFILES" $((FILE_KIB * 1024))
  measure "$r" "$fs" "tree_stat$s" - - step "$PY" "$LIB" stat_tree "$TARGET/tree" "$NFILES" "$TREE_DIRS" $((FILE_KIB * 1024))
}
bench_tree() {  # bench_tree ROUND FS: the tree rows, for weightfs on a private and a shared mount
  local r=$1 fs=$2
  step "$PY" "$LIB" tree "$TARGET/tree" "$NFILES" "$TREE_DIRS" $((FILE_KIB * 1024)) "$SEED"
  [[ $fs == plain ]] || remount "$r" "$fs" "tree creation"
  tree_rows "$r" "$fs" ""
  if [[ $fs == weightfs ]]; then
    wfs_umount_bench "$r" "tree (private mount)"
    wfs_mount_bench --allow-other
    TARGET=$WFS_MNT
    tree_rows "$r" "$fs" _shared
  fi
}

bench_cp() {  # bench_cp ROUND: the baseline of import and export, cold, ending with sync
  drop_caches
  # shellcheck disable=SC2016  # expanded by the inner bash
  measure "$1" plain cp "$MODEL_MIB" - timed bash -c 'cp -r "$1" "$2" && sync' cp "$MODEL_DIR" "$RUN/cp-dst"
  step cmp "$MODEL" "$RUN/cp-dst/model.safetensors"
  rm -rf "$RUN/cp-dst"
}
bench_import_export() {  # bench_import_export ROUND: offline import + export of MODEL_DIR
  local r=$1
  wfs init "$RUN/imp-repo" >&2
  drop_caches
  measure "$r" weightfs import "$MODEL_MIB" - timed bash -c '"$@" && sync' import \
    env WEIGHTFS_PASSPHRASE="$PASS" "$WFS" import "$RUN/imp-repo" "$MODEL_DIR" -m "bench round $r"
  drop_caches
  measure "$r" weightfs export "$MODEL_MIB" - timed bash -c '"$@" && sync' export \
    env WEIGHTFS_PASSPHRASE="$PASS" "$WFS" export "$RUN/imp-repo" "$RUN/exp-dst"
  step cmp "$MODEL" "$RUN/exp-dst/model.safetensors"
  rm -rf --one-file-system "$RUN/imp-repo" "$RUN/exp-dst"
}

# --- Build, work dir, source files -----------------------------------------------------------
if [[ -n ${WEIGHTFS_BINARY:-} ]]; then
  BIN_SRC=$WEIGHTFS_BINARY
else
  log "building weightfs (./scripts/build.sh)"
  "$ROOT/scripts/build.sh" >&2
  BIN_SRC="$ROOT/build/weightfs"
fi
[[ -x $BIN_SRC ]] || die "no weightfs binary at $BIN_SRC"

make_run_dir
# Peak use: the source and the model (2x), a FUSE store holding the big file, the model and the
# shards (3x, chunks of deleted files included), then an imported repository and its export (2x).
need_mib=$(( 7 * SIZE_MIB + 512 ))
avail_mib=$(df -Pm "$RUN" | awk 'NR == 2 { print $4 }')
(( avail_mib >= need_mib )) || die "$BENCH_DIR has $avail_mib MiB free; this run needs about $need_mib MiB"
# A private copy, so a concurrent rebuild of build/weightfs cannot change the binary mid-run.
WFS="$RUN/weightfs"
cp "$BIN_SRC" "$WFS"
export WEIGHTFS_STATE_DIR="$RUN/state"  # the rollback state of our repositories stays in RUN
printf '%s\n' "$PASS" >"$RUN/passfile"
RESULTS="$RUN/results.tsv"
NOTES="$RUN/notes.txt"
: >"$RESULTS"; : >"$NOTES"
step "$PY" "$LIB" policy "$RUN/policy.yaml" "$HIDDEN_SUBTREE"

SRC="$RUN/source.bin"
log "generating the ${SIZE_MIB} MiB source file (seed $SEED)"
SRC_SUM=$(step "$PY" "$LIB" gen "$SRC" "$SIZE_MIB" "$SEED")
MODEL_DIR="$RUN/model"
MODEL="$MODEL_DIR/model.safetensors"
MANIFEST="$RUN/model.manifest.json"
mkdir "$MODEL_DIR"
log "generating the safetensors model file (at most ${SIZE_MIB} MiB)"
NTENSORS=$(step "$PY" "$LIB" gen_model "$MODEL" "$MANIFEST" "$SIZE_MIB" $((SEED + 1)))
MODEL_MIB=$(stat -c %s "$MODEL" | awk '{ printf "%.3f", $1 / 1048576 }')

ORDER=""  # always weightfs, plain, gocryptfs, securefs, whatever the order in BENCH_FS
for fs in weightfs plain gocryptfs securefs; do
  [[ " $FSES " != *" $fs "* ]] || ORDER+=" $fs"
done
# shellcheck disable=SC2086  # a list of names, split on purpose
run_rounds $ORDER

# --- Report ----------------------------------------------------------------------------------
machine_info
GC_VER=$( { gocryptfs -version 2>/dev/null || true; } | awk '{ sub(/;$/, "", $2); print $2; exit }')
SF_VER=$( { dpkg-query -W -f='${Version}' securefs 2>/dev/null || true; })
{
  echo "### weightfs benchmark"
  echo
  echo "- Command: \`$COMMAND_LINE\`"
  echo "- weightfs $GIT_REV, $(uname -s) $(uname -r), $(nproc) CPUs ($CPU), $MEM RAM"
  echo "- Disk: $DISK at $BENCH_DIR; gocryptfs ${GC_VER:-n/a} (scryptn 10); securefs ${SF_VER:-n/a} (format 4, PBKDF2 1000 rounds; small-file rows only); weightfs with the cheap test KDF and \`--cache-size $CACHE_MIB\`"
  # shellcheck disable=SC2086  # a list of names, split on purpose
  echo "- Rounds: $ROUNDS, alternating$(printf ' → %s' $ORDER | sed 's/^ → / /'); $ELAPSED s in total; load average $LOAD_START at the start, $LOAD_END at the end"
  echo "- Cold = \`sync; echo 3 > /proc/sys/vm/drop_caches\`, after an unmount + remount for the FUSE filesystems"
  echo "- Shared mount = \`--allow-other\` with a policy under which the default role does not see \`$HIDDEN_SUBTREE\` (one of the tree's $TREE_DIRS directories); measured as root (bound to admin)"
  echo
  "$PY" "$LIB" table "$RESULTS" size_mib="$SIZE_MIB" model_mib="$MODEL_MIB" tensors="$NTENSORS" \
    shard_mib="$SHARD_MIB" files="$NFILES" file_kib="$FILE_KIB" tree_dirs="$TREE_DIRS" rand4k="$N4K" \
    rand1m="$N1M" slice_mib="$SLICE_MIB" cache_mib="$CACHE_MIB"
  print_notes "weightfs daemon log lines mentioning errors or warnings:"
}
log "done in $ELAPSED s"
