#!/usr/bin/env bash
# Benchmark (not a test; no pass/fail on any number): the cost of versions (issue 4, "Cost").
#
#   ./scripts/bench_versions.sh
#   BENCH_LARGE_MIB=1024 BENCH_MODEL_HIDDEN=1024 ./scripts/bench_versions.sh   # quick run
#
# 1. Snapshot creation time for a repository of BENCH_SMALL_MIB (100 MiB) and one of
#    BENCH_LARGE_MIB (10 GiB) of weights, each in BENCH_FILES (8) files of distinct random data
#    imported one by one. Measured BENCH_ROUNDS (5) times, the two repositories interleaved:
#    the offline `weightfs snapshot REPO` (after a 4 KiB write made through a mount and
#    committed by its unmount) and `mkdir MNT/.versions/tags/NAME` on a mount (right after a
#    4 KiB write, so the tree changed and the time includes committing it). The medians are
#    printed side by side with their ratio (and the minimum), which should stay near 1 (a snapshot names the root
#    tree: O(metadata), not O(data)).
# 2. Repository growth (stored bytes from `weightfs stats --json`) when one safetensors file
#    (~514 MiB of bf16 at BENCH_MODEL_HIDDEN=2048, 24 tensors from 4 KiB to 128 MiB) is stored
#    and then replaced at the same path by three variants, in turn: an identical re-save, a
#    re-save with extra header metadata (which shifts all tensor data), and one with 3 of the
#    24 tensors rewritten (~9% of the data). Both through `weightfs import --to` and by `cp`
#    into a mount followed by `mkdir .versions/tags/NAME`. Goals (reported, not asserted):
#    identical and metadata-only under 1% of the file; one-in-ten little more than the changed
#    tensors.
#
# Work happens in a fresh directory below BENCH_DIR (default /var/tmp/weightfs-bench-versions,
# which should be on a real disk: about 1.2 x BENCH_LARGE_MIB + 5 GiB are needed), removed at
# the end. The binary is WEIGHTFS_BIN if set, else build/weightfs after ./scripts/build.sh; it
# is copied into the work directory first, so a concurrent rebuild cannot change it mid-run.
# Mounts run in the foreground as children of the driver; its cleanup unmounts them and ends
# only those children, also on an error, Ctrl-C or SIGTERM. Uses /usr/bin/python3 with numpy.
#
# The work is done by scripts/bench_versions.py, with scripts/bench_common.py.
set -euo pipefail
BENCH_SCRIPT=$0 exec /usr/bin/python3 -B "$(dirname "$0")/bench_versions.py" "$@"
