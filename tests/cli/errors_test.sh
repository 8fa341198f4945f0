#!/usr/bin/env bash
# Error paths of the offline weightfs CLI and their exit codes (src/cli/common.h): wrong secrets,
# not a repository, a newer format, missing versions and paths, tampering detected through the
# CLI (flipped bit, deleted chunk, edited ref, edited key slot, edited config), a full
# filesystem on export, usage errors, and --help of every subcommand.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
data=$T/data
mkdir -p "$data/models"
# victim.bin: ~700 KB of distinct data (one or a few chunks); bystander.txt: an unrelated small
# file; big.bin: 3 MiB, bigger than the tiny filesystem of the no-space test.
head -c 700000 /dev/zero | openssl enc -aes-256-ctr -nosalt -K "$(printf 'a1%.0s' {1..32})" -iv "$(printf '07%.0s' {1..16})" >"$data/models/victim.bin"
head -c 3145728 /dev/zero | openssl enc -aes-256-ctr -nosalt -K "$(printf 'b2%.0s' {1..32})" -iv "$(printf '08%.0s' {1..16})" >"$data/big.bin"
echo "an innocent bystander" >"$data/bystander.txt"

section "setup"
expect_rc 0 "init" "$WFS" init "$R"
expect_rc 0 "import" "$WFS" import "$R" "$data" -m "base"
snap_id=$("$WFS" log --json "$R" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

# objects_of_type REPO TYPE: ids of the stored objects of a type (byte 5 of the sealed header:
# 1 chunk, 2 file, 3 tree, 4 snapshot), the largest first, one per line.
objects_of_type() {
  "$PY" - "$1" "$2" <<'EOF'
import os, sys
root, want = os.path.join(sys.argv[1], "objects"), int(sys.argv[2])
found = []
for d, _, files in os.walk(root):
    for n in files:
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            head = f.read(16)
        if head[:4] == b"WFOB" and head[5] == want:
            found.append((os.path.getsize(p), n))
for size, n in sorted(found, reverse=True):
    print(n)
EOF
}
# object_path REPO ID
object_path() { echo "$1/objects/${2:0:2}/$2"; }
# flip_bit FILE OFFSET: xor one bit of the byte at OFFSET.
flip_bit() {
  "$PY" -c 'import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))' "$1" "$2"
}
copy_repo() { rm -rf "$2" && cp -a "$1" "$2"; }

section "wrong secrets"
expect_rc 3 "a wrong passphrase (WEIGHTFS_PASSPHRASE) exits 3" env WEIGHTFS_PASSPHRASE=wrong "$WFS" ls "$R"
check "... with a one-line message on stderr" line_count_is "$ERR" 1
check "... that starts with 'weightfs:' and says 'wrong passphrase'" grep -q '^weightfs: .*wrong passphrase' "$ERR"
check "... and nothing on stdout" test ! -s "$OUT"
echo "not it" >"$T/wrong.pass"
expect_rc 3 "a wrong passphrase (--passphrase-file) exits 3" "$WFS" log "$R" --passphrase-file "$T/wrong.pass"
check "... with a one-line message" line_count_is "$ERR" 1
echo "$WEIGHTFS_PASSPHRASE" >"$T/right.pass"
expect_rc 0 "the right passphrase from --passphrase-file works" env -u WEIGHTFS_PASSPHRASE "$WFS" ls "$R" --passphrase-file "$T/right.pass"
expect_rc 3 "the right passphrase with --slot of a missing slot exits 3" "$WFS" ls "$R" --slot nosuchslot
expect_msg "... and names the slot" "nosuchslot"
expect_rc 3 "a wrong passphrase for --slot admin exits 3" env WEIGHTFS_PASSPHRASE=wrong "$WFS" cat "$R" /bystander.txt --slot admin
# A valid key file of another repository: no slot of this one opens with it.
expect_rc 0 "make a key file with another repository" "$WFS" init "$T/other" --new-key-file "$T/other.key"
expect_rc 3 "a key file that opens no slot exits 3" "$WFS" ls "$R" --key-file "$T/other.key"
expect_msg "... and says 'wrong key file'" "wrong key file"
check "... in one line" line_count_is "$ERR" 1
echo "garbage" >"$T/garbage.key"
expect_rc 2 "a file that is not a key file exits 2" "$WFS" ls "$R" --key-file "$T/garbage.key"
expect_msg "... and says so" "is not a weightfs key file"
: >"$T/empty.pass"
expect_rc 2 "an empty passphrase file exits 2" "$WFS" ls "$R" --passphrase-file "$T/empty.pass"
expect_msg "... and says it is empty" "is empty"
run "$WFS" ls "$R" --passphrase-file "$T/no-such.pass"
check "a missing passphrase file fails (exit $RC) and names the file" \
  bash -c '[ "$1" != 0 ] && grep -qF "no-such.pass" "$2"' _ "$RC" "$ERR"
expect_rc 2 "no passphrase and no terminal exits 2" env -u WEIGHTFS_PASSPHRASE setsid -w "$WFS" ls "$R"
expect_msg "... and says how to give one" "--passphrase-file" "WEIGHTFS_PASSPHRASE"

section "not a repository"
mkdir -p "$T/empty-dir" "$T/unrelated"
echo "hello" >"$T/unrelated/readme.txt"
expect_rc 4 "ls of an empty directory exits 4" "$WFS" ls "$T/empty-dir"
expect_msg "... and says it is not a weightfs repository" "not a weightfs repository"
expect_rc 4 "log of a directory of unrelated files exits 4" "$WFS" log "$T/unrelated"
expect_msg "... and says it is not a weightfs repository" "not a weightfs repository"
expect_rc 4 "check of a missing directory exits 4" "$WFS" check "$T/no-such-dir"
expect_msg "... and says it is not a weightfs repository" "not a weightfs repository"
check "... and does not create it" test ! -e "$T/no-such-dir"
expect_rc 4 "import into a directory that is not a repository exits 4" "$WFS" import "$T/empty-dir" "$data"
check "... and writes nothing there" test -z "$(ls -A "$T/empty-dir")"

section "init refuses a non-empty directory"
run "$WFS" init "$T/unrelated"
check "init into a non-empty directory fails (exit $RC)" test "$RC" != 0
expect_msg "... and says it is not empty" "not empty"
check "... and leaves the directory as it was" test "$(ls -A "$T/unrelated")" = readme.txt
run "$WFS" init "$R"
check "init over an existing repository fails (exit $RC)" test "$RC" != 0
expect_rc 0 "... and the repository still opens" "$WFS" ls "$R"
echo x >"$T/a-file"
run "$WFS" init "$T/a-file"
check "init onto a regular file fails (exit $RC)" test "$RC" != 0

section "versions and paths"
expect_rc 8 "--version of a missing snapshot id exits 8" "$WFS" ls "$R" --version deadbeefdeadbeef
expect_msg "... and names it" "deadbeefdeadbeef"
expect_rc 8 "--version of a missing tag exits 8" "$WFS" cat "$R" /bystander.txt --version no-such-tag
expect_msg "... and names it" "no-such-tag"
expect_rc 2 "--version with a 7-digit prefix exits 2" "$WFS" ls "$R" --version "${snap_id:0:7}"
expect_msg "... and says a prefix needs 8 hex digits" "at least 8 hex digits"
expect_rc 0 "--version with an 8-digit prefix works" "$WFS" ls "$R" --version "${snap_id:0:8}"
expect_rc 8 "export --version of a missing snapshot exits 8" "$WFS" export "$R" "$T/nowhere" --version 0123456789abcdef
check "... and creates no destination" test ! -e "$T/nowhere"
expect_rc 8 "cat of a missing path exits 8" "$WFS" cat "$R" /models/nope.bin
expect_msg "... and names the path" "nope.bin"
check "... in one line" line_count_is "$ERR" 1
expect_rc 8 "cat below a file exits 8" "$WFS" cat "$R" /bystander.txt/child
expect_rc 8 "ls of a missing path exits 8" "$WFS" ls "$R" /no/such/dir
expect_rc 8 "export --path of a missing path exits 8" "$WFS" export "$R" "$T/nowhere" --path /missing
expect_rc 8 "cat of a directory exits 8" "$WFS" cat "$R" /models
expect_msg "... and says it is a directory" "is a directory"
expect_rc 8 "import of a missing local file exits 8" "$WFS" import "$R" "$T/no-such-file"

section "a newer format"
copy_repo "$R" "$T/v3"
"$PY" - "$T/v3/config" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["version"] = 3
open(sys.argv[1], "w").write(json.dumps(c, indent=2) + "\n")
EOF
expect_rc 4 "config edited to \"version\": 3: ls exits 4" "$WFS" ls "$T/v3"
expect_msg "... and says the format is newer" "newer"
expect_rc 4 "... check exits 4 too" "$WFS" check "$T/v3"
copy_repo "$R" "$T/cfg"
"$PY" - "$T/cfg/config" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["chunker"]["avg"] = 2 * c["chunker"]["avg"]
open(sys.argv[1], "w").write(json.dumps(c, indent=2) + "\n")
EOF
expect_rc 5 "config with an edited chunker parameter (MAC mismatch) exits 5" "$WFS" ls "$T/cfg"
expect_msg "... and says the config was modified" "config"

section "tamper: a flipped bit in a chunk"
copy_repo "$R" "$T/flip"
# Find the chunk that belongs to victim.bin: the one whose corruption breaks cat of victim.bin.
victim_chunk=""
for id in $(objects_of_type "$T/flip" 1); do
  p=$(object_path "$T/flip" "$id")
  size=$(stat -c %s "$p")
  flip_bit "$p" $((size / 2))
  if ! "$WFS" cat "$T/flip" /models/victim.bin >/dev/null 2>&1; then
    victim_chunk=$id
    break
  fi
  flip_bit "$p" $((size / 2))  # not this one: restore it
done
check "a chunk of victim.bin was found and corrupted" test -n "$victim_chunk"
echo "       corrupted chunk object $victim_chunk"
expect_rc 0 "check without --read-data (sizes only) still passes" "$WFS" check "$T/flip"
expect_rc 5 "check --read-data exits 5" "$WFS" check --read-data "$T/flip"
check "... and prints the object id" bash -c 'cat "$1" "$2" | grep -qF "$3"' _ "$OUT" "$ERR" "$victim_chunk"
check "... and the affected path" bash -c 'cat "$1" "$2" | grep -qF "/models/victim.bin"' _ "$OUT" "$ERR"
expect_rc 5 "check --read-data --json exits 5" "$WFS" check --read-data --json "$T/flip"
check "... with ok=false and a problem naming the object id" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j["ok"] is False and any(sys.argv[2] in p for p in j["problems"]) else 1)' "$OUT" "$victim_chunk"
expect_rc 5 "cat of the affected file exits 5" "$WFS" cat "$T/flip" /models/victim.bin
expect_msg "... with a message naming the object id and the path" "$victim_chunk" "/models/victim.bin"
expect_rc 5 "export of the tree exits 5" "$WFS" export "$T/flip" "$T/flip-out"
expect_msg "... with a message naming the object id and the path" "$victim_chunk" "victim.bin"
check "... and leaves no victim.bin (nor a partial file) behind" \
  test -z "$(find "$T/flip-out" -name 'victim.bin*' 2>/dev/null)"
