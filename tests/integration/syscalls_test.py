"""Syscall checklist on a real weightfs mount (Debian's /usr/bin/python3).

Longer than the 500-line limit on purpose: this file is one ctest whose checks share one costly
setup (repositories, OS users, real mounts); split into several files, each would repeat it and
the CI run would grow by that much.

One test function per operation, each with the expected results and errnos. The read-write
tests share one mount of one temporary repository (each works in its own directory below the
mount root); then test_persistence unmounts, lists the live tree offline, runs
`weightfs check --read-data`, remounts and compares a manifest (path -> type, mode, size, mtime,
sha256, symlink target, user.* xattrs) plus the exact content every test registered. After
that a --read-only mount beside the read-write one is checked (reads work, every modifying call
gives EROFS) and a second read-write mount must be refused with a message that names the holder.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/syscalls_test.py
"""
import ctypes
import errno
import hashlib
import mmap
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, eq_manifest, expect_errno, expect_ok, fail, true  # noqa: E402

MiB = 1 << 20


class State:
    work = repo = mnt = None
    mount = None          # the read-write wfs.Mount currently up
    extra = []            # other wfs.Mount objects to tear down at the end
    expect = {}           # path relative to the mount -> exact bytes after remount
    expect_mtime = {}     # path relative to the mount -> st_mtime_ns after remount


S = State()

# ---------------------------------------------------------------------------------------------
# File helpers.


def fresh_dir(name):
    d = os.path.join(S.mnt, name)
    os.mkdir(d)
    return d


def rel(path):
    return "/" + os.path.relpath(path, S.mnt)


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_all(fd, size, off):
    out = bytearray()
    while len(out) < size:
        b = os.pread(fd, size - len(out), off + len(out))
        if not b:
            break
        out += b
    return bytes(out)


def remember(path):
    """Registers the current content (and mtime) of path for the check after remount."""
    S.expect[rel(path)] = read_file(path)


def rand(n, seed):
    # Deterministic pseudo-random bytes (fast enough for a few MiB).
    out = bytearray()
    h = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h * 8
    return bytes(out[:n])


libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# ---------------------------------------------------------------------------------------------
# Read-write tests (shared mount).


def test_lookup_stat():
    d = fresh_dir("lookup")
    f = os.path.join(d, "file")
    write_file(f, b"x" * 1234, mode=0o640)
    os.chmod(f, 0o640)
    sub = os.path.join(d, "sub")
    os.mkdir(sub, 0o750)
    ln = os.path.join(d, "link")
    os.symlink("file", ln)

    st = os.stat(S.mnt)
    true(stat.S_ISDIR(st.st_mode), "stat(mount root): expected a directory, got mode %o" % st.st_mode)
    st = os.stat(f)
    true(stat.S_ISREG(st.st_mode), "stat(file): expected S_IFREG, got mode %o" % st.st_mode)
    eq(st.st_size, 1234, "stat(file).st_size")
    eq(stat.S_IMODE(st.st_mode), 0o640, "stat(file) permission bits")
    st = os.stat(sub)
    true(stat.S_ISDIR(st.st_mode), "stat(dir): expected S_IFDIR, got mode %o" % st.st_mode)
    eq(stat.S_IMODE(st.st_mode), 0o750, "stat(dir mkdir'd with 0750) permission bits")
    st = os.lstat(ln)
    true(stat.S_ISLNK(st.st_mode), "lstat(symlink): expected S_IFLNK, got mode %o" % st.st_mode)
    eq(st.st_size, len("file"), "lstat(symlink).st_size (length of the target)")
    st = os.stat(ln)
    true(stat.S_ISREG(st.st_mode) and st.st_size == 1234, "stat(symlink) follows to the file: got mode %o size %d"
         % (st.st_mode, st.st_size))
    eq(os.stat(ln).st_ino, os.stat(f).st_ino, "stat(symlink).st_ino == stat(file).st_ino")
    true(os.stat(f).st_ino != os.stat(sub).st_ino, "distinct inodes for file and dir")
    eq(os.stat(f).st_ino, os.stat(f).st_ino, "stable st_ino on repeated lookup")
    eq(os.stat(f).st_nlink, 1, "stat(file).st_nlink")

    expect_errno(errno.ENOENT, "stat(missing)", os.stat, os.path.join(d, "missing"))
    expect_errno(errno.ENOENT, "lstat(missing/x)", os.lstat, os.path.join(d, "missing", "x"))
    expect_errno(errno.ENOENT, "open(missing, O_RDONLY)", os.open, os.path.join(d, "missing"), os.O_RDONLY)
    expect_errno(errno.ENOTDIR, "stat(file/x)", os.stat, os.path.join(f, "x"))
    expect_errno(errno.ENOTDIR, "stat(symlink-to-file/x)", os.stat, os.path.join(ln, "x"))
    expect_errno(errno.ENOTDIR, "open(file/x, O_CREAT)", os.open, os.path.join(f, "x"), os.O_CREAT | os.O_WRONLY)
    expect_errno(errno.EISDIR, "open(dir, O_WRONLY)", os.open, sub, os.O_WRONLY)


def names_of(d):
    with os.scandir(d) as it:
        return [e.name for e in it]


