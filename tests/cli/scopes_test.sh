#!/usr/bin/env bash
# Per-scope keys through the CLI (issue #13): a repository with public, team and private scopes,
# its key slots made for a guest and a member, copied elsewhere, and attacked with the guest's
# and the member's passphrases through every offline command: nothing of another scope comes
# out (names, sizes, contents), what the slot holds does. Also: a policy that would leave a
# slot without keys its role needs is refused; a mount of a repository with scopes is refused
# (not served yet); the repository's format goes to v2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
unset WEIGHTFS_PASSPHRASE
mkdir -p "$T/secrets" "$T/src/public" "$T/src/team/notes" "$T/src/private" "$T/out"
chmod 700 "$T/secrets"
echo "admin pass" >"$T/secrets/admin"
echo "guest pass" >"$T/secrets/guest"
echo "member pass" >"$T/secrets/member"
ADMIN=(--passphrase-file "$T/secrets/admin")
GUEST=(--passphrase-file "$T/secrets/guest")
MEMBER=(--passphrase-file "$T/secrets/member")
echo "open weights" >"$T/src/public/open-model.safetensors"
echo "team weights" >"$T/src/team/team-model.safetensors"
echo "meeting notes" >"$T/src/team/notes/meeting.txt"
head -c 300000 /dev/urandom >"$T/src/private/secret-model.safetensors"
echo "readme" >"$T/src/README"

cat >"$T/policy.yaml" <<'EOF'
version: 1
scopes:
  public: ["/public/**"]
  team: ["/team/**"]
  private: ["/private/**"]
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  guest:
    rules:
      - paths: ["/"]
        allow: [list]
      - paths: ["/public/**"]
        allow: [list, read, history]
  member:
    rules:
      - paths: ["/"]
        allow: [list]
      - paths: ["/public/**", "/team/**"]
        allow: [list, read, history, create, update, delete]
EOF

section "setting a policy with scopes"
expect_rc 0 "init" "$WFS" init "$R" "${ADMIN[@]}"
expect_rc 0 "import before scopes" "$WFS" import "$R" "$T/src" "${ADMIN[@]}"
expect_rc 0 "policy set with scopes" "$WFS" policy set "$R" "$T/policy.yaml" "${ADMIN[@]}"
check "... says the live tree was sealed under the scopes' keys" contains "$OUT" \
  "the live tree is sealed under the keys of its scopes (default, private, public, team)"
check "... the config is format v2" grep -q '"version": 2' "$R/config"
check "... refs/keys exists" test -f "$R/refs/keys"
expect_rc 0 "key add guest" "$WFS" key add "$R" --name guest --role guest \
  --new-passphrase-file "$T/secrets/guest" "${ADMIN[@]}"
check "... holds public only" contains "$OUT" "holding the keys of scopes public"
expect_rc 0 "key add member" "$WFS" key add "$R" --name member --role member \
  --new-passphrase-file "$T/secrets/member" "${ADMIN[@]}"
check "... holds public and team" contains "$OUT" "holding the keys of scopes public, team"
expect_rc 0 "key list shows what each slot holds" "$WFS" key list "$R" "${ADMIN[@]}"
check "... guest: public" bash -c 'grep -P "^guest\tguest\tpassphrase\tscopes public$" "$1"' _ "$OUT"
check "... admin: the master secret" bash -c 'grep -P "^admin\tadmin\tpassphrase\tevery scope \(master secret\)" "$1"' _ "$OUT"
expect_rc 0 "import into the private scope after scopes" "$WFS" import "$R" "$T/src/private" \
  --to /private/later "${ADMIN[@]}"
check "... the default message names no path" contains "$OUT" "snapshot"

# The attacker has a copy of the repository and one passphrase.
cp -a "$R" "$T/copy"
C=$T/copy

section "the guest's key, offline"
expect_rc 0 "ls -R / as guest" "$WFS" ls -r "$C" / "${GUEST[@]}"
check "... shows public" contains "$OUT" "open-model.safetensors"
for name in team private README meeting secret-model later; do
  check "... shows nothing named $name" not_contains "$OUT" "$name"
done
expect_rc 0 "cat a public file" "$WFS" cat "$C" /public/open-model.safetensors "${GUEST[@]}"
check "... its content" contains "$OUT" "open weights"
expect_rc 8 "cat a private file: not found (the guest cannot see it)" \
  "$WFS" cat "$C" /private/secret-model.safetensors "${GUEST[@]}"
expect_rc 8 "cat a team file" "$WFS" cat "$C" /team/team-model.safetensors "${GUEST[@]}"
expect_rc 8 "cat the default scope's README" "$WFS" cat "$C" /README "${GUEST[@]}"
expect_rc 0 "export / as guest" "$WFS" export "$C" "$T/out/guest" "${GUEST[@]}"
check "... exports public" test -f "$T/out/guest/public/open-model.safetensors"
check "... and nothing else" bash -c '[ "$(cd "$1" && find . -mindepth 1 | sort | tr "\n" " ")" = "./public ./public/open-model.safetensors " ]' _ "$T/out/guest"
expect_rc 0 "log as guest" "$WFS" log "$C" "${GUEST[@]}"
check "... names no private path" not_contains "$OUT" "private/"
check "... says older snapshots are closed to it" contains "$ERR" \
  "older snapshots were recorded before the repository had scopes"
