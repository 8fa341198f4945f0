#!/usr/bin/env bash
# Benchmark (not a test): reading one large model file from a weightfs repository on S3,
# against the same bytes stored in plaintext read by `aws s3 cp s3://.../plain -` (Debian's
# awscli), s3fs and rclone mount (Debian's), and against a local repository. Needs root
# (drop_caches, FUSE) and the packages of scripts/setup.sh.
#
#   ./scripts/bench_s3.sh                                   # 2 GiB, 3 rounds, Swift
#   BENCH_SIZE_MIB=256 BENCH_ROUNDS=1 ./scripts/bench_s3.sh # a quick try
#
# It starts its own S3 server on 127.0.0.1 with scripts/s3-server.sh (Swift's s3api;
# BENCH_S3_BACKEND=rgw for radosgw), makes a bucket, a weightfs repository on it
# (s3://wfs-bench/repo) and a local one, imports a generated model file (an AES-CTR key stream,
# BENCH_SIZE_MIB MiB, nothing to dedup) into both and uploads the same bytes in plaintext
# (s3://wfs-bench/plain/model.bin). Each round then runs, in this order, every row with the
# page cache dropped before the timed read (`dd bs=1M` of the file, or `aws s3 cp ... -`):
#   weightfs S3 cold   mount with an empty --cache-dir     vs awscli, s3fs, rclone (cold)
#   weightfs S3 warm   the same cache dir, remounted       vs a local repository mount (cold)
#   4 x weightfs S3    four read-only mounts with separate empty caches read at once
#                      (aggregate MiB/s)                    vs 4 x awscli, 4 x s3fs, 4 x rclone
# The best of the rounds counts; ratios are to baselines of the same run. The bytes the server
# sent per row come from Swift's proxy access log (bytes_sent of the client's S3 requests);
# radosgw has no such log here (n/a). Also printed: the weightfs daemon's CPU s/GiB
# (utime+stime of /proc/PID/stat).
#
# Environment: BENCH_SIZE_MIB (2048), BENCH_ROUNDS (3), BENCH_S3_BACKEND (swift|rgw),
# BENCH_READ_THREADS (empty: the mount's default; a number: --read-threads N on S3 mounts),
# BENCH_CHUNK_SIZE (empty: init's default for S3; e.g. 8M: init --chunk-size 8M for the S3 repo),
# BENCH_THREADS_SWEEP (e.g. "4 8 16": only the weightfs cold row, once per value),
# BENCH_SERVER_WARM (1: after each drop_caches, read Swift's storage files back into the page
# cache, so rows compare the request path without the server's disk),
# BENCH_PERF (a path: `perf record -g` of the daemon during the cold row, written there),
# BENCH_DIR (/var/tmp/wfs-bench-s3: the run dir and the server's state, a real disk with user
# xattrs), WEIGHTFS_BINARY (default: build/weightfs after ./scripts/build.sh).
# Secrets: s3fs reads a mode-600 passwd file, rclone its keys from RCLONE_CONFIG_* variables,
# awscli and weightfs from AWS_*; none is in any argv.
#
# The work is done by scripts/bench_s3.py, with scripts/bench_common.py.
set -euo pipefail
BENCH_SCRIPT=$0 exec /usr/bin/python3 -B "$(dirname "$0")/bench_s3.py" "$@"
