#!/usr/bin/env bash
# Configures and builds weightfs into build/ (ninja, ccache when present). The binary ends up at
# build/weightfs. Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@"
fi
cmake --build build -j "$(nproc)"
