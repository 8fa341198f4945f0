#!/usr/bin/env bash
# Per-path role policies through the weightfs CLI, offline:
#   policy check   the shipped examples, the normative team example (warnings for unknown names),
#                  malformed files refused with exit 2 and FILE:LINE:COLUMN
#   policy explain by --role, --uid, --user (with groups), an unknown user, deny precedence,
#                  path normalization, "no rule allows", --json, exit codes 0/1, against a file
#                  and against a repository (built-in policy before any set)
#   policy show    the built-in policy, then the stored YAML with its header; --history
#   policy set     by an admin slot, refused for a member slot, a role with admin on / may set,
#                  warnings for slots whose role the policy lacks, lockout refused without
#                  --force (separate repository), malformed files refused
#   gc / check     keep and verify every policy version
#   tampering      a flipped byte, a deleted and a replayed (older) refs/policy, on copies
#   key slots      a slot whose role may not administer cannot mint an admin slot or remove
#                  the only administering slot (that would bypass the `policy set` gate)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Every command names its secret explicitly.
unset WEIGHTFS_PASSPHRASE
mkdir -p "$T/secrets" "$T/data/public" "$T/data/team" "$T/data/private"
chmod 700 "$T/secrets"
echo "admin passphrase" >"$T/secrets/admin.pass"
echo "member passphrase" >"$T/secrets/member.pass"
echo "ghost passphrase" >"$T/secrets/ghost.pass"
echo "boss passphrase" >"$T/secrets/boss.pass"
ADMIN=(--passphrase-file "$T/secrets/admin.pass")
MEMBER=(--passphrase-file "$T/secrets/member.pass")
echo "published weights" >"$T/data/public/a"
echo "team weights" >"$T/data/team/x"
echo "private weights" >"$T/data/private/x"

# err_at FILE LINE:COL TEXT: a line of the last stderr starts with "FILE:LINE:COL: " (after an
# optional "weightfs: " prefix) and mentions TEXT. Fixed strings, no regular expressions.
err_at() {
  awk -v w="$1:$2: " -v t="$3" '{ sub(/^weightfs: /, "") } index($0, w) == 1 && index($0, t) > 0 { f = 1 }
    END { exit !f }' "$ERR"
}
# out_or_err_contains TEXT: the last stdout or stderr contains TEXT.
out_or_err_contains() { cat "$OUT" "$ERR" | grep -q -a -F -- "$1"; }
# only_warnings FILE: every line of FILE (a stderr) is a FILE:LINE:COL warning.
only_warnings() { ! grep -a -v -E -- '^[^:]+:[0-9]+:[0-9]+: warning: ' "$1"; }
# json_get FILE EXPR: a Python expression over the JSON in FILE (bound to j).
json_get() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
user_exists() { getent passwd "$1" >/dev/null 2>&1; }
group_exists() { getent group "$1" >/dev/null 2>&1; }

# The normative example policy. Line numbers matter: the checks below name them.
P=$T/team.yaml
cat >"$P" <<'EOF'
# The normative example: admins everything, ml-team members all but /private, the rest /public.
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  member:
    rules:
      - paths: ["/**"]
        allow: [list, read, history]
      - paths: ["/team/**"]
        allow: [create, update, delete, snapshot]
      - paths: ["/private/**"]
        deny: [all]
  guest:
    rules:
      - paths: ["/", "/public/**"]
        allow: [list, read]
bindings:
  - role: admin
    users: [alice, root]
  - role: member
    groups: [ml-team]
default_role: guest
EOF
# The same, but role member may also administer (admin on "/").
P2=$T/team-member-admin.yaml
sed 's|^      - paths: \["/private/\*\*"\]$|      - paths: ["/"]\n        allow: [admin]\n&|' "$P" >"$P2"

