# shellcheck shell=bash disable=SC2034  # (the variables it sets are read by the scripts)
# Shared bash helpers of scripts/bench.sh and scripts/bench_policy.sh (benchmarks, not tests).
# Sourced by them (`source "$ROOT/scripts/bench_common.sh"`), never run on its own; it only
# defines functions and starts nothing. Needs bash with `set -Eeuo pipefail` in the caller.
#
# Provides:
#   log MSG..., die MSG...       progress / a fatal error on stderr, "[$BENCH_TAG HH:MM:SS] ..."
#   bench_command_line VAR...    sets COMMAND_LINE: each VAR that is set, as VAR=value, then $0
#   require_positive VAR...      dies unless each named shell variable is a positive integer
#   require_root_fuse WHY        dies unless root (WHY says what needs it), with a writable
#                                drop_caches, /dev/fuse and fusermount3
#   wfs_pid_file MNT             the pid file of the weightfs daemon serving MNT
#   is_mounted MNT               MNT is in /proc/self/mounts (never stats a possibly hung mount)
#   pid_is PID EXE-SUBSTRING     PID is alive and still runs that program
#   retry CMD...                 CMD, tried up to 10 times a second apart (useradd and friends)
#   bench_traps                  installs the traps: cleanup on EXIT, on_error on ERR, and
#                                exit 130 / 143 on INT / TERM (so cleanup runs then too)
#   cleanup                      the EXIT trap: unmounts the weightfs we mounted (WFS_MNT) and
#                                kills its daemon if it stays (WFS_PID), runs cleanup_extra if
#                                the caller defines it, then removes RUN (and BENCH_DIR if left
#                                empty) unless something is still mounted below RUN
#   on_error STATUS CMD LINE     the ERR trap: says what failed, and the tail of CUR_LOG
#   make_run_dir                 creates BENCH_DIR (then realpath'd) and RUN=BENCH_DIR/run.XXXXXX;
#                                sets FSTYPE and warns when it is not a real disk
#   drop_caches, now, since T, per_s N SECONDS
#   step CMD...                  runs CMD; more than STEP_TIMEOUT seconds count as a hang
#   record ROUND NAME KEY VALUE  appends one result line to RESULTS and logs it
#   wfs_mount MNT REPO [OPTS...] mounts REPO at MNT with WFS (passphrase PASS); sets WFS_MNT,
#                                WFS_PID (WFS_MNT before the mount, so cleanup sees a half mount)
#   wfs_umount                   unmounts WFS_MNT, checks the daemon is gone, clears both
#   run_rounds NAME...           ROUNDS rounds of `bench_one ROUND NAME` for each NAME in turn;
#                                sets ELAPSED (s), LOAD_START and LOAD_END (/proc/loadavg)
#   machine_info                 sets GIT_REV, CPU, MEM, DISK (of RUN) for the report
#   print_notes TITLE            the report's block of the NOTES file, if it has any lines
#
# Expects these variables (the caller sets them; each may stay empty until what it names exists,
# and cleanup only touches what is set, i.e. what this run created or started):
#   BENCH_TAG        the log prefix ("bench", "bench-policy"); set before sourcing
#   ROOT             the checkout (for the git revision in the report)
#   BENCH_DIR, RUN   the work dir and this run's dir inside it (make_run_dir sets both)
#   STEP_TIMEOUT     seconds before one step counts as hung
#   WFS, PASS        the run's private copy of the weightfs binary; the repositories' passphrase
#   WFS_MNT, WFS_PID the mounted weightfs mountpoint and its daemon's pid (empty: none)
#   CUR_LOG          the log of what is in use, shown when an error aborts the run
#   RESULTS, NOTES   the results file (record) and the notes file (print_notes)
#   ROUNDS, bench_one  the number of rounds and the function run_rounds calls
#   cleanup_extra    optional function, run by cleanup (with set +e) after the weightfs unmount
#                    and before the run dir is removed: the caller's own processes and users

log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bench_command_line() {
  local v
  COMMAND_LINE=""
  for v in "$@"; do
    [[ -z ${!v+set} ]] || COMMAND_LINE+="$v=$(printf '%q' "${!v}") "
  done
  COMMAND_LINE+="$0"
}

require_positive() {
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[0-9]+$ ]] && (( ${!v} > 0 )) || die "$v must be a positive integer (got '${!v}')"
  done
}

