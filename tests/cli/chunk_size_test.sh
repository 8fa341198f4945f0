#!/usr/bin/env bash
# init --chunk-size: the average chunk size a repository is made with (min a quarter, max four
# times it), recorded in its config; bad sizes are refused with exit 2; data round-trips.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

head -c $((40 << 20)) /dev/urandom >"$T/weights.bin"
objects() { find "$1/objects" -type f | wc -l; }

section "the default: 1 MiB chunks in a directory"
expect_rc 0 "init with the default" "$WFS" init "$T/small"
check "... records avg 1 MiB" grep -q '"avg": 1048576' "$T/small/config"
expect_rc 0 "import 40 MiB" "$WFS" import "$T/small" "$T/weights.bin" -m one
small=$(objects "$T/small")
check "... in at least 25 objects ($small)" test "$small" -ge 25

section "--chunk-size 4M: a quarter as many objects"
expect_rc 0 "init --chunk-size 4M" "$WFS" init "$T/big" --chunk-size 4M
check "... records avg 4 MiB" \
  grep -q '"avg": 4194304' "$T/big/config"
check "... max 16 MiB" grep -q '"max": 16777216' "$T/big/config"
expect_rc 0 "import 40 MiB" "$WFS" import "$T/big" "$T/weights.bin" -m one
big=$(objects "$T/big")
check "... in at most 18 objects ($big; 10 chunks of 4 MiB on average and the metadata)" \
  test "$big" -le 18
expect_rc 0 "export it" "$WFS" export "$T/big" "$T/out"
check "... byte for byte" cmp "$T/weights.bin" "$T/out/weights.bin"

section "bad sizes"
for bad in 3M 128K 32M lots; do
  expect_rc 2 "--chunk-size $bad exits 2" "$WFS" init "$T/bad-$bad" --chunk-size "$bad"
  check "... and says what is allowed" grep -q -e "power of two from 256K to 16M" -e "--chunk-size" "$ERR"
  check "... and makes nothing" test ! -e "$T/bad-$bad/config"
done
expect_rc 2 "--chunk-size with --replica-of exits 2" \
  "$WFS" init "$T/replica" --replica-of "$T/big" --chunk-size 4M

finish
