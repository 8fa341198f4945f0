# Shared helpers of the offline CLI tests (tests/cli/*_test.sh). Source it after
# `set -euo pipefail`:
#
#   source "$(dirname "$0")/lib.sh"
#   expect_rc 0 "init" "$WFS" init "$T/repo"
#   check "the config exists" test -f "$T/repo/config"
#   finish
#
# It provides:
#   WFS       the weightfs binary (WEIGHTFS_BINARY, else build/weightfs of the source tree)
#   SRC_DIR   the source tree (WEIGHTFS_SOURCE_DIR, else the parent of tests/)
#   T         a fresh temporary directory, removed on exit (with everything in on_exit)
#   OUT, ERR  files holding the standard output and error of the last `run`/`expect_rc`
#   RC        the exit code of the last `run`/`expect_rc`
# Every check prints one line ("ok - ..." or "FAIL - ..."); `finish` prints "N passed, M failed"
# and exits non-zero when anything failed. A setup step that fails outside a check aborts the
# script (set -e); the exit trap then reports the abort and the counts, and the exit is non-zero.
#
# Secrets: WEIGHTFS_PASSPHRASE is the repository passphrase unless a test overrides it per
# command; WEIGHTFS_INSECURE_FAST_KDF=1 keeps scrypt cheap (keys_test unsets it once on purpose).

SRC_DIR=${WEIGHTFS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WFS=${WEIGHTFS_BINARY:-$SRC_DIR/build/weightfs}
if [ ! -x "$WFS" ]; then
  echo "weightfs binary not found at $WFS (build with ./scripts/build.sh or set WEIGHTFS_BINARY)" >&2
  exit 1
fi
PY=/usr/bin/python3

export WEIGHTFS_INSECURE_FAST_KDF=1
export WEIGHTFS_PASSPHRASE="correct horse battery staple"
export LC_ALL=C.UTF-8

PASSED=0
FAILED=0
FAILED_NAMES=()
_FINISHED=0
_ON_EXIT=()

T=$(mktemp -d "${TMPDIR:-/tmp}/wfs-cli.XXXXXX")
# The exit trap writes to the script's own stdout even when a failing command had its output
# redirected (bash runs the trap with that redirection still in place).
exec {_WFS_STDOUT}>&1
OUT=$T/.out
ERR=$T/.err
RC=0

# on_exit CMD...: run CMD (as one eval'd string) when the script exits, before $T is removed,
# in reverse order of registration (e.g. unmounting a tmpfs inside $T).
on_exit() { _ON_EXIT+=("$*"); }

_wfs_exit() {
  local rc=$?
  set +e
  local i
  for ((i = ${#_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${_ON_EXIT[$i]}"; done
  rm -rf "$T"
  if [ "$_FINISHED" != 1 ]; then
    echo "FAIL - the script aborted (exit code $rc) outside a check; see the output above" >&"$_WFS_STDOUT"
    echo "$PASSED passed, $((FAILED + 1)) failed" >&"$_WFS_STDOUT"
    [ "$rc" = 0 ] && rc=1
    exit "$rc"
  fi
}
trap _wfs_exit EXIT

ok() {
  PASSED=$((PASSED + 1))
  echo "ok   - $*"
}

not_ok() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  echo "FAIL - $*"
}

# Prints the first lines of a captured stream, indented, for failure reports.
_show() {
  local label=$1 file=$2
  if [ -s "$file" ]; then
    echo "       $label:"
    head -c 2000 "$file" | head -n 12 | sed 's/^/         /'
  fi
}

# run CMD...: runs CMD with its output in $OUT/$ERR and its exit code in $RC; never aborts.
run() {
  set +e
  "$@" >"$OUT" 2>"$ERR"
  RC=$?
  set -e
}

# expect_rc N DESC CMD...: runs CMD and checks that it exits with N.
expect_rc() {
  local want=$1 desc=$2
  shift 2
  run "$@"
  if [ "$RC" = "$want" ]; then
    ok "$desc (exit $RC)"
  else
    not_ok "$desc: expected exit $want, got $RC" 
    echo "       command: $*"
    _show stdout "$OUT"
    _show stderr "$ERR"
  fi
}

# check DESC CMD...: passes when CMD succeeds (CMD's output is shown only on failure).
check() {
  local desc=$1
  shift
  local log=$T/.check
  set +e
  "$@" >"$log" 2>&1
  local rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    ok "$desc"
  else
    not_ok "$desc"
    echo "       command: $* (exit $rc)"
    _show output "$log"
  fi
}

# check_not DESC CMD...: passes when CMD fails.
check_not() {
  local desc=$1
  shift
  set +e
  "$@" >/dev/null 2>&1
  local rc=$?
  set -e
  if [ "$rc" != 0 ]; then ok "$desc"; else not_ok "$desc"; echo "       command unexpectedly succeeded: $*"; fi
}

# contains FILE STRING: FILE contains STRING (fixed string, binary-safe). For use in check.
contains() { grep -q -a -F -- "$2" "$1"; }
# not_contains FILE STRING
not_contains() { ! grep -q -a -F -- "$2" "$1"; }
# line_count_is FILE N: FILE has exactly N lines.
line_count_is() { [ "$(wc -l <"$1")" -eq "$2" ]; }
# same_file A B: byte-identical.
same_file() { cmp -s -- "$1" "$2"; }

# expect_msg DESC STRING...: the stderr of the last command contains every STRING.
expect_msg() {
  local desc=$1
  shift
  local s missing=()
  for s in "$@"; do
    grep -q -a -F -- "$s" "$ERR" || missing+=("$s")
  done
  if [ ${#missing[@]} = 0 ]; then
    ok "$desc"
  else
    not_ok "$desc: stderr lacks: ${missing[*]}"
    _show stderr "$ERR"
  fi
}

# sha256 FILE: prints the hex digest (OpenSSL's SHA-NI path: several times faster than coreutils).
sha256() { openssl dgst -sha256 -r -- "$1" | cut -d' ' -f1; }

# section TITLE: a visual separator in the log.
section() { echo "# $*"; }

# finish: prints the summary line and exits 0 only when nothing failed.
finish() {
  _FINISHED=1
  if [ "$FAILED" != 0 ]; then
    echo "failed checks:"
    local n
    for n in "${FAILED_NAMES[@]}"; do echo "  - $n"; done
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && exit 0
  exit 1
}
