#!/usr/bin/env bash
# Offline round trip through the weightfs CLI: a tree with empty files, a > 2 GiB safetensors
# file of distinct data, 20 levels of directories, names with spaces and UTF-8, symlinks, modes
# and nanosecond mtimes is imported and exported back byte for byte with its metadata; cat, ls
# (-l -r, --json), import --to, log and stats are checked on it; and no plaintext (contents,
# names, tensor names, samples of the big file) appears anywhere in the repository's files.
#
# WFS_TEST_BIG_SIZE (bytes of tensor data in the big file, default 2 GiB) makes quick dev runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIG_DATA=${WFS_TEST_BIG_SIZE:-2147483648}
BIG_TAIL=12345  # an odd last tensor, so the file size is not a multiple of anything
# The repository, the source and one export hold the big file: make sure it fits.
need_kb=$(((3 * (BIG_DATA + BIG_TAIL) + 512 * 1024 * 1024) / 1024))
avail_kb=$(df -Pk "$T" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "skipping: $T has $((avail_kb / 1024)) MiB free, the round trip needs $((need_kb / 1024)) MiB"
  _FINISHED=1
  exit 77
fi

R=$T/repo
S=$T/src
MARKER="WFS-PLAINTEXT-MARKER-c0ffee-41d7"
UTF8_DIR="Ω ünï 模型"
UTF8_FILE="权重 file (final).bin"
SECRET_NAME="top-secret-name-of-checkpoint"
TENSOR="encoder.layers.17.attn.q_proj_SECRETTENSOR.weight"
LINK_TARGET="models/small weights.safetensors"
BIG="models/big model.safetensors"

section "building the source tree in $S"
mkdir -p "$S/models" "$S/$UTF8_DIR/inner dir" "$S/empty dir" "$S/sticky"
: >"$S/empty.txt"
: >"$S/$UTF8_DIR/inner dir/empty too"
printf '%s: contents of a UTF-8 named file\n' "$MARKER" >"$S/$UTF8_DIR/$UTF8_FILE"
printf 'notes with the marker %s inside\n' "$MARKER" >"$S/$SECRET_NAME.txt"
printf '#!/bin/sh\necho run\n' >"$S/run.sh"
printf 'read only\n' >"$S/readonly.txt"
printf 'private\n' >"$S/sticky/private.key"
deep=$S/deep
for i in $(seq -w 1 20); do deep=$deep/level$i; done
mkdir -p "$deep"
printf 'at the bottom of 20 levels\n' >"$deep/leaf.txt"
ln -s "$LINK_TARGET" "$S/link to weights"
ln -s "../does/not/exist" "$S/models/dangling link"

# The big file: a real safetensors file (header, then 16 tensors of 128 MiB and an odd one),
# whose data is an AES-256-CTR key stream: deterministic, fast, and with no repeated chunk.
"$PY" - "$S/$BIG" "$BIG_DATA" "$BIG_TAIL" "$TENSOR" <<'EOF'
import json, struct, sys
path, data, tail, secret = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n = 16
per = data // n
header, off = {"__metadata__": {"format": "pt"}}, 0
for i in range(n):
    size = per if i < n - 1 else data - per * (n - 1)
    name = secret if i == 7 else f"model.layers.{i}.mlp.down_proj.weight"
    header[name] = {"dtype": "U8", "shape": [size], "data_offsets": [off, off + size]}
    off += size
header["lm_head.tail"] = {"dtype": "U8", "shape": [tail], "data_offsets": [off, off + tail]}
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
EOF
head -c "$((BIG_DATA + BIG_TAIL))" /dev/zero |
  openssl enc -aes-256-ctr -nosalt -K 5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed \
    -iv 000102030405060708090a0b0c0d0e0f >>"$S/$BIG"

# A small safetensors file (the tensor name again), and an identical copy (dedup within a tree).
"$PY" - "$S/$LINK_TARGET" "$TENSOR" <<'EOF'
import json, struct, sys
path, name = sys.argv[1], sys.argv[2]
data = bytes((i * 7 + 3) % 251 for i in range(4096))
h = json.dumps({name: {"dtype": "F32", "shape": [32, 32], "data_offsets": [0, 4096]}}).encode()
h += b" " * (-len(h) % 8)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
EOF
cp "$S/$LINK_TARGET" "$S/models/copy of small weights.safetensors"

chmod 0755 "$S/run.sh"
chmod 0444 "$S/readonly.txt"
chmod 0600 "$S/sticky/private.key" "$S/$SECRET_NAME.txt"
chmod 0640 "$S/$UTF8_DIR/$UTF8_FILE"
chmod 1777 "$S/sticky"
chmod 0750 "$S/$UTF8_DIR"
chmod 0700 "$S/empty dir"
setfattr -n user.origin -v "from the round trip test" "$S/run.sh" 2>/dev/null && have_xattr=1 || have_xattr=0
# Distinct nanosecond mtimes everywhere, deepest first so parents keep theirs.
"$PY" - "$S" <<'EOF'
import os, sys
root = sys.argv[1]
paths = []
for d, dirs, files in os.walk(root):
    paths += [os.path.join(d, n) for n in dirs + files]
for i, p in enumerate(sorted(paths, key=lambda p: -p.count("/"))):
    ns = (1_600_000_000 + i * 3_600) * 1_000_000_000 + (i * 123_456_789) % 1_000_000_000
    os.utime(p, ns=(ns, ns), follow_symlinks=False)
EOF
big_size=$(stat -c %s "$S/$BIG")
big_sha=$(sha256 "$S/$BIG")
echo "big file: $big_size bytes, sha256 $big_sha"

# A metadata listing: path, type, mode, size, mtime (ns), symlink target. Not the root itself.
meta_listing() {
  (cd "$1" && find . -mindepth 1 -print0 | sort -z | xargs -0 stat -c '%n|%F|%a|%s|%.9Y|%N') || echo "cannot list $1"
}

section "init and import"
expect_rc 0 "init a repository" "$WFS" init "$R"
t0=$(date +%s.%N)
expect_rc 0 "import the tree" "$WFS" import "$R" "$S" -m "first import of the tree"
t1=$(date +%s.%N)
echo "       import of $((big_size / 1048576)) MiB took $(awk "BEGIN { print $t1 - $t0 }") s"
check "import reports the file count" contains "$OUT" "imported $(find "$S" -type f | wc -l) files"

section "export and compare"
t0=$(date +%s.%N)
expect_rc 0 "export the tree" "$WFS" export "$R" "$T/out"
t1=$(date +%s.%N)
echo "       export took $(awk "BEGIN { print $t1 - $t0 }") s"
check "diff -r of source and export finds no difference" diff -r --no-dereference "$S" "$T/out"
check "the big file has the same size" test "$(stat -c %s "$T/out/$BIG")" = "$big_size"
check "the big file has the same sha256" test "$(sha256 "$T/out/$BIG")" = "$big_sha"
meta_listing "$S" >"$T/meta.src"
meta_listing "$T/out" >"$T/meta.out"
check "types, modes (stat %a), sizes, mtimes (ns) and symlink targets are equal" diff "$T/meta.src" "$T/meta.out"
check "the sticky directory keeps mode 1777" test "$(stat -c %a "$T/out/sticky")" = 1777
check "run.sh keeps mode 755" test "$(stat -c %a "$T/out/run.sh")" = 755
check "readonly.txt keeps mode 444" test "$(stat -c %a "$T/out/readonly.txt")" = 444
check "the 20th level directory exists" test -f "$T/out${deep#"$S"}/leaf.txt"
check "the empty files are empty" test -f "$T/out/empty.txt" -a ! -s "$T/out/empty.txt" -a ! -s "$T/out/$UTF8_DIR/inner dir/empty too"
check "the empty directory exists" test -d "$T/out/empty dir"
check "the dangling symlink is a symlink with its target" test "$(readlink "$T/out/models/dangling link")" = "../does/not/exist"
if [ "$have_xattr" = 1 ]; then
  check "a user.* extended attribute survives" test "$(getfattr --only-values -n user.origin "$T/out/run.sh" 2>/dev/null)" = "from the round trip test"
fi
check "no .weightfs-partial file is left in the export" test -z "$(find "$T/out" -name '*.weightfs-partial')"
rm -rf "$T/out"

section "cat"
expect_rc 0 "cat of the UTF-8 named file" "$WFS" cat "$R" "/$UTF8_DIR/$UTF8_FILE"
check "cat output equals the source file" same_file "$OUT" "$S/$UTF8_DIR/$UTF8_FILE"
expect_rc 0 "cat of the file 20 levels deep" "$WFS" cat "$R" "${deep#"$S"}/leaf.txt"
check "cat output equals the deep source file" same_file "$OUT" "$deep/leaf.txt"
expect_rc 0 "cat of an empty file" "$WFS" cat "$R" /empty.txt
check "cat of an empty file prints nothing" test ! -s "$OUT"
expect_rc 0 "cat of a symlink" "$WFS" cat "$R" "/link to weights"
check "cat of a symlink prints its target" test "$(cat "$OUT")" = "$LINK_TARGET"
set +e
"$WFS" cat "$R" "/$BIG" | openssl dgst -sha256 -r | cut -d' ' -f1 >"$T/cat.sha"
cat_rc=${PIPESTATUS[0]}
set -e
check "cat of the big file exits 0" test "$cat_rc" = 0
check "cat of the big file has the same sha256" test "$(cat "$T/cat.sha")" = "$big_sha"

section "ls"
expect_rc 0 "ls -l -r" "$WFS" ls -l -r "$R"
cp "$OUT" "$T/ls-lr.txt"
expect_rc 0 "ls --json -r" "$WFS" ls --json -r "$R"
cp "$OUT" "$T/ls-json-r.txt"
expect_rc 0 "ls --json" "$WFS" ls --json "$R"
cp "$OUT" "$T/ls-json.txt"
expect_rc 0 "ls (short) of a UTF-8 directory" "$WFS" ls "$R" "/$UTF8_DIR"
check "short ls shows the UTF-8 file name and the subdirectory with a slash" \
  bash -c 'grep -qxF -- "$1" "$3" && grep -qxF -- "$2" "$3"' _ "$UTF8_FILE" "inner dir/" "$OUT"
cat >"$T/ls_check.py" <<'EOF'
import json, os, stat, sys
mode, src, listing = sys.argv[1], sys.argv[2], sys.argv[3]
want = {}
for d, dirs, files in os.walk(src):
    for n in dirs + files:
        p = os.path.join(d, n)
        want["/" + os.path.relpath(p, src)] = os.lstat(p)
def kind(st):
    return "dir" if stat.S_ISDIR(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode) else "file"
errors = []
if mode == "long":
    got = {}
    for line in open(listing, encoding="utf-8").read().splitlines():
        perm, size, day, time, rest = line.split(None, 4)
        if perm.startswith("l"):
            rest, _, target = rest.partition(" -> ")
        got[rest] = (perm, int(size))
    for p, st in want.items():
        if p not in got:
            errors.append(f"missing from ls -l -r: {p!r}")
            continue
        perm = stat.filemode(st.st_mode)
        # ls shows the nine permission bits only (no s/t), as in "drwxrwxrwx"
        expect = perm[0] + "".join(c if c in "rwx-" else ("x" if c in "st" else "-") for c in perm[1:])
        if got[p][0] != expect:
            errors.append(f"{p!r}: mode {got[p][0]} != {expect}")
        if kind(st) == "file" and got[p][1] != st.st_size:
            errors.append(f"{p!r}: size {got[p][1]} != {st.st_size}")
    extra = set(got) - set(want)
else:
    entries = json.load(open(listing, encoding="utf-8"))
    got = {e["path"]: e for e in entries}
    if mode == "top":
        want = {p: st for p, st in want.items() if p.count("/") == 1}
    for p, st in want.items():
        e = got.get(p)
        if e is None:
            errors.append(f"missing from ls --json: {p!r}")
            continue
        if e["type"] != kind(st):
            errors.append(f"{p!r}: type {e['type']} != {kind(st)}")
        if not stat.S_ISLNK(st.st_mode) and e["mode"] != stat.S_IMODE(st.st_mode):
            errors.append(f"{p!r}: mode {e['mode']:o} != {stat.S_IMODE(st.st_mode):o}")
        if e["mtime_ns"] != st.st_mtime_ns:
            errors.append(f"{p!r}: mtime_ns {e['mtime_ns']} != {st.st_mtime_ns}")
        if kind(st) == "file" and e["size"] != st.st_size:
            errors.append(f"{p!r}: size {e['size']} != {st.st_size}")
        if kind(st) == "symlink" and e.get("target") != os.readlink(os.path.join(src, p[1:])):
            errors.append(f"{p!r}: target {e.get('target')!r}")
    extra = set(got) - set(want)
errors += [f"unexpected path {p!r}" for p in sorted(extra)]
print("\n".join(errors) if errors else f"{len(want)} paths match")
sys.exit(1 if errors else 0)
EOF
check "ls -l -r lists every path of the source with its mode and size" "$PY" "$T/ls_check.py" long "$S" "$T/ls-lr.txt"
check "ls --json -r parses and matches every path (type, mode, size, mtime_ns, target)" "$PY" "$T/ls_check.py" json "$S" "$T/ls-json-r.txt"
check "ls --json parses and lists exactly the top level" "$PY" "$T/ls_check.py" top "$S" "$T/ls-json.txt"

section "importing the same tree twice deduplicates"
expect_rc 0 "second import of the same tree" "$WFS" import "$R" "$S" -m "second import of the same tree"
check "the second import stores no new chunk bytes" contains "$OUT" "(0 B new)"
expect_rc 0 "stats --json" "$WFS" stats --json "$R"
check "dedup ratio > 1.9 after importing the same tree twice" \
  "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s); sys.exit(0 if s["dedup_ratio"] > 1.9 else 1)' "$OUT"

section "import --to"
head -c 300000 /dev/zero | openssl enc -aes-256-ctr -nosalt -K "$(printf '11%.0s' {1..32})" -iv "$(printf '22%.0s' {1..16})" >"$T/one.bin"
printf 'the second single file %s\n' "$MARKER" >"$T/two.txt"
expect_rc 0 "import a single file --to /sub/dir/one.bin" "$WFS" import "$R" "$T/one.bin" --to /sub/dir/one.bin -m "single file one"
expect_rc 0 "ls /sub/dir" "$WFS" ls "$R" /sub/dir
check "the file is at /sub/dir/one.bin" grep -qxF one.bin "$OUT"
expect_rc 0 "import a second file at another path (--to /sub/other/two.txt)" "$WFS" import "$R" "$T/two.txt" --to /sub/other/two.txt -m "single file two"
expect_rc 0 "cat /sub/dir/one.bin after the second import" "$WFS" cat "$R" /sub/dir/one.bin
check "the first single file is still there, intact" same_file "$OUT" "$T/one.bin"
expect_rc 0 "cat /sub/other/two.txt" "$WFS" cat "$R" /sub/other/two.txt
check "the second single file is there" same_file "$OUT" "$T/two.txt"
expect_rc 0 "ls /sub" "$WFS" ls "$R" /sub
check "ls /sub shows both directories" bash -c 'grep -qxF dir/ "$1" && grep -qxF other/ "$1"' _ "$OUT"
expect_rc 0 "the imported tree is still there (cat the deep leaf)" "$WFS" cat "$R" "${deep#"$S"}/leaf.txt"
check "the deep leaf is unchanged" same_file "$OUT" "$deep/leaf.txt"
expect_rc 0 "export --path /sub/dir/one.bin to a file" "$WFS" export "$R" "$T/one.out" --path /sub/dir/one.bin
check "the exported single file equals the source" same_file "$T/one.out" "$T/one.bin"
expect_rc 0 "import a file without --to" "$WFS" import "$R" "$T/two.txt" -m "single file at the root"
expect_rc 0 "cat /two.txt" "$WFS" cat "$R" /two.txt
check "a file imported without --to lands at /NAME" same_file "$OUT" "$T/two.txt"

section "log"
expect_rc 0 "log" "$WFS" log "$R"
cp "$OUT" "$T/log.txt"
check "log shows five snapshots" test "$(grep -c '^snapshot [0-9a-f]\{64\}' "$T/log.txt")" = 5
check "log lists the messages newest first" "$PY" - "$T/log.txt" <<'EOF'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
msgs = ["single file at the root", "single file two", "single file one",
        "second import of the same tree", "first import of the tree"]
pos = [text.find("\n  " + m + "\n") for m in msgs]
print(pos)
sys.exit(0 if all(p >= 0 for p in pos) and pos == sorted(pos) else 1)
EOF
check "log shows sequence numbers #5 to #1 in order" bash -c \
  '[ "$(grep -o "^  #[0-9]*" "$1" | tr -d " #" | tr "\n" " ")" = "5 4 3 2 1 " ]' _ "$T/log.txt"
expect_rc 0 "log --json" "$WFS" log --json "$R"
cp "$OUT" "$T/log.json"
check "log --json: seq descending, parents chain, messages" "$PY" - "$T/log.json" <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
assert [s["seq"] for s in log] == [5, 4, 3, 2, 1], log
for newer, older in zip(log, log[1:]):
    assert newer["parent"] == older["id"], (newer, older)
    assert newer["time_ns"] >= older["time_ns"]
assert log[-1]["parent"] == ""
assert log[0]["message"] == "single file at the root" and log[-1]["message"] == "first import of the tree"
assert all(s["author"] == "admin" for s in log)
print("ok")
EOF
first_id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$T/log.json")
expect_rc 0 "ls --version <first snapshot, 12-digit prefix>" "$WFS" ls --version "${first_id:0:12}" "$R" /
check "the first snapshot has no /sub and no /two.txt" bash -c '! grep -qx "sub/" "$1" && ! grep -qx two.txt "$1" && grep -qx models/ "$1"' _ "$OUT"

section "stats"
expect_rc 0 "stats --json" "$WFS" stats --json "$R"
cp "$OUT" "$T/stats.json"
expect_rc 0 "ls --json -r of the live tree" "$WFS" ls --json -r "$R"
cp "$OUT" "$T/live.json"
check "stats numbers are consistent with the trees, the imports and the object files" \
  "$PY" - "$T/stats.json" "$T/live.json" "$S" "$R" "$T/one.bin" "$T/two.txt" <<'EOF'
import hashlib, json, os, sys
stats, live, src, repo, one, two = sys.argv[1:]
s = json.load(open(stats))
live = json.load(open(live))
print(s)
def tree(root):
    files = [os.path.join(d, n) for d, _, fs in os.walk(root) for n in fs]
    return [p for p in files if not os.path.islink(p)]
src_files = tree(src)
S = sum(os.path.getsize(p) for p in src_files)
a, b = os.path.getsize(one), os.path.getsize(two)
distinct = {}
for p in src_files + [one, two]:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    distinct[h.hexdigest()] = os.path.getsize(p)
errors = []
def expect(name, got, want):
    if got != want:
        errors.append(f"{name}: got {got}, expected {want}")
expect("snapshots", s["snapshots"], 5)
live_files = [e for e in live if e["type"] == "file"]
expect("live_files", s["live_files"], len(live_files))
expect("live_files (source + 3 single files)", s["live_files"], len(src_files) + 3)
expect("live_bytes", s["live_bytes"], sum(e["size"] for e in live_files))
expect("live_bytes (source + single files)", s["live_bytes"], S + a + 2 * b)
# snapshots: tree, tree again, + one, + two, + two at the root; the live tree is the latest one
expect("logical_bytes", s["logical_bytes"], S + S + (S + a) + (S + a + b) + (S + a + 2 * b))
expect("unique_bytes (distinct contents)", s["unique_bytes"], sum(distinct.values()))
objs = [os.path.join(d, n) for d, _, fs in os.walk(os.path.join(repo, "objects")) for n in fs]
expect("objects (files under objects/)", s["objects"], len(objs))
expect("stored_bytes (sizes under objects/)", s["stored_bytes"], sum(os.path.getsize(p) for p in objs))
if not (s["unique_bytes"] < s["stored_bytes"] < s["unique_bytes"] * 1.01 + 1_000_000):
    errors.append("stored_bytes should be unique_bytes plus a small sealing overhead")
if abs(s["dedup_ratio"] - s["logical_bytes"] / s["stored_bytes"]) > 1e-9:
    errors.append("dedup_ratio != logical_bytes / stored_bytes")
if not s["dedup_ratio"] > 4.5:
    errors.append(f"dedup_ratio {s['dedup_ratio']} should be about 5 (five snapshots of the same data)")
print("\n".join(errors) or "consistent")
sys.exit(1 if errors else 0)
EOF
expect_rc 0 "check --read-data authenticates the whole repository" "$WFS" check --read-data "$R"
check "check reports no problems" contains "$OUT" "no problems found"

section "no plaintext in the repository"
cat >"$T/search.py" <<'EOF'
import mmap, os, sys
root, mode, big = sys.argv[1], sys.argv[2], sys.argv[3]
needles = [s.encode() for s in sys.argv[4:]]
# Samples of the big file's tensor data (1 KiB past the header, the middle, the tail): raw
# ciphertext-looking bytes that must not appear unencrypted either.
size = os.path.getsize(big)
with open(big, "rb") as f:
    for off in (4096, size // 2, size - 100):
        f.seek(off)
        needles.append(f.read(48))
haystacks = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        haystacks.append(("name", p, os.path.relpath(p, root).encode()))
        if n in files and not os.path.islink(p) and os.path.getsize(p) > 0:
            haystacks.append(("file", p, None))
found = {i: [] for i in range(len(needles))}
for kind, p, text in haystacks:
    if kind == "name":
        for i, nd in enumerate(needles):
            if nd in text:
                found[i].append("name of " + p)
        continue
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for i, nd in enumerate(needles):
            if m.find(nd) >= 0:
                found[i].append(p)
labels = sys.argv[4:] + ["big file data @4096", "big file data @middle", "big file data @tail"]
bad = 0
for i, where in found.items():
    if mode == "absent" and where:
        bad += 1
        print(f"FOUND {labels[i]!r} in {where[:3]}")
    if mode == "present" and not where:
        bad += 1
        print(f"NOT FOUND {labels[i]!r}")
print(f"searched {len(haystacks)} names and files for {len(needles)} strings: {bad} bad")
sys.exit(1 if bad else 0)
EOF
secrets=("$MARKER" "$UTF8_DIR" "$UTF8_FILE" "$SECRET_NAME" "$TENSOR" "small weights" "level20" "leaf.txt"
  "model.layers.3.mlp.down_proj.weight")
check "control: the search finds every string and data sample in the source tree" "$PY" "$T/search.py" "$S" present "$S/$BIG" "${secrets[@]}"
check "the search finds no content, name, tensor name or data sample in the repository" "$PY" "$T/search.py" "$R" absent "$S/$BIG" "${secrets[@]}"
check "grep -r -a finds no marker, name or tensor name in the repository" bash -c \
  '! grep -r -a -l -F -e "$2" -e "$3" -e "$4" -e "$5" "$1"' _ "$R" "$MARKER" "$UTF8_DIR" "$SECRET_NAME" "$TENSOR"
check "control: the same grep finds the marker and the tensor name in the source" bash -c \
  'grep -r -a -q -F -e "$2" "$1" && grep -r -a -q -F -e "$3" "$1"' _ "$S" "$MARKER" "$TENSOR"

finish
