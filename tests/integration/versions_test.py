"""Versions on a real weightfs mount, Debian's /usr/bin/python3.

Longer than the 500-line limit on purpose: this file is one ctest whose checks share one costly
setup (repositories, OS users, real mounts); split into several files, each would repeat it and
the CI run would grow by that much.

Main repository, one read-write mount (default --versions-dir hidden):
  - `.versions` is hidden from readdir of the root (os.listdir, `ls -a`, `find`) but reachable by
    name, and lists ids/tags/by-time/latest;
  - files (a safetensors model among them) are tagged v1 by `mkdir .versions/tags/v1`, then the
    live tree changes (a tensor overwritten in place, a file deleted, one added):
    `.versions/tags/v1/` keeps the v1 content byte-exact, also through ids/<id>, an 8-digit id
    prefix, the by-time symlink and `latest`;
  - every modifying call below `.versions/` gives EROFS, and the root entry `.versions` cannot be
    removed, renamed or created over;
  - `mkdir .versions/tags/x` makes a snapshot (EEXIST for an existing tag, EINVAL for a bad name);
  - `weightfs snapshot MNT -m msg --tag t2` works against the running mount;
  - offline `restore` (exit 7) and `gc --grace 0` without --force are refused while it runs;
  - a --read-only mount beside it (--versions-dir visible) sees a new snapshot within seconds;
    a --versions-dir disabled mount has no .versions at all.
Second repository: a file of an old version opened before a newer snapshot keeps reading after
that snapshot and after `forget` + `gc --grace 0 --force` run while it is open.
Third repository: --snapshot-interval 1s snapshots after a change and not while idle.
Offline on the main repository after unmount: `log PATH`, `diff` (tensor names), `restore`
into the live tree and `--to DEST`, `forget --keep-last 1` + `gc` (dry run first) frees space,
and `check --read-data` passes with every kept version readable on a new mount.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/versions_test.py
"""
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer as st  # noqa: E402
import wfs  # noqa: E402
from wfs import ename, eq, eq_manifest, expect_errno, expect_ok, fail, poll, true  # noqa: E402

MiB = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")
BY_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d)(\d\d)(\d\d)Z(_[0-9a-f]{8})?$")


class State:
    work = repo = mnt = None
    mount = None            # the read-write wfs.Mount of the main repository
    others = []             # other mounts to tear down at the end
    v1_tree = None          # manifest of the live tree at v1
    v1_id = x_id = t2_id = t3_id = None
    model_v1 = None         # bytes of model.safetensors at v1
    tensors_v1 = None       # name -> numpy array at v1
    live_expected = None    # manifest of the live tree at unmount


S = State()

# ---------------------------------------------------------------------------------------------
# Helpers.


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def rand(n, seed):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def manifest(root):
    """relative path -> (kind, mode, size, mtime seconds, sha256 or link target) below root."""
    out = {}

    def walk(d, prefix):
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            rel = prefix + e.name
            s = e.stat(follow_symlinks=False)
            if stat.S_ISDIR(s.st_mode):
                out[rel] = ("dir", stat.S_IMODE(s.st_mode))
                walk(e.path, rel + "/")
            elif stat.S_ISLNK(s.st_mode):
                out[rel] = ("link", os.readlink(e.path))
            else:
                out[rel] = ("file", stat.S_IMODE(s.st_mode), s.st_size, int(s.st_mtime), sha(read_file(e.path)))
    walk(root, "")
    return out


def files_only(m):
    """A manifest without modes and mtimes (for trees exported to local disk)."""
    out = {}
    for k, v in m.items():
        out[k] = ("file", v[2], v[4]) if v[0] == "file" else ("link", v[1]) if v[0] == "link" else ("dir",)
    return out


def versions(mnt=None):
    return os.path.join(mnt or S.mnt, ".versions")


def latest_id(mnt=None):
    target = os.readlink(os.path.join(versions(mnt), "latest"))
    if not target.startswith("ids/"):
        raise AssertionError("readlink(.versions/latest) = %r, expected ids/<id>" % target)
    return target[4:]


def wrun(*args):
    """Runs weightfs without checking the exit status."""
    return wfs.run(*args, check=False, timeout=300)


def wjson(*args):
    p = wfs.run(*args, "--json", timeout=300)
    return json.loads(p.stdout.decode())


def log_json(repo, path=None):
    return wjson("log", repo, *([path] if path else []))


def stats(repo):
    return wjson("stats", repo)


def model_tensors(seed):
    rng = np.random.default_rng(seed)
    return {
        "embed.weight": rng.standard_normal((256, 1024), dtype=np.float32),
        "layer1.weight": rng.standard_normal((512, 512), dtype=np.float32),
        "layer1.bias": rng.standard_normal(512, dtype=np.float32),
        "head.weight": (st.float32_to_bf16(rng.standard_normal((512, 512), dtype=np.float32)), "BF16"),
    }


def listdir_or_none(p):
    try:
        return os.listdir(p)
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Main repository, read-write mount.


def test_hidden_versions_dir():
    os.mkdir(os.path.join(S.mnt, "sub"))
    write_file(os.path.join(S.mnt, "sub", "notes.txt"), b"notes at v1\n")
    root = os.listdir(S.mnt)
    true(".versions" not in root, "os.listdir(root) must not show .versions: %r" % root)
    with os.scandir(S.mnt) as it:
        names = [e.name for e in it]
    true(".versions" not in names, "os.scandir(root) must not show .versions: %r" % names)
    p = subprocess.run(["ls", "-a1", S.mnt], capture_output=True, text=True)
    eq(p.returncode, 0, "ls -a exit status (%s)" % p.stderr)
    true(".versions" not in p.stdout.split(), "ls -a of the root must not show .versions: %r" % p.stdout.split())
    p = subprocess.run(["find", S.mnt], capture_output=True, text=True)
    true(".versions" not in p.stdout, "find must not walk .versions: %r" % p.stdout[:300])
    s = expect_ok("stat(.versions)", os.stat, versions())
    if s:
        true(stat.S_ISDIR(s.st_mode), "stat(.versions) is a directory (mode %o)" % s.st_mode)
        eq(s.st_mode & 0o222, 0, ".versions has no write permission bits (mode %o)" % s.st_mode)
    top = expect_ok("listdir(.versions)", os.listdir, versions()) or []
    # No snapshot yet: 'latest' may be absent.
    true({"ids", "tags", "by-time"} <= set(top) <= {"ids", "tags", "by-time", "latest"},
         "listdir(.versions) before any snapshot: %r" % top)
    eq(expect_ok("listdir(ids)", os.listdir, os.path.join(versions(), "ids")), [],
       "listdir(.versions/ids) before any snapshot")
    expect_errno(errno.ENOENT, "stat(.versions/nope)", os.stat, os.path.join(versions(), "nope"))
    expect_errno(errno.ENOENT, "stat(.versions/ids/<unknown 64-hex id>)", os.stat,
                 os.path.join(versions(), "ids", "ab" * 32))
    expect_errno(errno.ENOENT, "stat(.versions/ids/abc) (prefix shorter than 8)", os.stat,
                 os.path.join(versions(), "ids", "abc"))