def test_readdir():
    d = fresh_dir("readdir")
    empty = os.path.join(d, "empty")
    three = os.path.join(d, "three")
    big = os.path.join(d, "big")
    for p in (empty, three, big):
        os.mkdir(p)
    write_file(os.path.join(three, "a_file"), b"12345")
    os.mkdir(os.path.join(three, "b_dir"))
    os.symlink("a_file", os.path.join(three, "c_link"))
    big_names = ["f%04d" % i for i in range(2000)]
    for n in big_names:
        os.close(os.open(os.path.join(big, n), os.O_CREAT | os.O_WRONLY, 0o644))

    # Fresh directories: the first listing goes through readdirplus (scandir), then readdir.
    for path, want in ((empty, []), (three, ["a_file", "b_dir", "c_link"]), (big, big_names)):
        for how, lister in (("os.scandir", names_of), ("os.listdir", os.listdir)):
            got = lister(path)
            eq(len(got), len(set(got)), "%s(%s): no duplicates (%d names, %d distinct)"
               % (how, rel(path), len(got), len(set(got))))
            if not eq(sorted(got), want, "%s(%s) names" % (how, rel(path))):
                missing = sorted(set(want) - set(got))[:10]
                extra = sorted(set(got) - set(want))[:10]
                fail("  %s(%s): missing %r, unexpected %r" % (how, rel(path), missing, extra))

    with os.scandir(three) as it:
        entries = {e.name: e for e in it}
    if eq(sorted(entries), ["a_file", "b_dir", "c_link"], "scandir(three) names"):
        a, b, c = entries["a_file"], entries["b_dir"], entries["c_link"]
        true(a.is_file(follow_symlinks=False) and not a.is_dir(), "scandir: a_file is a regular file")
        true(b.is_dir(follow_symlinks=False), "scandir: b_dir is a directory")
        true(c.is_symlink() and c.is_file(), "scandir: c_link is a symlink to a file")
        eq(a.stat(follow_symlinks=False).st_size, 5, "scandir entry stat a_file size")
        for e in (a, b, c):
            eq(e.inode(), os.lstat(e.path).st_ino, "scandir d_ino of %s == lstat st_ino" % e.name)

    # ls -a shows "." and ".." (and . / .. resolve to the right directories).
    for path, want in ((empty, []), (three, ["a_file", "b_dir", "c_link"])):
        out = subprocess.run(["ls", "-a1", path], capture_output=True, text=True)
        eq(out.returncode, 0, "ls -a %s exit status (stderr %r)" % (rel(path), out.stderr))
        eq(sorted(out.stdout.split()), sorted([".", ".."] + want), "ls -a %s" % rel(path))
    eq(os.stat(os.path.join(three, ".")).st_ino, os.stat(three).st_ino, "stat(dir/.) is dir")
    eq(os.stat(os.path.join(three, "..")).st_ino, os.stat(d).st_ino, "stat(dir/..) is the parent")
    true(".versions" not in os.listdir(S.mnt), ".versions is hidden from readdir of the root: %r"
         % sorted(os.listdir(S.mnt))[:20])

    # Unlinking entries while reading the directory (what rm -rf does): every entry that was
    # not removed yet is returned exactly once, so the directory ends up empty.
    churn = os.path.join(d, "churn")
    os.mkdir(churn)
    for i in range(600):
        os.close(os.open(os.path.join(churn, "c%04d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
    seen = []
    with os.scandir(churn) as it:
        for e in it:
            seen.append(e.name)
            os.unlink(e.path)
    eq(len(seen), len(set(seen)), "readdir while unlinking: no duplicates")
    left = os.listdir(churn)
    eq(len(left), 0, "readdir while unlinking: entries left behind (first %r), %d seen" % (left[:5], len(seen)))
    expect_ok("rmdir(churn) after removing every entry", os.rmdir, churn)


def test_create_excl():
    d = fresh_dir("create")
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.write(fd, b"first")
    os.close(fd)
    expect_errno(errno.EEXIST, "open(existing, O_CREAT|O_EXCL)", os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.mkdir(os.path.join(d, "dir"))
    expect_errno(errno.EEXIST, "open(existing dir, O_CREAT|O_EXCL)", os.open, os.path.join(d, "dir"),
                 os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    # O_CREAT without O_EXCL on an existing file opens it and keeps its content.
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
    eq(os.read(fd, 100), b"first", "O_CREAT on an existing file keeps its content")
    os.close(fd)
    eq(stat.S_IMODE(os.stat(p).st_mode), 0o600, "create mode 0600")
    # O_TRUNC empties it.
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    eq(os.stat(p).st_size, 0, "size after O_TRUNC")
    eq(read_file(p), b"", "content after O_TRUNC")
    write_file(p, b"final")
    remember(p)


def test_read_write_offsets():
    d = fresh_dir("rw")
    p = os.path.join(d, "data")
    model = bytearray(rand(3 * MiB + 12345, "rw"))
    write_file(p, model)
    eq(os.stat(p).st_size, len(model), "size after writing 3 MiB")
    fd = os.open(p, os.O_RDWR)
    try:
        for off, n in ((0, 1), (1, 4096), (65535, 2), (65536, 65536), (MiB - 7, 100), (3 * MiB, 12345),
                       (len(model) - 1, 1)):
            eq(pread_all(fd, n, off), bytes(model[off:off + n]), "pread(%d bytes @ %d)" % (n, off))
        # pwrite in the middle, across a 64 KiB frame boundary and a likely chunk boundary.
        for off, n, seed in ((1536 * 1024 - 100, 200, 1), (65536 - 10, 20, 2), (5, 3, 3), (2 * MiB, 300000, 4)):
            patch = rand(n, seed)
            eq(os.pwrite(fd, patch, off), n, "pwrite(%d @ %d) return" % (n, off))
            model[off:off + n] = patch
        eq(os.fstat(fd).st_size, len(model), "size unchanged by pwrite inside the file")
        eq(pread_all(fd, len(model), 0), bytes(model), "whole file through the writing fd after pwrites")
        # Sequential read/write through the file offset.
        os.lseek(fd, 100, os.SEEK_SET)
        os.write(fd, b"SEQ")
        model[100:103] = b"SEQ"
        eq(os.lseek(fd, 0, os.SEEK_CUR), 103, "file offset after write")
        os.lseek(fd, 98, os.SEEK_SET)
        eq(os.read(fd, 7), bytes(model[98:105]), "read at the file offset")
        eq(os.lseek(fd, 0, os.SEEK_END), len(model), "lseek(SEEK_END)")
    finally:
        os.close(fd)
    eq(read_file(p), bytes(model), "whole file through a new fd after close")
    remember(p)


def test_two_handles():
    """Two fds on one file: each sees the other's writes; closing one keeps the other's data."""
    d = fresh_dir("handles")
    p = os.path.join(d, "shared")
    write_file(p, bytes(300000))
    model = bytearray(300000)
    reader = os.open(p, os.O_RDONLY)
    a = os.open(p, os.O_RDWR)
    b = os.open(p, os.O_RDWR)
    try:
        os.pwrite(a, b"A" * 5000, 0)
        model[0:5000] = b"A" * 5000
        os.pwrite(b, b"B" * 5000, 200000)
        model[200000:205000] = b"B" * 5000
        eq(pread_all(a, 5000, 200000), b"B" * 5000, "fd a reads what fd b wrote")
        eq(pread_all(b, 5000, 0), b"A" * 5000, "fd b reads what fd a wrote")
        eq(pread_all(reader, 300000, 0), bytes(model), "fd opened before the writes sees them")
        os.close(a)
        a = -1
        os.pwrite(b, b"b" * 10, 250000)
        model[250000:250010] = b"b" * 10
        os.pwrite(b, b"tail", 300000)  # extends the file
        model += b"tail"
        eq(os.fstat(reader).st_size, len(model), "size seen by the reader after another fd extended the file")
        os.close(b)
        b = -1
    finally:
        for fd in (a, b):
            if fd >= 0:
                os.close(fd)
    eq(pread_all(reader, len(model) + 10, 0), bytes(model), "reader fd after both writers closed")
    os.close(reader)
    eq(read_file(p), bytes(model), "new fd after both writers closed")
    remember(p)


def test_copy_file_range():
    d = fresh_dir("copy")
    src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
    data = rand(2 * MiB + 3, "copy")
    write_file(src, data)
    fs = os.open(src, os.O_RDONLY)
    fd = os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        done = 0
        while done < len(data):
            n = os.copy_file_range(fs, fd, len(data) - done)
            if n == 0:
                break
            done += n
        eq(done, len(data), "copy_file_range copied bytes")
    finally:
        os.close(fs)
        os.close(fd)
    eq(read_file(dst), data, "content after copy_file_range")
    remember(dst)


def test_sparse_write():
    d = fresh_dir("sparse")
    p = os.path.join(d, "hole")
    far = 10 * MiB + 17
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b"head")
        eq(os.pwrite(fd, b"tail", far), 4, "pwrite far past EOF")
        eq(os.fstat(fd).st_size, far + 4, "fstat size after sparse write")
    finally:
        os.close(fd)
    eq(os.stat(p).st_size, far + 4, "stat size after sparse write")
    data = read_file(p)
    eq(len(data), far + 4, "length read back")
    eq(data[:4], b"head", "data before the hole")
    true(data[4:far] == bytes(far - 4), "hole reads back as zeros (first non-zero at %s)"
         % next((i for i in range(4, far) if data[i]), None) if data[4:far] != bytes(far - 4) else "")
    eq(data[far:], b"tail", "data after the hole")
    # A sparse write into a file that already has content.
    p2 = os.path.join(d, "hole2")
    write_file(p2, b"abc")
    with open(p2, "r+b") as f:
        f.seek(100000)
        f.write(b"Z")
    eq(read_file(p2), b"abc" + bytes(100000 - 3) + b"Z", "sparse extend of a file with content")
    remember(p)
    remember(p2)


def test_append():
    d = fresh_dir("append")
    p = os.path.join(d, "log")
    write_file(p, b"start;")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"one;")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"two;")  # O_APPEND: goes to EOF regardless of the offset
    finally:
        os.close(fd)
    eq(read_file(p), b"start;one;two;", "O_APPEND writes go to the end")
    with open(p, "ab") as f:
        f.write(b"three;")
    eq(read_file(p), b"start;one;two;three;", "open(ab) appends")
    # Two appenders interleave without overwriting each other.
    fa = os.open(p, os.O_WRONLY | os.O_APPEND)
    fb = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fa, b"A")
        os.write(fb, b"B")
        os.write(fa, b"A")
    finally:
        os.close(fa)
        os.close(fb)
    eq(read_file(p), b"start;one;two;three;ABA", "two O_APPEND fds interleave")
    remember(p)


def test_truncate():
    d = fresh_dir("truncate")
    p = os.path.join(d, "t")
    base = rand(200000, "trunc")
    write_file(p, base)
    os.truncate(p, 300000)
    eq(os.stat(p).st_size, 300000, "os.truncate grow: size")
    eq(read_file(p), base + bytes(100000), "os.truncate grow: zeros after old EOF")
    os.truncate(p, 1000)
    eq(os.stat(p).st_size, 1000, "os.truncate shrink: size")
    eq(read_file(p), base[:1000], "os.truncate shrink: content")
    os.truncate(p, 5000)  # grow after shrink: the old bytes must not come back
    eq(read_file(p), base[:1000] + bytes(4000), "truncate shrink then grow reads zeros, not old data")
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        eq(os.fstat(fd).st_size, 10, "ftruncate shrink: fstat size")
        eq(pread_all(fd, 100, 0), base[:10], "ftruncate shrink: content through the fd")
        os.ftruncate(fd, 2 * MiB)
        eq(os.fstat(fd).st_size, 2 * MiB, "ftruncate grow: fstat size")
        os.pwrite(fd, b"mid", MiB)
        os.ftruncate(fd, MiB + 2)
    finally:
        os.close(fd)
    eq(read_file(p), base[:10] + bytes(MiB - 10) + b"mi", "ftruncate grow, write, shrink")
    # Shrinking while another fd is open: that fd reads b"" past the new end.
    q = os.path.join(d, "open_shrink")
    write_file(q, base)
    fd = os.open(q, os.O_RDONLY)
    try:
        eq(pread_all(fd, 10, 150000), base[150000:150010], "read before the shrink")
        os.truncate(q, 100)
        eq(os.pread(fd, 10, 150000), b"", "open fd reads nothing past the new end after truncate")
        eq(pread_all(fd, 1000, 0), base[:100], "open fd reads the kept prefix after truncate")
    finally:
        os.close(fd)
    remember(q)
    p0 = os.path.join(d, "zero")
    write_file(p0, b"something")
    os.truncate(p0, 0)
    eq((os.stat(p0).st_size, read_file(p0)), (0, b""), "truncate to 0")
    remember(p)
    remember(p0)


def test_read_past_eof():
    d = fresh_dir("eof")
    p = os.path.join(d, "f")
    write_file(p, b"0123456789")
    fd = os.open(p, os.O_RDONLY)
    try:
        eq(os.pread(fd, 100, 10), b"", "pread at EOF")
        eq(os.pread(fd, 100, 11), b"", "pread 1 past EOF")
        eq(os.pread(fd, 100, 10 * MiB), b"", "pread far past EOF")
        eq(os.pread(fd, 100, 7), b"789", "pread crossing EOF is short")
        os.lseek(fd, 0, os.SEEK_END)
        eq(os.read(fd, 10), b"", "read at EOF")
    finally:
        os.close(fd)
    empty = os.path.join(d, "empty")
    write_file(empty, b"")
    eq(read_file(empty), b"", "read of an empty file")


def test_unlink_while_open():
    d = fresh_dir("unlink_open")
    p = os.path.join(d, "victim")
    write_file(p, b"before unlink;")
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        expect_errno(errno.ENOENT, "stat(unlinked name)", os.stat, p)
        expect_errno(errno.ENOENT, "open(unlinked name)", os.open, p, os.O_RDONLY)
        true("victim" not in os.listdir(d), "unlinked name gone from readdir: %r" % os.listdir(d))
        eq(pread_all(fd, 100, 0), b"before unlink;", "read through the open fd after unlink")
        eq(os.pwrite(fd, b"after unlink", 14), 12, "pwrite through the open fd after unlink")
        eq(pread_all(fd, 100, 0), b"before unlink;after unlink", "read back what was written after unlink")
        eq(os.fstat(fd).st_size, 26, "fstat size after unlink + write")
        os.fsync(fd)
        # A new file under the same name is a different file.
        write_file(p, b"new")
        eq(read_file(p), b"new", "new file under the unlinked name")
        eq(pread_all(fd, 100, 0), b"before unlink;after unlink", "old fd still sees the old file")
    finally:
        os.close(fd)
    eq(read_file(p), b"new", "new file after the old fd was closed")
    remember(p)


def test_rename_files():
    d = fresh_dir("rename")
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    write_file(a, b"new content")
    write_file(b, b"old content")
    fd_old = os.open(b, os.O_RDONLY)
    try:
        os.rename(a, b)
        eq(read_file(b), b"new content", "rename over existing: target has the source content")
        expect_errno(errno.ENOENT, "stat(source) after rename", os.stat, a)
        eq(sorted(os.listdir(d)), ["b"], "directory after rename over existing")
        eq(pread_all(fd_old, 100, 0), b"old content", "fd open on the replaced target still reads old content")
    finally:
        os.close(fd_old)
    # rename to itself is a no-op.
    os.rename(b, b)
    eq(read_file(b), b"new content", "rename(x, x) keeps the file")
    # Across directories, with an open fd that keeps writing.
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    moved = os.path.join(sub, "moved")
    fd = os.open(b, os.O_RDWR)
    try:
        os.rename(b, moved)
        os.pwrite(fd, b"+written after rename", 11)
    finally:
        os.close(fd)
    eq(read_file(moved), b"new content+written after rename", "write through an fd across a rename")
    expect_errno(errno.ENOENT, "stat(old name) after cross-dir rename", os.stat, b)
    expect_errno(errno.ENOENT, "rename(missing, x)", os.rename, os.path.join(d, "missing"), os.path.join(d, "x"))
    # RENAME_NOREPLACE via renameat2.
    c, e = os.path.join(d, "c"), os.path.join(d, "e")
    write_file(c, b"C")
    write_file(e, b"E")
    expect_errno(errno.EEXIST, "renameat2(c, e, RENAME_NOREPLACE) onto an existing file", renameat2, c, e,
                 RENAME_NOREPLACE)
    eq((read_file(c), read_file(e)), (b"C", b"E"), "both files unchanged after refused RENAME_NOREPLACE")
    expect_ok("renameat2(c, f, RENAME_NOREPLACE) onto a free name", renameat2, c, os.path.join(d, "f"),
              RENAME_NOREPLACE)
    eq(read_file(os.path.join(d, "f")), b"C", "content after RENAME_NOREPLACE")
    expect_errno(errno.ENOENT, "stat(c) after RENAME_NOREPLACE", os.stat, c)
    # RENAME_EXCHANGE is not supported by weightfs: must fail and change nothing.
    expect_errno((errno.EINVAL, errno.EOPNOTSUPP), "renameat2(f, e, RENAME_EXCHANGE)", renameat2,
                 os.path.join(d, "f"), e, RENAME_EXCHANGE)
    eq((read_file(os.path.join(d, "f")), read_file(e)), (b"C", b"E"), "files unchanged after RENAME_EXCHANGE")
    for p in (moved, e, os.path.join(d, "f")):
        remember(p)


def test_rename_dirs():
    d = fresh_dir("rename_dirs")
    src = os.path.join(d, "src")
    os.makedirs(os.path.join(src, "deep", "deeper"))
    write_file(os.path.join(src, "top.txt"), b"top")
    write_file(os.path.join(src, "deep", "deeper", "leaf.txt"), b"leaf")
    dst = os.path.join(d, "dst")
    os.rename(src, dst)
    expect_errno(errno.ENOENT, "stat(old dir name) after rename", os.stat, src)
    eq(read_file(os.path.join(dst, "top.txt")), b"top", "file in renamed dir")
    eq(read_file(os.path.join(dst, "deep", "deeper", "leaf.txt")), b"leaf", "nested file in renamed dir")
    eq(sorted(os.listdir(dst)), ["deep", "top.txt"], "listing of renamed dir")
    # Directory onto a non-empty directory.
    full = os.path.join(d, "full")
    os.mkdir(full)
    write_file(os.path.join(full, "x"), b"x")
    expect_errno((errno.ENOTEMPTY, errno.EEXIST), "rename(dir, non-empty dir)", os.rename, dst, full)
    eq(read_file(os.path.join(full, "x")), b"x", "non-empty target untouched")
    # Directory onto an empty directory replaces it.
    empty = os.path.join(d, "empty")
    os.mkdir(empty)
    expect_ok("rename(dir, empty dir)", os.rename, dst, empty)
    eq(read_file(os.path.join(empty, "top.txt")), b"top", "dir renamed onto an empty dir")
    # Into its own subdirectory.
    expect_errno(errno.EINVAL, "rename(dir, dir/sub/x)", os.rename, empty, os.path.join(empty, "deep", "x"))
    # File onto a directory and directory onto a file.
    f = os.path.join(d, "file")
    write_file(f, b"f")
    expect_errno(errno.EISDIR, "rename(file, dir)", os.rename, f, full)
    expect_errno(errno.ENOTDIR, "rename(dir, file)", os.rename, full, f)
    eq(read_file(f), b"f", "file untouched after refused renames")
    remember(os.path.join(empty, "top.txt"))
    remember(os.path.join(empty, "deep", "deeper", "leaf.txt"))


def test_mkdir_rmdir():
    d = fresh_dir("mkdir")
    p = os.path.join(d, "a")
    os.mkdir(p, 0o700)
    eq(stat.S_IMODE(os.stat(p).st_mode), 0o700, "mkdir mode 0700")
    expect_errno(errno.EEXIST, "mkdir(existing dir)", os.mkdir, p)
    f = os.path.join(d, "file")
    write_file(f, b"f")
    expect_errno(errno.EEXIST, "mkdir(existing file)", os.mkdir, f)
    expect_errno(errno.ENOENT, "mkdir(missing/x)", os.mkdir, os.path.join(d, "missing", "x"))
    write_file(os.path.join(p, "inside"), b"i")
    expect_errno(errno.ENOTEMPTY, "rmdir(non-empty dir)", os.rmdir, p)
    expect_errno(errno.ENOTDIR, "rmdir(file)", os.rmdir, f)
    expect_errno(errno.EISDIR, "unlink(dir)", os.unlink, p)
    expect_errno(errno.ENOENT, "rmdir(missing)", os.rmdir, os.path.join(d, "missing"))
    expect_errno(errno.ENOENT, "unlink(missing)", os.unlink, os.path.join(d, "missing"))
    os.unlink(os.path.join(p, "inside"))
    expect_ok("rmdir(emptied dir)", os.rmdir, p)
    expect_errno(errno.ENOENT, "stat(removed dir)", os.stat, p)
    os.makedirs(os.path.join(d, "x", "y", "z"))
    true(os.path.isdir(os.path.join(d, "x", "y", "z")), "makedirs x/y/z")
    os.mkdir(os.path.join(d, "kept"))  # an empty directory must survive a remount


def test_symlink_readlink():
    d = fresh_dir("symlink")
    write_file(os.path.join(d, "target"), b"target data")
    os.symlink("target", os.path.join(d, "rel"))
    os.symlink("/etc/hostname", os.path.join(d, "abs"))
    os.symlink("does/not/exist", os.path.join(d, "dangling"))
    longt = "x/" * 500 + "end"
    os.symlink(longt, os.path.join(d, "long"))
    os.mkdir(os.path.join(d, "sub"))
    os.symlink("../target", os.path.join(d, "sub", "up"))
    eq(os.readlink(os.path.join(d, "rel")), "target", "readlink(relative)")
    eq(os.readlink(os.path.join(d, "abs")), "/etc/hostname", "readlink(absolute)")
    eq(os.readlink(os.path.join(d, "long")), longt, "readlink(1003-byte target)")
    eq(read_file(os.path.join(d, "rel")), b"target data", "read through a relative symlink")
    eq(read_file(os.path.join(d, "sub", "up")), b"target data", "read through ../ symlink")
    st = os.lstat(os.path.join(d, "dangling"))
    true(stat.S_ISLNK(st.st_mode), "lstat(dangling symlink) works and is a symlink")
    expect_errno(errno.ENOENT, "stat(dangling symlink)", os.stat, os.path.join(d, "dangling"))
    expect_errno(errno.EEXIST, "symlink onto an existing name", os.symlink, "x", os.path.join(d, "rel"))
    expect_errno(errno.EINVAL, "readlink(regular file)", os.readlink, os.path.join(d, "target"))
    # unlink removes the link, not the target
    os.symlink("target", os.path.join(d, "gone"))
    os.unlink(os.path.join(d, "gone"))
    eq(read_file(os.path.join(d, "target")), b"target data", "target survives unlink of its symlink")


def test_chmod_utime():
    d = fresh_dir("chmod")
    p = os.path.join(d, "f")
    write_file(p, b"mode")
    for mode in (0o600, 0o755, 0o4711, 0o000, 0o640):
        os.chmod(p, mode)
        eq(stat.S_IMODE(os.stat(p).st_mode), mode, "chmod %o shown by stat" % mode)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o604)
        eq(stat.S_IMODE(os.fstat(fd).st_mode), 0o604, "fchmod 0604 shown by fstat")
    finally:
        os.close(fd)
    sub = os.path.join(d, "dir")
    os.mkdir(sub)
    os.chmod(sub, 0o711)
    eq(stat.S_IMODE(os.stat(sub).st_mode), 0o711, "chmod dir 0711")
    # Owners are stored: root gives a file away, anybody else gets EPERM (chown(2)); keeping works.
    st = os.stat(p)
    if os.geteuid() == 0:
        os.chown(p, st.st_uid + 4242, -1)
        eq(os.stat(p).st_uid, st.st_uid + 4242, "owner after chown by root")
    else:
        expect_errno(errno.EPERM, "chown to another owner", os.chown, p, st.st_uid + 4242, -1)
    os.chown(p, st.st_uid, st.st_gid)
    eq((os.stat(p).st_uid, os.stat(p).st_gid), (st.st_uid, st.st_gid), "owner and group after chown back")

    mt = 1_600_000_000_123_456_789
    at = 1_500_000_000_987_654_321
    os.utime(p, ns=(at, mt))
    eq(os.stat(p).st_mtime_ns, mt, "utime(ns) mtime shown with ns precision")
    old = 1_000_000_000_000_000_001
    u = os.path.join(d, "u")
    write_file(u, b"u")
    os.utime(u, ns=(old, old))
    eq(os.stat(u).st_mtime_ns, old, "utime(ns) on second file")
    with open(u, "ab") as f:
        f.write(b"more")
    true(os.stat(u).st_mtime_ns > old + 10**18 // 2, "write updates mtime (got %d, was %d)"
         % (os.stat(u).st_mtime_ns, old))
    before = time.time_ns()
    os.utime(u)  # "now"
    got = os.stat(u).st_mtime_ns
    true(abs(got - before) < 60 * 10**9, "utime(now): mtime %d near now %d" % (got, before))
    os.utime(sub, ns=(at, mt))
    eq(os.stat(sub).st_mtime_ns, mt, "utime(ns) on a directory")
    S.expect_mtime[rel(p)] = mt


