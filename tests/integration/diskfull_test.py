"""A file written and closed, then the disk fills before the next commit.

The repository lives on a small tmpfs. A file is written and closed on a mount whose commit
interval is an hour, so only the unmount commits it; then the tmpfs is filled. `weightfs umount`
must not exit 0: it exits 6 (no space) and says that the daemon keeps the changes and retries.
The daemon stays alive (holding the data), a second `weightfs umount` reports the same; once the
filler is removed the daemon commits and exits on its own, and the file is in the repository,
byte for byte. Needs root (mounts a tmpfs).

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/diskfull_test.py
"""
import errno
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, true  # noqa: E402


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def fill(path):
    """Writes path until the file system is full; returns the bytes written."""
    n = 0
    block = b"\xa5" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    break
                block = block[: len(block) // 16 or 1]
    return n


def test_umount_reports_a_failed_final_commit():
    work = S.work
    small = os.path.join(work, "small")
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", small], check=True)
    S.tmpfs = small
    repo = os.path.join(small, "repo")
    wfs.run("init", repo)
    mnt = os.path.join(work, "mnt")
    m = wfs.Mount(repo, mnt, "--commit-interval", "3600", log_file=os.path.join(work, "daemon.log"))
    S.mount = m.__enter__()
    pid = m.daemon_pid()
    S.pid = pid
    data = os.urandom(3 << 20)
    with open(os.path.join(mnt, "closed.bin"), "wb") as f:
        f.write(data)
    # Closed: its chunks are stored; the tree and refs/main are written at the next commit.
    filler = os.path.join(small, "filler")
    print("  filled the repository's file system with %d bytes" % fill(filler), flush=True)

    p = wfs.run("umount", mnt, "--timeout", "60", check=False, timeout=120)
    err = p.stderr.decode(errors="replace")
    eq(p.returncode, 6, "weightfs umount exit code while the final commit fails (6: no space); stderr %r" % err)
    true("final commit failed" in err and "retries" in err, "umount says the commit failed and is retried: %r" % err)
    true(not wfs.is_mounted(mnt), "the mount point is unmounted")
    true(alive(pid), "the daemon stays alive, holding the changes")
    true("final commit failed" in m.log(), "the daemon logs the failure")

    time.sleep(1.5)  # a few retries, all failing
    p = wfs.run("umount", mnt, "--timeout", "60", check=False, timeout=120)
    eq(p.returncode, 6, "a second umount while still full: %r" % p.stderr.decode(errors="replace"))
    true(alive(pid), "the daemon is still alive")

    os.unlink(filler)
    gone, waited = wfs.poll(lambda: not alive(pid), 30)
    true(gone, "the daemon commits and exits once space is back (waited %.1f s)" % waited)
    print("  daemon finished %.1f s after space returned" % waited, flush=True)
    true("final commit succeeded" in m.log(), "the daemon logs the successful retry")
    p = wfs.run("cat", repo, "--version", "live", "/closed.bin", check=False)
    eq(p.returncode, 0, "cat of the file from the live tree: %r" % p.stderr.decode(errors="replace"))
    true(p.stdout == data, "the file is in the repository, byte for byte (%d bytes)" % len(p.stdout))
    p = wfs.run("check", "--read-data", repo, check=False)
    eq(p.returncode, 0, "check --read-data: %r" % p.stderr.decode(errors="replace"))
    # Mounting again works (the writer lock was released).
    with wfs.Mount(repo, mnt) as again:
        with open(os.path.join(mnt, "closed.bin"), "rb") as f:
            true(f.read() == data, "the file reads back on a new mount")
        again.unmount()


class State:
    work = None
    mount = None
    tmpfs = None
    pid = None


S = State()


def main():
    wfs.require_fuse()
    if os.geteuid() != 0:
        print("SKIP: needs root to mount a small tmpfs", flush=True)
        sys.exit(77)
    with wfs.temp_repo(prefix="wfs-diskfull-") as (work, _):
        S.work = work
        try:
            wfs.cases([test_umount_reports_a_failed_final_commit], log_mounts=lambda: [S.mount])
        finally:
            if S.mount is not None and wfs.is_mounted(S.mount.mountpoint):
                subprocess.run(["fusermount3", "-u", "-z", S.mount.mountpoint])
            if S.pid is not None and alive(S.pid):
                wfs.kill_daemon(S.pid)  # the daemon this test started, still retrying
            if S.tmpfs is not None:
                subprocess.run(["umount", "-l", S.tmpfs])


if __name__ == "__main__":
    main()
