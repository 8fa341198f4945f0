#!/usr/bin/python3
"""Tampering with chunk objects on disk (guarantee 2): detected, EIO for the affected range only,
logged with the object id, reported by `weightfs check`; never zeros, never a crash.

Setup: a 20 MiB random file (several chunks) is written alone and unmounted, so the chunk
objects in the repository (type byte 1 in the object header) are exactly its chunks; then a
second file and a small third one are added. Each case tampers with one chunk of the first file:
  flip      one byte flipped in the middle of the largest chunk object
  truncate  the last 100 bytes of a chunk object cut off
  truncate-frame  the last two whole sealed frames cut off (the rest ends on a frame boundary)
  swap      a chunk object's bytes replaced by another chunk's (a moved/swapped object)
  missing   a chunk object deleted
After remounting, the first file is read in 4 KiB preads: the failing pages must fail with EIO
and form one contiguous range no longer than the tampered chunk; every other page must read
correctly; reading the whole file must fail with EIO; the other files read fine; the mount stays
up (stat, listdir, the daemon alive); the daemon log names the object id; `weightfs check
--read-data` exits 5 and names the object.

WEIGHTFS_TEST_SEED fixes the seed (printed first).
"""
import errno
import os
import random
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
PAGE = 4 * KiB
HEADER = 16
SEALED_FRAME = 64 * KiB + 16
CHUNK_TYPE = 1
SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)


def objects(repo):
    """{hex id: path} of every object file."""
    out = {}
    root = os.path.join(repo, "objects")
    for d in os.listdir(root):
        for name in os.listdir(os.path.join(root, d)):
            out[name] = os.path.join(root, d, name)
    return out


def object_type(path):
    with open(path, "rb") as f:
        return f.read(HEADER)[5]