def test_tag_v1_and_browse_old_tree():
    m = S.mnt
    tensors = model_tensors(1)
    st.save(os.path.join(m, "model.safetensors"), tensors, metadata={"format": "pt"})
    write_file(os.path.join(m, "config.json"), b'{"hidden": 512, "version": 1}\n')
    write_file(os.path.join(m, "data.bin"), rand(2 * MiB + 77, 2))
    os.symlink("model.safetensors", os.path.join(m, "link"))
    os.chmod(os.path.join(m, "config.json"), 0o640)
    S.v1_tree = manifest(m)
    S.model_v1 = read_file(os.path.join(m, "model.safetensors"))
    S.tensors_v1 = {k: (v[0] if isinstance(v, tuple) else v).copy() for k, v in tensors.items()}

    v = versions()
    expect_ok("mkdir .versions/tags/v1", os.mkdir, os.path.join(v, "tags", "v1"))
    s = expect_ok("stat(.versions/tags/v1)", os.stat, os.path.join(v, "tags", "v1"))
    if s:
        true(stat.S_ISDIR(s.st_mode), "tags/v1 is a directory")
    eq(sorted(os.listdir(v)), ["by-time", "ids", "latest", "tags"], "listdir(.versions) after a snapshot")
    ids = os.listdir(os.path.join(v, "ids"))
    eq(len(ids), 1, "one snapshot in ids/ after mkdir tags/v1 (%r)" % ids)
    S.v1_id = latest_id()
    true(HEX64.match(S.v1_id), "latest -> ids/<64 lowercase hex>: %r" % S.v1_id)
    eq(ids, [S.v1_id], "listdir(ids) shows the full id that latest names")
    eq(os.listdir(os.path.join(v, "tags")), ["v1"], "listdir(tags)")

    # Change the live tree: overwrite a tensor in place, delete a file, add one.
    live_model = os.path.join(m, "model.safetensors")
    header, data_start = st.read_header(live_model)
    begin, end = header["layer1.weight"]["data_offsets"]
    new_w = np.random.default_rng(99).standard_normal((512, 512), dtype=np.float32)
    with open(live_model, "r+b") as f:
        f.seek(data_start + begin)
        f.write(new_w.tobytes())
    os.unlink(os.path.join(m, "data.bin"))
    write_file(os.path.join(m, "new.txt"), b"added after v1\n")
    true(sha(read_file(live_model)) != sha(S.model_v1), "the live model changed after overwriting a tensor")
    eq(np.array_equal(st.load_tensor(live_model, "layer1.weight"), new_w), True, "live layer1.weight is the new one")

    # The old tree, byte-exact, through every way in.
    v1_dir = os.path.join(v, "tags", "v1")
    eq_manifest(manifest(v1_dir), S.v1_tree, "tags/v1 vs the live tree at v1")
    eq(sorted(os.listdir(v1_dir)), sorted(["config.json", "data.bin", "link", "model.safetensors", "sub"]),
       "ls .versions/tags/v1")
    eq(sha(read_file(os.path.join(v1_dir, "model.safetensors"))), sha(S.model_v1), "tags/v1/model.safetensors sha256")
    old = st.load_tensor(os.path.join(v1_dir, "model.safetensors"), "layer1.weight")
    eq(np.array_equal(old, S.tensors_v1["layer1.weight"]), True, "tags/v1 layer1.weight (numpy memmap) is the v1 tensor")
    del old
    expect_errno(errno.ENOENT, "tags/v1/new.txt (added after v1)", os.stat, os.path.join(v1_dir, "new.txt"))
    eq(os.readlink(os.path.join(v1_dir, "link")), "model.safetensors", "symlink in tags/v1")
    eq_manifest(manifest(os.path.join(v, "ids", S.v1_id)), S.v1_tree, "ids/<v1 id>")
    eq_manifest(manifest(os.path.join(v, "ids", S.v1_id[:8])), S.v1_tree, "ids/<8-digit prefix of v1>")
    eq_manifest(manifest(os.path.join(v, "ids", S.v1_id[:20])), S.v1_tree, "ids/<20-digit prefix of v1>")
    eq(os.listdir(os.path.join(v, "ids")), [S.v1_id], "listdir(ids) still shows only the full id after prefix lookups")
    eq_manifest(manifest(os.path.join(v, "latest")), S.v1_tree, "latest (v1)")
    by_time = os.listdir(os.path.join(v, "by-time"))
    eq(len(by_time), 1, "one by-time entry (%r)" % by_time)
    for name in by_time:
        mt = BY_TIME.match(name)
        if not true(mt, "by-time name %r looks like 2026-11-29T130501Z" % name):
            continue
        y, mo, d, h, mi, sec = (int(g) for g in mt.groups()[:6])
        t = time.mktime((y, mo, d, h, mi, sec, 0, 0, 0)) - time.mktime(time.gmtime(0))
        true(abs(t - time.time()) < 600, "by-time %s is the snapshot time in UTC (now %s)"
             % (name, time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())))
        p = os.path.join(v, "by-time", name)
        true(os.path.islink(p), "by-time/%s is a symlink" % name)
        eq(os.readlink(p), "../ids/" + S.v1_id, "readlink(by-time/%s)" % name)
        eq_manifest(manifest(p), S.v1_tree, "by-time/%s" % name)
    # The live tree is the changed one.
    live = manifest(m)
    true("data.bin" not in live and "new.txt" in live, "live tree: data.bin gone, new.txt added")
    true(live["model.safetensors"] != S.v1_tree["model.safetensors"], "live model differs from v1")


