#!/usr/bin/env bash
# Names that are not UTF-8 in JSON output, and the reserved root name .versions.
#
# - `ls --json` and `diff --json` print a name that is not UTF-8 losslessly: "path" holds it with
#   invalid bytes replaced by U+FFFD, and "path_base64" its exact bytes (symlink targets likewise
#   as "target"/"target_base64"); UTF-8 names have no such member. Decoding path_base64 gives
#   back the bytes of the imported name.
# - `import` refuses a tree with a root-level .versions (a mount would hide it behind its snapshot
#   directory), and --to /.versions/..., with exit 2 and a message naming the entry; nothing is
#   stored.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
expect_rc 0 "init" "$WFS" init "$R"

section "non-UTF-8 names in --json"
SRC=$T/src
mkdir -p "$SRC/dir"
# \xff and \xc3\x28 are invalid UTF-8; é is valid.
"$PY" - "$SRC" <<'PY'
import os, sys
src = os.fsencode(sys.argv[1])
open(os.path.join(src, b"bad\xff\xfename"), "wb").write(b"one")
open(os.path.join(src, b"dir", b"inner\xc3\x28.bin"), "wb").write(b"two")
open(os.path.join(src, "caf\u00e9.txt".encode()), "wb").write(b"three")
os.symlink(b"target\x80", os.path.join(src, b"link"))
PY
expect_rc 0 "import a tree with non-UTF-8 names" "$WFS" import "$R" "$SRC" -m one
expect_rc 0 "ls -r --json" "$WFS" ls -r --json "$R"
cp "$OUT" "$T/ls.json"
check "ls --json is valid JSON that gives back every name's bytes" "$PY" - "$T/ls.json" <<'PY'
import base64, json, sys
entries = json.load(open(sys.argv[1], encoding="utf-8"))
paths = {}
for e in entries:
    raw = base64.b64decode(e["path_base64"]) if "path_base64" in e else e["path"].encode()
    paths[raw] = e
want = {b"/bad\xff\xfename", b"/dir", b"/dir/inner\xc3\x28.bin", "/caf\u00e9.txt".encode(), b"/link"}
assert set(paths) == want, sorted(paths)
assert paths[b"/bad\xff\xfename"]["path"] == "/bad\ufffd\ufffdname", paths[b"/bad\xff\xfename"]
assert "path_base64" not in paths["/caf\u00e9.txt".encode()], "a UTF-8 name needs no base64"
link = paths[b"/link"]
assert base64.b64decode(link["target_base64"]) == b"target\x80", link
PY
expect_rc 0 "ls --json of the directory holding them" "$WFS" ls --json "$R" /dir
check "  ... is valid JSON" "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT"

"$PY" - "$SRC" <<'PY'
import os, sys
src = os.fsencode(sys.argv[1])
open(os.path.join(src, b"bad\xff\xfename"), "wb").write(b"changed")
open(os.path.join(src, b"new\xe2\x82.bin"), "wb").write(b"added")
PY
expect_rc 0 "import again" "$WFS" import "$R" "$SRC" -m two
V1=$("$WFS" log --json "$R" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[1]["id"])')
expect_rc 0 "diff --json" "$WFS" diff --json "$R" "$V1" latest
cp "$OUT" "$T/diff.json"
check "diff --json is valid JSON with the exact bytes of changed names" "$PY" - "$T/diff.json" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
got = {}
for c in d["changes"]:
    raw = base64.b64decode(c["path_base64"]) if "path_base64" in c else c["path"].encode()
    got[raw] = c["change"]
assert got == {b"/bad\xff\xfename": "modified", b"/new\xe2\x82.bin": "added"}, got
PY

section "a root-level .versions is refused by import"
SRC2=$T/src2
mkdir -p "$SRC2/.versions/x" "$SRC2/model"
echo weights >"$SRC2/model/w.bin"
echo hidden >"$SRC2/.versions/x/f"
before=$("$WFS" log --json "$R" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_rc 2 "import of a tree with /.versions" "$WFS" import "$R" "$SRC2"
expect_msg "  ... names the entry and says why" ".versions" "reserved" "snapshots"
expect_rc 2 "import --to /.versions/x" "$WFS" import "$R" "$SRC2/model" --to /.versions/x
expect_msg "  ... says why" "reserved"
expect_rc 2 "import of a file named .versions to the root" "$WFS" import "$R" "$SRC2/.versions/x/f" --to /.versions
after=$("$WFS" log --json "$R" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
check "nothing was stored (no new snapshot)" test "$before" = "$after"
expect_rc 0 "the same tree below the root is fine" "$WFS" import "$R" "$SRC2" --to /sub
expect_rc 0 "  ... and lists" "$WFS" ls "$R" /sub/.versions/x

finish
