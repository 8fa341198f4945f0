#!/usr/bin/python3
"""Crash consistency: SIGKILL the daemon at several moments and check what survives.

Each round, on a mount of the same repository:
  A  written and fsynced (30 MiB)        -> after the crash: intact, byte-exact
  B  written without fsync and left OPEN -> absent, empty (its state at creation) or whole;
                                            never torn (a prefix, a mix)
  C  written without fsync, closed       -> absent, empty or whole
then the daemon is killed with SIGKILL, the dead kernel mount is cleared with
`fusermount3 -u -z`, `weightfs check --read-data` must pass, and the next mount must take over
the stale writer lock and say so ("stale" in its log). Every earlier round's files are checked
again after every crash.

Rounds kill at different moments:
  0  right after C's close (B still open, fully written)
  1  while B is being written by another thread, after B was fsynced half way: B must then be
     exactly its fsynced half (content is committed as of the last fsync or close)
  2  right after an existing fsynced file (round 0's A) was overwritten in the middle and closed
     without fsync: it must be either the old or the new content, nothing in between; and while
     another file D is being fsynced in a thread: D absent, empty or whole
The commit interval differs per round so kills land at different points of the commit cycle.

WEIGHTFS_TEST_SEED fixes the seed (printed first).
"""
import os
import random
import subprocess
import sys
import threading
import zlib
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

MiB = 1 << 20
SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)


def content(tag, size):
    """Deterministic random content for file `tag`."""
    return np.random.Generator(np.random.PCG64([SEED, zlib.crc32(tag.encode())])).bytes(size)


