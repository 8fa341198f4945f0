#!/usr/bin/env bash
# Key slots through the weightfs CLI: init with a passphrase, key add (passphrase and generated
# key file), key list (text and --json), key passwd, key remove (never the last slot), production
# scrypt parameters unless --insecure-fast-kdf / WEIGHTFS_INSECURE_FAST_KDF=1, and the no-echo
# passphrase prompt on a terminal (a pseudo-terminal here).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
# No passphrase in the environment: every command names its secret explicitly.
unset WEIGHTFS_PASSPHRASE
mkdir -p "$T/secrets" "$T/data"
chmod 700 "$T/secrets"
echo "admin passphrase 1" >"$T/secrets/admin.pass"
echo "alice passphrase 1" >"$T/secrets/alice.pass"
echo "alice passphrase 2" >"$T/secrets/alice2.pass"
echo "weights for the key tests" >"$T/data/model.bin"
ADMIN=(--passphrase-file "$T/secrets/admin.pass")

# slot_field REPO NAME FIELD...: a field of a key slot's JSON (e.g. kdf n).
slot_field() {
  "$PY" - "$@" <<'EOF'
import json, sys
j = json.load(open(f"{sys.argv[1]}/keys/{sys.argv[2]}"))
for k in sys.argv[3:]:
    j = j[k]
print(j)
EOF
}

section "init and the first slot"
expect_rc 0 "init with --passphrase-file (fast KDF from the environment)" "$WFS" init "$R" --passphrase-file "$T/secrets/admin.pass"
check "init says it created slot 'admin' with role admin" contains "$OUT" "key slot 'admin' with role admin"
check "init warns about the insecure KDF" contains "$ERR" "insecure-fast-kdf"
check "the slot uses the test scrypt parameters (n=1024)" test "$(slot_field "$R" admin kdf n)" = 1024
expect_rc 0 "import with the admin passphrase" "$WFS" import "$R" "$T/data" "${ADMIN[@]}" -m "data"

section "key add"
expect_rc 0 "key add --role member --new-passphrase-file" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name alice --role member --new-passphrase-file "$T/secrets/alice.pass"
check "... reports the slot and its role" contains "$OUT" "added key slot 'alice' with role member"
expect_rc 0 "alice's passphrase opens the repository" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice.pass"
check "... and lists its files" grep -qx model.bin "$OUT"
expect_rc 0 "key add --new-key-file (a generated key file, role reader)" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name ci --role reader --new-key-file "$T/secrets/ci.key"
check "... reports the key file" contains "$OUT" "(key file $T/secrets/ci.key)"
check "the key file exists with mode 600" test "$(stat -c %a "$T/secrets/ci.key")" = 600
check "the key file has the weightfs key file format" grep -qE '^weightfs-key-v1 [0-9a-f]{64}$' "$T/secrets/ci.key"
expect_rc 0 "ls --key-file with the generated key file works" "$WFS" ls "$R" --key-file "$T/secrets/ci.key"
check "... and lists the files" grep -qx model.bin "$OUT"
expect_rc 0 "cat --key-file works" "$WFS" cat "$R" /model.bin --key-file "$T/secrets/ci.key"
check "... with the right contents" same_file "$OUT" "$T/data/model.bin"
cp "$T/secrets/ci.key" "$T/ci.key.before"
run "$WFS" key add "$R" "${ADMIN[@]}" --name ci2 --role reader --new-key-file "$T/secrets/ci.key"
check "key add --new-key-file onto an existing file fails (exit $RC)" test "$RC" != 0
check "... and leaves the existing key file as it was" same_file "$T/secrets/ci.key" "$T/ci.key.before"
check "... and adds no slot" test ! -e "$R/keys/ci2"
run "$WFS" key add "$R" "${ADMIN[@]}" --name alice --role member --new-passphrase-file "$T/secrets/alice2.pass"
check "key add of an existing name fails (exit $RC)" test "$RC" != 0
expect_msg "... and says it exists" "already exists"
expect_rc 0 "... and alice's old passphrase still opens" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice.pass"
expect_rc 2 "key add with an invalid name exits 2" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name "bad name" --role member --new-passphrase-file "$T/secrets/alice2.pass"
expect_rc 2 "key add with an invalid role exits 2" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name bob --role "no/such" --new-passphrase-file "$T/secrets/alice2.pass"
expect_rc 2 "key add without --name exits 2" "$WFS" key add "$R" "${ADMIN[@]}" --role member
expect_rc 3 "key add with a wrong unlocking passphrase exits 3" \
  "$WFS" key add "$R" --passphrase-file "$T/secrets/alice2.pass" --name bob --role member --new-passphrase-file "$T/secrets/alice2.pass"
check "... and adds no slot" test ! -e "$R/keys/bob"

section "key list"
expect_rc 0 "key list" "$WFS" key list "$R" "${ADMIN[@]}"
check "key list shows admin, alice and ci with roles and kinds" bash -c \
  'grep -qP "^admin\tadmin\tpassphrase\t\(unlocked this session\)$" "$1" &&
   grep -qP "^alice\tmember\tpassphrase$" "$1" && grep -qP "^ci\treader\tkeyfile$" "$1" &&
   [ "$(wc -l <"$1")" = 3 ]' _ "$OUT"
