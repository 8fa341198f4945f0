#!/usr/bin/env bash
# Policy scopes through the weightfs CLI, offline:
#   policy check   a policy with scopes prints, per role, the scope keys it holds, what those keys
#                  keep from it and what only the daemon refuses it; one without prints only the
#                  summary line; bad scopes are refused with exit 2 and FILE:LINE:COLUMN
#   policy explain names the scope of the path (text and --json), exit codes unchanged, against a
#                  file and against a repository (built-in policy: everything is in default)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# has_line FILE LINE: FILE has LINE as a whole line (fixed string).
has_line() { grep -q -a -x -F -- "$2" "$1"; }
# json_get FILE EXPR: a Python expression over the JSON in FILE (bound to j).
json_get() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
# err_at FILE LINE:COL TEXT: a line of the last stderr starts with "FILE:LINE:COL: " (after an
# optional "weightfs: " prefix) and mentions TEXT.
err_at() {
  awk -v w="$1:$2: " -v t="$3" '{ sub(/^weightfs: /, "") } index($0, w) == 1 && index($0, t) > 0 { f = 1 }
    END { exit !f }' "$ERR"
}

# Line numbers matter: the report names rules by line.
P=$T/scoped.yaml
cat >"$P" <<'EOF'
version: 1
scopes:
  public: ["/public/**"]
  team: ["/team/**", "/shared/team-*/**"]
  private: ["/private/**"]
  inbox: ["/inbox/**"]
roles:
  guest:
    rules:
      - paths: ["/public/**"]
        allow: [list, read]
  member:
    rules:
      - paths: ["/public/**", "/team/**", "/shared/team-*/**"]
        allow: [list, read, history]
      - paths: ["/team/hr/**"]
        deny: [read]
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  writer:
    rules:
      - paths: ["/inbox/**"]
        allow: [create]
  nobody:
    rules:
      - paths: ["/**"]
        allow: [snapshot]
default_role: guest
EOF

section "policy check: a policy with scopes"
expect_rc 0 "policy check of a policy with scopes" "$WFS" policy check "$P"
check "... the summary line comes first" bash -c 'head -1 "$1" | grep -qF ": ok: 5 role(s) (admin, guest, member, nobody, writer), 0 binding(s), default role guest"' _ "$OUT"
check "... names the scopes, their patterns and default" has_line "$OUT" \
  "scopes: public (/public/**), team (/team/**, /shared/team-*/**), private (/private/**), inbox (/inbox/**), default (everything else)"
check "... admin holds every key" has_line "$OUT" "role admin: keys of default, inbox, private, public, team"
check "... so keys keep nothing from admin" has_line "$OUT" "  enforced by keys: nothing (it holds the key of every scope)"
check "... guest holds public only" has_line "$OUT" "role guest: keys of public"
check "... and keys keep the rest from it" has_line "$OUT" \
  "  enforced by keys: everything outside public (it cannot decrypt default, inbox, private, team)"
check "... member holds public and team, not default or private" has_line "$OUT" "role member: keys of public, team"
check "... member's deny inside team is the daemon's alone" has_line "$OUT" \
  "  daemon only: member rule 2 (line 16) denies read on /team/hr/** inside scope team: enforced by the daemon only, the key opens it"
check "... writer holds inbox" has_line "$OUT" "role writer: keys of inbox"
check "... and could decrypt what it may only write" has_line "$OUT" \
  "  daemon only: may write in scope inbox but not read it: holding the key to write lets it decrypt inbox, which the daemon alone refuses"
check "... a role that may read nothing holds no key" has_line "$OUT" \
  "role nobody: no keys (it may read or write nowhere)"
check "... guest's report has nothing left to the daemon" bash -c \
  'awk "/^role guest:/{f=1; next} /^role /{f=0} f" "$1" | grep -qxF "  daemon only: nothing (it may read the whole of each scope it holds)"' _ "$OUT"
check "... the report is exactly 15 lines" line_count_is "$OUT" 15

section "policy check: a policy without scopes prints only the summary"
NS=$T/no-scopes.yaml
sed '2,6d' "$P" >"$NS"
expect_rc 0 "policy check without scopes" "$WFS" policy check "$NS"
check "... one line" line_count_is "$OUT" 1
check "... no scope report" not_contains "$OUT" "scopes:"

section "policy check: bad scopes (exit 2, FILE:LINE:COLUMN)"
B1=$T/overlap.yaml
printf 'version: 1\nscopes:\n  public: ["/**"]\n  team: ["/team/**"]\nroles:\n  r:\n    rules:\n      - paths: ["/**"]\n        allow: [read]\n' >"$B1"
expect_rc 2 "overlapping scopes are refused" "$WFS" policy check "$B1"
check "... naming both patterns and lines" err_at "$B1" 4:10 \
  "scope team's pattern /team/** overlaps scope public's pattern /** (line 3): a path belongs to exactly one scope"
check "... and no ok summary" not_contains "$OUT" "ok:"
B2=$T/default.yaml
sed 's/^  private:/  default:/' "$P" >"$B2"
expect_rc 2 "a declared default scope is refused" "$WFS" policy check "$B2"
check "... at its name" err_at "$B2" 5:3 'scope "default" cannot be declared'

section "policy explain names the scope"
expect_rc 0 "member may read /team/a/w.bin" "$WFS" policy explain "$P" --role member --op read /team/a/w.bin
check "... scope team" has_line "$OUT" "  scope: team"
check "... on the second line" bash -c 'sed -n 2p "$1" | grep -qxF "  scope: team"' _ "$OUT"
expect_rc 1 "member may not read /team/hr/x (exit 1 as before)" "$WFS" policy explain "$P" --role member --op read /team/hr/x
check "... still scope team" has_line "$OUT" "  scope: team"
check "... decided by the deny rule" contains "$OUT" "decided by: member rule 2 (line 16)"
expect_rc 0 "/team itself is in scope team" "$WFS" policy explain "$P" --role member --op list /team
check "... scope team" has_line "$OUT" "  scope: team"
expect_rc 0 "/shared/team-x/m.bin (normalized from //shared/./team-x/m.bin/)" \
  "$WFS" policy explain "$P" --role member --op read //shared/./team-x/m.bin/
check "... scope team" has_line "$OUT" "  scope: team"
expect_rc 1 "guest may not read /models/x" "$WFS" policy explain "$P" --role guest --op read /models/x
check "... scope default" has_line "$OUT" "  scope: default"
expect_rc 1 "--json: a deny still exits 1" "$WFS" policy explain "$P" --role guest --op read /private/x --json
check "... the JSON names scope private" test "$(json_get "$OUT" 'j["scope"]')" = private
check "... and the decision" test "$(json_get "$OUT" 'j["decision"]')" = deny
expect_rc 0 "--json: an allow exits 0" "$WFS" policy explain "$P" --role guest --op read /public/m --json
check "... the JSON names scope public" test "$(json_get "$OUT" 'j["scope"]')" = public

section "policy explain against a repository without a policy (built-in: one default scope)"
R=$T/repo
expect_rc 0 "init" "$WFS" init "$R"
expect_rc 0 "admin may read /public/x" "$WFS" policy explain "$R" --role admin --op read /public/x
check "... scope default" has_line "$OUT" "  scope: default"
expect_rc 0 "... and in JSON" "$WFS" policy explain "$R" --role admin --op read /public/x --json
check "... scope default" test "$(json_get "$OUT" 'j["scope"]')" = default

finish