section "policy check: the shipped examples"
for f in "$SRC_DIR"/config/*.yaml; do
  expect_rc 0 "policy check config/$(basename "$f")" "$WFS" policy check "$f"
  check "... prints a one-line ok summary" bash -c 'grep -q ": ok: " "$1" && [ "$(wc -l <"$1")" = 1 ]' _ "$OUT"
  check "... and nothing but FILE:LINE:COL warnings on stderr" only_warnings "$ERR"
done

section "policy check: the normative example"
expect_rc 0 "policy check of the example" "$WFS" policy check "$P"
check "... one-line summary naming 3 roles, 2 bindings, default role guest" bash -c \
  'grep -qF "ok: 3 role(s) (admin, guest, member), 2 binding(s), default role guest" "$1" && [ "$(wc -l <"$1")" = 1 ]' _ "$OUT"
if user_exists alice; then
  check "... (user alice exists here: no warning for it)" not_contains "$ERR" '"alice"'
else
  check "... warns about the unknown user alice at $P:22:13" err_at "$P" 22:13 'user "alice" is not known'
fi
if group_exists ml-team; then
  check "... (group ml-team exists here: no warning for it)" not_contains "$ERR" '"ml-team"'
else
  check "... warns about the unknown group ml-team at $P:24:14" err_at "$P" 24:14 'group "ml-team" is not known'
fi
check "... no warning for root, which exists" not_contains "$ERR" '"root"'
check "... stderr has warnings only" only_warnings "$ERR"
expect_rc 0 "policy check of the variant where member may administer" "$WFS" policy check "$P2"

section "policy check: malformed files (exit 2, FILE:LINE:COLUMN)"
# malformed NAME LINE:COL TEXT CONTENT: policy check exits 2 and names the position and TEXT.
malformed() {
  BAD_N=$((BAD_N + 1))
  local name=$1 pos=$2 text=$3 f=$T/bad-$BAD_N.yaml
  printf '%b' "$4" >"$f"
  expect_rc 2 "policy check refuses: $name" "$WFS" policy check "$f"
  check "... with $f:$pos: ... $text" err_at "$f" "$pos" "$text"
  check "... and no ok summary" not_contains "$OUT" "ok:"
}
BAD_N=0
RULE='version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [all]\n'
malformed "bad YAML (unclosed flow sequence)" 6:9 "YAML syntax error" \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"\n        allow: [all]\n'
malformed "bad YAML (bad indentation)" 6:8 "YAML syntax error" \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n       allow: [all]\n'
malformed "unknown capability" 6:22 'unknown capability "frobnicate"' \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [all, frobnicate]\n'
malformed "pattern with .." 5:17 '"/a/../b"' \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/a/../b"]\n        allow: [read]\n'
malformed "pattern with . (second pattern on the line)" 5:26 '"/b/./c"' \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/a/**", "/b/./c"]\n        allow: [read]\n'
malformed "relative pattern" 5:17 "must start with /" \
  'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["models/**"]\n        allow: [read]\n'
malformed "unknown key in a rule" 7:9 'unknown key "color"' "${RULE}        color: blue\n"
malformed "unknown top-level key" 7:1 'unknown key "colour"' "${RULE}colour: blue\n"
malformed "binding to an undefined role" 8:11 'role "ghost"' "${RULE}bindings:\n  - role: ghost\n    users: [root]\n"
malformed "default_role undefined" 7:15 '"ghost"' "${RULE}default_role: ghost\n"
malformed "duplicate binding" 11:13 'user "root" is bound to role "admin" twice' \
  "${RULE}bindings:\n  - role: admin\n    users: [root]\n  - role: admin\n    users: [root]\n"
malformed "duplicate role" 7:3 'role "admin" is defined twice' "${RULE}  admin:\n    rules: []\n"
malformed "missing version" 1:1 'version' 'roles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [all]\n'
malformed "unsupported version" 1:10 "version 2" \
  'version: 2\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [all]\n'
malformed "rule with allow and deny" 7:9 'both "allow" and "deny"' "${RULE}        deny: [read]\n"
malformed "empty file" 1:1 "empty" ''
malformed "CRLF line endings keep positions" 6:22 'unknown capability "nope"' \
  'version: 1\r\nroles:\r\n  admin:\r\n    rules:\r\n      - paths: ["/**"]\r\n        allow: [all, nope]\r\n'
check_not "control: err_at rejects a wrong column" err_at "$T/bad-$BAD_N.yaml" 6:21 'unknown capability "nope"'
check_not "control: err_at rejects a wrong message" err_at "$T/bad-$BAD_N.yaml" 6:22 'unknown capability "frobnicate"'
expect_rc 8 "policy check of a missing file exits 8" "$WFS" policy check "$T/no-such.yaml"
expect_msg "... naming it" "$T/no-such.yaml"

section "policy explain against the example file"
expect_rc 1 "member delete /private/x: deny" "$WFS" policy explain "$P" --role member --op delete /private/x
check "... prints deny, the capability and the path" grep -qx "deny: delete on /private/x" "$OUT"
check "... names the caller's role and why" contains "$OUT" "role member (--role)"
check "... lists the matching deny rule" contains "$OUT" "deny rule:  member rule 3 (line 14): [/private/**] deny [all]"
check "... decided by the deny rule" grep -qx "  decided by: member rule 3 (line 14)" "$OUT"
expect_rc 1 "member read /private/x: deny wins over the matching allow of rule 1" \
  "$WFS" policy explain "$P" --role member --op read /private/x
check "... lists both rules" bash -c 'grep -qF "deny rule:  member rule 3 (line 14)" "$1" && grep -qF "allow rule: member rule 1 (line 10)" "$1"' _ "$OUT"
check "... decided by the deny rule" grep -qx "  decided by: member rule 3 (line 14)" "$OUT"
expect_rc 1 "normalization: member delete /team/../private/x is denied" \
  "$WFS" policy explain "$P" --role member --op delete /team/../private/x
check "... explained for the normalized path /private/x" grep -qx "deny: delete on /private/x" "$OUT"
check "... by the deny rule" grep -qx "  decided by: member rule 3 (line 14)" "$OUT"
expect_rc 1 "normalization: //team/..//private/./y/ is /private/y (deny)" \
  "$WFS" policy explain "$P" --role member --op read //team/..//private/./y/
check "... normalized" grep -qx "deny: read on /private/y" "$OUT"
expect_rc 1 "normalization: /.. at the root stays at the root (/../private/z: deny)" \
  "$WFS" policy explain "$P" --role member --op read /../private/z
expect_rc 0 "member delete //team/./x/ is allowed" "$WFS" policy explain "$P" --role member --op delete //team/./x/
check "... normalized to /team/x" grep -qx "allow: delete on /team/x" "$OUT"
check "... decided by member rule 2" grep -qx "  decided by: member rule 2 (line 12)" "$OUT"
expect_rc 0 "member read /privateer/x: /private/** does not cover /privateer" \
  "$WFS" policy explain "$P" --role member --op read /privateer/x
expect_rc 0 "guest read /public/a: allow" "$WFS" policy explain "$P" --role guest --op read /public/a
check "... prints allow" grep -qx "allow: read on /public/a" "$OUT"
check "... decided by guest rule 1" grep -qx "  decided by: guest rule 1 (line 18)" "$OUT"
expect_rc 1 "guest read /team/x: deny" "$WFS" policy explain "$P" --role guest --op read /team/x
check "... because no rule allows" grep -qx "  decided by: no rule allows" "$OUT"
check "... and lists no rule" not_contains "$OUT" "rule:"
expect_rc 1 "guest create /public/b: deny (read-only)" "$WFS" policy explain "$P" --role guest --op create /public/b
expect_rc 0 "--uid 0 (root, bound by name) delete /private/x: allow" \
  "$WFS" policy explain "$P" --uid 0 --op delete /private/x
check "... root holds admin through the users binding" contains "$OUT" "role admin (user root (line 21))"
check "... decided by admin rule 1" grep -qx "  decided by: admin rule 1 (line 6)" "$OUT"
expect_rc 1 "--uid 0 read /private/x capped by --mount-role member (a shared mount of a member slot): deny" \
  "$WFS" policy explain "$P" --uid 0 --mount-role member --op read /private/x
check "... decided by the mount role's deny" grep -qx "  decided by: mount role member: member rule 3 (line 14)" "$OUT"
expect_rc 0 "--uid 0 read /team/x capped by --mount-role member: allow" \
  "$WFS" policy explain "$P" --uid 0 --mount-role member --op read /team/x
expect_rc 2 "--mount-role with an undefined role is a usage error" \
  "$WFS" policy explain "$P" --uid 0 --mount-role nobody --op read /team/x
expect_rc 0 "--user root: the same" "$WFS" policy explain "$P" --user root --op delete /private/x
check "... root holds admin" contains "$OUT" "role admin (user root"
check "... and not guest (default_role is for unbound callers only)" not_contains "$OUT" "guest"
expect_rc 0 "--uid 54321 (no such user): default_role guest reads /public/a" \
  "$WFS" policy explain "$P" --uid 54321 --op read /public/a
check "... as guest by default_role" contains "$OUT" "role guest (default_role)"
expect_rc 1 "--uid 54321 read /team/x: deny" "$WFS" policy explain "$P" --uid 54321 --op read /team/x
run "$WFS" policy explain "$P" --user no-such-user-wfs --op read /public/a
check "--user of a nonexistent user is an error, not an allow/deny (exit $RC)" bash -c '[ "$1" != 0 ] && [ "$1" != 1 ]' _ "$RC"
expect_msg "... with a clear message naming the user" '"no-such-user-wfs"' "not known"
check "... and no decision on stdout" not_contains "$OUT" "allow"
expect_rc 2 "explain without --user/--uid/--role exits 2" "$WFS" policy explain "$P" --op read /public/a
expect_rc 2 "explain with both --role and --uid exits 2" "$WFS" policy explain "$P" --role guest --uid 0 --op read /public/a
expect_rc 2 "explain with an unknown capability exits 2" "$WFS" policy explain "$P" --role guest --op frobnicate /public/a
expect_msg "... listing the capabilities" "unknown capability" "read"
expect_rc 2 "explain with a relative path exits 2" "$WFS" policy explain "$P" --role guest --op read public/a
expect_rc 2 "explain with an undefined role exits 2" "$WFS" policy explain "$P" --role ghost --op read /public/a
expect_msg "... saying the policy defines no such role" 'no role "ghost"'
expect_rc 1 "explain --json of a deny" "$WFS" policy explain "$P" --role member --op delete /team/../private/x --json
check "... with decision, normalized path, roles and the deciding rule" test \
  "$(json_get "$OUT" '(j["decision"], j["path"], j["roles"], j["rule"], j["deny_rules"], j["capability"])')" = \
  "('deny', '/private/x', ['member'], 'member rule 3 (line 14)', ['member rule 3 (line 14)'], 'delete')"
expect_rc 0 "explain --json of an allow" "$WFS" policy explain "$P" --uid 0 --op read /private/x --json
check "... decision allow, roles [admin]" test "$(json_get "$OUT" '(j["decision"], j["roles"])')" = "('allow', ['admin'])"

# A group binding, decided through --user and --uid with the user's groups.
if user_exists nobody; then
  NOGRP=$(id -gn nobody)
  G=$T/group.yaml
  printf 'version: 1\nroles:\n  member:\n    rules:\n      - paths: ["/team/**"]\n        allow: [read]\nbindings:\n  - role: member\n    groups: [%s]\n' "$NOGRP" >"$G"
  expect_rc 0 "a group binding: --user nobody (group $NOGRP) reads /team/x" "$WFS" policy explain "$G" --user nobody --op read /team/x
  check "... holds member through the group" contains "$OUT" "role member (group $NOGRP"
  expect_rc 0 "... and by --uid $(id -u nobody)" "$WFS" policy explain "$G" --uid "$(id -u nobody)" --op read /team/x
  expect_rc 1 "--uid 0 (not in $NOGRP) has no role there (no default_role): deny" \
    "$WFS" policy explain "$G" --uid 0 --op read /team/x
  check "... says it has no role" contains "$OUT" "roles: none"
fi

section "a repository, before any policy is set"
R=$T/repo
expect_rc 0 "init" "$WFS" init "$R" "${ADMIN[@]}"
expect_rc 0 "import" "$WFS" import "$R" "$T/data" "${ADMIN[@]}" -m "first"
expect_rc 0 "key add member (role member)" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name member --role member --new-passphrase-file "$T/secrets/member.pass"
expect_rc 0 "policy show without a policy" "$WFS" policy show "$R" "${ADMIN[@]}"
check "... says the built-in policy applies" bash -c 'head -1 "$1" | grep -q "^# .*built-in policy applies"' _ "$OUT"
check "... and prints it: role admin may do all on /**" bash -c \
  'grep -qx "  admin:" "$1" && grep -qF "paths: [\"/**\"]" "$1" && grep -qF "allow: [all]" "$1"' _ "$OUT"
cp "$OUT" "$T/builtin.yaml"
expect_rc 0 "... and what it prints is itself a valid policy file" "$WFS" policy check "$T/builtin.yaml"
check "... with a single role and no default role" contains "$OUT" "1 role(s) (admin), 0 binding(s), default role none"
expect_rc 0 "policy show --history without a policy" "$WFS" policy show "$R" --history "${ADMIN[@]}"
check "... says no policy was ever set" contains "$OUT" "no policy was ever set"
expect_rc 0 "explain REPO --role admin delete /private/x: allowed by the built-in policy" \
  "$WFS" policy explain "$R" --role admin --op delete /private/x "${ADMIN[@]}"
check "... decided by the built-in rule" contains "$OUT" "decided by: admin rule 1 (built-in)"
run "$WFS" policy explain "$R" --role guest --op read /public/a "${ADMIN[@]}"
check "explain REPO --role guest under the built-in policy is not allowed (exit $RC)" test "$RC" != 0
expect_msg "... with a clear message that the policy has no role guest" 'no role "guest"'
expect_rc 1 "explain REPO --uid 0 under the built-in policy: deny (no binding, no default role)" \
  "$WFS" policy explain "$R" --uid 0 --op read /public/a "${ADMIN[@]}"
check "... says the caller has no role" contains "$OUT" "roles: none"

section "policy set"
run "$WFS" policy set "$R" "$P" "${MEMBER[@]}"
check "policy set by a slot with role member is refused (exit $RC)" test "$RC" != 0
expect_msg "... with a message naming the slot and admin" "key slot 'member'" "admin"
expect_rc 0 "... and nothing was stored" "$WFS" policy show "$R" --history "${ADMIN[@]}"
check "... (history still empty)" contains "$OUT" "no policy was ever set"
expect_rc 0 "key add ghost (a role the example does not define)" \
  "$WFS" key add "$R" "${ADMIN[@]}" --name ghost --role ghost --new-passphrase-file "$T/secrets/ghost.pass"
expect_rc 0 "policy set by the admin slot" "$WFS" policy set "$R" "$P" "${ADMIN[@]}"
check "... reports policy #1" grep -q "^policy #1 set" "$OUT"
expect_msg "... warns about slot ghost, whose role the policy does not define" "key slot 'ghost' has role 'ghost'" "does not define"
check "... and not about slots whose roles it defines" bash -c '! grep -qF "key slot '\''admin'\''" "$1" && ! grep -qF "key slot '\''member'\''" "$1"' _ "$ERR"
expect_rc 0 "policy show after the set" "$WFS" policy show "$R" "${ADMIN[@]}"
check "... starts with a header comment: #1, slot admin, role admin" \
  bash -c "head -1 \"\$1\" | grep -qE \"^# policy #1, set .* by key slot 'admin' \\(role admin\\)\$\"" _ "$OUT"
check "... followed by the file exactly as given (comments kept)" bash -c 'tail -n +2 "$1" | cmp -s - "$2"' _ "$OUT" "$P"
expect_rc 0 "explain REPO --uid 0 read /private/x: root is admin under the stored policy" \
  "$WFS" policy explain "$R" --uid 0 --op read /private/x "${ADMIN[@]}"
expect_rc 1 "explain REPO --role member delete /private/x: deny" \
  "$WFS" policy explain "$R" --role member --op delete /private/x "${ADMIN[@]}"
check "... decided by the stored deny rule" contains "$OUT" "decided by: member rule 3 (line 14)"
expect_rc 1 "explain REPO works unlocked by the member slot too" \
  "$WFS" policy explain "$R" --role guest --op read /team/x "${MEMBER[@]}"
run "$WFS" policy set "$R" "$P2" "${MEMBER[@]}"
check "policy set by member under the stored example is still refused (exit $RC)" test "$RC" != 0
expect_msg "... mentioning admin" "admin"

section "a role with admin on / may set the policy"
expect_rc 0 "the admin sets the variant where member may administer (#2)" "$WFS" policy set "$R" "$P2" "${ADMIN[@]}"
check "... reports policy #2" grep -q "^policy #2 set" "$OUT"
expect_rc 0 "the member slot now sets the example back (#3)" "$WFS" policy set "$R" "$P" "${MEMBER[@]}"
check "... reports policy #3" grep -q "^policy #3 set" "$OUT"
run "$WFS" policy set "$R" "$P2" "${MEMBER[@]}"
check "... after which member may no longer set it (exit $RC)" test "$RC" != 0
expect_rc 0 "policy show names the member slot as the author" "$WFS" policy show "$R" "${MEMBER[@]}"
check "... # policy #3 ... key slot 'member' (role member)" \
  bash -c "head -1 \"\$1\" | grep -qE \"^# policy #3, set .* by key slot 'member' \\(role member\\)\$\"" _ "$OUT"
BADSET=$T/bad-set.yaml
printf 'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [everything]\n' >"$BADSET"
expect_rc 2 "policy set of a malformed file is refused with exit 2" "$WFS" policy set "$R" "$BADSET" "${ADMIN[@]}"
check "... naming $BADSET:6:17" err_at "$BADSET" 6:17 'unknown capability "everything"'
expect_rc 8 "policy set of a missing file exits 8" "$WFS" policy set "$R" "$T/no-such.yaml" "${ADMIN[@]}"

section "history"
expect_rc 0 "policy show --history" "$WFS" policy show "$R" --history "${ADMIN[@]}"
cp "$OUT" "$T/history.before"
check "... lists exactly three versions" line_count_is "$OUT" 3
check "... newest first, with slot and role" bash -c "
  sed -n 1p \"\$1\" | grep -qE \"^policy #3 +[0-9a-f]{16} .*set by slot 'member' \\(role member\\)\$\" &&
  sed -n 2p \"\$1\" | grep -qE \"^policy #2 +[0-9a-f]{16} .*set by slot 'admin' \\(role admin\\)\$\" &&
  sed -n 3p \"\$1\" | grep -qE \"^policy #1 +[0-9a-f]{16} .*set by slot 'admin' \\(role admin\\)\$\"" _ "$OUT"
check "... neither refused set nor malformed file added a version" not_contains "$OUT" "policy #4"
POLICY_IDS=$(awk '{print $3}' "$OUT")

section "gc and check keep and verify the policy versions"
echo "second version of the team weights" >"$T/data/team/x"
expect_rc 0 "import a second snapshot" "$WFS" import "$R" "$T/data" "${ADMIN[@]}" -m "second"
expect_rc 0 "forget the first snapshot" "$WFS" forget "$R" --keep-last 1 "${ADMIN[@]}"
expect_rc 0 "gc --grace 0" "$WFS" gc "$R" --grace 0 "${ADMIN[@]}"
check "... deleted something (so it really collected)" bash -c '! grep -q "deleted 0 objects" "$1" && grep -q "deleted [1-9]" "$1"' _ "$OUT"
expect_rc 0 "policy show --history after gc" "$WFS" policy show "$R" --history "${ADMIN[@]}"
check "... still lists all three versions, unchanged" same_file "$OUT" "$T/history.before"
for id in $POLICY_IDS; do
  check "... policy object $id is still stored" bash -c 'ls "$1"/objects/"${2:0:2}"/"$2"* >/dev/null 2>&1' _ "$R" "$id"
done
expect_rc 0 "policy show after gc" "$WFS" policy show "$R" "${ADMIN[@]}"
check "... still the example" bash -c 'tail -n +2 "$1" | cmp -s - "$2"' _ "$OUT" "$P"
expect_rc 0 "check passes" "$WFS" check "$R" "${ADMIN[@]}"
expect_rc 0 "check --read-data passes" "$WFS" check "$R" --read-data "${ADMIN[@]}"
# A missing old policy version is a problem check must report.
RO=$T/repo-missing-object
cp -a "$R" "$RO"
oldest=$(echo "$POLICY_IDS" | tail -1)
rm -f "$RO"/objects/"${oldest:0:2}"/"$oldest"*
expect_rc 5 "check of a copy missing policy #1's object exits 5" "$WFS" check "$RO" "${ADMIN[@]}"
check "... and reports the policy history" out_or_err_contains "policy history"

section "lockout: a policy nobody could change again (separate repository)"
L=$T/lockrepo
LOCK=$T/lockout.yaml
cat >"$LOCK" <<'EOF'
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [list, read, create, update, delete, history, snapshot]
  member:
    rules:
      # admin below /team is not admin on /: it does not count
      - paths: ["/team/**"]
        allow: [admin]
EOF
expect_rc 0 "init" "$WFS" init "$L" "${ADMIN[@]}"
expect_rc 0 "key add member" "$WFS" key add "$L" "${ADMIN[@]}" --name member --role member --new-passphrase-file "$T/secrets/member.pass"
run "$WFS" policy set "$L" "$LOCK" "${ADMIN[@]}"
check "policy set of a lockout policy is refused without --force (exit $RC)" test "$RC" != 0
expect_msg "... explaining that nobody could administer and suggesting --force" "--force" "admin"
expect_rc 0 "... nothing was stored" "$WFS" policy show "$L" --history "${ADMIN[@]}"
check "... (no policy)" contains "$OUT" "no policy was ever set"
expect_rc 0 "policy set --force stores it" "$WFS" policy set "$L" "$LOCK" --force "${ADMIN[@]}"
check "... as policy #1" grep -q "^policy #1 set" "$OUT"
run "$WFS" policy set "$L" "$P" "${ADMIN[@]}"
check "afterwards even the admin slot cannot set a policy (exit $RC)" test "$RC" != 0
expect_msg "... with a message mentioning admin" "admin"
run "$WFS" policy set "$L" "$P" --force "${ADMIN[@]}"
check "... not even with --force (exit $RC)" test "$RC" != 0
run "$WFS" policy set "$L" "$P" "${MEMBER[@]}"
check "... nor the member slot with admin below /team only (exit $RC)" test "$RC" != 0
expect_rc 0 "history of the locked repository" "$WFS" policy show "$L" --history "${ADMIN[@]}"
check "... still has one version" line_count_is "$OUT" 1

section "key slots cannot bypass the policy's admin gate"
# Under the example (stored as #3), role member may not administer. If a member slot could mint a
# slot with role admin, `policy set` (and every mount) would be one command away.
RK=$T/repo-keys
RK2=$T/repo-keys2
cp -a "$R" "$RK"
cp -a "$R" "$RK2"
run "$WFS" key add "$RK" "${MEMBER[@]}" --name boss --role admin --new-passphrase-file "$T/secrets/boss.pass"
check "a member slot cannot add a key slot with role admin (exit $RC)" test "$RC" != 0
check "... and no slot boss exists" test ! -e "$RK/keys/boss"
run "$WFS" policy set "$RK" "$P2" --slot boss --passphrase-file "$T/secrets/boss.pass"
check "... so policy set through such a slot fails (exit $RC)" test "$RC" != 0
run "$WFS" key remove "$RK2" admin "${MEMBER[@]}"
check "a member slot cannot remove the only slot whose role may administer (exit $RC)" test "$RC" != 0
check "... and the admin slot is still there" test -f "$RK2/keys/admin"

section "tampering with refs/policy (on copies)"
check "the repository has refs/policy" test -f "$R/refs/policy"
RT=$T/repo-tampered
cp -a "$R" "$RT"
"$PY" - "$RT/refs/policy" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
EOF
expect_rc 5 "policy show with a flipped byte in refs/policy exits 5 (corruption)" "$WFS" policy show "$RT" "${ADMIN[@]}"
expect_msg "... naming refs/policy" "refs/policy"
check "... and prints no policy" not_contains "$OUT" "version: 1"
expect_rc 5 "policy show --history: exit 5 too" "$WFS" policy show "$RT" --history "${ADMIN[@]}"
expect_rc 5 "policy explain REPO: exit 5, not a decision" "$WFS" policy explain "$RT" --role admin --op read /x "${ADMIN[@]}"
expect_rc 5 "check reports it" "$WFS" check "$RT" "${ADMIN[@]}"
check "... naming refs/policy" out_or_err_contains "refs/policy"
run "$WFS" policy set "$RT" "$P" "${ADMIN[@]}"
check "policy set over a tampered refs/policy is refused (exit $RC)" test "$RC" != 0

# A deleted refs/policy must not silently bring back the built-in policy (role admin: everything)
# and make gc drop the policy history: this machine has seen policy #3 of this repository.
RD=$T/repo-deleted
cp -a "$R" "$RD"
rm "$RD/refs/policy"
expect_rc 5 "policy show after refs/policy was deleted: exit 5, not the built-in policy" "$WFS" policy show "$RD" "${ADMIN[@]}"
expect_msg "... naming refs/policy" "refs/policy"
echo "       observed: exit $RC; first line of stdout: $(head -1 "$OUT")"
run "$WFS" policy show "$RD" --history "${ADMIN[@]}"
check "policy show --history does not claim no policy was ever set (exit $RC)" not_contains "$OUT" "no policy was ever set"
run "$WFS" check "$RD" "${ADMIN[@]}"
check "check reports the missing refs/policy (exit $RC)" test "$RC" != 0
run "$WFS" gc "$RD" --grace 0 "${ADMIN[@]}"
echo "       gc after the deletion: exit $RC: $(head -2 "$OUT" | tr '\n' ' ')"
for id in $POLICY_IDS; do
  check "... gc keeps policy object $id" bash -c 'ls "$1"/objects/"${2:0:2}"/"$2"* >/dev/null 2>&1' _ "$RD" "$id"
done

# An older refs/policy replayed over the current one (a policy rollback) is the same attack. It
# happens in place: this machine remembers what it saw per repository location, so that a replica
# (same repository id, legitimately older) elsewhere is no rollback.
RR=$T/repo-replayed
expect_rc 0 "a fresh repository for the replay" "$WFS" init "$RR" "${ADMIN[@]}"
expect_rc 0 "... policy #1 (the example)" "$WFS" policy set "$RR" "$P" "${ADMIN[@]}"
cp "$RR/refs/policy" "$T/refs-policy-1"
expect_rc 0 "... policy #2 (member may administer)" "$WFS" policy set "$RR" "$P2" "${ADMIN[@]}"
cp "$T/refs-policy-1" "$RR/refs/policy"
expect_rc 5 "policy show after replaying the sealed refs/policy of #1 over #2: exit 5 (rollback)" \
  "$WFS" policy show "$RR" --history "${ADMIN[@]}"
echo "       observed: exit $RC; $(head -1 "$OUT")"

finish