expect_rc 5 "export --path of the affected file exits 5" "$WFS" export "$T/flip" "$T/flip-one" --path /models/victim.bin
expect_msg "... with a message naming the object id" "$victim_chunk"
check "... and leaves nothing under the destination name" test ! -e "$T/flip-one" -a ! -e "$T/flip-one.weightfs-partial"
expect_rc 0 "an unaffected file still reads" "$WFS" cat "$T/flip" /bystander.txt
check "... with its right contents" same_file "$OUT" "$data/bystander.txt"
expect_rc 0 "ls still lists the affected file" "$WFS" ls -l "$T/flip" /models
flip_bit "$(object_path "$T/flip" "$victim_chunk")" $(($(stat -c %s "$(object_path "$T/flip" "$victim_chunk")") / 2))
expect_rc 0 "with the bit flipped back, check --read-data passes again" "$WFS" check --read-data "$T/flip"

section "tamper: a flipped bit in the sealed header of a chunk"
copy_repo "$R" "$T/hdr"
flip_bit "$(object_path "$T/hdr" "$victim_chunk")" 9  # the key id field
expect_rc 5 "check --read-data exits 5" "$WFS" check --read-data "$T/hdr"
check "... and prints the object id" bash -c 'cat "$1" "$2" | grep -qF "$3"' _ "$OUT" "$ERR" "$victim_chunk"
expect_rc 5 "cat of the affected file exits 5" "$WFS" cat "$T/hdr" /models/victim.bin