def erofs_cases():
    v = versions()
    t = os.path.join(v, "tags", "v1")
    f = os.path.join(t, "config.json")
    d = os.path.join(t, "sub")
    ids_dir = os.path.join(v, "ids", S.v1_id)
    by_time = os.path.join(v, "by-time", os.listdir(os.path.join(v, "by-time"))[0])
    live_new = os.path.join(S.mnt, "new.txt")
    wr = lambda p, flags: os.open(p, flags, 0o644)  # noqa: E731
    cases = [
        ("create tags/v1/newfile", wr, os.path.join(t, "newfile"), os.O_CREAT | os.O_WRONLY),
        ("create ids/<id>/newfile", wr, os.path.join(ids_dir, "newfile"), os.O_CREAT | os.O_WRONLY),
        ("create .versions/newfile", wr, os.path.join(v, "newfile"), os.O_CREAT | os.O_WRONLY),
        ("create .versions/tags/newfile", wr, os.path.join(v, "tags", "newfile"), os.O_CREAT | os.O_WRONLY),
        ("create .versions/ids/newfile", wr, os.path.join(v, "ids", "newfile"), os.O_CREAT | os.O_WRONLY),
        ("open(tags/v1/config.json, O_WRONLY)", wr, f, os.O_WRONLY),
        ("open(tags/v1/config.json, O_RDWR)", wr, f, os.O_RDWR),
        ("open(tags/v1/config.json, O_WRONLY|O_TRUNC)", wr, f, os.O_WRONLY | os.O_TRUNC),
        ("open(tags/v1/config.json, O_WRONLY|O_APPEND)", wr, f, os.O_WRONLY | os.O_APPEND),
        ("truncate(tags/v1/config.json, 0)", os.truncate, f, 0),
        ("truncate(tags/v1/config.json, 1 MiB)", os.truncate, f, MiB),
        ("mkdir tags/v1/newdir", os.mkdir, os.path.join(t, "newdir")),
        ("mkdir tags/v1/sub/newdir", os.mkdir, os.path.join(d, "newdir")),
        ("mkdir .versions/newdir", os.mkdir, os.path.join(v, "newdir")),
        ("mkdir .versions/ids/newdir", os.mkdir, os.path.join(v, "ids", "newdir")),
        ("mkdir .versions/by-time/newdir", os.mkdir, os.path.join(v, "by-time", "newdir")),
        ("mkdir ids/<id>/newdir", os.mkdir, os.path.join(ids_dir, "newdir")),
        ("rmdir tags/v1/sub", os.rmdir, d),
        ("rmdir tags/v1", os.rmdir, t),
        ("rmdir ids/<id>", os.rmdir, ids_dir),
        ("rmdir .versions/ids", os.rmdir, os.path.join(v, "ids")),
        ("rmdir .versions/tags", os.rmdir, os.path.join(v, "tags")),
        ("unlink tags/v1/config.json", os.unlink, f),
        ("unlink tags/v1/link", os.unlink, os.path.join(t, "link")),
        ("unlink .versions/latest", os.unlink, os.path.join(v, "latest")),
        ("unlink by-time/<entry>", os.unlink, by_time),
        ("rename inside tags/v1", os.rename, f, os.path.join(t, "renamed.json")),
        ("rename a dir inside tags/v1", os.rename, d, os.path.join(t, "sub2")),
        ("rename out of tags/v1 into the live tree", os.rename, f, os.path.join(S.mnt, "stolen.json")),
        ("rename from the live tree into tags/v1", os.rename, live_new, os.path.join(t, "new.txt")),
        ("rename from the live tree into .versions", os.rename, live_new, os.path.join(v, "new.txt")),
        ("rename tags/v1 -> tags/v9", os.rename, t, os.path.join(v, "tags", "v9")),
        ("rename latest -> latest2", os.rename, os.path.join(v, "latest"), os.path.join(v, "latest2")),
        ("rename ids -> ids2", os.rename, os.path.join(v, "ids"), os.path.join(v, "ids2")),
        ("chmod tags/v1/config.json", os.chmod, f, 0o600),
        ("chmod tags/v1", os.chmod, t, 0o700),
        ("chmod .versions/ids", os.chmod, os.path.join(v, "ids"), 0o700),
        ("chown tags/v1/config.json", os.chown, f, 12345, 12345),
        ("utime tags/v1/config.json", os.utime, f, (1, 1)),
        ("utime tags/v1/config.json (now)", os.utime, f, None),
        ("utime tags/v1", os.utime, t, (1, 1)),
        ("setxattr tags/v1/config.json", os.setxattr, f, "user.test", b"1"),
        ("setxattr tags/v1", os.setxattr, t, "user.test", b"1"),
        ("setxattr .versions/tags", os.setxattr, os.path.join(v, "tags"), "user.test", b"1"),
        ("removexattr tags/v1/config.json", os.removexattr, f, "user.test"),
        ("symlink tags/v1/newlink", os.symlink, "config.json", os.path.join(t, "newlink")),
        ("symlink .versions/tags/newlink", os.symlink, "v1", os.path.join(v, "tags", "newlink")),
        ("symlink .versions/newlink", os.symlink, "ids", os.path.join(v, "newlink")),
        ("link live file into tags/v1", os.link, live_new, os.path.join(t, "hardlink")),
        ("link inside tags/v1", os.link, f, os.path.join(t, "hardlink")),
        ("mkfifo tags/v1/fifo", os.mkfifo, os.path.join(t, "fifo")),
    ]
    return cases