def write_file(path, data, fsync):
    """Writes data in 1 MiB writes (optionally fsyncs); returns the seconds fsync took."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    took = 0.0
    try:
        for i in range(0, len(data), MiB):
            assert os.write(fd, data[i:i + MiB]) == len(data[i:i + MiB])
        if fsync:
            start = time.time()
            os.fsync(fd)
            took = time.time() - start
    finally:
        os.close(fd)
    return took


def read_or_none(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


class Expectation:
    """What a file may look like after a crash."""

    def __init__(self, path, allowed, desc):
        self.path, self.allowed, self.desc = path, allowed, desc  # allowed: list of (name, bytes|None)

    def check(self, mnt):
        got = read_or_none(os.path.join(mnt, self.path))
        for name, want in self.allowed:
            if got == want:
                return name
        sizes = ", ".join("%s=%s" % (n, "absent" if w is None else len(w)) for n, w in self.allowed)
        if got is None:
            state = "absent"
        else:
            state = "%d bytes" % len(got)
            for n, w in self.allowed:
                if w and got and got == w[:len(got)]:
                    state += " (a torn prefix of %s)" % n
        raise AssertionError("%s (%s) after the crash: %s; allowed: %s (seed %d)" % (
            self.path, self.desc, state, sizes, SEED))


def kill_and_clear(m, open_fds):
    pid = m.daemon_pid()
    wfs.kill_daemon(pid)
    # The kernel mount is dead now (ENOTCONN); clear it lazily.
    assert wfs.is_mounted(m.mountpoint), "the mount vanished by itself after SIGKILL"
    subprocess.run(["fusermount3", "-u", "-z", m.mountpoint], check=True)
    for fd in open_fds:
        try:
            os.close(fd)
        except OSError:
            pass  # the connection is gone: flush may fail
    assert not wfs.is_mounted(m.mountpoint)
    return pid


def check_repo(repo, when):
    p = wfs.run("check", "--read-data", repo, check=False, timeout=600)
    assert p.returncode == 0, "check --read-data %s failed (%d): %s %s" % (
        when, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def test_kill9_rounds():
    expectations = []
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        log_file = os.path.join(work, "daemon.log")
        intervals = ["1", "0.2", "0.05"]
        killed = False

        def remount(interval):
            m = wfs.Mount(repo, mnt, "--commit-interval", interval, log_file=log_file)
            stale_before = m.log().count("stale")
            m.__enter__()
            if killed:
                log = m.log()
                assert log.count("stale") > stale_before, \
                    "mount after SIGKILL did not report taking over a stale writer lock; log:\n" + log[-2000:]
            for e in expectations:
                e.check(mnt)
            return m

        for rnd in range(3):
            m = remount(intervals[rnd])
            try:
                a, b, c = "r%d/A.bin" % rnd, "r%d/B.bin" % rnd, "r%d/C.bin" % rnd
                os.makedirs(os.path.join(mnt, "r%d" % rnd))
                da, db, dc = content(a, 30 * MiB), content(b, 50 * MiB), content(c, 8 * MiB + 123)
                fsync_took = write_file(os.path.join(mnt, a), da, fsync=True)
                new = [Expectation(a, [("fsynced content", da)], "written, fsynced")]
                open_fds = []
                if rnd == 0:
                    fd = os.open(os.path.join(mnt, b), os.O_WRONLY | os.O_CREAT, 0o644)
                    open_fds.append(fd)
                    for i in range(0, len(db), MiB):
                        os.write(fd, db[i:i + MiB])
                    write_file(os.path.join(mnt, c), dc, fsync=False)
                    new.append(Expectation(b, [("absent", None), ("empty", b""), ("whole", db)],
                                           "written, still open, no fsync"))
                elif rnd == 1:
                    write_file(os.path.join(mnt, c), dc, fsync=False)
                    fd = os.open(os.path.join(mnt, b), os.O_WRONLY | os.O_CREAT, 0o644)
                    open_fds.append(fd)
                    half = 25 * MiB
                    progress = {"blocks": 0, "fsynced": False, "error": None}

                    def writer():
                        try:
                            for i in range(0, len(db), MiB):
                                if i == half:
                                    os.fsync(fd)
                                    progress["fsynced"] = True
                                os.write(fd, db[i:i + MiB])
                                progress["blocks"] += 1
                                time.sleep(0.002)
                        except OSError as e:
                            progress["error"] = e  # expected once the daemon is killed
                    t = threading.Thread(target=writer)
                    t.start()
                    target = 25 + random.Random(SEED).randint(3, 15)
                    while progress["blocks"] < target and t.is_alive():
                        time.sleep(0.001)
                    assert progress["fsynced"], "writer did not get past the fsync: %r" % progress
                    print("  round 1: killing after %d MiB of B" % progress["blocks"], flush=True)
                    kill_and_clear(m, [])
                    t.join(30)
                    assert not t.is_alive()
                    new.append(Expectation(b, [("fsynced half", db[:half])],
                                           "fsynced at 25 MiB, then written on, still open"))
                else:
                    # Overwrite the middle of round 0's fsynced A, close without fsync.
                    a0 = "r0/A.bin"
                    old = content(a0, 30 * MiB)
                    patch = content("patch", 3 * MiB + 77)
                    at = 11 * MiB + 5
                    newa0 = old[:at] + patch + old[at + len(patch):]
                    fd = os.open(os.path.join(mnt, a0), os.O_WRONLY)
                    os.pwrite(fd, patch, at)
                    os.close(fd)
                    for e in expectations:
                        if e.path == a0:
                            e.allowed = [("old", old), ("new", newa0)]
                            e.desc = "fsynced, then overwritten in the middle and closed"
                    fd = os.open(os.path.join(mnt, b), os.O_WRONLY | os.O_CREAT, 0o644)
                    open_fds.append(fd)
                    os.write(fd, db[:7 * MiB])
                    write_file(os.path.join(mnt, c), dc, fsync=False)
                    new.append(Expectation(b, [("absent", None), ("empty", b"")],
                                           "partly written, still open, no fsync"))
                    # D: fsync in flight when the daemon dies.
                    d = "r2/D.bin"
                    dd = content(d, 20 * MiB)
                    started = threading.Event()

                    def fsyncer():
                        try:
                            fdd = os.open(os.path.join(mnt, d), os.O_WRONLY | os.O_CREAT, 0o644)
                            os.write(fdd, dd)
                            started.set()
                            os.fsync(fdd)
                            os.close(fdd)
                        except OSError:
                            started.set()
                    t = threading.Thread(target=fsyncer)
                    t.start()
                    started.wait(60)
                    # Somewhere between right away and after the fsync (20 MiB) would have finished.
                    delay = random.Random(SEED).uniform(0, fsync_took)
                    time.sleep(delay)
                    print("  round 2: killing %.0f ms into D's fsync (A's 30 MiB fsync took %.0f ms)" % (
                        delay * 1000, fsync_took * 1000), flush=True)
                    new.append(Expectation(d, [("absent", None), ("empty", b""), ("whole", dd)],
                                           "fsync in flight at the kill"))
                if rnd != 1:
                    new.append(Expectation(c, [("absent", None), ("empty", b""), ("whole", dc)],
                                           "written and closed, no fsync"))
                    kill_and_clear(m, open_fds)
                    if rnd == 2:
                        t.join(30)
                else:
                    new.append(Expectation(c, [("absent", None), ("empty", b""), ("whole", dc)],
                                           "written and closed, no fsync"))
                    for fd in open_fds:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                killed = True
                expectations += new
            finally:
                m.unmount()
            check_repo(repo, "after the SIGKILL of round %d" % rnd)

        # Final clean mount: everything as expected; then a clean unmount and check.
        m = remount("1")
        try:
            states = ["%s=%s" % (e.path, e.check(mnt)) for e in expectations]
            print("  after 3 crashes: " + ", ".join(states), flush=True)
        finally:
            m.unmount()
        check_repo(repo, "at the end")
        with wfs.Mount(repo, mnt, log_file=log_file):
            for e in expectations:
                e.check(mnt)


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (crash_test)" % SEED, flush=True)
    wfs.cases([test_kill9_rounds])
