"""Offline commands that change the live tree beside a read-write mount (nothing lost).

A read-write mount keeps the live tree in memory and replaces the repository's live tree with it
on every commit, so an offline `import` (or `restore`) that changed the live tree meanwhile was
silently dropped by the mount's next commit. Both now take the writer lock: beside a read-write
mount they are refused with exit 7, a message naming the mount and what to do instead, and
nothing changes; beside a --read-only mount (no writer lock) and after unmounting they work.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/offline_writes_test.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, true  # noqa: E402


class Env:
    work = repo = mnt = src = None


E = Env()


def live_names():
    p = wfs.run("ls", E.repo, "--version", "live", "/")
    return sorted(line.strip().rstrip("/") for line in p.stdout.decode().splitlines() if line.strip())


def test_import_and_restore_beside_a_read_write_mount_are_refused():
    with wfs.Mount(E.repo, E.mnt):
        with open(os.path.join(E.mnt, "from-mount.bin"), "wb") as f:
            f.write(b"written through the mount")
        for args, what in ((("import", E.repo, E.src, "--to", "/imported"), "import"),
                           (("restore", E.repo, "latest", "/base.bin"), "restore")):
            p = wfs.run(*args, check=False)
            err = p.stderr.decode()
            eq(p.returncode, 7, "%s beside a read-write mount exits 7 (busy): %s" % (what, err))
            true(os.path.realpath(E.mnt) in err, "%s names the mount: %s" % (what, err))
        time.sleep(1.5)  # a commit of the mount
    eq(live_names(), ["base.bin", "from-mount.bin"], "the live tree after the mount: its own file, no import")
    wfs.run("import", E.repo, E.src, "--to", "/imported")
    eq(live_names(), ["base.bin", "from-mount.bin", "imported"], "import works once the mount is gone")


def test_import_beside_a_read_only_mount_works():
    with wfs.Mount(E.repo, E.mnt, "--read-only"):
        wfs.run("import", E.repo, E.src, "--to", "/imported-2")
    true("imported-2" in live_names(), "import beside a --read-only mount lands in the live tree")


def main():
    wfs.require_fuse()
    with wfs.temp_repo("wfs-offline-") as (work, repo):
        E.work, E.repo, E.mnt = work, repo, os.path.join(work, "mnt")
        E.src = os.path.join(work, "src")
        os.makedirs(E.src)
        with open(os.path.join(E.src, "w.bin"), "wb") as f:
            f.write(b"imported weights" * 100)
        base = os.path.join(work, "base.bin")
        with open(base, "wb") as f:
            f.write(b"base")
        wfs.run("import", repo, base)
        wfs.cases([test_import_and_restore_beside_a_read_write_mount_are_refused,
                   test_import_beside_a_read_only_mount_works])


if __name__ == "__main__":
    main()
