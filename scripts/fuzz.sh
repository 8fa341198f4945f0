#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, see fuzz/), writes their seed corpora from real
# encodings and runs every target for SECONDS seconds (default 60), WEIGHTFS_FUZZ_JOBS (default: one
# per core) at a time:
#   ./scripts/fuzz.sh 3600                         an hour per target
#   WEIGHTFS_FUZZ_TARGETS="key_slot config" ./scripts/fuzz.sh 600
# Inputs that found new coverage accumulate in build-fuzz/corpus/<target>/ from run to run. A crash,
# leak, timeout or sanitizer report fails the script and leaves the input in build-fuzz/crashes/;
# reproduce it with build-fuzz/fuzz/fuzz_<target> build-fuzz/crashes/<file>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
./scripts/build_sanitized.sh fuzz
out=$PWD/build-fuzz
rm -rf "$out/seeds"
"$out/fuzz/fuzz_make_seeds" "$out/seeds"
if [ -n "${WEIGHTFS_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$WEIGHTFS_FUZZ_TARGETS"
else
  targets=()
  for f in "$out"/fuzz/fuzz_*; do
    name=${f##*/fuzz_}
    [ "$name" = make_seeds ] || targets+=("$name")
  done
fi
mkdir -p "$out/crashes" "$out/logs"
jobs=${WEIGHTFS_FUZZ_JOBS:-$(nproc)}

# Runs one target; its verdict goes to logs/<target>.result (libFuzzer's own output, sanitizer
# reports included, to logs/<target>.log).
run_target() {
  local t=$1 start=$SECONDS
  mkdir -p "$out/corpus/$t" "$out/seeds/$t"
  if ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$out/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$t-" "$out/corpus/$t" "$out/seeds/$t" >"$out/logs/$t.log" 2>&1; then
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log")
    echo "fuzz.sh: $t: ${runs:-?} runs in $((SECONDS - start)) s, corpus $(ls "$out/corpus/$t" | wc -l) inputs" \
      >"$out/logs/$t.result"
  else
    echo "FAILED" >"$out/logs/$t.result"
  fi
}

# WEIGHTFS_FUZZ_JOBS targets at a time (default: one per core).
for t in "${targets[@]}"; do
  rm -f "$out/logs/$t.result"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  run_target "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  if [ "$(cat "$out/logs/$t.result" 2>/dev/null)" = FAILED ] || [ ! -s "$out/logs/$t.result" ]; then
    echo "fuzz.sh: $t FAILED (log: $out/logs/$t.log):" >&2
    grep -E -A40 "^==[0-9]+==ERROR|runtime error|^SUMMARY|Test unit written|ALARM|deadly signal" "$out/logs/$t.log" \
      | head -80 >&2 || tail -40 "$out/logs/$t.log" >&2
    failed+=("$t")
  else
    cat "$out/logs/$t.result"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