require_root_fuse() {
  [[ $(id -u) == 0 ]] || die "run as root ($1)"
  [[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable"
  [[ -e /dev/fuse ]] || die "/dev/fuse is missing"
  command -v fusermount3 >/dev/null || die "fusermount3 is not installed"
}

wfs_pid_file() {  # the daemon's pid file (the mountpoint path is canonical: RUN is realpath'd)
  echo "/run/weightfs/${1//\//!}.pid"
}

# Mount checks read /proc/self/mounts: stat(2)ing a mountpoint (as mountpoint(1) does) would
# hang with a hung daemon. BENCH_DIR has no whitespace, so no /proc/mounts escaping applies.
is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

pid_is() {  # pid_is PID EXE-SUBSTRING: the pid is alive and still runs that program
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

retry() {  # retry CMD...: useradd and friends fail while another tool holds /etc/passwd's lock
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    "$@" && return 0
    sleep 1
  done
  return 1
}

cleanup() {
  local rc=$? leftover=0
  set +e
  trap - ERR
  if [[ -n $WFS_MNT ]]; then
    [[ -n $WFS_PID ]] || WFS_PID=$(cat "$(wfs_pid_file "$WFS_MNT")" 2>/dev/null)
    if is_mounted "$WFS_MNT"; then
      log "cleanup: unmounting weightfs at $WFS_MNT"
      timeout 90 "$WFS" umount --timeout 60 "$WFS_MNT" >&2 || fusermount3 -u -z "$WFS_MNT"
    fi
    if pid_is "$WFS_PID" "$WFS"; then
      log "cleanup: killing the weightfs daemon we started (pid $WFS_PID)"
      kill -9 "$WFS_PID"
      rm -f "$(wfs_pid_file "$WFS_MNT")"  # the killed daemon could not remove it
    fi
  fi
  if declare -F cleanup_extra >/dev/null; then
    cleanup_extra
  fi
  if [[ -n $RUN && -d $RUN ]]; then
    while read -r m; do
      if [[ $m == "$RUN"/* ]]; then
        log "cleanup: $m is still mounted; leaving $RUN in place"
        leftover=1
      fi
    done < <(awk '{print $2}' /proc/self/mounts)
    if (( ! leftover )); then
      rm -rf --one-file-system "$RUN"
      rmdir "$BENCH_DIR" 2>/dev/null
    fi
  fi
  exit "$rc"
}
on_error() {
  (( BASH_SUBSHELL == 0 )) || return 0
  local where="line $3"
  (( ${#FUNCNAME[@]} <= 1 )) || where+=" in ${FUNCNAME[*]:1}"
  log "ERROR: aborting: status $1 from '$2' ($where)"
  if [[ -n $CUR_LOG && -s $CUR_LOG ]]; then
    log "last lines of $CUR_LOG:"
    tail -n 30 "$CUR_LOG" >&2
  fi
}
bench_traps() {
  trap cleanup EXIT
  trap 'on_error $? "$BASH_COMMAND" $LINENO' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

make_run_dir() {
  mkdir -p "$BENCH_DIR"
  BENCH_DIR=$(realpath "$BENCH_DIR")
  [[ $BENCH_DIR != *[[:space:]\\]* ]] || die "BENCH_DIR must not contain whitespace or backslashes"
  RUN=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
  FSTYPE=$(stat -f -c %T "$RUN")
  case $FSTYPE in tmpfs|ramfs|overlayfs|fuse*) log "WARNING: $BENCH_DIR is on $FSTYPE, not a real disk" ;; esac
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }
per_s() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.3f", n / s }'; }
step() {  # step CMD...: runs CMD, treating more than BENCH_STEP_TIMEOUT seconds as a hang
  local rc=0
  timeout -k 10 "$STEP_TIMEOUT" "$@" || rc=$?
  if (( rc == 124 || rc == 137 )); then
    log "ERROR: hung: no result after ${STEP_TIMEOUT} s, killed: $*"
  elif (( rc != 0 )); then
    log "ERROR: exit status $rc: $*"
  fi
  return "$rc"
}
record() {  # record ROUND NAME KEY VALUE
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
  log "  $2 $3 = $4"
}

wfs_mount() {  # wfs_mount MOUNTPOINT REPO [MOUNT OPTIONS...]
  WFS_MNT=$1
  WEIGHTFS_PASSPHRASE=$PASS step "$WFS" mount "$2" "$WFS_MNT" "${@:3}" >&2
  is_mounted "$WFS_MNT" || die "weightfs mount returned but $WFS_MNT is not mounted"
  WFS_PID=$(cat "$(wfs_pid_file "$WFS_MNT")")
}
wfs_umount() {
  step "$WFS" umount --timeout "$STEP_TIMEOUT" "$WFS_MNT" >&2
  ! is_mounted "$WFS_MNT" || die "weightfs umount returned but $WFS_MNT is still mounted"
  ! pid_is "$WFS_PID" "$WFS" || die "weightfs umount returned but the daemon (pid $WFS_PID) still runs"
  WFS_MNT="" WFS_PID=""
}

run_rounds() {
  local start r name
  start=$(date +%s)
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  for r in $(seq "$ROUNDS"); do
    for name in "$@"; do
      bench_one "$r" "$name"
    done
  done
  ELAPSED=$(( $(date +%s) - start ))
  LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
}

machine_info() {
  GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] || GIT_REV="$GIT_REV (+ local changes)"
  CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  DISK=$(findmnt -n -o SOURCE,FSTYPE -T "$RUN" | tr -s ' ' | sed 's/ / (/; s/$/)/')
}

print_notes() {  # print_notes TITLE: the first 50 lines of NOTES as a code block, if any
  if [[ -s $NOTES ]]; then
    echo
    echo "$1"
    echo
    echo '```'
    head -n 50 "$NOTES"
    echo '```'
  fi
}