def test_everything_below_versions_is_read_only():
    v = versions()
    live_before = manifest(S.mnt)
    for case in erofs_cases():
        what, fn, args = case[0], case[1], case[2:]
        expect_errno(errno.EROFS, what, fn, *args)
    # Hard link out of a snapshot into the live tree: refused (EROFS; EXDEV/EPERM also keep history safe).
    expect_errno((errno.EROFS, errno.EXDEV, errno.EPERM), "link tags/v1/config.json into the live tree",
                 os.link, os.path.join(v, "tags", "v1", "config.json"), os.path.join(S.mnt, "hardlink"))
    # The root entry .versions itself.
    os.mkdir(os.path.join(S.mnt, "emptydir"))
    expect_errno(errno.EROFS, "rmdir .versions", os.rmdir, v)
    expect_errno(errno.EROFS, "rename .versions -> versions2", os.rename, v, os.path.join(S.mnt, "versions2"))
    expect_errno(errno.EROFS, "rename .versions into a live dir", os.rename, v, os.path.join(S.mnt, "sub", "v"))
    expect_errno((errno.EROFS, errno.ENOTEMPTY), "rename an empty live dir over .versions", os.rename,
                 os.path.join(S.mnt, "emptydir"), v)
    expect_errno((errno.EROFS, errno.EISDIR), "rename a live file over .versions", os.rename,
                 os.path.join(S.mnt, "new.txt"), v)
    expect_errno((errno.EROFS, errno.EISDIR, errno.EPERM), "unlink .versions", os.unlink, v)
    expect_errno((errno.EROFS, errno.EEXIST), "mkdir .versions", os.mkdir, v)
    expect_errno((errno.EROFS, errno.EEXIST, errno.EISDIR), "open(.versions, O_CREAT|O_WRONLY)", os.open, v,
                 os.O_CREAT | os.O_WRONLY)
    expect_errno((errno.EROFS, errno.EEXIST), "symlink over .versions", os.symlink, "sub", v)
    expect_errno(errno.EROFS, "chmod .versions", os.chmod, v, 0o777)
    expect_errno(errno.EROFS, "utime .versions", os.utime, v, (1, 1))
    expect_errno(errno.EROFS, "setxattr .versions", os.setxattr, v, "user.test", b"1")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]

    def exchange(a, b):
        if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    # RENAME_EXCHANGE is not supported anywhere on weightfs (EINVAL); either way nothing moves.
    expect_errno((errno.EROFS, errno.EINVAL), "renameat2(RENAME_EXCHANGE) of a live dir and .versions", exchange,
                 os.path.join(S.mnt, "emptydir"), v)
    os.rmdir(os.path.join(S.mnt, "emptydir"))
    # Nothing changed anywhere.
    eq_manifest(manifest(os.path.join(v, "tags", "v1")), S.v1_tree, "tags/v1 after the refused calls")
    eq_manifest(manifest(S.mnt), live_before, "live tree after the refused calls")
    eq(sorted(os.listdir(v)), ["by-time", "ids", "latest", "tags"], "listdir(.versions) after the refused calls")
    eq(os.listdir(os.path.join(v, "tags")), ["v1"], "tags/ after the refused calls")
    eq(os.listdir(os.path.join(v, "ids")), [S.v1_id], "ids/ after the refused calls")


def test_mkdir_tag_makes_snapshot():
    v = versions()
    tags = os.path.join(v, "tags")
    expect_ok("mkdir .versions/tags/x", os.mkdir, os.path.join(tags, "x"))
    ids = os.listdir(os.path.join(v, "ids"))
    eq(len(ids), 2, "two snapshots after mkdir tags/x (%r)" % ids)
    S.x_id = latest_id()
    true(S.x_id != S.v1_id and S.x_id in ids, "latest moved to the new snapshot %s" % S.x_id)
    eq(sorted(os.listdir(tags)), ["v1", "x"], "listdir(tags) after mkdir tags/x")
    live = manifest(S.mnt)
    eq_manifest(manifest(os.path.join(tags, "x")), live, "tags/x vs the live tree")
    eq_manifest(manifest(os.path.join(v, "ids", S.x_id)), live, "ids/<x id> vs the live tree")
    eq_manifest(manifest(os.path.join(tags, "v1")), S.v1_tree, "tags/v1 still the v1 tree")
    # Existing tags and bad names.
    expect_errno(errno.EEXIST, "mkdir tags/x again", os.mkdir, os.path.join(tags, "x"))
    expect_errno(errno.EEXIST, "mkdir tags/v1 again", os.mkdir, os.path.join(tags, "v1"))
    for bad in ("-bad", "bad name", "latest", "live", "deadbeef00", "a:b", "x" * 300):
        expect_errno((errno.EINVAL, errno.ENAMETOOLONG) if len(bad) > 255 else errno.EINVAL,
                     "mkdir tags/%r (bad tag name)" % bad[:20], os.mkdir, os.path.join(tags, bad))
    eq(sorted(os.listdir(tags)), ["v1", "x"], "no tag appeared from the failed mkdirs")
    eq(sorted(os.listdir(os.path.join(v, "ids"))), sorted(ids), "no snapshot was made by the failed mkdirs")


def test_snapshot_command_on_mount():
    write_file(os.path.join(S.mnt, "notes2.txt"), b"written before t2\n")
    p = wrun("snapshot", S.mnt, "-m", "msg", "--tag", "t2")
    eq(p.returncode, 0, "weightfs snapshot MNT -m msg --tag t2 exit status (stderr %r)" % p.stderr.decode()[-300:])
    tags = os.path.join(versions(), "tags")
    eq(sorted(os.listdir(tags)), ["t2", "v1", "x"], "tags/ at once after weightfs snapshot MNT")
    S.t2_id = latest_id()
    true(S.t2_id not in (S.v1_id, S.x_id), "latest is a new snapshot after weightfs snapshot MNT")
    eq(len(os.listdir(os.path.join(versions(), "ids"))), 3, "three snapshots")
    eq_manifest(manifest(os.path.join(tags, "t2")), manifest(S.mnt), "tags/t2 vs the live tree")
    p = wrun("snapshot", S.mnt, "--tag", "t2")
    true(p.returncode != 0, "weightfs snapshot MNT --tag t2 (existing tag) must fail without --force")
    p = wrun("snapshot", S.mnt, "--tag", "-bad")
    true(p.returncode != 0, "weightfs snapshot MNT --tag -bad must fail")
    eq(len(os.listdir(os.path.join(versions(), "ids"))), 3, "failed snapshot commands made no snapshot")


