#!/usr/bin/python3
"""A --read-only mount follows what another writer commits (mount --refresh S).

- Beside a read-write mount of the same repository, a read-only mount with --refresh 0.3 shows
  a new file, a rewritten file's new content and a deletion within a few seconds; a file it
  had open before the rewrite keeps reading the bytes it opened.
- Beside offline imports: the read-only mount shows the new import; its lease follows the tree it
  serves, so `forget` and `gc --grace 0` leave both the new tree and the one a still-open file
  came from, and that file reads its old bytes to the end.
- --refresh 0 keeps the mounted tree.
(The gc test runs without other mounts: the lease of the refreshing mount alone keeps the old
tree while its file is open.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def content_is(path, want):
    def check():
        try:
            return read_file(path) == want
        except OSError:
            return False
    return check


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_read_only_mount_follows_a_read_write_mount():
    with wfs.temp_repo() as (work, repo):
        rw, ro = os.path.join(work, "rw"), os.path.join(work, "ro")
        with wfs.Mount(repo, rw, "--commit-interval", "0.2"), \
                wfs.Mount(repo, ro, "--read-only", "--refresh", "0.3"):
            old = os.urandom(3 << 20)
            write_file(os.path.join(rw, "keep.bin"), old)
            _, waited = wfs.poll(content_is(os.path.join(ro, "keep.bin"), old), 10)
            wfs.true(content_is(os.path.join(ro, "keep.bin"), old)(),
                     "a new file reached the read-only mount")
            print("  new file visible after %.1f s" % waited, flush=True)
            held = open(os.path.join(ro, "keep.bin"), "rb")
            try:
                head = held.read(1 << 20)
                new = os.urandom(2 << 20)
                write_file(os.path.join(rw, "keep.bin"), new)
                write_file(os.path.join(rw, "other.txt"), b"other")
                wfs.poll(content_is(os.path.join(ro, "keep.bin"), new), 10)
                wfs.true(content_is(os.path.join(ro, "keep.bin"), new)(),
                         "the rewritten content reached the read-only mount")
                wfs.eq(head + held.read(), old, "a file open before the rewrite, read to its end")
            finally:
                held.close()
            os.unlink(os.path.join(rw, "other.txt"))
            gone, _ = wfs.poll(lambda: not os.path.exists(os.path.join(ro, "other.txt")), 10)
            wfs.true(gone, "a deletion reached the read-only mount")
            wfs.expect_errno(30, "writing on the read-only mount",  # EROFS
                             write_file, os.path.join(ro, "x"), b"x")


def test_read_only_mount_lease_follows_its_tree_through_gc():
    with wfs.temp_repo() as (work, repo):
        src = os.path.join(work, "src")
        os.makedirs(src)
        old = os.urandom(3 << 20)
        write_file(os.path.join(src, "model.bin"), old)
        wfs.run("import", repo, src, "-m", "v1")
        ro = os.path.join(work, "ro")
        with wfs.Mount(repo, ro, "--read-only", "--refresh", "0.3"):
            held = open(os.path.join(ro, "model.bin"), "rb")
            try:
                new = os.urandom(3 << 20)
                write_file(os.path.join(src, "model.bin"), new)
                wfs.run("import", repo, src, "-m", "v2")
                wfs.poll(content_is(os.path.join(ro, "model.bin"), new), 10)
                wfs.true(content_is(os.path.join(ro, "model.bin"), new)(),
                         "the import reached the refreshing mount")
                wfs.run("forget", repo, "--keep-last", "1")
                gc = wfs.run("gc", repo, "--grace", "0").stdout.decode().strip()
                print("  gc: " + gc.replace("\n", " / "), flush=True)
                wfs.eq(held.read(), old, "a file opened before the refresh, read after gc")
            finally:
                held.close()
            wfs.eq(read_file(os.path.join(ro, "model.bin")), new, "the new tree after gc")
        # Unmounted: nothing names the old tree any more, gc frees its 3 MiB.
        gc = wfs.run("gc", repo, "--grace", "0", "--json").stdout.decode()
        wfs.true('"deleted_objects": 0' not in gc, "gc after the unmount frees the old tree: " + gc)
        wfs.run("check", "--read-data", repo)


def test_refresh_0_keeps_the_mounted_tree():
    with wfs.temp_repo() as (work, repo):
        src = os.path.join(work, "src")
        os.makedirs(src)
        write_file(os.path.join(src, "a.txt"), b"v1")
        wfs.run("import", repo, src, "-m", "v1")
        still = os.path.join(work, "still")
        with wfs.Mount(repo, still, "--read-only", "--refresh", "0"):
            write_file(os.path.join(src, "a.txt"), b"v2")
            wfs.run("import", repo, src, "-m", "v2")
            changed, _ = wfs.poll(content_is(os.path.join(still, "a.txt"), b"v2"), 2)
            wfs.true(not changed, "a --refresh 0 mount changed its live tree")


if __name__ == "__main__":
    wfs.cases([test_read_only_mount_follows_a_read_write_mount,
               test_read_only_mount_lease_follows_its_tree_through_gc,
               test_refresh_0_keeps_the_mounted_tree])
