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
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SIZE=${BENCH_SIZE:-2147483648}
ROUNDS=${BENCH_ROUNDS:-3}
GCM_SECONDS=${BENCH_GCM_SECONDS:-2}

./scripts/build.sh >/dev/null
WFS=$ROOT/build/weightfs

TMPBASE=${BENCH_TMPDIR:-$ROOT/build}
D=$(mktemp -d "$TMPBASE/wfs-bench.XXXXXX")
trap 'rm -rf "$D"' EXIT
need_kb=$((3 * SIZE / 1024 + 262144))
avail_kb=$(df -Pk "$D" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "bench_import: $D has $((avail_kb / 1024)) MiB free, need $((need_kb / 1024)) MiB" >&2
  exit 1
fi

export WEIGHTFS_PASSPHRASE="benchmark passphrase"
export WEIGHTFS_INSECURE_FAST_KDF=1

can_drop=0
if [ -w /proc/sys/vm/drop_caches ] && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then can_drop=1; fi
drop_caches() {
  sync
  if [ "$can_drop" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
now_ns() { date +%s%N; }
# mbps BYTES NS
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }'; }

echo "weightfs import/export benchmark"
echo "  binary:  $WFS ($("$WFS" --version))"
echo "  file:    $SIZE bytes ($((SIZE >> 20)) MiB) in $D ($(df -P "$D" | awk 'NR == 2 { print $1 }'))"
echo "  rounds:  $ROUNDS; page cache dropped before each step: $([ "$can_drop" = 1 ] && echo yes || echo "no (not root)")"
echo "  cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "  openssl: $(openssl version)"
echo

t0=$(now_ns)
head -c "$SIZE" /dev/zero |
  openssl enc -aes-256-ctr -nosalt -K 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 \
    -iv 00112233445566778899aabbccddeeff >"$D/weights.bin"
sync
echo "generated the file in $(awk -v ns="$(($(now_ns) - t0))" 'BEGIN { printf "%.1f", ns / 1e9 }') s"

declare -a CP IMP EXP GCM
for ((r = 1; r <= ROUNDS; r++)); do
  # cp
  drop_caches
  t0=$(now_ns)
  cp "$D/weights.bin" "$D/copy.bin"
  sync
  CP[r]=$(mbps "$SIZE" $(($(now_ns) - t0)))
  rm -f "$D/copy.bin"

  # weightfs import into a fresh repository (nothing to deduplicate against)
  rm -rf "$D/repo" "$D/out"
  "$WFS" init "$D/repo" >/dev/null 2>&1
  drop_caches
  t0=$(now_ns)
  "$WFS" import "$D/repo" "$D/weights.bin" -m "round $r" >/dev/null
  sync
  IMP[r]=$(mbps "$SIZE" $(($(now_ns) - t0)))

  # weightfs export of that file
  drop_caches
  t0=$(now_ns)
  "$WFS" export "$D/repo" "$D/out" >/dev/null
  sync
  EXP[r]=$(mbps "$SIZE" $(($(now_ns) - t0)))
  if ! cmp -s "$D/weights.bin" "$D/out/weights.bin"; then
    echo "bench_import: the exported file differs from the original" >&2
    exit 1
  fi
  rm -rf "$D/repo" "$D/out"

  # raw AES-256-GCM: the 16384-byte column, in 1000s of bytes per second
  k=$(openssl speed -evp aes-256-gcm -seconds "$GCM_SECONDS" 2>/dev/null | awk '/^(AES-256-GCM|aes-256-gcm)/ { v = $NF } END { print v }')
  GCM[r]=$(awk -v k="${k%k}" 'BEGIN { printf "%.1f", k * 1000 / 1e6 }')

  echo "round $r: cp ${CP[r]} MB/s, import ${IMP[r]} MB/s, export ${EXP[r]} MB/s, openssl aes-256-gcm ${GCM[r]} MB/s"
done

best() { printf '%s\n' "$@" | sort -g | tail -1; }
b_cp=$(best "${CP[@]}")
b_imp=$(best "${IMP[@]}")
b_exp=$(best "${EXP[@]}")
b_gcm=$(best "${GCM[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
printf '%-34s' "MB/s (best of $ROUNDS)"
for ((r = 1; r <= ROUNDS; r++)); do printf '%10s' "round $r"; done
printf '%10s\n' best
row() {
  local name=$1 b=$2
  shift 2
  printf '%-34s' "$name"
  local v
  for v in "$@"; do printf '%10s' "$v"; done
  printf '%10s\n' "$b"
}
row "cp + sync" "$b_cp" "${CP[@]}"
row "weightfs import + sync" "$b_imp" "${IMP[@]}"
row "weightfs export + sync" "$b_exp" "${EXP[@]}"
row "openssl speed aes-256-gcm 16 KiB" "$b_gcm" "${GCM[@]}"
echo
echo "import / cp       $(ratio "$b_imp" "$b_cp")"
echo "export / cp       $(ratio "$b_exp" "$b_cp")"
echo "import / openssl  $(ratio "$b_imp" "$b_gcm")"
echo "export / openssl  $(ratio "$b_exp" "$b_gcm")"
