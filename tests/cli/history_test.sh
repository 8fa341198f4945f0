#!/usr/bin/env bash
# The history tools through the weightfs CLI, offline: snapshot (also unchanged, with --tag),
# tag (set, refuse duplicates and id-like names, --force, --list, --delete), log PATH, diff
# (files and the names of changed safetensors tensors, --json, against live), restore (into the
# live tree as a new snapshot, and --to DEST), forget (--dry-run, --keep-last, --keep-tagged) and
# gc (--dry-run, the default grace, the writer lock, --grace 0), ending with check --read-data.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

R=$T/repo
S=$T/src
mkdir -p "$S"

# make_model FILE VARIANT: a safetensors file of four F32 tensors of deterministic random data.
# Variant "tuned" changes the bytes of layers.1.weight and adds new.bias; everything else equal.
make_model() {
  "$PY" - "$1" "$2" <<'EOF'
import json, random, struct, sys
path, variant = sys.argv[1], sys.argv[2]
rng = random.Random(4242)
tensors = [("embed.weight", [128, 512]), ("layers.0.weight", [512, 512]),
           ("layers.1.weight", [512, 512]), ("lm_head.weight", [512, 128])]
data = {name: rng.randbytes(4 * shape[0] * shape[1]) for name, shape in tensors}
shapes = dict(tensors)
if variant == "tuned":
    b = bytearray(data["layers.1.weight"])
    for i in range(0, len(b), 4096):
        b[i] ^= 0xFF
    data["layers.1.weight"] = bytes(b)
    data["new.bias"] = random.Random(7).randbytes(4 * 512)
    shapes["new.bias"] = [512]
header, off = {"__metadata__": {"format": "pt"}}, 0
for name in shapes:
    n = len(data[name])
    header[name] = {"dtype": "F32", "shape": shapes[name], "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header).encode()
h += b" " * ((8 - (8 + len(h)) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name in shapes:
        f.write(data[name])
EOF
}

# json_get FILE EXPR: evaluates a Python expression over the JSON in FILE (bound to j).
json_get() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
snapshot_count() { "$WFS" log "$R" --json | "$PY" -c "import json,sys; print(len(json.load(sys.stdin)))"; }

section "a repository with a model and notes"
make_model "$S/model.safetensors" base
cp "$S/model.safetensors" "$T/model.base"
echo "first notes" >"$S/notes.txt"
expect_rc 0 "init" "$WFS" init "$R"
expect_rc 0 "import the base model" "$WFS" import "$R" "$S" -m "base model"
FIRST=$("$WFS" log "$R" --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")

section "snapshot"
expect_rc 0 "snapshot without changes, tagged v1" "$WFS" snapshot "$R" -m "nothing changed" --tag v1
check "snapshot prints the new id and the tag" contains "$OUT" "tagged v1"
check "the repository now has two snapshots" test "$(snapshot_count)" = 2
expect_rc 0 "diff between the unchanged snapshots" "$WFS" diff "$R" "$FIRST" v1
check "an unchanged snapshot records the same tree" contains "$OUT" "0 added, 0 removed, 0 modified"
expect_rc 1 "snapshot --tag with an existing tag is refused" "$WFS" snapshot "$R" --tag v1
expect_msg "the refusal names the tag" "tag 'v1' already exists"
check "a refused snapshot records nothing" test "$(snapshot_count)" = 2
expect_rc 2 "snapshot --tag with a bad name" "$WFS" snapshot "$R" --tag ".hidden"
expect_rc 4 "snapshot of a directory that is no repository" "$WFS" snapshot "$T/src"

section "tag"
expect_rc 0 "tag the first snapshot by id prefix" "$WFS" tag "$R" "${FIRST:0:12}" base
expect_rc 1 "a duplicate tag is refused" "$WFS" tag "$R" latest base
expect_msg "the refusal suggests --force" "--force"
expect_rc 0 "tag --force moves it" "$WFS" tag --force "$R" latest base
expect_rc 0 "and back" "$WFS" tag --force "$R" "${FIRST:0:12}" base
expect_rc 2 "a tag name that looks like an id is refused" "$WFS" tag "$R" latest deadbeef42
expect_msg "the refusal explains why" "looks like a snapshot id"
expect_rc 2 "a tag name with a slash is refused" "$WFS" tag "$R" latest "a/b"
expect_rc 8 "tagging a version that does not exist" "$WFS" tag "$R" nosuchtag x1
expect_rc 0 "tag a third name" "$WFS" tag "$R" latest scratch
expect_rc 0 "tag --list" "$WFS" tag --list "$R"
check "the list names every tag" bash -c "grep -q '^base ' '$OUT' && grep -q '^v1 ' '$OUT' && grep -q '^scratch ' '$OUT'"
expect_rc 0 "tag --delete" "$WFS" tag --delete "$R" scratch
expect_rc 8 "deleting a missing tag" "$WFS" tag --delete "$R" scratch
expect_rc 0 "tag --list --json" "$WFS" tag --list --json "$R"
check "the JSON list has two tags" test "$(json_get "$OUT" 'len(j)')" = 2
expect_rc 2 "tag with a missing argument" "$WFS" tag "$R" latest

section "diff"
make_model "$S/model.safetensors" tuned
echo "second notes" >"$S/notes.txt"
echo "new file" >"$S/added.txt"
expect_rc 0 "import the fine-tuned model" "$WFS" import "$R" "$S" -m "fine-tuned"
expect_rc 0 "diff v1 latest" "$WFS" diff "$R" v1 latest
check "the model is modified" contains "$OUT" "M /model.safetensors"
check "the changed tensor is named" contains "$OUT" "M tensor layers.1.weight  content changed"
check "the added tensor is named with dtype and shape" contains "$OUT" "+ tensor new.bias  F32 [512]"
check "unchanged tensors are not named" not_contains "$OUT" "layers.0.weight"
check "the added file is listed" contains "$OUT" "+ /added.txt"
check "the changed notes are listed" contains "$OUT" "M /notes.txt"
check "the summary counts them" contains "$OUT" "1 added, 0 removed, 2 modified"
expect_rc 0 "diff --json restricted to the model" "$WFS" diff "$R" v1 latest /model.safetensors --json
check "JSON: one change, with its tensors" \
  test "$(json_get "$OUT" "[(t['name'], t['change']) for t in j['changes'][0]['safetensors']['tensors']]")" \
  = "[('layers.1.weight', 'content'), ('new.bias', 'added')]"
expect_rc 0 "diff latest live (nothing changed since)" "$WFS" diff "$R" latest live
check "latest and live agree" contains "$OUT" "0 added, 0 removed, 0 modified"
expect_rc 0 "diff in the other direction" "$WFS" diff "$R" latest v1
check "the reverse diff removes the added tensor" contains "$OUT" "- tensor new.bias"
expect_rc 8 "diff with an unknown version" "$WFS" diff "$R" v1 nosuchtag
expect_rc 8 "diff of a path in neither version" "$WFS" diff "$R" v1 latest /nowhere

section "log PATH"
if "$WFS" log --help 2>&1 | grep -q PATH; then
  expect_rc 0 "log /notes.txt" "$WFS" log "$R" /notes.txt --json
  check "notes changed in two snapshots" test "$(json_get "$OUT" '[s["message"] for s in j]')" = "['fine-tuned', 'base model']"
else
  echo "skip - log PATH is not wired into this build's log command yet"
fi

section "restore"
expect_rc 0 "restore the model of v1 into the live tree" "$WFS" restore "$R" v1 /model.safetensors
check "restore records a snapshot" contains "$OUT" "restore /model.safetensors from"
check "the log has the restore on top" test "$(snapshot_count)" = 4
expect_rc 0 "cat the live model" "$WFS" cat "$R" /model.safetensors --version live
check "the live model is v1's again" cmp -s "$OUT" "$T/model.base"
expect_rc 0 "the notes stay as they were" "$WFS" cat "$R" /notes.txt
check "notes are the second version" contains "$OUT" "second notes"
expect_rc 0 "restore --to a directory" "$WFS" restore "$R" v1 /model.safetensors --to "$T/out"
check "--to into a new path writes the file there" cmp -s "$T/out" "$T/model.base"
mkdir "$T/outdir"
expect_rc 0 "restore everything --to an existing directory" "$WFS" restore "$R" v1 --to "$T/outdir"
check "the exported tree has v1's notes" contains "$T/outdir/notes.txt" "first notes"
check "the exported tree has no added file" test ! -e "$T/outdir/added.txt"
expect_rc 8 "restore a path missing from the version" "$WFS" restore "$R" v1 /added.txt
check "a failed restore records nothing" test "$(snapshot_count)" = 4

section "the writer lock"
mkdir -p "$R/locks"
printf '{"host":"%s","pid":%d,"time":%d,"mountpoint":"/mnt/fake"}\n' "$(hostname)" $$ "$(date +%s)" >"$R/locks/writer"
# A live holder also holds the kernel lock beside the record (a record alone is a dead holder's).
"$PY" -c 'import fcntl, sys, time; f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(600)' \
  "$R/locks/writer.~lock" &
HOLDER=$!
on_exit "kill $HOLDER 2>/dev/null"
sleep 0.3
expect_rc 7 "restore into the live tree while a read-write mount holds the lock" "$WFS" restore "$R" v1 /notes.txt
expect_rc 7 "gc --grace 0 next to a read-write mount is refused" "$WFS" gc "$R" --grace 0
expect_msg "the refusal explains the risk and the way out" "--force" "--grace"
expect_rc 0 "gc with a grace of 2h runs next to it" "$WFS" gc "$R" --grace 2h
expect_msg "gc notes the running mount" "read-write mount is running"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
expect_rc 0 "once the holder is gone, its record is a stale lock that gc takes over" "$WFS" gc "$R" --grace 2h
expect_msg "and says so" "stale writer lock"
check "gc released the writer lock" test ! -e "$R/locks/writer"

section "forget"
expect_rc 2 "forget without a policy" "$WFS" forget "$R"
expect_rc 0 "forget --dry-run" "$WFS" forget "$R" --keep-last 1 --keep-tagged --dry-run
check "the dry run keeps the head and the tagged snapshots" contains "$OUT" "kept 3 snapshots, would forget 1"
check "the dry run changes nothing" test "$(snapshot_count)" = 4
expect_rc 0 "forget --keep-last 1 --keep-tagged" "$WFS" forget "$R" --keep-last 1 --keep-tagged
check "the fine-tuned snapshot is forgotten" grep -q "^forget .*fine-tuned" "$OUT"
check "three snapshots are left" test "$(snapshot_count)" = 3
expect_rc 0 "log --json after forget" "$WFS" log "$R" --json
check "sequence numbers keep growing (the new head is #5)" test "$(json_get "$OUT" 'j[0]["seq"]')" = 5
check "tags follow their rewritten snapshots" test "$(json_get "$OUT" 'sorted(t for s in j for t in s["tags"])')" = "['base', 'v1']"
expect_rc 0 "diff still resolves the tags" "$WFS" diff "$R" base v1
expect_rc 0 "forget --keep-last 2 (drops a tagged snapshot)" "$WFS" forget "$R" --keep-last 2
check "the tag of the forgotten snapshot is removed" contains "$OUT" "removed tags: base"

section "gc"
before_objects=$(find "$R/objects" -type f | wc -l)
expect_rc 0 "gc with the default grace" "$WFS" gc "$R"
check "the default grace keeps the young unreachable objects" contains "$OUT" "deleted 0 objects"
check "and says so" contains "$OUT" "younger than the grace period of 24h"
expect_rc 0 "gc --dry-run --grace 0" "$WFS" gc "$R" --dry-run --grace 0 --json
would=$(json_get "$OUT" 'j["deleted_objects"]')
would_bytes=$(json_get "$OUT" 'j["deleted_bytes"]')
check "the dry run finds unreachable objects" test "$would" -gt 0
check "the dry run deletes nothing" test "$(find "$R/objects" -type f | wc -l)" = "$before_objects"
expect_rc 0 "gc --grace 0" "$WFS" gc "$R" --grace 0 --json
check "gc deletes what the dry run announced" test "$(json_get "$OUT" 'j["deleted_objects"]')" = "$would"
# The changed tensor (1 MiB) was used only by the forgotten fine-tuned snapshot.
check "gc frees at least the forgotten tensor's bytes" test "$would_bytes" -gt 1048576
check "the objects are gone from disk" test "$(find "$R/objects" -type f | wc -l)" = "$((before_objects - would))"
expect_rc 0 "check --read-data after gc" "$WFS" check "$R" --read-data
check "check finds no problems" contains "$OUT" "no problems found"
expect_rc 0 "the kept version v1 reads back" "$WFS" cat "$R" /model.safetensors --version v1
check "v1's model is byte-exact" cmp -s "$OUT" "$T/model.base"
expect_rc 0 "a second gc --grace 0" "$WFS" gc "$R" --grace 0
check "finds nothing left" contains "$OUT" "deleted 0 objects"
expect_rc 2 "gc with a bad duration" "$WFS" gc "$R" --grace 5x

finish
