"""POSIX details a third-party conformance harness found, on a real mount, and holes.

- stat, truncate, chmod, unlink, rename and rmdir of a name longer than 255 bytes give
  ENAMETOOLONG (not ENOENT);
- a directory's link count is 2 + its subdirectories (also after a remount);
- `truncate -s 1T` is O(1): it returns at once and the daemon keeps answering other requests
  meanwhile; the hole is stored as a hole (st_blocks counts data only, before and after a
  remount; `weightfs check --read-data` is clean); SEEK_DATA / SEEK_HOLE find the data and holes;
- truncating a file to its current size changes neither mtime nor ctime.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/posix_test.py
"""
import errno
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, expect_errno, true  # noqa: E402

TiB = 1 << 40


class State:
    work = repo = mnt = None
    mount = None


S = State()


def remount():
    S.mount.unmount()
    S.mount = wfs.Mount(S.repo, S.mnt).__enter__()


def test_name_too_long():
    d = os.path.join(S.mnt, "names")
    os.mkdir(d)
    long_ = os.path.join(d, "n" * 256)
    ok = os.path.join(d, "ok")
    with open(ok, "wb") as f:
        f.write(b"x")
    expect_errno(errno.ENAMETOOLONG, "stat(256-byte name)", os.stat, long_)
    expect_errno(errno.ENAMETOOLONG, "lstat(256-byte name)", os.lstat, long_)
    expect_errno(errno.ENAMETOOLONG, "truncate(256-byte name)", os.truncate, long_, 0)
    expect_errno(errno.ENAMETOOLONG, "chmod(256-byte name)", os.chmod, long_, 0o600)
    expect_errno(errno.ENAMETOOLONG, "unlink(256-byte name)", os.unlink, long_)
    expect_errno(errno.ENAMETOOLONG, "rmdir(256-byte name)", os.rmdir, long_)
    expect_errno(errno.ENAMETOOLONG, "rename(256-byte name, ok2)", os.rename, long_, ok + "2")
    expect_errno(errno.ENAMETOOLONG, "rename(ok, 256-byte name)", os.rename, ok, long_)
    expect_errno(errno.ENAMETOOLONG, "open(256-byte name, O_RDONLY)", os.open, long_, os.O_RDONLY)
    expect_errno(errno.ENOENT, "stat(missing 255-byte name)", os.stat, os.path.join(d, "m" * 255))


def test_directory_link_count():
    d = os.path.join(S.mnt, "links")
    os.mkdir(d)
    os.mkdir(os.path.join(d, "a"))
    os.mkdir(os.path.join(d, "b"))
    with open(os.path.join(d, "file"), "wb") as f:
        f.write(b"a file is no link")
    eq(os.stat(d).st_nlink, 4, "mkdir d d/a d/b; stat -c %h d")
    eq(os.stat(os.path.join(d, "a")).st_nlink, 2, "an empty directory")
    os.rmdir(os.path.join(d, "b"))
    eq(os.stat(d).st_nlink, 3, "after rmdir d/b")
    os.mkdir(os.path.join(d, "c"))
    os.rename(os.path.join(d, "c"), os.path.join(S.mnt, "links-c"))
    eq(os.stat(d).st_nlink, 3, "after moving d/c out")
    os.rename(os.path.join(S.mnt, "links-c"), os.path.join(d, "c"))
    eq(os.stat(d).st_nlink, 4, "after moving it back")
    remount()
    eq(os.stat(d).st_nlink, 4, "after a remount")
    eq(os.stat(os.path.join(d, "a")).st_nlink, 2, "an empty directory after a remount")
    root_dirs = sum(1 for e in os.scandir(S.mnt) if e.is_dir(follow_symlinks=False))
    eq(os.stat(S.mnt).st_nlink, 2 + root_dirs, "the root: 2 + its subdirectories")


