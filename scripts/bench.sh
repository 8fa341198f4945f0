#!/usr/bin/env bash
# BENCHMARK (not a test: never registered in ctest, no pass/fail on timings). Measures weightfs
# side by side with a plain directory, gocryptfs and securefs on the same disk, in one run, what
# issue #9 ("How it is measured") asks:
#   1. sequential write of a 2 GiB file (dd bs=1M conv=fsync from a pre-generated source file)
#   2. sequential read, cold (FUSE filesystems unmounted + remounted, page cache dropped), then
#      3. the same read again right away, warm (no remount, no drop_caches)
#   4. random 4 KiB preads and 5. random 1 MiB preads (seeded aligned offsets), cold
#   6. a numpy.memmap scan of the whole file (uint8 sum in 64 MiB slices), cold
#   7. a model load of a 2 GiB safetensors file of 201 tensors of mixed sizes and dtypes (written
#      by bench_mount_work.py gen_model, copied in untimed), cold: (a) every tensor copied into
#      memory with np.array() of a numpy.memmap slice, (b) as vLLM's prefetch strategy and the
#      Run:ai streamer read it: 8 threads, each with its own fd, 16 MiB preads over its share of
#      the file
#   8. four processes each reading its own shard (512 MiB = a quarter of the size) at the same
#      time, cold; aggregate MiB/s from the first start to the last end
#   9. create / `ls -l` (cold) / delete of 5,000 files of 4 KiB (also on securefs, which runs
#      only these rows)
#  10. `ls -lR` (cold, then warm) and os.stat (warm) of 5,000 files in 5 directories, on a private
#      weightfs mount and on a shared (--allow-other) one whose policy gives a second role (the
#      default role) a different view of one subtree only; root, bound to admin, measures
#  11. `weightfs import` and `weightfs export` (offline, of a directory holding the model file),
#      against `cp -r` of the same directory (each cold and ending with `sync`)
# For weightfs it also measures, per row, the daemon's CPU seconds (utime + stime from
# /proc/PID/stat over the timed step) per GiB moved, and its peak RSS (VmHWM from
# /proc/PID/status before each unmount), printed against the bound --cache-size + 64 MiB.
# Rounds alternate (weightfs, plain, gocryptfs, securefs, weightfs, ...) and the best value of
# each measurement is reported, because the machine may be busy with other work. Every read is
# checked against the source data (outside the timed part), so wrong data fails the run.
#
# "Cold" means: `sync; echo 3 > /proc/sys/vm/drop_caches`, and for the FUSE filesystems an
# unmount + remount first (so no daemon-side cache survives either). Needs root and FUSE.
#
# Output: progress on stderr, a markdown report (machine, command, table) on stdout, e.g.
#   sudo ./scripts/bench.sh > bench.md
#   BENCH_SIZE_MIB=256 BENCH_FILES=500 BENCH_ROUNDS=1 ./scripts/bench.sh   # a quick run
#
# Environment:
#   BENCH_ROUNDS (3)        rounds; each round runs every filesystem once
#   BENCH_DIR (/var/tmp/weightfs-bench)  work dir on a real disk with about 7 x BENCH_SIZE_MIB
#                           free; a run.* dir inside it is created and removed again (BENCH_DIR
#                           itself only if left empty)
#   BENCH_FS ("weightfs plain gocryptfs securefs")  which filesystems to run
#   BENCH_SIZE_MIB (2048)   size of the big file and (about) of the model file
#   BENCH_SHARD_MIB (BENCH_SIZE_MIB / 4)  size of each of the 4 shards
#   BENCH_FILES (5000)      number of small files, and of files in the tree
#   BENCH_TREE_DIRS (5)     directories of the tree (one of them is the subtree the policy hides
#                           from the second role)
#   BENCH_RAND4K (2000), BENCH_RAND1M (200)  random pread counts; BENCH_SEED (42)
#   BENCH_CACHE_MIB (256)   --cache-size of every weightfs mount
#   BENCH_STEP_TIMEOUT (900) seconds before one step counts as hung
#   WEIGHTFS_BINARY         use this binary instead of building with ./scripts/build.sh
#
# The work is done by scripts/bench_mount.py (the driver) and scripts/bench_mount_work.py (the
# timed workloads, each run as its own process), with scripts/bench_common.py.
set -euo pipefail
BENCH_SCRIPT=$0 exec /usr/bin/python3 -B "$(dirname "$0")/bench_mount.py" "$@"