section "tamper: a deleted chunk"
copy_repo "$R" "$T/del"
rm "$(object_path "$T/del" "$victim_chunk")"
expect_rc 5 "check (without --read-data) exits 5" "$WFS" check "$T/del"
check "... and reports the chunk missing by id" bash -c 'grep -qF "$2" "$1" && grep -qF "missing" "$1"' _ "$OUT" "$victim_chunk"
check "... and names the affected path" grep -qF "/models/victim.bin" "$OUT"
expect_rc 5 "cat of the affected file exits 5" "$WFS" cat "$T/del" /models/victim.bin
expect_msg "... with a message naming the object id and the path" "$victim_chunk" "/models/victim.bin"
expect_rc 0 "an unaffected file still reads" "$WFS" cat "$T/del" /big.bin
check "... with its right contents" same_file "$OUT" "$data/big.bin"

section "tamper: a truncated chunk"
copy_repo "$R" "$T/trunc"
p=$(object_path "$T/trunc" "$victim_chunk")
truncate -s $(($(stat -c %s "$p") - 16)) "$p"
expect_rc 5 "check (without --read-data) exits 5 on a truncated chunk" "$WFS" check "$T/trunc"
check "... and reports it by id" grep -qF "$victim_chunk" "$OUT"
expect_rc 5 "cat of the affected file exits 5" "$WFS" cat "$T/trunc" /models/victim.bin

