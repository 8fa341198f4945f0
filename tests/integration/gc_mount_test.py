#!/usr/bin/python3
"""gc beside running mounts, and the writer lock after a crash.

- A --read-only mount serves the live tree it mounted: after a new import replaced the file,
  `forget --keep-last 1` and `gc --grace 0`, the read-only mount still reads the old bytes (its
  lease names the tree it serves; gc keeps it).
- `gc --grace 0 --force` in a loop beside a read-write mount that writes files and takes
  snapshots: after unmounting, `check --read-data` passes and every file has its content.
- After `kill -9` of a read-write daemon and `fusermount3 -u`, an immediate `weightfs mount`
  succeeds every time (the writer lock is a kernel-released flock; a dead or zombie holder never
  blocks), and says it took over a stale lock.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def test_read_only_mount_keeps_its_tree_against_gc():
    with wfs.temp_repo() as (work, repo):
        src = os.path.join(work, "src")
        os.makedirs(src)
        old = os.urandom(3 << 20)
        with open(os.path.join(src, "model.bin"), "wb") as f:
            f.write(old)
        wfs.run("import", repo, src, "-m", "v1")
        mnt = os.path.join(work, "ro")
        with wfs.Mount(repo, mnt, "--read-only", "--refresh", "0"):
            # Nothing is read before gc: the kernel's page cache must not answer for the repository.
            new = os.urandom(3 << 20)
            with open(os.path.join(src, "model.bin"), "wb") as f:
                f.write(new)
            wfs.run("import", repo, src, "-m", "v2")
            wfs.run("forget", repo, "--keep-last", "1")
            gc = wfs.run("gc", repo, "--grace", "0")
            print("  gc: " + gc.stdout.decode().strip().replace("\n", " / "), flush=True)
            try:
                got = read_file(os.path.join(mnt, "model.bin"))
                wfs.eq(got, old, "the read-only mount's file after gc")
            except OSError as e:
                wfs.fail("reading the read-only mount's file after gc: %s" % wfs.ename(e.errno))
            listing = wfs.run("ls", repo, "/").stdout.decode()
            wfs.true("model.bin" in listing, "the repository still lists the file")
        # Once unmounted, nothing holds the old tree: gc frees it.
        gc = wfs.run("gc", repo, "--grace", "0", "--json").stdout.decode()
        wfs.true('"deleted_objects": 0' not in gc, "gc after the unmount frees the old tree: " + gc)
        wfs.run("check", "--read-data", repo)


def test_gc_force_beside_a_mount_taking_snapshots():
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "rw")
        written = {}
        with wfs.Mount(repo, mnt, "--commit-interval", "0.2"):
            gc = subprocess.Popen(
                ["bash", "-c", 'while [ ! -e "$1" ]; do "$0" gc "$2" --grace 0 --force >/dev/null 2>&1; done',
                 wfs.BINARY, os.path.join(work, "stop"), repo], env=wfs.env())
            try:
                for i in range(25):
                    data = os.urandom(200_000 + i)
                    with open(os.path.join(mnt, "f%d.bin" % i), "wb") as f:
                        f.write(data)
                    written["f%d.bin" % i] = data
                    if i % 3 == 0:
                        # overwritten files leave garbage behind for gc to find
                        with open(os.path.join(mnt, "scratch.bin"), "wb") as f:
                            f.write(os.urandom(100_000))
                    if i % 2 == 0:
                        wfs.run("snapshot", mnt, "-m", "s%d" % i)
                    time.sleep(0.05)
            finally:
                open(os.path.join(work, "stop"), "w").close()
                gc.wait(timeout=300)
        p = wfs.run("check", "--read-data", repo, check=False)
        wfs.eq(p.returncode, 0, "check --read-data after gc --force beside the mount (%s)" %
               p.stdout.decode(errors="replace")[-400:])
        p = wfs.run("log", repo, check=False)
        wfs.eq(p.returncode, 0, "log after the race")
        with wfs.Mount(repo, mnt, "--read-only"):
            for name, data in written.items():
                try:
                    wfs.eq(read_file(os.path.join(mnt, name)), data, name)
                except OSError as e:
                    wfs.fail("reading %s: %s" % (name, wfs.ename(e.errno)))


def test_mount_right_after_kill_9():
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "rw")
        refused = 0
        for round_ in range(6):
            m = wfs.Mount(repo, mnt).__enter__()
            with open(os.path.join(mnt, "r%d" % round_), "wb") as f:
                f.write(b"x" * 1000)
            pid = m.daemon_pid()
            os.kill(pid, 9)
            subprocess.run(["fusermount3", "-u", "-z", mnt])
            # No waiting for the dead daemon to be reaped: the next mount must work at once.
            p = wfs.run("mount", repo, mnt, "--log-file", m.log_file, check=False, timeout=120)
            if p.returncode != 0:
                refused += 1
                print("  round %d: mount refused (%d): %s" % (round_, p.returncode, p.stderr.decode().strip()),
                      flush=True)
            else:
                wfs.true("stale" in m.log(), "round %d: the log says a stale lock was taken over" % round_)
            m.unmount()
        wfs.eq(refused, 0, "mounts refused right after kill -9 (of 6)")
        wfs.run("check", repo)


TESTS = [test_read_only_mount_keeps_its_tree_against_gc, test_gc_force_beside_a_mount_taking_snapshots,
         test_mount_right_after_kill_9]

if __name__ == "__main__":
    bindir = wfs.use_private_binary_copy()
    try:
        wfs.cases(TESTS)
    finally:
        import shutil
        shutil.rmtree(bindir, ignore_errors=True)
