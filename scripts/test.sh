#!/usr/bin/env bash
# Sets everything up (Debian packages, build) and runs every test: unit tests, offline CLI
# tests and real-mount integration tests. Under CI (CI=true) a test that would skip because
# FUSE is missing fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ "${CI:-}" = "true" ]; then
  export WEIGHTFS_REQUIRE_FUSE=1
fi
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