def test_offline_writers_refused_while_mounted():
    before = stats(S.repo)
    p = wrun("restore", S.repo, "v1", "/model.safetensors")
    eq(p.returncode, 7, "restore into the live tree while a rw mount runs: exit status (stderr %r)"
       % p.stderr.decode()[-300:])
    p = wrun("gc", S.repo, "--grace", "0")
    eq(p.returncode, 7, "gc --grace 0 without --force while a rw mount runs: exit status (stderr %r)"
       % p.stderr.decode()[-300:])
    p = wrun("gc", S.repo, "--grace", "0", "--dry-run")
    eq(p.returncode, 0, "gc --dry-run while a rw mount runs (stderr %r)" % p.stderr.decode()[-300:])
    after = stats(S.repo)
    eq(after["objects"], before["objects"], "objects unchanged by the refused gc")
    # Export (--to) needs no lock.
    dest = os.path.join(S.work, "export-while-mounted")
    p = wrun("restore", S.repo, "v1", "/config.json", "--to", dest)
    eq(p.returncode, 0, "restore v1 /config.json --to DEST while mounted (stderr %r)" % p.stderr.decode()[-300:])
    if p.returncode == 0:
        eq(sha(read_file(dest)), S.v1_tree["config.json"][4], "exported config.json of v1")
    # The mount is untouched: the live model is still the changed one.
    true(manifest(S.mnt)["model.safetensors"] != S.v1_tree["model.safetensors"], "live model still the changed one")


def test_read_only_mount_sees_new_snapshot():
    ro = wfs.Mount(S.repo, os.path.join(S.work, "ro"), "--read-only", "--versions-dir", "visible")
    ro.__enter__()
    S.others.append(ro)
    try:
        rv = versions(ro.mountpoint)
        true(".versions" in os.listdir(ro.mountpoint), "--versions-dir visible lists .versions: %r"
             % os.listdir(ro.mountpoint))
        eq(sorted(os.listdir(os.path.join(rv, "tags"))), ["t2", "v1", "x"], "ro mount: tags/")
        eq_manifest(manifest(os.path.join(rv, "tags", "v1")), S.v1_tree, "ro mount: tags/v1")
        expect_errno(errno.EROFS, "mkdir tags/y on a --read-only mount", os.mkdir, os.path.join(rv, "tags", "y"))
        # A new snapshot on the read-write mount.
        write_file(os.path.join(S.mnt, "config.json"), b'{"hidden": 512, "version": 3}\n')
        os.mkdir(os.path.join(versions(), "tags", "t3"))
        S.t3_id = latest_id()
        names, took = poll(lambda: "t3" in (listdir_or_none(os.path.join(rv, "tags")) or []), 10)
        if true(names, "ro mount: tags/t3 listed within 10 s (tags now %r)" % listdir_or_none(os.path.join(rv, "tags"))):
            print("  ro mount listed the new tag after %.1f s" % took, flush=True)
        seen, took = poll(lambda: os.path.isdir(os.path.join(rv, "tags", "t3")), 10)
        true(seen, "ro mount: lookup of tags/t3 works within 10 s")
        ids_ok, _ = poll(lambda: S.t3_id in (listdir_or_none(os.path.join(rv, "ids")) or []), 10)
        true(ids_ok, "ro mount: ids/ lists the new snapshot within 10 s")
        lat, _ = poll(lambda: os.readlink(os.path.join(rv, "latest")) == "ids/" + S.t3_id, 10)
        true(lat, "ro mount: latest -> the new snapshot within 10 s (got %r)" % os.readlink(os.path.join(rv, "latest")))
        if seen:
            eq(read_file(os.path.join(rv, "tags", "t3", "config.json")), b'{"hidden": 512, "version": 3}\n',
               "ro mount: tags/t3/config.json")
            eq_manifest(manifest(os.path.join(rv, "tags", "t3")), manifest(os.path.join(versions(), "tags", "t3")),
                          "ro mount tags/t3 vs rw mount tags/t3")
    finally:
        ro.unmount()
    # --versions-dir disabled: no .versions at all.
    off = wfs.Mount(S.repo, os.path.join(S.work, "off"), "--read-only", "--versions-dir", "disabled")
    off.__enter__()
    S.others.append(off)
    try:
        true(".versions" not in os.listdir(off.mountpoint), "disabled: not listed")
        expect_errno(errno.ENOENT, "disabled: stat(.versions)", os.stat, versions(off.mountpoint))
        expect_errno(errno.ENOENT, "disabled: listdir(.versions/tags)", os.listdir,
                     os.path.join(versions(off.mountpoint), "tags"))
        true(os.path.isfile(os.path.join(off.mountpoint, "config.json")), "disabled: the live tree is there")
    finally:
        off.unmount()


def test_unmount_main():
    S.live_expected = manifest(S.mnt)
    S.mount.unmount()
    true(not wfs.is_mounted(S.mnt), "main mount unmounted")


# ---------------------------------------------------------------------------------------------
# Second repository: an old file kept open across a snapshot, forget and gc.


