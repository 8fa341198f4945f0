#!/usr/bin/env bash
# Configures (once) and builds one of the sanitizer builds with clang, building only the targets
# its test stage needs (see README.md, "Tests"):
#   asan  build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer: the binary and every unit test
#   tsan  build-tsan/  ThreadSanitizer: the core, repo and vfs unit tests
#   fuzz  build-fuzz/  libFuzzer + ASan + UBSan: the fuzz targets and their seed generator
# Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: build_sanitized.sh asan|tsan|fuzz [cmake arguments]}
shift
case "$kind" in
  asan) options=(-DWEIGHTFS_SANITIZE=address,undefined); targets=(all) ;;
  tsan) options=(-DWEIGHTFS_SANITIZE=thread); targets=(core_tests repo_tests vfs_tests) ;;
  fuzz) options=(-DWEIGHTFS_FUZZ=ON -DWEIGHTFS_BUILD_TESTS=OFF); targets=(fuzzers) ;;
  *) echo "build_sanitized.sh: unknown build '$kind' (asan, tsan or fuzz)" >&2; exit 2 ;;
esac
dir=build-$kind
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Sanitize "${options[@]}" "$@"
fi
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