expect_rc 0 "stats as guest" "$WFS" stats "$C" "${GUEST[@]}"
expect_rc 0 "policy show as guest (the policy is readable by every slot)" \
  "$WFS" policy show "$C" "${GUEST[@]}"
run "$WFS" diff "$C" latest~1 latest "${GUEST[@]}"
check "diff as guest names no private path" not_contains "$OUT" "secret-model"
run "$WFS" check "$C" --read-data "${GUEST[@]}"
check "check --read-data as guest names no private path" not_contains "$OUT" "secret-model"
# Every object file of the copy, tried under each key the guest holds, by a program linking the
# library, is in the unit test ScopeKeysTest; here: no plaintext of another scope anywhere in
# what the guest's commands printed or wrote.
check "no private bytes in the guest's export" bash -c \
  '! grep -rqaF "meeting notes" "$1" && ! grep -rqaF "team weights" "$1"' _ "$T/out/guest"

section "the member's key, offline"
expect_rc 0 "ls -R / as member" "$WFS" ls -r "$C" / "${MEMBER[@]}"
check "... shows team" contains "$OUT" "meeting.txt"
for name in private README secret-model later; do
  check "... shows nothing named $name" not_contains "$OUT" "$name"
done
expect_rc 8 "cat a private file as member" "$WFS" cat "$C" /private/secret-model.safetensors \
  "${MEMBER[@]}"
expect_rc 0 "export as member" "$WFS" export "$C" "$T/out/member" "${MEMBER[@]}"
check "... has no private directory" test ! -e "$T/out/member/private"
check "... has team" test -f "$T/out/member/team/notes/meeting.txt"

section "writers write only where they hold keys"
echo "new team file" >"$T/new.txt"
expect_rc 0 "member imports into /team" "$WFS" import "$C" "$T/new.txt" --to /team/new.txt \
  "${MEMBER[@]}"
expect_rc 0 "the admin still sees the private files after the member's write" \
  "$WFS" ls -r "$C" / "${ADMIN[@]}"
check "... secret-model.safetensors" contains "$OUT" "secret-model.safetensors"
check "... the member's file" contains "$OUT" "new.txt"
run "$WFS" import "$C" "$T/new.txt" --to /private/x.txt "${MEMBER[@]}"
check "member cannot import into /private (no key)" test "$RC" -ne 0
check "... says which scope" contains "$ERR" "scope private, whose keys this key slot does not hold"

section "policy changes that would strand a slot are refused"
sed 's|      - paths: \["/public/\*\*"\]\n        allow: \[list, read, history\]|&|' "$T/policy.yaml" >"$T/policy2.yaml"
"$PY" - "$T/policy.yaml" "$T/policy2.yaml" <<'EOF'
import sys
t = open(sys.argv[1]).read()
t = t.replace('- paths: ["/public/**"]\n        allow: [list, read, history]',
              '- paths: ["/public/**", "/team/**"]\n        allow: [list, read, history]')
open(sys.argv[2], "w").write(t)
EOF
expect_rc 1 "granting guest team's read is refused: the guest's slot holds no team key" \
  "$WFS" policy set "$R" "$T/policy2.yaml" "${ADMIN[@]}"
check "... names the slot and the scope" contains "$ERR" \
  "key slot 'guest' (role guest) lacks the keys of team"
check "... and says how to fix it" contains "$ERR" "weightfs key remove NAME; weightfs key add NAME --role ROLE"

section "rekey after removing a member"
expect_rc 0 "key remove member" "$WFS" key remove "$R" member "${ADMIN[@]}"
expect_rc 0 "rekey team" "$WFS" rekey "$R" team "${ADMIN[@]}"
check "... says the live tree is sealed under the new keys" contains "$OUT" \
  "scope team has new keys (generation 2); the live tree is sealed under them"
expect_rc 0 "the removed member's copy of the old slot (in the attacker's copy) still opens the copy" \
  "$WFS" ls -r "$C" /team "${MEMBER[@]}"
cp "$C/keys/member" "$R/keys/member"
expect_rc 0 "but its slot put back into the rekeyed repository sees no team in the live tree" \
  "$WFS" ls -r "$R" / "${MEMBER[@]}"
check "... no team" not_contains "$OUT" "team"
expect_rc 0 "the admin reads team" "$WFS" cat "$R" /team/notes/meeting.txt "${ADMIN[@]}"
check "... its content" contains "$OUT" "meeting notes"

section "read-write mounts do not serve repositories with scopes yet"
mkdir -p "$T/mnt"
run "$WFS" mount "$R" "$T/mnt" "${ADMIN[@]}"
check "a read-write mount is refused" test "$RC" -ne 0
check "... saying why" contains "$ERR" "this repository has scopes"

finish
