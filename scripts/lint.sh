#!/usr/bin/env bash
# Static checks of the C++ sources; any finding fails the run (exit 1):
#   format         clang-format --dry-run --Werror (.clang-format) over every .cc/.h file git
#                  knows of (tracked, or new and not ignored).
#   thread_safety  proves that clang's -Wthread-safety analysis is on and fails the build: a
#                  snippet that writes a GUARDED_BY member without its lock must not compile with
#                  the compile flags of the project (and the same snippet with the lock must).
#   tidy           clang-tidy (.clang-tidy, WarningsAsErrors) over every translation unit of
#                  src/ and tests/, in parallel; only the output of files with findings is shown.
# The compile commands come from build-lint/, configured (never built) with clang so that the
# flags are the ones clang understands; nothing needs generating before clang-tidy runs.
# WEIGHTFS_LINT_STEPS picks the steps (default "format thread_safety tidy"); every step runs even
# when an earlier one failed, so one run shows every finding.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${WEIGHTFS_LINT_STEPS:-format thread_safety tidy}
BUILD=build-lint
CLANG_FORMAT=clang-format
CLANG_TIDY=clang-tidy

sources() {
  git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' |
    while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
}

step_format() {
  sources | xargs -r -d '\n' "$CLANG_FORMAT" --dry-run --Werror
}

configure() {
  if [ ! -f "$BUILD/compile_commands.json" ]; then
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
      -DWEIGHTFS_BUILD_TESTS=ON >/dev/null || return
  fi
}

# Prints the compile command of one translation unit, one argument per line, without its
# output and input file (compile_commands.json keeps it as one shell-quoted string).
compile_args() {
  python3 - "$BUILD/compile_commands.json" "$PWD/$1" <<'EOF'
import json, shlex, sys
entry = next(e for e in json.load(open(sys.argv[1])) if e["file"] == sys.argv[2])
args = entry.get("arguments") or shlex.split(entry["command"])
out = []
skip = False
for a in args:
    if skip:
        skip = False
    elif a in ("-o", "-c"):
        skip = True
    elif a != sys.argv[2]:
        out.append(a)
print("\n".join(out))
EOF
}

step_thread_safety() {
  configure || return
  local args dir status
  mapfile -t args < <(compile_args src/core/thread_pool.cc)
  [ "${#args[@]}" -gt 0 ] || return
  dir=$(mktemp -d)
  status=0
  probe_thread_safety "$dir" "${args[@]}" || status=$?
  rm -rf "$dir"
  return "$status"
}

# probe_thread_safety DIR COMPILER ARGS...: compiles the probe with and without its lock.
probe_thread_safety() {
  local dir=$1 guard
  shift
  local args=("$@")
  for guard in "weightfs::MutexLock lock(&mu_);" ""; do
    cat >"$dir/probe.cc" <<EOF
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
class Counter {
 public:
  void Increment() {
    $guard
    ++value_;
  }
 private:
  weightfs::Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
};
void Probe() { Counter().Increment(); }
EOF
    local status=0
    (cd "$BUILD" && "${args[@]}" -fsyntax-only "$dir/probe.cc") >"$dir/out" 2>&1 || status=$?
    if [ -n "$guard" ] && [ "$status" -ne 0 ]; then
      echo "lint.sh: the thread-safety probe fails to compile even with its lock held:" >&2
      cat "$dir/out" >&2
      return 1
    fi
    if [ -z "$guard" ] &&
      { [ "$status" -eq 0 ] || ! grep -q 'requires holding mutex' "$dir/out"; }; then
      echo "lint.sh: writing a GUARDED_BY member without its lock compiles: the build flags" \
        "lost -Wthread-safety -Werror=thread-safety (CMakeLists.txt)" >&2
      cat "$dir/out" >&2
      return 1
    fi
  done
}

step_tidy() {
  configure || return
  local units
  mapfile -t units < <(python3 -c '
import json, os, sys
root = os.getcwd() + "/"
for e in json.load(open(sys.argv[1])):
    f = e["file"]
    if f.startswith(root + "src/") or f.startswith(root + "tests/"):
        print(f)
' "$BUILD/compile_commands.json" | sort)
  [ "${#units[@]}" -gt 0 ] || return
  # One clang-tidy per unit, $(nproc) at a time; a unit's output is printed whole, if it failed.
  # shellcheck disable=SC2016  # $1 $2 $3 belong to the inner sh
  printf '%s\n' "${units[@]}" | xargs -r -d '\n' -n 1 -P "$(nproc)" sh -c '
    out=$("$1" -p "$2" --quiet "$3" 2>&1) && exit 0
    printf "%s\n" "$out" | grep -v "warnings generated\.$"
    exit 1' sh "$CLANG_TIDY" "$BUILD"
}

failed=()
for step in $STEPS; do
  if ! declare -F "step_$step" >/dev/null; then
    echo "lint.sh: unknown step '$step' (format, thread_safety, tidy)" >&2
    exit 2
  fi
  start=$SECONDS
  if "step_$step"; then
    echo "lint.sh: $step clean ($((SECONDS - start))s)"
  else
    echo "lint.sh: $step FAILED ($((SECONDS - start))s)" >&2
    failed+=("$step")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "lint.sh: failed: ${failed[*]}" >&2
  exit 1
fi
