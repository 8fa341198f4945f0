#!/usr/bin/env bash
# Benchmark (not a test): throughput of `weightfs import` and `weightfs export` of one large
# file, against `cp` of the same file on the same disk and against the raw AES-256-GCM speed of
# OpenSSL (`openssl speed -evp aes-256-gcm`, 16384-byte blocks, one core).
#
#   ./scripts/bench_import.sh            # 2 GiB, 3 rounds
#   BENCH_SIZE=$((512 << 20)) BENCH_ROUNDS=2 ./scripts/bench_import.sh
#
# The file (an AES-CTR key stream: distinct data, nothing for dedup to find) is generated once
# into a temporary directory on the disk of the build tree (BENCH_TMPDIR to override). Each
# round runs cp, import (into a fresh repository), export and openssl speed in turn; before
# each timed step the page cache is dropped when possible (root), and every timed step ends
# with `sync`, so all three disk paths are measured from cold caches to durable data. The best
# of the rounds counts. MB = 10^6 bytes.
#
# The work is done by scripts/bench_import.py, with scripts/bench_common.py.
set -euo pipefail
BENCH_SCRIPT=$0 exec /usr/bin/python3 -B "$(dirname "$0")/bench_import.py" "$@"