expect_rc 0 "key list --json" "$WFS" key list "$R" "${ADMIN[@]}" --json
check "key list --json parses and has exactly the three slots" "$PY" -c '
import json, sys
got = sorted((s["name"], s["role"], s["kind"]) for s in json.load(open(sys.argv[1])))
want = [("admin", "admin", "passphrase"), ("alice", "member", "passphrase"), ("ci", "reader", "keyfile")]
print(got)
sys.exit(0 if got == want else 1)' "$OUT"
expect_rc 0 "key list unlocked with the key file" "$WFS" key list "$R" --key-file "$T/secrets/ci.key"
check "... marks ci as the unlocking slot" grep -qP '^ci\treader\tkeyfile\t\(unlocked this session\)$' "$OUT"
expect_rc 0 "key list --slot alice with alice's passphrase" "$WFS" key list "$R" --slot alice --passphrase-file "$T/secrets/alice.pass"
check "... marks alice as the unlocking slot" grep -qP '^alice\tmember\tpassphrase\t\(unlocked this session\)$' "$OUT"
expect_rc 3 "--slot admin with alice's passphrase exits 3" "$WFS" key list "$R" --slot admin --passphrase-file "$T/secrets/alice.pass"

section "key passwd"
expect_rc 0 "key passwd of alice's own slot (unlocked as alice)" \
  "$WFS" key passwd "$R" --passphrase-file "$T/secrets/alice.pass" --new-passphrase-file "$T/secrets/alice2.pass"
check "... reports the slot" contains "$OUT" "slot 'alice'"
expect_rc 3 "alice's old passphrase now fails with 3" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice.pass"
expect_rc 0 "alice's new passphrase works" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice2.pass"
check "alice keeps her role and kind" test "$(slot_field "$R" alice role) $(slot_field "$R" alice kind)" = "member passphrase"
expect_rc 0 "the admin changes alice's passphrase back by name" \
  "$WFS" key passwd "$R" alice "${ADMIN[@]}" --new-passphrase-file "$T/secrets/alice.pass"
expect_rc 3 "... the second passphrase now fails with 3" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice2.pass"
expect_rc 0 "... the first works again" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice.pass"
expect_rc 0 "the admin still opens" "$WFS" ls "$R" "${ADMIN[@]}"
expect_rc 0 "key passwd of the key file slot with a new generated key file" \
  "$WFS" key passwd "$R" ci "${ADMIN[@]}" --new-key-file "$T/secrets/ci-new.key"
expect_rc 3 "... the old key file now fails with 3" "$WFS" ls "$R" --key-file "$T/secrets/ci.key"
expect_rc 0 "... the new key file works" "$WFS" ls "$R" --key-file "$T/secrets/ci-new.key"
expect_rc 8 "key passwd of a missing slot exits 8" \
  "$WFS" key passwd "$R" nosuch "${ADMIN[@]}" --new-passphrase-file "$T/secrets/alice2.pass"

section "key remove"
expect_rc 0 "key remove alice" "$WFS" key remove "$R" alice "${ADMIN[@]}"
check "... reports it" contains "$OUT" "removed key slot 'alice'"
expect_rc 3 "alice's passphrase no longer opens (exit 3)" "$WFS" ls "$R" --passphrase-file "$T/secrets/alice.pass"
expect_rc 0 "key list after the removal" "$WFS" key list "$R" "${ADMIN[@]}" --json
check "... shows admin and ci only" "$PY" -c '
import json, sys
sys.exit(0 if sorted(s["name"] for s in json.load(open(sys.argv[1]))) == ["admin", "ci"] else 1)' "$OUT"
expect_rc 8 "key remove of a missing slot exits 8" "$WFS" key remove "$R" alice "${ADMIN[@]}"
expect_rc 0 "key remove ci (unlocked by the key file itself)" "$WFS" key remove "$R" ci --key-file "$T/secrets/ci-new.key"
run "$WFS" key remove "$R" admin "${ADMIN[@]}"
check "removing the last slot is refused (exit $RC)" test "$RC" != 0
expect_msg "... with a message saying it is the last slot" "last key slot"
check "... and the slot file is still there" test -f "$R/keys/admin"
expect_rc 0 "... and the admin passphrase still opens the repository" "$WFS" cat "$R" /model.bin "${ADMIN[@]}"
expect_rc 0 "check after all the key changes" "$WFS" check "$R" "${ADMIN[@]}"

section "no secret in the repository"
keyhex=$(cut -d' ' -f2 "$T/secrets/ci-new.key")
check "neither passphrase nor key file secret appears in the repository files" bash -c \
  '! grep -r -a -q -F -e "$2" -e "$3" -e "$4" "$1"' _ "$R" "$(head -1 "$T/secrets/admin.pass")" "$(head -1 "$T/secrets/alice.pass")" "$keyhex"

