#!/usr/bin/env bash
# Sets everything up (Debian packages, builds) and runs the test stages, printing each one's time:
#   lint  scripts/lint.sh: clang-format and clang-tidy (the checked-in .clang-format and
#         .clang-tidy) over the C++ sources, and a probe that clang's -Wthread-safety analysis
#         fails the build. Runs first: a finding fails the run before anything is built.
#   main  build/ (gcc): unit tests, offline CLI tests and real-mount integration tests; arguments
#         to test.sh go to its ctest (./scripts/test.sh -R Tamper).
#   asan  build-asan/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer): the same tests, the
#         mount daemon included, but for the S3 fault-proxy tests (s3.faults_*: minutes of
#         waiting on injected delays; the fake-server tests cover the same retry code under ASan);
#         any sanitizer report fails the stage.
#   tsan  build-tsan/ (clang, ThreadSanitizer): the core, repo and vfs unit tests.
#   fuzz  build-fuzz/ (clang, libFuzzer): every fuzz target for WEIGHTFS_FUZZ_SECONDS (default 15) s.
# WEIGHTFS_TEST_STAGES picks and orders the stages (default "lint main asan tsan fuzz"); the run
# stops at the first stage that fails. Under CI (CI=true) a test that would skip because FUSE or
# the S3 test server (scripts/s3-server.sh) is missing fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAGES=${WEIGHTFS_TEST_STAGES:-lint main asan tsan fuzz}
if [ "${CI:-}" = "true" ]; then
  export WEIGHTFS_REQUIRE_FUSE=1 WEIGHTFS_REQUIRE_S3=1
fi

# Stages run in an `if`, where set -e does not apply: every step says what a failure does.
stage_lint() {
  ./scripts/lint.sh
}

stage_main() {
  ./scripts/build.sh || return
  (cd build && ctest --output-on-failure -j "$(nproc)" "$@")
}

# ctest in build-KIND with the sanitizers reporting to files (see sanitizer_env.sh); fails when a
# test fails or any report was written, and prints the reports.
sanitized_ctest() {
  local kind=$1
  shift
  local reports=$ROOT/build-$kind/sanitizer-reports
  rm -rf "$reports"
  mkdir -p "$reports"
  chmod 1777 "$reports"
  local status=0
  (
    # shellcheck source=scripts/sanitizer_env.sh
    source scripts/sanitizer_env.sh "$kind" "$reports" && cd "build-$kind" &&
      ctest --output-on-failure -j "$(nproc)" "$@"
  ) || status=$?
  local report
  for report in "$reports"/*; do
    [ -e "$report" ] || continue
    echo "test.sh: $kind: sanitizer report $report:" >&2
    head -n 100 "$report" >&2
    status=1
  done
  return "$status"
}

stage_asan() {
  ./scripts/build_sanitized.sh asan || return
  sanitized_ctest asan -E '^s3[.]faults_'
}

stage_tsan() {
  ./scripts/build_sanitized.sh tsan || return
  sanitized_ctest tsan -L unit
}

stage_fuzz() {
  ./scripts/fuzz.sh "${WEIGHTFS_FUZZ_SECONDS:-15}"
}

timings=()
print_timings() {
  echo "=== test.sh: stage times: ${timings[*]:-none}"
}
trap print_timings EXIT

start=$SECONDS
./scripts/setup.sh
timings+=("setup $((SECONDS - start))s")
for stage in $STAGES; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "test.sh: unknown stage '$stage' in WEIGHTFS_TEST_STAGES" \
      "(lint, main, asan, tsan, fuzz)" >&2
    exit 2
  fi
  echo "=== test.sh: stage $stage"
  start=$SECONDS
  args=()
  if [ "$stage" = main ]; then
    args=("$@")
  fi
  if ! "stage_$stage" "${args[@]}"; then
    timings+=("$stage FAILED after $((SECONDS - start))s")
    exit 1
  fi
  timings+=("$stage $((SECONDS - start))s")
done