section "tamper: an edited refs/main"
copy_repo "$R" "$T/ref"
flip_bit "$T/ref/refs/main" 20
expect_rc 5 "ls with a modified refs/main exits 5" "$WFS" ls "$T/ref"
expect_msg "... with a clear message naming refs/main" "refs/main" "modified"
check "... in one line" line_count_is "$ERR" 1
expect_rc 5 "check with a modified refs/main exits 5" "$WFS" check "$T/ref"
check "... and reports refs/main" bash -c 'cat "$1" "$2" | grep -qF "refs/main"' _ "$OUT" "$ERR"
copy_repo "$R" "$T/ref2"
"$PY" -c 'import sys; open(sys.argv[1], "w").write("garbage\n")' "$T/ref2/refs/main"
expect_rc 5 "log with refs/main replaced by garbage exits 5" "$WFS" log "$T/ref2"
expect_msg "... with a message naming refs/main" "refs/main"

section "tamper: an edited key slot"
copy_repo "$R" "$T/slot"
echo "reader secret" >"$T/reader.pass"
expect_rc 0 "add a second slot 'reader' with role reader" "$WFS" key add "$T/slot" --name reader --role reader --new-passphrase-file "$T/reader.pass"
expect_rc 0 "the reader slot opens with its passphrase" "$WFS" ls "$T/slot" --passphrase-file "$T/reader.pass"
"$PY" - "$T/slot/keys/reader" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["role"] == "reader", j
j["role"] = "admin"
open(sys.argv[1], "w").write(json.dumps(j, indent=2) + "\n")
EOF
expect_rc 5 "check after the reader slot's role was edited to admin exits 5" "$WFS" check "$T/slot"
check "... and reports keys/reader as modified" bash -c 'grep -q "keys/reader.*modified" "$1"' _ "$OUT"
check "... and not the admin slot" bash -c '! grep -q "keys/admin" "$1"' _ "$OUT"
run "$WFS" key list "$T/slot" --passphrase-file "$T/reader.pass"
check "the edited slot no longer opens (exit $RC), so the forged role grants nothing" test "$RC" = 3 -o "$RC" = 5
expect_rc 0 "the admin slot still opens" "$WFS" ls "$T/slot"

section "no space left on device"
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=1m tmpfs "$T/tiny" 2>"$T/mount.err"; then
  on_exit "umount '$T/tiny' 2>/dev/null"
  expect_rc 6 "export of a 3 MiB file into a 1 MiB tmpfs exits 6" "$WFS" export "$R" "$T/tiny/big.bin" --path /big.bin
  expect_msg "... with 'No space' in the message" "No space"
  check "... in one line" line_count_is "$ERR" 1
  check "... and leaves no big.bin under its real name" test ! -e "$T/tiny/big.bin"
  check "... and no partial file either" test -z "$(ls -A "$T/tiny")"
  expect_rc 6 "export of the whole tree into the 1 MiB tmpfs exits 6" "$WFS" export "$R" "$T/tiny/tree"
  expect_msg "... with 'No space' in the message" "No space"
  check "... and leaves no big.bin under its real name" test ! -e "$T/tiny/tree/big.bin"
  check "... and no partial file" test -z "$(find "$T/tiny" -name '*.weightfs-partial')"
  umount "$T/tiny"
else
  not_ok "mounting a 1 MiB tmpfs for the no-space test failed: $(cat "$T/mount.err")"
fi

section "usage errors and --help"
expect_rc 2 "no subcommand exits 2" "$WFS"
expect_rc 2 "an unknown subcommand exits 2" "$WFS" frobnicate
expect_rc 2 "a missing positional exits 2" "$WFS" ls
expect_rc 2 "an unknown option exits 2" "$WFS" ls "$R" --bogus
expect_rc 0 "--version" "$WFS" --version
check "... prints the version" grep -q "weightfs" "$OUT"
expect_rc 0 "--help" "$WFS" --help
for cmd in init "key" "key add" "key list" "key remove" "key passwd" import ls cat export log check stats mount umount; do
  # shellcheck disable=SC2086
  expect_rc 0 "$cmd --help" "$WFS" $cmd --help
  check "... prints a usage line" grep -q "^Usage: " "$OUT"
done

finish