def test_open_old_file_across_snapshot_and_gc():
    with wfs.temp_repo(prefix="wfs-versions-gc-") as (work, repo):
        mnt = os.path.join(work, "mnt")
        big = rand(12 * MiB + 4321, 7)
        with wfs.Mount(repo, mnt, "--no-readahead-tweak") as m:
            S.others.append(m)
            write_file(os.path.join(mnt, "big.bin"), big)
            write_file(os.path.join(mnt, "keep.txt"), b"kept\n")
            os.mkdir(os.path.join(versions(mnt), "tags", "old"))
            os.unlink(os.path.join(mnt, "big.bin"))
            write_file(os.path.join(mnt, "keep.txt"), b"kept, changed\n")
            # Age every object by two days, so the default grace (24 h) protects only what the
            # mount touches: opening a file marks its chunks as in use.
            two_days_ago = time.time() - 2 * 86400
            for d, _, files in os.walk(os.path.join(repo, "objects")):
                for f in files:
                    os.utime(os.path.join(d, f), (two_days_ago, two_days_ago))
            fd = os.open(os.path.join(versions(mnt), "tags", "old", "big.bin"), os.O_RDONLY)
            try:
                eq(os.pread(fd, 65536, 0), big[:65536], "old big.bin: first 64 KiB")
                os.mkdir(os.path.join(versions(mnt), "tags", "new"))
                eq(os.pread(fd, 65536, 3 * MiB), big[3 * MiB:3 * MiB + 65536],
                   "old big.bin after a newer snapshot: 64 KiB at 3 MiB")
                p = wrun("forget", repo, "--keep-last", "1")
                eq(p.returncode, 0, "forget --keep-last 1 while mounted (stderr %r)" % p.stderr.decode()[-300:])
                eq(os.pread(fd, 65536, 5 * MiB), big[5 * MiB:5 * MiB + 65536],
                   "old big.bin after forget (before gc): 64 KiB at 5 MiB")
                # The default grace (24 h) is allowed beside a running mount.
                p = wrun("gc", repo, "--json")
                eq(p.returncode, 0, "gc (default grace) while mounted (stderr %r)" % p.stderr.decode()[-300:])
                if p.returncode == 0:
                    r = json.loads(p.stdout.decode())
                    print("  gc while the old file is open: deleted %d objects (%d bytes)"
                          % (r["deleted_objects"], r["deleted_bytes"]), flush=True)
                    true(r["deleted_objects"] > 0, "gc deleted the aged, unreachable objects it may delete")
                # The rest of the file (never read before, not in the page cache).
                got = bytearray()
                err = None
                try:
                    off = 8 * MiB
                    while True:
                        b = os.pread(fd, MiB, off)
                        if not b:
                            break
                        got += b
                        off += len(b)
                except OSError as e:
                    err = e
                if err is not None:
                    fail("old big.bin opened before forget+gc: reading from 8 MiB failed "
                         "after %d bytes with %s (%s); gc deleted chunks an open handle still reads"
                         % (len(got), ename(err.errno), err))
                else:
                    eq(sha(bytes(got)), sha(big[8 * MiB:]), "old big.bin after forget+gc: bytes 8 MiB..end sha256")
                try:
                    whole = os.pread(fd, len(big), 0)
                    if len(whole) != len(big) or sha(whole) != sha(big):
                        fail("old big.bin after forget+gc: whole-file pread returned %d of %d bytes, %s"
                             % (len(whole), len(big), "a correct prefix" if big.startswith(whole) else "wrong bytes"))
                except OSError as e:
                    fail("old big.bin after forget+gc: whole-file read failed with %s" % ename(e.errno))
            finally:
                os.close(fd)
            # The mount keeps working.
            write_file(os.path.join(mnt, "after.txt"), b"after gc\n")
            expect_ok("mkdir tags/after-gc", os.mkdir, os.path.join(versions(mnt), "tags", "after-gc"))
            eq(read_file(os.path.join(versions(mnt), "tags", "after-gc", "after.txt")), b"after gc\n",
               "snapshot after gc")
            S.others.remove(m)
        p = wrun("check", repo, "--read-data")
        eq(p.returncode, 0, "check --read-data after forget+gc while mounted (%s)" % (p.stdout + p.stderr).decode()[-400:])
        if wfs.failures():  # the mount's log goes away with the temporary directory
            print("  --- daemon log of this repository's mount ---\n  %s"
                  % "\n  ".join(m.log().splitlines()[-8:]), flush=True)


# ---------------------------------------------------------------------------------------------
# Third repository: periodic snapshots.


def test_snapshot_interval():
    with wfs.temp_repo(prefix="wfs-versions-interval-") as (work, repo):
        mnt = os.path.join(work, "mnt")
        wfs.run("snapshot", repo, "-m", "baseline")  # the empty tree, so "nothing changed" is clear
        with wfs.Mount(repo, mnt, "--snapshot-interval", "1s", "--commit-interval", "0.2") as m:
            S.others.append(m)
            ids = os.path.join(versions(mnt), "ids")
            eq(len(os.listdir(ids)), 1, "ids/ holds the baseline snapshot")
            time.sleep(2.5)
            eq(len(os.listdir(ids)), 1, "no periodic snapshot while nothing changed (2.5 s at 1s interval)")
            write_file(os.path.join(mnt, "a.txt"), b"first\n")
            got, took = poll(lambda: len(listdir_or_none(ids) or []) >= 2, 8, 0.2)
            if true(got, "a periodic snapshot within 8 s of a change (ids %r)" % listdir_or_none(ids)):
                print("  periodic snapshot %.1f s after the change" % took, flush=True)
                eq(read_file(os.path.join(versions(mnt), "latest", "a.txt")), b"first\n", "periodic snapshot content")
            time.sleep(1.5)  # let any snapshot of a half-seen change settle
            n = len(os.listdir(ids))
            time.sleep(3.5)
            eq(len(os.listdir(ids)), n, "no new periodic snapshots while nothing changed (3.5 s at 1s interval)")
            write_file(os.path.join(mnt, "b.txt"), b"second\n")
            got, took = poll(lambda: len(listdir_or_none(ids) or []) > n, 8, 0.2)
            true(got, "another periodic snapshot within 8 s of a second change")
            if got:
                seen, _ = poll(lambda: os.path.exists(os.path.join(versions(mnt), "latest", "b.txt")), 3)
                true(seen, "the second periodic snapshot holds b.txt")
            S.others.remove(m)
        entries = log_json(repo)
        periodic = [e for e in entries if e["message"] == "periodic snapshot"]
        eq([e["message"] for e in entries if e not in periodic], ["baseline"], "log: the baseline and periodic ones")
        true(2 <= len(periodic) <= 4, "2-4 periodic snapshots for two changes, got %d" % len(periodic))


# ---------------------------------------------------------------------------------------------
# Main repository, offline.