def test_fsync_statvfs():
    d = fresh_dir("fsync")
    p = os.path.join(d, "synced")
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"durable")
        expect_ok("fsync(file)", os.fsync, fd)
        expect_ok("fdatasync(file)", os.fdatasync, fd)
    finally:
        os.close(fd)
    fd = os.open(p, os.O_RDONLY)
    try:
        expect_ok("fsync(read-only fd)", os.fsync, fd)
    finally:
        os.close(fd)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        expect_ok("fsyncdir (fsync on a directory fd)", os.fsync, dfd)
    finally:
        os.close(dfd)
    rfd = os.open(S.mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        expect_ok("fsyncdir of the root", os.fsync, rfd)
    finally:
        os.close(rfd)
    vfs = os.statvfs(S.mnt)
    true(vfs.f_bsize > 0, "statvfs f_bsize > 0 (got %d)" % vfs.f_bsize)
    true(vfs.f_frsize > 0, "statvfs f_frsize > 0 (got %d)" % vfs.f_frsize)
    eq(vfs.f_namemax, 255, "statvfs f_namemax")
    true(vfs.f_bavail <= vfs.f_bfree <= vfs.f_blocks, "statvfs blocks: avail %d <= free %d <= total %d"
         % (vfs.f_bavail, vfs.f_bfree, vfs.f_blocks))
    eq(os.statvfs(p).f_namemax, 255, "statvfs on a file path")
    remember(p)


def test_xattrs():
    d = fresh_dir("xattr")
    p = os.path.join(d, "f")
    write_file(p, b"x")
    eq(os.listxattr(p), [], "listxattr of a fresh file")
    os.setxattr(p, "user.a", b"alpha")
    os.setxattr(p, "user.empty", b"")
    big = rand(4000, "xattr")
    os.setxattr(p, "user.big", big)
    eq(os.getxattr(p, "user.a"), b"alpha", "getxattr user.a")
    eq(os.getxattr(p, "user.empty"), b"", "getxattr empty value")
    eq(os.getxattr(p, "user.big"), big, "getxattr 4000-byte value")
    eq(sorted(os.listxattr(p)), ["user.a", "user.big", "user.empty"], "listxattr")
    os.setxattr(p, "user.a", b"replaced")
    eq(os.getxattr(p, "user.a"), b"replaced", "setxattr replaces")
    expect_errno(errno.ENODATA, "getxattr(missing)", os.getxattr, p, "user.missing")
    expect_errno(errno.EEXIST, "setxattr(existing, XATTR_CREATE)", os.setxattr, p, "user.a", b"z",
                 os.XATTR_CREATE)
    eq(os.getxattr(p, "user.a"), b"replaced", "value kept after refused XATTR_CREATE")
    expect_errno(errno.ENODATA, "setxattr(missing, XATTR_REPLACE)", os.setxattr, p, "user.nope", b"z",
                 os.XATTR_REPLACE)
    expect_ok("setxattr(new, XATTR_CREATE)", os.setxattr, p, "user.created", b"c", os.XATTR_CREATE)
    expect_ok("setxattr(existing, XATTR_REPLACE)", os.setxattr, p, "user.created", b"C", os.XATTR_REPLACE)
    eq(os.getxattr(p, "user.created"), b"C", "value after XATTR_REPLACE")
    os.removexattr(p, "user.big")
    expect_errno(errno.ENODATA, "getxattr after removexattr", os.getxattr, p, "user.big")
    expect_errno(errno.ENODATA, "removexattr(missing)", os.removexattr, p, "user.big")
    eq(sorted(os.listxattr(p)), ["user.a", "user.created", "user.empty"], "listxattr after remove")
    for ns in ("trusted.t", "security.s"):
        expect_errno((errno.EOPNOTSUPP, errno.EPERM), "setxattr(%s)" % ns, os.setxattr, p, ns, b"v")
    sub = os.path.join(d, "dir")
    os.mkdir(sub)
    os.setxattr(sub, "user.onDir", b"dirval")
    eq(os.getxattr(sub, "user.onDir"), b"dirval", "xattr on a directory")
    fd = os.open(p, os.O_RDONLY)
    try:
        eq(os.getxattr(fd, "user.a"), b"replaced", "fgetxattr")
    finally:
        os.close(fd)
    # user.a, user.created, user.empty and user.onDir are compared after remount via the manifest.


def test_fallocate():
    d = fresh_dir("fallocate")
    p = os.path.join(d, "f")
    write_file(p, b"0123456789")
    fd = os.open(p, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, MiB)
        eq(os.fstat(fd).st_size, MiB, "posix_fallocate(0, 1 MiB) grows the file")
        eq(pread_all(fd, MiB, 0), b"0123456789" + bytes(MiB - 10), "content after posix_fallocate")
        os.posix_fallocate(fd, 100, 50)
        eq(os.fstat(fd).st_size, MiB, "posix_fallocate inside the file keeps the size")
        eq(pread_all(fd, 10, 0), b"0123456789", "posix_fallocate inside keeps the data")
        expect_errno(errno.EOPNOTSUPP, "fallocate(KEEP_SIZE|PUNCH_HOLE)", fallocate, fd,
                     FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 4096)
        expect_errno(errno.EOPNOTSUPP, "fallocate(KEEP_SIZE)", fallocate, fd, FALLOC_FL_KEEP_SIZE, 0, 2 * MiB)
        eq(os.fstat(fd).st_size, MiB, "size after refused fallocate modes")
        eq(pread_all(fd, 10, 0), b"0123456789", "data after refused PUNCH_HOLE")
        expect_ok("fallocate(mode 0) via the syscall", fallocate, fd, 0, MiB, 4096)
        eq(os.fstat(fd).st_size, MiB + 4096, "size after fallocate(mode 0) past EOF")
    finally:
        os.close(fd)
    remember(p)


def test_node_types():
    """Hard links, FIFOs, sockets and device nodes (owners_test.py goes further)."""
    d = fresh_dir("nodes")
    f = os.path.join(d, "f")
    write_file(f, b"f")
    expect_ok("link(f, hard)", os.link, f, os.path.join(d, "hard"))
    if os.path.lexists(os.path.join(d, "hard")):
        eq((os.stat(f).st_ino == os.stat(os.path.join(d, "hard")).st_ino, os.stat(f).st_nlink), (True, 2),
           "link: one inode, two names")
    expect_errno(errno.EPERM, "link of a directory", os.link, d, d + "-hard")
    expect_ok("mkfifo", os.mkfifo, os.path.join(d, "fifo"))
    expect_ok("socket bind (S_IFSOCK)", bind_unix, os.path.join(d, "sock"))
    if os.geteuid() == 0:
        expect_ok("mknod(S_IFCHR) as root", os.mknod, os.path.join(d, "chr"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    else:
        expect_errno(errno.EPERM, "mknod(S_IFCHR)", os.mknod, os.path.join(d, "chr"), stat.S_IFCHR | 0o600,
                     os.makedev(1, 3))
    kinds = {n: stat.S_IFMT(os.lstat(os.path.join(d, n)).st_mode) for n in os.listdir(d)}
    want = {"f": stat.S_IFREG, "hard": stat.S_IFREG, "fifo": stat.S_IFIFO, "sock": stat.S_IFSOCK}
    if os.geteuid() == 0:
        want["chr"] = stat.S_IFCHR
    eq(kinds, want, "node types in the directory")
    for name in want:
        if name != "f" and os.path.lexists(os.path.join(d, name)):
            os.unlink(os.path.join(d, name))
    reg = os.path.join(d, "reg")
    expect_ok("mknod(S_IFREG)", os.mknod, reg, stat.S_IFREG | 0o640)
    if os.path.lexists(reg):
        st = os.stat(reg)
        true(stat.S_ISREG(st.st_mode), "mknod'd file is regular (mode %o)" % st.st_mode)
        eq((st.st_size, stat.S_IMODE(st.st_mode)), (0, 0o640), "mknod'd file size, mode")
        write_file(reg, b"written into mknod file")
        remember(reg)
    expect_errno(errno.EEXIST, "mknod(S_IFREG) on an existing name", os.mknod, reg, stat.S_IFREG | 0o640)


def bind_unix(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
    finally:
        s.close()


def test_name_too_long():
    d = fresh_dir("names")
    long_ = "a" * 256
    ok = "b" * 255
    lp = os.path.join(d, long_)
    expect_errno(errno.ENAMETOOLONG, "open(256-byte name, O_CREAT)", os.open, lp, os.O_CREAT | os.O_WRONLY)
    expect_errno(errno.ENAMETOOLONG, "mkdir(256-byte name)", os.mkdir, lp)
    expect_errno(errno.ENAMETOOLONG, "symlink(256-byte name)", os.symlink, "t", lp)
    expect_errno(errno.ENAMETOOLONG, "mknod(256-byte name)", os.mknod, lp, stat.S_IFREG | 0o644)
    expect_errno(errno.ENAMETOOLONG, "stat(256-byte name)", os.stat, lp)
    write_file(os.path.join(d, ok), b"255")
    eq(read_file(os.path.join(d, ok)), b"255", "255-byte name works")
    expect_errno(errno.ENAMETOOLONG, "rename(to a 256-byte name)", os.rename, os.path.join(d, ok), lp)
    eq(read_file(os.path.join(d, ok)), b"255", "file kept after refused rename")
    # Bytes count, not characters: 128 x 'é' is 256 bytes; 85 x '€' is 255 bytes.
    expect_errno(errno.ENAMETOOLONG, "open(128 x U+00E9 = 256 bytes)", os.open, os.path.join(d, "é" * 128),
                 os.O_CREAT | os.O_WRONLY)
    u = os.path.join(d, "€" * 85)
    write_file(u, b"euro")
    eq(read_file(u), b"euro", "85 x U+20AC (255 bytes) works")
    eq(sorted(os.listdir(d)), sorted([ok, "€" * 85]), "directory holds exactly the accepted names")
    remember(u)


def test_mmap_shared():
    d = fresh_dir("mmap")
    p = os.path.join(d, "m")
    data = rand(300000, "mmap")
    write_file(p, data)
    fd = os.open(p, os.O_RDONLY)
    try:
        with mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
            eq(len(m), len(data), "read-only shared mapping length")
            eq(m[:], data, "read-only shared mapping content")
            eq(m[123456:123470], data[123456:123470], "slice of the mapping")
    finally:
        os.close(fd)
    model = bytearray(data)
    fd = os.open(p, os.O_RDWR)
    try:
        with mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE) as m:
            for off, n, seed in ((0, 10, "a"), (65530, 20, "b"), (200000, 4096, "c"), (len(data) - 5, 5, "d")):
                patch = rand(n, seed)
                m[off:off + n] = patch
                model[off:off + n] = patch
            m.flush()  # msync(MS_SYNC)
            # write() after mapping is visible through the mapping
            os.pwrite(fd, b"WRITTEN", 1000)
            model[1000:1007] = b"WRITTEN"
            eq(m[1000:1007], b"WRITTEN", "pwrite() visible through the shared mapping")
    finally:
        os.close(fd)
    eq(read_file(p), bytes(model), "read() after writing through a shared mapping, msync, close")
    eq(os.stat(p).st_size, len(data), "size unchanged by mmap writes")
    remember(p)


# ---------------------------------------------------------------------------------------------
# Persistence, offline listing, check, read-only mount, the writer lock.


def manifest(root):
    """path (relative, leading '/') -> tuple describing type, mode, size, mtime, content, xattrs."""
    out = {}

    def walk(d):
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            p = e.path
            st = os.lstat(p)
            r = "/" + os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[r] = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[r] = ("d", stat.S_IMODE(st.st_mode), xattrs(p))
                walk(p)
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(MiB), b""):
                        h.update(block)
                out[r] = ("f", stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, h.hexdigest(), xattrs(p))
            else:
                out[r] = ("?", st.st_mode)
    walk(root)
    return out


def xattrs(p):
    return tuple(sorted((n, os.getxattr(p, n)) for n in os.listxattr(p)))


def remount_rw():
    S.mount = wfs.Mount(S.repo, S.mnt).__enter__()


def test_persistence():
    before = manifest(S.mnt)
    true(len(before) > 2000, "manifest covers the tests' files (%d entries)" % len(before))
    p = wfs.run("umount", S.mnt, check=False, timeout=300)
    eq(p.returncode, 0, "weightfs umount exit status (stderr %r)" % p.stderr.decode(errors="replace"))
    S.mount.unmount()  # fallback (lazy unmount) if umount failed
    true(not wfs.is_mounted(S.mnt), "nothing mounted after weightfs umount")

    ls = wfs.run("ls", "-r", S.repo, "--version", "live", check=False)
    eq(ls.returncode, 0, "weightfs ls -r --version live exit status (stderr %r)" % ls.stderr.decode(errors="replace"))
    listed = [line.rstrip("/") for line in ls.stdout.decode().splitlines() if line.strip()]
    eq(len(listed), len(set(listed)), "ls -r --version live: no duplicate paths")
    if set(listed) != set(before):
        fail("ls -r --version live vs mount: missing %r, unexpected %r" % (
            sorted(set(before) - set(listed))[:10], sorted(set(listed) - set(before))[:10]))

    ck = wfs.run("check", "--read-data", S.repo, check=False, timeout=300)
    if not eq(ck.returncode, 0, "weightfs check --read-data exit status"):
        print("  check output:\n" + (ck.stdout + ck.stderr).decode(errors="replace")[-3000:], flush=True)

    remount_rw()
    after = manifest(S.mnt)
    eq_manifest(after, before, "manifest after umount + remount")
    for r, want in sorted(S.expect.items()):
        try:
            eq(read_file(S.mnt + r), want, "content of %s after remount" % r)
        except OSError as e:
            fail("content of %s after remount: %s" % (r, e))
    for r, want in sorted(S.expect_mtime.items()):
        eq(os.stat(S.mnt + r).st_mtime_ns, want, "mtime_ns of %s after remount" % r)
    # Spot checks of things the manifest compares only relative to itself (when their test ran).
    for r, name, value in (("/xattr/f", "user.a", b"replaced"), ("/xattr/dir", "user.onDir", b"dirval")):
        if r in before:
            got = expect_ok("getxattr %s %s after remount" % (r, name), os.getxattr, S.mnt + r, name)
            eq(got, value, "xattr %s of %s after remount" % (name, r))
    if "/mkdir/kept" in before:
        true(os.path.isdir(S.mnt + "/mkdir/kept"), "empty directory survives remount")
    if "/symlink/long" in before:
        eq(expect_ok("readlink after remount", os.readlink, S.mnt + "/symlink/long"), "x/" * 500 + "end",
           "long symlink target after remount")
    if "/readdir" in before:
        expect_errno(errno.ENOENT, "removed directory stays gone after remount", os.stat, S.mnt + "/readdir/churn")
    if "/unlink_open" in before:
        eq(sorted(os.listdir(S.mnt + "/unlink_open")), ["victim"], "unlink-while-open dir after remount")


def ro_modifications(root, existing_file, existing_dir):
    """Every modifying call below root must fail with EROFS."""
    new = os.path.join(root, "new-file-on-ro")
    E = errno.EROFS
    expect_errno(E, "ro: open(O_CREAT) new file", os.open, new, os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(E, "ro: open(existing, O_WRONLY)", os.open, existing_file, os.O_WRONLY)
    expect_errno(E, "ro: open(existing, O_RDWR)", os.open, existing_file, os.O_RDWR)
    expect_errno(E, "ro: open(existing, O_TRUNC)", os.open, existing_file, os.O_WRONLY | os.O_TRUNC)
    expect_errno(E, "ro: mkdir", os.mkdir, os.path.join(root, "new-dir-on-ro"))
    expect_errno(E, "ro: rmdir", os.rmdir, existing_dir)
    expect_errno(E, "ro: unlink", os.unlink, existing_file)
    expect_errno(E, "ro: rename", os.rename, existing_file, new)
    expect_errno(E, "ro: chmod", os.chmod, existing_file, 0o600)
    expect_errno(E, "ro: utime", os.utime, existing_file, ns=(1, 1))
    expect_errno(E, "ro: setxattr", os.setxattr, existing_file, "user.ro", b"v")
    expect_errno(E, "ro: removexattr", os.removexattr, existing_file, "user.a")
    expect_errno(E, "ro: truncate", os.truncate, existing_file, 0)
    expect_errno(E, "ro: symlink", os.symlink, "x", new)
    expect_errno(E, "ro: mknod(S_IFREG)", os.mknod, new, stat.S_IFREG | 0o644)
    expect_errno(E, "ro: link", os.link, existing_file, new)
    true(not os.path.lexists(new), "ro: nothing was created")


def test_read_only_mount():
    rw_manifest = manifest(S.mnt)
    ro = os.path.join(S.work, "ro")
    with wfs.Mount(S.repo, ro, "--read-only") as m:
        S.extra.append(m)
        with open("/proc/self/mounts") as f:
            opts = [line.split()[3] for line in f if line.split()[1] == os.path.realpath(ro)]
        print("  ro mount options: %s" % opts, flush=True)
        eq_manifest(manifest(ro), rw_manifest, "read-only mount beside the rw mount vs the rw mount")
        eq(read_file(ro + "/rw/data"), S.expect["/rw/data"], "read a 3 MiB file on the ro mount")
        eq(os.readlink(ro + "/symlink/rel"), "target", "readlink on the ro mount")
        eq(os.getxattr(ro + "/xattr/f", "user.a"), b"replaced", "getxattr on the ro mount")
        with open(ro + "/mmap/m", "rb") as f:
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
                eq(mm[:], S.expect["/mmap/m"], "shared read-only mmap on the ro mount")
        ro_modifications(ro, ro + "/xattr/f", ro + "/mkdir/kept")
        eq(read_file(ro + "/xattr/f"), b"x", "file unchanged after refused modifications")
        fd = os.open(ro + "/xattr/f", os.O_RDONLY)
        try:
            expect_errno((errno.EBADF, errno.EINVAL, errno.EROFS), "ro: ftruncate on a read-only fd", os.ftruncate, fd, 0)
        finally:
            os.close(fd)
    true(not wfs.is_mounted(ro), "ro mount gone after unmount")
    # The rw mount still works and saw none of the refused changes.
    eq(read_file(S.mnt + "/xattr/f"), b"x", "rw mount content unchanged")
    true(not os.path.lexists(S.mnt + "/new-file-on-ro"), "rw mount has no file created via ro")


def test_second_rw_mount_refused():
    pid = S.mount.daemon_pid()
    host = socket.gethostname()
    second = os.path.join(S.work, "second")
    os.makedirs(second, exist_ok=True)
    p = wfs.run("mount", S.repo, second, "--log-file", second + ".log", check=False, timeout=120)
    msg = (p.stdout + p.stderr).decode(errors="replace")
    print("  refusal message: %s" % msg.strip().splitlines()[-1:] if msg.strip() else "  (no message)", flush=True)
    if wfs.is_mounted(second):
        fail("second rw mount was NOT refused: it is mounted (exit %d)" % p.returncode)
        wfs.Mount(S.repo, second).unmount()
    true(p.returncode != 0, "second rw mount exits non-zero (got %d)" % p.returncode)
    true(("pid %d" % pid) in msg or (" %d " % pid) in msg, "refusal names the holder's pid %d: %r" % (pid, msg))
    true(host in msg, "refusal names the holder's host %r: %r" % (host, msg))
    # The first mount is unaffected.
    eq(read_file(S.mnt + "/create/f"), b"final", "first rw mount still serves reads")
    write_file(S.mnt + "/create/after-refusal", b"still writable")
    eq(read_file(S.mnt + "/create/after-refusal"), b"still writable", "first rw mount still writable")
    # A read-only mount beside it works.
    with wfs.Mount(S.repo, second, "--read-only") as m:
        S.extra.append(m)
        eq(read_file(second + "/create/f"), b"final", "ro mount beside the rw mount reads")
        expect_errno(errno.EROFS, "ro mount beside: create", os.open, second + "/ro-new", os.O_CREAT | os.O_WRONLY)


def test_fsynced_data_visible_to_new_mount():
    """fsync commits the live tree: a read-only mount made right after sees the data."""
    p = os.path.join(S.mnt, "fsync", "late")
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"fsynced before the ro mount")
        os.fsync(fd)
        ro = os.path.join(S.work, "ro2")
        with wfs.Mount(S.repo, ro, "--read-only") as m:
            S.extra.append(m)
            try:
                eq(read_file(ro + "/fsync/late"), b"fsynced before the ro mount",
                   "fsynced (still open) file on a new ro mount")
            except OSError as e:
                fail("fsynced (still open) file on a new ro mount: %s" % e)
    finally:
        os.close(fd)


TESTS = [
    test_lookup_stat,
    test_readdir,
    test_create_excl,
    test_read_write_offsets,
    test_two_handles,
    test_copy_file_range,
    test_sparse_write,
    test_append,
    test_truncate,
    test_read_past_eof,
    test_unlink_while_open,
    test_rename_files,
    test_rename_dirs,
    test_mkdir_rmdir,
    test_symlink_readlink,
    test_chmod_utime,
    test_fsync_statvfs,
    test_xattrs,
    test_fallocate,
    test_node_types,
    test_name_too_long,
    test_mmap_shared,
    test_persistence,
    test_read_only_mount,
    test_second_rw_mount_refused,
    test_fsynced_data_visible_to_new_mount,
]


def main():
    wfs.require_fuse()
    os.umask(0o022)
    bindir = wfs.use_private_binary_copy("wfs-syscalls-bin-")
    try:
        run_all()
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


def run_all():
    with wfs.temp_repo(prefix="wfs-syscalls-") as (work, repo):
        S.work, S.repo, S.mnt = work, repo, os.path.join(work, "mnt")
        try:
            try:
                remount_rw()
            except Exception as e:  # noqa: BLE001
                print("FAIL setup: mounting %s failed: %s" % (repo, e), flush=True)
                print("0 passed, %d failed" % len(TESTS), flush=True)
                sys.exit(1)
            print("mounted %s on %s (daemon pid %d)" % (repo, S.mnt, S.mount.daemon_pid()), flush=True)
            wfs.cases(TESTS, log_mounts=lambda: [S.mount])
        finally:
            for m in S.extra + [S.mount]:
                if m is not None:
                    m.unmount()
            if S.mount is not None and os.environ.get("WEIGHTFS_TEST_SHOW_LOG"):
                print(S.mount.log())


if __name__ == "__main__":
    main()