def test_terabyte_truncate_is_a_hole():
    p = os.path.join(S.mnt, "sparse.bin")
    other = os.path.join(S.mnt, "other.txt")
    with open(other, "wb") as f:
        f.write(b"other")
    with open(p, "wb") as f:
        f.write(b"head")
    # Other requests are answered while (and after) the truncate runs.
    stats = []
    stop = threading.Event()

    def stat_loop():
        while not stop.is_set():
            t0 = time.time()
            os.stat(other)
            stats.append(time.time() - t0)
            time.sleep(0.01)

    t = threading.Thread(target=stat_loop)
    t.start()
    start = time.time()
    try:
        os.truncate(p, TiB)
    finally:
        took = time.time() - start
        time.sleep(0.2)
        stop.set()
        t.join(30)
    print("  truncate -s 1T took %.3f s; slowest concurrent stat %.3f s" % (took, max(stats or [0])), flush=True)
    true(took < 5, "truncate -s 1T returns at once (took %.1f s)" % took)
    true(stats and max(stats) < 5, "stat of another file stays prompt meanwhile (slowest %.1f s)" % max(stats or [0]))
    st = os.stat(p)
    eq(st.st_size, TiB, "size after truncate -s 1T")
    true(st.st_blocks <= 8, "st_blocks counts data only: %d blocks for 4 bytes of data" % st.st_blocks)
    fd = os.open(p, os.O_RDWR)
    try:
        eq(os.pwrite(fd, b"middle", TiB // 2), 6, "pwrite into the hole")
        eq(os.pread(fd, 8, TiB // 2 - 1), b"\0middle\0", "data written into the hole")
        eq(os.pread(fd, 4, 0), b"head", "data before the hole")
        eq(os.pread(fd, 16, TiB - 16), bytes(16), "the hole reads as zeros")
        eq(os.lseek(fd, 0, os.SEEK_DATA), 0, "SEEK_DATA from 0")
        eq(os.lseek(fd, 0, os.SEEK_HOLE), 4, "SEEK_HOLE from 0")
        eq(os.lseek(fd, 4, os.SEEK_DATA), TiB // 2, "SEEK_DATA from the hole")
        eq(os.lseek(fd, TiB // 2, os.SEEK_HOLE), TiB // 2 + 6, "SEEK_HOLE after the middle data")
        expect_errno(errno.ENXIO, "SEEK_DATA after the last data", os.lseek, fd, TiB // 2 + 6, os.SEEK_DATA)
        expect_errno(errno.ENXIO, "SEEK_HOLE at the end", os.lseek, fd, TiB, os.SEEK_HOLE)
    finally:
        os.close(fd)
    st = os.stat(p)
    true(st.st_blocks <= 16, "st_blocks after writing 6 bytes into the hole: %d" % st.st_blocks)
    remount()
    st = os.stat(p)
    eq(st.st_size, TiB, "size after a remount")
    true(st.st_blocks <= 16, "st_blocks after a remount counts data only: %d" % st.st_blocks)
    with open(p, "rb") as f:
        eq(os.lseek(f.fileno(), 4, os.SEEK_DATA), TiB // 2, "SEEK_DATA after a remount")
        eq(os.pread(f.fileno(), 8, TiB // 2 - 1), b"\0middle\0", "data after a remount")
    # A plain file reports its blocks as before.
    dense = os.path.join(S.mnt, "dense.bin")
    with open(dense, "wb") as f:
        f.write(b"d" * 100000)
    eq(os.stat(dense).st_blocks, (100000 + 511) // 512, "st_blocks of a file without holes")
    S.mount.unmount()
    p2 = wfs.run("check", "--read-data", S.repo, check=False)
    eq(p2.returncode, 0, "weightfs check --read-data of the repository with a 1 TiB hole: %s"
       % p2.stderr.decode(errors="replace")[-300:])
    S.mount = wfs.Mount(S.repo, S.mnt).__enter__()


def test_truncate_to_same_size_keeps_times():
    p = os.path.join(S.mnt, "times.bin")
    with open(p, "wb") as f:
        f.write(b"0123456789")
    os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(p)
    time.sleep(0.05)
    os.truncate(p, 10)
    after = os.stat(p)
    eq(after.st_mtime_ns, before.st_mtime_ns, "truncate to the current size: mtime")
    eq(after.st_ctime_ns, before.st_ctime_ns, "truncate to the current size: ctime")
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        eq(os.fstat(fd).st_mtime_ns, before.st_mtime_ns, "ftruncate to the current size: mtime")
        eq(os.fstat(fd).st_ctime_ns, before.st_ctime_ns, "ftruncate to the current size: ctime")
    finally:
        os.close(fd)
    os.truncate(p, 5)
    after = os.stat(p)
    true(after.st_mtime_ns > before.st_mtime_ns, "a real truncate moves mtime")
    true(after.st_ctime_ns > before.st_ctime_ns, "a real truncate moves ctime")


TESTS = [
    test_name_too_long,
    test_directory_link_count,
    test_terabyte_truncate_is_a_hole,
    test_truncate_to_same_size_keeps_times,
]


def main():
    wfs.require_fuse()
    with wfs.temp_repo(prefix="wfs-posix-") as (work, repo):
        S.work, S.repo, S.mnt = work, repo, os.path.join(work, "mnt")
        S.mount = wfs.Mount(repo, S.mnt).__enter__()
        try:
            wfs.cases(TESTS, log_mounts=lambda: [S.mount])
        finally:
            if S.mount is not None:
                S.mount.unmount()


if __name__ == "__main__":
    main()