def test_log_after_unmount():
    entries = log_json(S.repo)
    ids = [e["id"] for e in entries]
    eq(ids, [S.t3_id, S.t2_id, S.x_id, S.v1_id], "log: snapshots newest first")
    by_id = {e["id"]: e for e in entries}
    for sid, tag in ((S.v1_id, "v1"), (S.x_id, "x"), (S.t2_id, "t2"), (S.t3_id, "t3")):
        if sid in by_id:
            eq(by_id[sid]["tags"], [tag], "log: tags of the snapshot made for %s" % tag)
    if S.t2_id in by_id:
        eq(by_id[S.t2_id]["message"], "msg", "log: message of weightfs snapshot MNT -m msg")
    text = wfs.run("log", S.repo).stdout.decode()
    true("(tags: x)" in text, "text log names tag x: %r" % text[:400])
    for path, want in (("/model.safetensors", [S.x_id, S.v1_id]), ("/data.bin", [S.x_id, S.v1_id]),
                       ("/new.txt", [S.x_id]), ("/notes2.txt", [S.t2_id]),
                       ("/config.json", [S.t3_id, S.v1_id]), ("/sub/notes.txt", [S.v1_id]),
                       ("/sub", [S.v1_id])):
        eq([e["id"] for e in log_json(S.repo, path)], want, "log REPO %s" % path)


def changes_by_path(d):
    return {c["path"].lstrip("/"): c for c in d["changes"]}


def test_diff_after_unmount():
    d = wjson("diff", S.repo, "v1", "latest")
    ch = changes_by_path(d)
    eq(sorted(ch), ["config.json", "data.bin", "model.safetensors", "new.txt", "notes2.txt"],
       "diff v1 latest: changed paths")
    eq({k: c["change"] for k, c in ch.items()},
       {"config.json": "modified", "data.bin": "removed", "model.safetensors": "modified", "new.txt": "added",
        "notes2.txt": "added"}, "diff v1 latest: kinds")
    if "model.safetensors" in ch:
        t = ch["model.safetensors"].get("safetensors", {}).get("tensors", [])
        eq([(x["name"], x["change"]) for x in t], [("layer1.weight", "content")],
           "diff v1 latest: changed tensors of model.safetensors")
        for x in t:
            eq((x["old_dtype"], x["old_shape"], x["new_dtype"], x["new_shape"]), ("F32", [512, 512], "F32", [512, 512]),
               "diff: dtype and shape of layer1.weight")
    if "data.bin" in ch:
        eq(ch["data.bin"]["old_size"], 2 * MiB + 77, "diff: size of the removed data.bin")
    d = wjson("diff", S.repo, "v1", "x")
    eq(sorted(changes_by_path(d)), ["data.bin", "model.safetensors", "new.txt"], "diff v1 x: changed paths")
    d = wjson("diff", S.repo, "x", "t2")
    eq(sorted(changes_by_path(d)), ["notes2.txt"], "diff x t2")
    d = wjson("diff", S.repo, S.v1_id[:10], "v1")
    eq(d["changes"], [], "diff of a version with itself (id prefix vs tag)")
    d = wjson("diff", S.repo, "v1", "latest", "/sub")
    eq(d["changes"], [], "diff v1 latest /sub (unchanged subtree)")
    text = wfs.run("diff", S.repo, "v1", "latest").stdout.decode()
    for word in ("layer1.weight", "data.bin", "new.txt", "model.safetensors"):
        true(word in text, "text diff names %s: %r" % (word, text[:600]))
    true("embed.weight" not in text and "head.weight" not in text, "text diff names only the changed tensor: %r"
         % text[:600])


def test_restore_after_unmount():
    # Export the whole of v1, and one file.
    dest = os.path.join(S.work, "export-v1")
    p = wrun("restore", S.repo, "v1", "--to", dest)
    eq(p.returncode, 0, "restore v1 --to DEST (stderr %r)" % p.stderr.decode()[-300:])
    if p.returncode == 0:
        eq_manifest(files_only(manifest(dest)), files_only(S.v1_tree), "restore v1 --to DEST: exported tree")
    one = os.path.join(S.work, "model-v1.safetensors")
    p = wrun("restore", S.repo, S.v1_id[:8], "/model.safetensors", "--to", one)
    eq(p.returncode, 0, "restore <8-digit id> /model.safetensors --to FILE (stderr %r)" % p.stderr.decode()[-300:])
    if p.returncode == 0:
        eq(sha(read_file(one)), sha(S.model_v1), "exported model of v1")
    # Into the live tree: a new snapshot.
    head_before = log_json(S.repo)[0]["id"]
    p = wrun("restore", S.repo, "v1", "/model.safetensors")
    eq(p.returncode, 0, "restore v1 /model.safetensors (stderr %r)" % p.stderr.decode()[-300:])
    entries = log_json(S.repo)
    eq(len(entries), 5, "restore recorded a new snapshot")
    eq(entries[1]["id"] if len(entries) > 1 else None, head_before, "the restore snapshot follows the old head")
    eq([e["id"] for e in entries[1:]], [S.t3_id, S.t2_id, S.x_id, S.v1_id], "history is not rewritten by restore")
    eq(len(log_json(S.repo, "/model.safetensors")), 3, "log /model.safetensors includes the restore")
    d = wjson("diff", S.repo, "v1", "latest", "/model.safetensors")
    eq(d["changes"], [], "diff v1 latest /model.safetensors after restore")
    S.live_expected = dict(S.live_expected)
    S.live_expected["model.safetensors"] = None  # checked separately (mtime may be the restore's)
    with wfs.Mount(S.repo, S.mnt) as m:
        S.others.append(m)
        eq(sha(read_file(os.path.join(S.mnt, "model.safetensors"))), sha(S.model_v1),
           "live model.safetensors after restore v1 (mounted)")
        got = manifest(S.mnt)
        for k in ("config.json", "new.txt", "notes2.txt", "link", "sub/notes.txt"):
            eq(got.get(k), S.live_expected.get(k), "live %s unchanged by restoring the model" % k)
        expect_errno(errno.ENOENT, "data.bin stays deleted", os.stat, os.path.join(S.mnt, "data.bin"))
        eq(sha(read_file(os.path.join(versions(), "latest", "model.safetensors"))), sha(S.model_v1),
           ".versions/latest/model.safetensors after restore")
        arr = st.load_tensor(os.path.join(S.mnt, "model.safetensors"), "layer1.weight")
        eq(np.array_equal(arr, S.tensors_v1["layer1.weight"]), True, "restored layer1.weight is the v1 tensor")
        del arr
        S.live_expected = got
        S.others.remove(m)


