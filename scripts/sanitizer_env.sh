# Sourced, not run: sets the sanitizer runtime options for a sanitizer build's tests or fuzzers.
#   source scripts/sanitizer_env.sh asan|tsan|fuzz REPORT_DIR
# Every report goes to a file REPORT_DIR/report.<pid> instead of stderr: the mount daemon runs
# in the background with stderr on /dev/null, where a report would go unseen. Whoever runs the
# tests (scripts/test.sh) fails the run when REPORT_DIR is not empty afterwards. The directory
# must be writable by every user the tests run the binary as (1777).
# shellcheck shell=bash
_wfs_kind=${1:?usage: source scripts/sanitizer_env.sh asan|tsan|fuzz REPORT_DIR}
_wfs_reports=${2:?usage: source scripts/sanitizer_env.sh asan|tsan|fuzz REPORT_DIR}
# Tests that check what a sanitizer changes (ASan makes mlock a no-op) read WEIGHTFS_SANITIZER.
export WEIGHTFS_SANITIZER=$_wfs_kind
case "$_wfs_kind" in
  asan|fuzz)
    # abort_on_error: the daemon dies at once, so the mount's test fails too, not just the check.
    export ASAN_OPTIONS="log_path=$_wfs_reports/report:abort_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=0"
    export UBSAN_OPTIONS="log_path=$_wfs_reports/report:print_stacktrace=1:halt_on_error=1"
    ;;
  tsan)
    export TSAN_OPTIONS="log_path=$_wfs_reports/tsan:second_deadlock_stack=1"
    ;;
  *) echo "sanitizer_env.sh: unknown build '$_wfs_kind'" >&2; return 2 ;;
esac
unset _wfs_kind _wfs_reports
