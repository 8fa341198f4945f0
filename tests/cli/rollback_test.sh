#!/usr/bin/env bash
# Rollback detection: a refs/main put back to an older, genuinely sealed value is refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export WEIGHTFS_STATE_DIR="$T/state"

mkdir -p "$T/src"
echo one > "$T/src/a"
expect_rc 0 "init" "$WFS" init "$T/repo"
expect_rc 0 "first import" "$WFS" import "$T/repo" "$T/src" -m one
cp "$T/repo/refs/main" "$T/main-v1"
echo two > "$T/src/a"
expect_rc 0 "second import" "$WFS" import "$T/repo" "$T/src" -m two
check "the state records snapshot #2" grep -q "seq 2" "$T/state/"*

# An attacker with write access puts the older (valid) ref back.
cp "$T/main-v1" "$T/repo/refs/main"
expect_rc 5 "a rolled-back repository is refused" "$WFS" cat "$T/repo" /a
check "the message says history went backwards" grep -q "went backwards" "$ERR"
check "the message names the option" grep -q -- "--accept-rollback" "$ERR"
expect_rc 5 "log refuses it too" "$WFS" log "$T/repo"
expect_rc 0 "--accept-rollback accepts it" "$WFS" cat "$T/repo" /a --accept-rollback
check "the old content is served after acceptance" grep -qx one "$OUT"
check "acceptance is announced" grep -q "accepted a rollback" "$ERR"
expect_rc 0 "after acceptance the older head is the new baseline" "$WFS" log "$T/repo"

# Another machine (another state directory) has no memory of #2 and accepts it.
WEIGHTFS_STATE_DIR="$T/state2" expect_rc 0 "a machine that never saw #2 opens it" "$WFS" log "$T/repo"
finish
