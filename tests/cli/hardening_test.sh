#!/usr/bin/env bash
# Bad input through the CLI:
#   13  a policy with YAML aliases (a small alias bomb) is refused by `policy check` and
#       `policy set` with FILE:LINE:COLUMN (exit 2), fast, and nothing is stored
#   14  a 4 GiB sparse config, key slot or refs/main is refused as damaged (exit 5) within
#       seconds and without reading it; trailing NULs after config or a key slot are damage; so
#       are a 4 GiB or extended local state file (rollback detection)
#   15  a damaged key slot (truncated, garbage, an edited role) says it is damaged and names it
#       (exit 5), never "wrong passphrase" (exit 3); a wrong passphrase still gives exit 3
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
export WEIGHTFS_STATE_DIR=$T/state
mkdir -p "$T/data"
echo "weights" >"$T/data/w.bin"
expect_rc 0 "init" "$WFS" init "$R"
expect_rc 0 "import" "$WFS" import "$R" "$T/data"
echo "guest passphrase" >"$T/guest.pass"
expect_rc 0 "a second key slot (guest)" "$WFS" key add "$R" --name guest --role guest --new-passphrase-file "$T/guest.pass"

section "13: YAML aliases"
BOMB=$T/bomb.yaml
"$PY" - "$BOMB" <<'PY'
import sys
lines = ["version: 1", "roles:", "  a:", "    rules:", "      - &r", "        paths:"]
lines += ["          - /p%d" % i for i in range(2000)]
lines += ["        allow: [read]", "  b:", "    rules:"]
lines += ["      - *r"] * 20000
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
start=$(date +%s)
expect_rc 2 "policy check refuses a file with 20,000 aliases" "$WFS" policy check "$BOMB"
check "... with FILE:LINE:COLUMN of the first alias" contains "$ERR" "$BOMB:2010:9: YAML aliases"
expect_rc 2 "policy set refuses it too" "$WFS" policy set "$R" "$BOMB"
check "... with FILE:LINE:COLUMN" contains "$ERR" "$BOMB:2010:9:"
check "... in seconds, not minutes" test $(($(date +%s) - start)) -lt 20
expect_rc 0 "policy show" "$WFS" policy show "$R"
check "... still the built-in policy (nothing stored)" contains "$OUT" "built-in"

section "14: size limits and trailing bytes"
for f in config keys/admin refs/main; do
  cp "$R/$f" "$T/saved"
  truncate -s 4G "$R/$f"
  start=$(date +%s)
  expect_rc 5 "ls with a 4 GiB sparse $f: damaged" "$WFS" ls "$R"
  check "... naming $f" contains "$ERR" "$f"
  check "... at once (no 4 GiB read)" test $(($(date +%s) - start)) -lt 10
  cp "$T/saved" "$R/$f"
done
expect_rc 0 "ls after restoring them" "$WFS" ls "$R"
cp "$R/config" "$T/saved"
head -c 4096 /dev/zero >>"$R/config"
expect_rc 5 "trailing NUL bytes after the config: damaged" "$WFS" ls "$R"
check "... naming config" contains "$ERR" "config"
cp "$T/saved" "$R/config"
STATE=$(ls "$T/state" | grep -v '\.' | head -1)
check "test setup: the local state file exists" test -n "$STATE"
cp "$T/state/$STATE" "$T/saved"
truncate -s 4G "$T/state/$STATE"
start=$(date +%s)
expect_rc 5 "a 4 GiB sparse local state file: damaged" "$WFS" ls "$R"
check "... naming it" contains "$ERR" "$STATE"
check "... at once" test $(($(date +%s) - start)) -lt 10
{ cat "$T/saved"; printf 'seq 99\n'; } >"$T/state/$STATE"
expect_rc 5 "a local state file with trailing lines: damaged" "$WFS" ls "$R"
cp "$T/saved" "$T/state/$STATE"
expect_rc 0 "restored: opens" "$WFS" ls "$R"

section "15: a damaged key slot is not a wrong passphrase"
cp "$R/keys/admin" "$T/saved"
size=$(stat -c %s "$R/keys/admin")
head -c $((size / 2)) "$T/saved" >"$R/keys/admin"
expect_rc 5 "a truncated admin slot: exit 5" "$WFS" ls "$R"
check "... names the slot" contains "$ERR" "key slot 'admin'"
check "... says it is damaged" contains "$ERR" "damaged"
check_not "... not 'wrong passphrase'" contains "$ERR" "wrong passphrase"
head -c 300 /dev/urandom >"$R/keys/admin"
expect_rc 5 "a garbage admin slot: exit 5" "$WFS" ls "$R" --slot admin
check "... names the slot" contains "$ERR" "key slot 'admin'"
sed 's/"role": "admin"/"role": "owner"/' "$T/saved" >"$R/keys/admin"
check_not "test setup: the role was edited" same_file "$R/keys/admin" "$T/saved"
expect_rc 5 "an admin slot whose role was edited: exit 5" "$WFS" ls "$R"
check "... names the slot" contains "$ERR" "key slot 'admin'"
check "... says the passphrase is right but the slot was changed" contains "$ERR" "is right"
{ cat "$T/saved"; head -c 64 /dev/zero; } >"$R/keys/admin"
expect_rc 5 "trailing NULs after the admin slot: exit 5" "$WFS" ls "$R"
expect_rc 0 "the intact guest slot still opens" env WEIGHTFS_PASSPHRASE="guest passphrase" "$WFS" ls "$R"
cp "$T/saved" "$R/keys/admin"
expect_rc 0 "restored: opens" "$WFS" ls "$R"
expect_rc 3 "a wrong passphrase on intact slots is still exit 3" env WEIGHTFS_PASSPHRASE=nope "$WFS" ls "$R"

finish