def plaintext_size(sealed):
    frames = -(-(sealed - HEADER) // SEALED_FRAME)
    return sealed - HEADER - 16 * frames


class Setup:
    def __init__(self, work, repo):
        rng = np.random.Generator(np.random.PCG64(SEED))
        self.work, self.repo = work, repo
        self.mnt = os.path.join(work, "mnt")
        self.f1 = rng.bytes(20 * MiB + 777)
        self.f2 = rng.bytes(5 * MiB)
        self.f3 = b"small file\n" * 10
        with wfs.Mount(repo, self.mnt):
            with open(os.path.join(self.mnt, "first.bin"), "wb") as f:
                f.write(self.f1)
        self.chunks = {i: p for i, p in objects(repo).items() if object_type(p) == CHUNK_TYPE}
        assert len(self.chunks) >= 3, "a 20 MiB file should have several chunks, found %d" % len(self.chunks)
        self.plain = {i: plaintext_size(os.path.getsize(p)) for i, p in self.chunks.items()}
        assert sum(self.plain.values()) == len(self.f1), \
            "the chunk objects of the first file do not add up to its size"
        with wfs.Mount(repo, self.mnt):
            os.makedirs(os.path.join(self.mnt, "other"))
            with open(os.path.join(self.mnt, "other", "second.bin"), "wb") as f:
                f.write(self.f2)
            with open(os.path.join(self.mnt, "third.txt"), "wb") as f:
                f.write(self.f3)

    def by_size(self):
        return sorted(self.chunks, key=lambda i: (os.path.getsize(self.chunks[i]), i))


def read_pages(path, expected):
    """([bad page offsets], [(offset, problem)]) reading path page by page."""
    bad, wrong = [], []
    fd = os.open(path, os.O_RDONLY)
    try:
        for off in range(0, len(expected), PAGE):
            want = expected[off:off + PAGE]
            try:
                got = os.pread(fd, PAGE, off)
            except OSError as e:
                if e.errno != errno.EIO:
                    wrong.append((off, "errno %d (%s), want EIO" % (e.errno, e.strerror)))
                bad.append(off)
                continue
            if got != want:
                zeros = got == bytes(len(got))
                wrong.append((off, "wrong data%s (%d bytes)" % (" (zeros)" if zeros else "", len(got))))
    finally:
        os.close(fd)
    return bad, wrong


def run_case(name, tamper):
    with wfs.temp_repo() as (work, repo):
        s = Setup(work, repo)
        victim, detail = tamper(s)
        vsize = s.plain[victim]
        log_file = os.path.join(work, "daemon.log")
        with wfs.Mount(repo, s.mnt, log_file=log_file) as m:
            pid = m.daemon_pid()
            # Other files first: unaffected.
            with open(os.path.join(s.mnt, "other", "second.bin"), "rb") as f:
                assert f.read() == s.f2, "%s: the second file reads wrong" % name
            with open(os.path.join(s.mnt, "third.txt"), "rb") as f:
                assert f.read() == s.f3, "%s: the third file reads wrong" % name
            path = os.path.join(s.mnt, "first.bin")
            bad, wrong = read_pages(path, s.f1)
            assert not wrong, "%s (%s): pages read wrong: %r" % (name, detail, wrong[:10])
            assert bad, "%s (%s): no read failed; the tampering went unnoticed" % (name, detail)
            contiguous = bad == list(range(bad[0], bad[-1] + PAGE, PAGE))
            span = bad[-1] + PAGE - bad[0]
            print("  %s: %s; EIO for [%d, %d) = %d KiB (chunk holds %d KiB)" % (
                name, detail, bad[0], bad[-1] + PAGE, span // KiB, vsize // KiB), flush=True)
            assert contiguous, "%s: the failing pages are not one range: %r" % (name, bad[:50])
            assert span <= vsize + 2 * PAGE, "%s: EIO for %d bytes, more than the tampered chunk (%d)" % (
                name, span, vsize)
            # A whole-file read fails with EIO (possibly after a short read up to the bad range).
            try:
                with open(path, "rb") as f:
                    while f.read(MiB):
                        pass
                raise AssertionError("%s: reading the whole file succeeded" % name)
            except OSError as e:
                assert e.errno == errno.EIO, "%s: whole-file read: %s, want EIO" % (name, e)
            # The mount stays up.
            assert os.stat(path).st_size == len(s.f1)
            assert sorted(os.listdir(s.mnt)) == ["first.bin", "other", "third.txt"], os.listdir(s.mnt)
            os.kill(pid, 0)
            with open(os.path.join(s.mnt, "other", "second.bin"), "rb") as f:
                assert f.read() == s.f2
            # The range is still failing (not cached as zeros), the rest still fine.
            fd = os.open(path, os.O_RDONLY)
            try:
                try:
                    os.pread(fd, PAGE, bad[len(bad) // 2])
                    raise AssertionError("%s: a second read of the bad range succeeded" % name)
                except OSError as e:
                    assert e.errno == errno.EIO, e
            finally:
                os.close(fd)
            log = m.log()
            assert victim in log, "%s: the daemon log does not name object %s:\n%s" % (name, victim, log[-3000:])
        assert wfs.is_mounted(s.mnt) is False
        p = wfs.run("check", "--read-data", repo, check=False)
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode == 5, "%s: check --read-data exited %d, want 5:\n%s" % (name, p.returncode, out)
        assert victim in out, "%s: check --read-data does not name %s:\n%s" % (name, victim, out)


def flip(s):
    victim = s.by_size()[-1]
    path = s.chunks[victim]
    size = os.path.getsize(path)
    frames = -(-(size - HEADER) // SEALED_FRAME)
    at = HEADER + (frames // 2) * SEALED_FRAME + min(1000, (size - HEADER) // 2)
    at = min(at, size - 1)
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x20]))
    return victim, "flipped byte %d of %d in frame %d of %s" % (at, size, frames // 2, victim[:12])


def truncate(s):
    victim = s.by_size()[len(s.chunks) // 2]
    path = s.chunks[victim]
    size = os.path.getsize(path)
    os.truncate(path, size - 100)
    return victim, "cut %s from %d to %d bytes" % (victim[:12], size, size - 100)


def truncate_frame(s):
    """Drops whole sealed frames, so what is left still ends on a frame boundary."""
    victim = s.by_size()[-2]
    path = s.chunks[victim]
    size = os.path.getsize(path)
    frames = -(-(size - HEADER) // SEALED_FRAME)
    assert frames >= 3, "chunk %s has only %d frames" % (victim, frames)
    new = HEADER + (frames - 2) * SEALED_FRAME
    os.truncate(path, new)
    return victim, "cut %s from %d frames to %d (%d to %d bytes)" % (victim[:12], frames, frames - 2, size, new)


def swap(s):
    order = s.by_size()
    victim, donor = order[-1], order[0]
    shutil.copyfile(s.chunks[donor], s.chunks[victim])
    return victim, "replaced %s by the bytes of %s" % (victim[:12], donor[:12])


def missing(s):
    victim = s.by_size()[1]
    os.remove(s.chunks[victim])
    return victim, "deleted %s" % victim[:12]


def test_flipped_byte():
    run_case("flip", flip)


def test_truncated_object():
    run_case("truncate", truncate)


def test_truncated_at_frame_boundary():
    run_case("truncate-frame", truncate_frame)


def test_swapped_object():
    run_case("swap", swap)


def test_missing_object():
    run_case("missing", missing)


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (corruption_test)" % SEED, flush=True)
    wfs.cases([test_flipped_byte, test_truncated_object, test_truncated_at_frame_boundary,
               test_swapped_object, test_missing_object])