section "production scrypt parameters without the insecure flag"
start=$(date +%s%N)
expect_rc 0 "init without WEIGHTFS_INSECURE_FAST_KDF" env -u WEIGHTFS_INSECURE_FAST_KDF "$WFS" init "$T/prod" --passphrase-file "$T/secrets/admin.pass"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "       init with production scrypt took $elapsed_ms ms"
check "... uses scrypt n=2^17, r=8, p=1" test "$(slot_field "$T/prod" admin kdf n) $(slot_field "$T/prod" admin kdf r) $(slot_field "$T/prod" admin kdf p)" = "131072 8 1"
check "... and prints no insecure-KDF warning" not_contains "$ERR" "insecure"
check "... and takes measurable time (>= 50 ms)" test "$elapsed_ms" -ge 50
expect_rc 0 "init with the explicit --insecure-fast-kdf flag" env -u WEIGHTFS_INSECURE_FAST_KDF "$WFS" init "$T/weak" --insecure-fast-kdf --passphrase-file "$T/secrets/admin.pass"
check "... uses the weak test parameters (n=1024)" test "$(slot_field "$T/weak" admin kdf n)" = 1024
check "... and warns about it" contains "$ERR" "weak scrypt parameters"
expect_rc 0 "WEIGHTFS_INSECURE_FAST_KDF=1: a key file slot is fine too" \
  "$WFS" init "$T/kf" --new-key-file "$T/secrets/kf.key"
check "... and records a key file slot" test "$(slot_field "$T/kf" admin kind)" = keyfile
expect_rc 0 "... which opens with the key file" "$WFS" key list "$T/kf" --key-file "$T/secrets/kf.key"

section "the no-echo passphrase prompt"
cat >"$T/pty_run.py" <<'EOF'
# pty_run.py OUT_FILE ANSWER... -- CMD...: runs CMD on a new pseudo-terminal (its controlling
# terminal), answers each prompt ending in ": " with the next ANSWER, saves everything the
# terminal showed to OUT_FILE and exits with CMD's exit code.
import os, pty, select, sys, time
sep = sys.argv.index("--")
out_file, answers, cmd = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
seen, pending = b"", list(answers)
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
        # Answer once a prompt (ending in ": ") is the last thing shown; echo is off by then.
        if pending and seen.rstrip(b" ").endswith(b":"):
            os.write(fd, pending.pop(0).encode() + b"\n")
    elif os.waitpid(pid, os.WNOHANG) != (0, 0):
        break
_, status = os.waitpid(pid, 0)
open(out_file, "wb").write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
EOF
admin_pass=$(head -1 "$T/secrets/admin.pass")
expect_rc 0 "ls on a terminal without any secret option: the passphrase typed at the prompt" \
  env -u WEIGHTFS_PASSPHRASE "$PY" "$T/pty_run.py" "$T/tty.out" "$admin_pass" -- "$WFS" ls "$R"
check "... the prompt was shown" contains "$T/tty.out" "Passphrase for $R: "
check "... the listing was printed" contains "$T/tty.out" "model.bin"
check "... the passphrase was not echoed" not_contains "$T/tty.out" "$admin_pass"
expect_rc 0 "control: a prompt read with echo on, through the same pty helper" \
  "$PY" "$T/pty_run.py" "$T/tty.ctl" "$admin_pass" -- sh -c 'printf "Passphrase: "; read -r x; echo read'
check "... shows the typed text in the captured output (so the check above can fail)" contains "$T/tty.ctl" "$admin_pass"
expect_rc 3 "a wrong passphrase typed at the prompt exits 3" \
  env -u WEIGHTFS_PASSPHRASE "$PY" "$T/pty_run.py" "$T/tty.out" "not the passphrase" -- "$WFS" ls "$R"
check "... and is not echoed either" not_contains "$T/tty.out" "not the passphrase"
expect_rc 0 "init on a terminal: the new passphrase asked twice" \
  env -u WEIGHTFS_PASSPHRASE "$PY" "$T/pty_run.py" "$T/tty.out" "typed secret 42" "typed secret 42" -- "$WFS" init "$T/tty-repo"
check "... both prompts were shown" bash -c 'grep -qF "New passphrase: " "$1" && grep -qF "Repeat the new passphrase: " "$1"' _ "$T/tty.out"
check "... and the passphrase was not echoed" not_contains "$T/tty.out" "typed secret 42"
echo "typed secret 42" >"$T/secrets/typed.pass"
expect_rc 0 "... and the typed passphrase opens the new repository" "$WFS" key list "$T/tty-repo" --passphrase-file "$T/secrets/typed.pass"
expect_rc 2 "init on a terminal with two different passphrases exits 2" \
  env -u WEIGHTFS_PASSPHRASE "$PY" "$T/pty_run.py" "$T/tty.out" "first one" "second one" -- "$WFS" init "$T/tty-repo2"
check "... saying they do not match" contains "$T/tty.out" "do not match"
check "... and creates no repository" test ! -e "$T/tty-repo2/config"

finish