def test_forget_and_gc_free_space():
    pre = stats(S.repo)
    p = wrun("forget", S.repo, "--keep-last", "1", "--json")
    eq(p.returncode, 0, "forget --keep-last 1 (stderr %r)" % p.stderr.decode()[-300:])
    if p.returncode == 0:
        r = json.loads(p.stdout.decode())
        eq((r["kept"], r["forgotten"]), (1, 4), "forget --keep-last 1: kept, forgotten")
    entries = log_json(S.repo)
    eq(len(entries), 1, "one snapshot left after forget")
    before = stats(S.repo)  # forget writes the rewritten head snapshot object, deletes nothing
    true(before["objects"] >= pre["objects"] and before["stored_bytes"] >= pre["stored_bytes"],
         "forget alone deletes no objects: %r -> %r" % (pre, before))
    # Dry run first.
    p = wrun("gc", S.repo, "--grace", "0", "--dry-run", "--json")
    eq(p.returncode, 0, "gc --dry-run --grace 0 (stderr %r)" % p.stderr.decode()[-300:])
    dry = json.loads(p.stdout.decode()) if p.returncode == 0 else {}
    true(dry.get("deleted_objects", 0) > 0, "gc --dry-run reports objects it would delete: %r" % dry)
    mid = stats(S.repo)
    eq((mid["objects"], mid["stored_bytes"]), (before["objects"], before["stored_bytes"]),
       "gc --dry-run deleted nothing (objects, stored_bytes)")
    text = wrun("gc", S.repo, "--grace", "0", "--dry-run").stdout.decode()
    true("would delete" in text, "text gc --dry-run says 'would delete': %r" % text)
    # The real run.
    p = wrun("gc", S.repo, "--grace", "0", "--json")
    eq(p.returncode, 0, "gc --grace 0 (stderr %r)" % p.stderr.decode()[-300:])
    real = json.loads(p.stdout.decode()) if p.returncode == 0 else {}
    eq((real.get("deleted_objects"), real.get("deleted_bytes")),
       (dry.get("deleted_objects"), dry.get("deleted_bytes")), "gc deleted what the dry run announced")
    after = stats(S.repo)
    print("  stored_bytes %d -> %d (gc freed %d bytes in %d objects)"
          % (before["stored_bytes"], after["stored_bytes"], real.get("deleted_bytes", 0),
             real.get("deleted_objects", 0)), flush=True)
    true(after["stored_bytes"] < before["stored_bytes"], "stats stored_bytes went down after gc")
    # Only the forgotten snapshots held data.bin (2 MiB random) and the overwritten 1 MiB tensor.
    true(before["stored_bytes"] - after["stored_bytes"] >= 2.5 * MiB,
         "gc freed at least data.bin (2 MiB random) + most of the overwritten 1 MiB tensor, freed %d"
         % (before["stored_bytes"] - after["stored_bytes"]))
    true(after["stored_bytes"] >= 2 * MiB, "the kept model (2.5 MiB) is still stored (%d)" % after["stored_bytes"])
    p = wrun("gc", S.repo, "--grace", "0", "--json")
    again = json.loads(p.stdout.decode()) if p.returncode == 0 else {}
    eq(again.get("deleted_objects"), 0, "a second gc deletes nothing")
    p = wrun("check", S.repo, "--read-data")
    eq(p.returncode, 0, "check --read-data after forget+gc (%s)" % (p.stdout + p.stderr).decode()[-400:])
    # Every kept version (the head) and the live tree read back byte-exact.
    with wfs.Mount(S.repo, os.path.join(S.work, "ro-after-gc"), "--read-only") as m:
        S.others.append(m)
        eq_manifest(manifest(m.mountpoint), S.live_expected, "live tree after forget+gc")
        head = log_json(S.repo)[0]["id"]
        eq(os.listdir(os.path.join(versions(m.mountpoint), "ids")), [head], "ids/ after forget")
        eq_manifest(manifest(os.path.join(versions(m.mountpoint), "ids", head)), S.live_expected,
                      "the kept snapshot after forget+gc")
        S.others.remove(m)


TESTS = [
    test_hidden_versions_dir,
    test_tag_v1_and_browse_old_tree,
    test_everything_below_versions_is_read_only,
    test_mkdir_tag_makes_snapshot,
    test_snapshot_command_on_mount,
    test_offline_writers_refused_while_mounted,
    test_read_only_mount_sees_new_snapshot,
    test_unmount_main,
    test_open_old_file_across_snapshot_and_gc,
    test_snapshot_interval,
    test_log_after_unmount,
    test_diff_after_unmount,
    test_restore_after_unmount,
    test_forget_and_gc_free_space,
]


def main():
    wfs.require_fuse()
    os.umask(0o022)
    bindir = wfs.use_private_binary_copy("wfs-versions-bin-")
    start = time.time()
    try:
        with wfs.temp_repo(prefix="wfs-versions-") as (work, repo):
            S.work, S.repo, S.mnt = work, repo, os.path.join(work, "mnt")
            try:
                try:
                    S.mount = wfs.Mount(repo, S.mnt).__enter__()
                except Exception as e:  # noqa: BLE001
                    print("FAIL setup: mounting %s failed: %s" % (repo, e), flush=True)
                    print("0 passed, %d failed" % len(TESTS), flush=True)
                    sys.exit(1)
                try:
                    wfs.cases(TESTS, log_mounts=lambda: [S.mount] + S.others)
                finally:
                    print("total %.1fs" % (time.time() - start), flush=True)
            finally:
                for m in S.others + [S.mount]:
                    if m is not None:
                        m.unmount()
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


if __name__ == "__main__":
    main()
