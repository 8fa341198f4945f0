#!/usr/bin/env bash
# gc against concurrent writers and readers through the CLI:
# `gc --grace 0` in a loop while offline snapshots and imports run never deletes what they are
# about to publish; concurrent commands after a new snapshot never trip over the local state
# file; a deleted or rolled-back refs/tags is detected, and gc keeps what the lost tags named.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
S=$T/src
mkdir -p "$S"
head -c 300000 /dev/urandom >"$S/a.bin"
expect_rc 0 "init" "$WFS" init "$R"
expect_rc 0 "import" "$WFS" import "$R" "$S" -m base

# --- 1. gc --grace 0 in a loop beside offline snapshots and imports ---
(
  for i in $(seq 30); do
    "$WFS" snapshot "$R" -m "s$i" >/dev/null 2>>"$T/writer.err" || echo "snapshot $i: rc $?" >>"$T/writer.err"
    if [ $((i % 5)) = 0 ]; then
      head -c 100000 /dev/urandom >"$T/f$i.bin"
      "$WFS" import "$R" "$T/f$i.bin" --to "/f$i.bin" >/dev/null 2>>"$T/writer.err" ||
        echo "import $i: rc $?" >>"$T/writer.err"
    fi
  done
) &
WRITER=$!
GCS=0
while kill -0 "$WRITER" 2>/dev/null; do
  "$WFS" gc "$R" --grace 0 >/dev/null 2>>"$T/gc.err" || true
  GCS=$((GCS + 1))
done
wait "$WRITER" || true
echo "# $GCS gc runs beside the writer"
check "the writer's snapshots and imports all succeeded" test ! -s "$T/writer.err"
[ -s "$T/writer.err" ] && head -5 "$T/writer.err"
expect_rc 0 "check --read-data after the race" "$WFS" check --read-data "$R"
expect_rc 0 "log after the race" "$WFS" log "$R" --json
check "every snapshot is in the log (37)" test "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT")" = 37
expect_rc 0 "cat of an imported file" "$WFS" cat "$R" /f30.bin
check "it has its content" cmp -s "$OUT" "$T/f30.bin"

# --- 6. concurrent commands after a new snapshot: no spurious exit 8 from the state file ---
"$WFS" snapshot "$R" -m fresh >/dev/null
fails=0
for round in 1 2 3; do
  "$WFS" snapshot "$R" -m "round $round" >/dev/null
  pids=()
  for j in $(seq 8); do
    "$WFS" ls "$R" >/dev/null 2>"$T/ls$j.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
done
check "24 concurrent ls after new snapshots all succeeded ($fails failed)" test "$fails" = 0
cat "$T"/ls*.err | head -3

# --- 16. refs/tags deleted or rolled back ---
expect_rc 0 "snapshot tagged v1" "$WFS" snapshot "$R" -m tagged --tag v1
V1=$("$WFS" tag --list "$R" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
cp "$R/refs/tags" "$T/tags.v1"
expect_rc 0 "tag v2" "$WFS" tag "$R" latest v2
expect_rc 0 "tag --list (this machine sees both tags)" "$WFS" tag --list "$R"
cp "$T/tags.v1" "$R/refs/tags"
expect_rc 5 "a rolled-back refs/tags is refused" "$WFS" tag --list "$R"
check "the message says the tags went backwards" grep -q "tags went backwards" "$ERR"
rm "$R/refs/tags"
expect_rc 5 "a deleted refs/tags is refused" "$WFS" tag --list "$R"
check "the message says refs/tags is missing" grep -q "refs/tags is missing" "$ERR"
expect_rc 5 "check reports it" "$WFS" check "$R"
expect_rc 5 "gc refuses to run on it" "$WFS" gc "$R" --grace 0
# Accepted: forget drops the snapshot from the chain; only the lost tags named it.
head -c 1000 /dev/urandom >"$S/a.bin"
expect_rc 0 "import over it (accepting the lost tags)" "$WFS" import "$R" "$S" -m newer --accept-rollback
check "the warning says gc keeps what the lost tags named" grep -q "gc keeps the 1 snapshot" "$ERR"
expect_rc 0 "forget --keep-last 1" "$WFS" forget "$R" --keep-last 1
expect_rc 0 "gc --grace 0" "$WFS" gc "$R" --grace 0
check "gc says it kept the snapshot the lost tags named" grep -q "kept 1 snapshot" "$ERR"
check "the snapshot only the lost tags named is still stored" test -f "$R/objects/${V1:0:2}/$V1"
expect_rc 0 "check --read-data" "$WFS" check --read-data "$R"
expect_rc 0 "tagging it again works" "$WFS" tag "$R" "$V1" v1-again
expect_rc 0 "cat from it" "$WFS" cat "$R" --version v1-again /a.bin
expect_rc 0 "gc --grace 0 again" "$WFS" gc "$R" --grace 0
check "gc no longer needs to say so" bash -c "! grep -q 'kept 1 snapshot' '$ERR'"
check "the tagged snapshot is kept by its tag" test -f "$R/objects/${V1:0:2}/$V1"

finish
