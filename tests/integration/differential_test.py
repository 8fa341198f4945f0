#!/usr/bin/python3
"""Randomized differential test: one file on a weightfs mount vs. the same file in a plain dir.

Thousands of random operations (pwrite of 1 B .. 3 MiB at random offsets, including far past EOF
and overwrites in the middle; ftruncate grow/shrink; pread compared against the plain file; fstat;
a second descriptor; close+reopen; fsync) are applied to both files; every read must agree. At the
end the whole contents are compared, then again after umount+remount, through `weightfs cat`, and
`weightfs check --read-data` must pass. A second case has 4 threads write random non-overlapping
regions of one file concurrently.

The seed comes from WEIGHTFS_TEST_SEED (else random) and is printed first; rerun with it to
reproduce. WEIGHTFS_DIFF_OPS overrides the number of operations (default 3000).
"""
import collections
import hashlib
import math
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
MAX_SIZE = 64 * MiB
MAX_WRITE = 3 * MiB
OPS = int(os.environ.get("WEIGHTFS_DIFF_OPS", "3000"))
SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)
NAME = "diff.bin"


def log_uniform(rng, lo, hi):
    """An integer in [lo, hi], uniform in log scale (many small, some huge)."""
    return min(hi, max(lo, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))))


def pwrite_all(fd, data, off):
    view = memoryview(data)
    done = 0
    while done < len(view):
        n = os.pwrite(fd, view[done:], off + done)
        assert n > 0, "pwrite returned %d" % n
        done += n
    return done


def pread_all(fd, n, off):
    """Reads until n bytes or EOF (a FUSE read may legitimately come back short only at EOF)."""
    parts = []
    while n > 0:
        b = os.pread(fd, n, off)
        if not b:
            break
        parts.append(b)
        off += len(b)
        n -= len(b)
    return b"".join(parts)


def first_difference(a, b):
    """The first offset where a and b differ (the shorter length if one is a prefix)."""
    n = min(len(a), len(b))
    for i in range(0, n, 64 * KiB):
        if a[i:i + 64 * KiB] != b[i:i + 64 * KiB]:
            for j in range(i, min(n, i + 64 * KiB)):
                if a[j] != b[j]:
                    return j
    return n


def compare_files(path_a, path_b, what):
    """Compares two files block by block; raises with the first differing offset."""
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        off = 0
        while True:
            a = fa.read(4 * MiB)
            b = fb.read(4 * MiB)
            if a != b:
                raise AssertionError("%s: contents differ at offset %d (sizes so far %d vs %d; seed %d)"
                                     % (what, off + first_difference(a, b), off + len(a), off + len(b), SEED))
            if not a:
                break
            off += len(a)
    return off


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


class Differential:
    """Applies the same random operations to the mounted file and the plain model file."""

    def __init__(self, rng, mnt_path, ref_path, repo):
        self.rng, self.mnt_path, self.ref_path, self.repo = rng, mnt_path, ref_path, repo
        self.mfd = os.open(mnt_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.rfd = os.open(ref_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = 0
        self.history = collections.deque(maxlen=40)
        self.counts = collections.Counter()
        self.recent_blocks = []
        self.cats = 0
        self.max_size = self.size_sum = 0

    def fail(self, i, msg):
        print("last operations (seed %d):" % SEED, flush=True)
        for h in self.history:
            print("   ", h, flush=True)
        raise AssertionError("op %d: %s (seed %d)" % (i, msg, SEED))

    def data(self, n):
        r = self.rng.random()
        if r < 0.08:
            return bytes(n)  # zeros: holes and written zeros must look the same
        if r < 0.16 and self.recent_blocks:
            src = self.rng.choice(self.recent_blocks)  # repeated content (dedup)
            return (src * (n // len(src) + 1))[:n]
        d = self.rng.randbytes(n)
        if n >= 64 * KiB and self.rng.random() < 0.3:
            self.recent_blocks = (self.recent_blocks + [d[:min(n, 1 * MiB)]])[-8:]
        return d

    def op_write(self, i):
        n = log_uniform(self.rng, 1, MAX_WRITE)
        r = self.rng.random()
        if r < 0.55:
            off = self.rng.randint(0, self.size)          # overwrite / straddle EOF
        elif r < 0.70:
            off = self.size                              # append
        elif r < 0.85:
            off = self.size + log_uniform(self.rng, 1, 24 * MiB)  # far past EOF: a hole
        else:
            off = self.rng.randint(0, MAX_SIZE)          # anywhere
        off = min(off, MAX_SIZE - 1)
        n = min(n, MAX_SIZE - off)
        data = self.data(n)
        self.history.append(("pwrite", off, n))
        pwrite_all(self.rfd, data, off)
        try:
            pwrite_all(self.mfd, data, off)
        except OSError as e:
            self.fail(i, "pwrite(off=%d, n=%d) on the mount failed: %s" % (off, n, e))
        self.size = max(self.size, off + n)

    def op_read(self, i, fd=None):
        r = self.rng.random()
        n = log_uniform(self.rng, 1, 4 * MiB)
        if r < 0.7:
            off = self.rng.randint(0, max(0, self.size - 1))
        elif r < 0.85:
            off = max(0, self.size - self.rng.randint(0, 2 * MiB))  # straddles EOF
        else:
            off = self.size + self.rng.randint(0, 4 * MiB)         # past EOF
        self.history.append(("pread", off, n) if fd is None else ("pread-2nd-fd", off, n))
        want = pread_all(self.rfd, n, off)
        try:
            got = pread_all(self.mfd if fd is None else fd, n, off)
        except OSError as e:
            self.fail(i, "pread(off=%d, n=%d) on the mount failed: %s" % (off, n, e))
        if got != want:
            d = first_difference(got, want)
            self.fail(i, "pread(off=%d, n=%d): got %d bytes, want %d; first difference at file offset %d "
                      "(got %r, want %r)" % (off, n, len(got), len(want), off + d,
                                             got[d:d + 8], want[d:d + 8]))

    def op_truncate(self, i):
        r = self.rng.random()
        if r < 0.3:
            new = self.rng.randint(self.size // 2, self.size)   # shrink a little
        elif r < 0.4:
            new = self.rng.randint(0, self.size)                # shrink a lot
        elif r < 0.9:
            new = min(MAX_SIZE, self.size + log_uniform(self.rng, 1, 8 * MiB))
        elif r < 0.97:
            new = self.size
        else:
            new = 0 if self.rng.random() < 0.3 else self.rng.randint(0, self.size)
        self.history.append(("ftruncate", new))
        os.ftruncate(self.rfd, new)
        try:
            os.ftruncate(self.mfd, new)
        except OSError as e:
            self.fail(i, "ftruncate(%d) on the mount failed: %s" % (new, e))
        self.size = new

    def op_stat(self, i):
        self.history.append(("fstat",))
        st = os.fstat(self.mfd)
        if st.st_size != self.size:
            self.fail(i, "fstat size %d, want %d" % (st.st_size, self.size))
        st = os.stat(self.mnt_path)
        if st.st_size != self.size:
            self.fail(i, "stat size %d, want %d" % (st.st_size, self.size))

    def op_reopen(self, i):
        trunc = self.rng.random() < 0.04
        self.history.append(("close+reopen", "O_TRUNC" if trunc else ""))
        os.close(self.mfd)
        os.close(self.rfd)
        flags = os.O_RDWR | (os.O_TRUNC if trunc else 0)
        self.mfd = os.open(self.mnt_path, flags)
        self.rfd = os.open(self.ref_path, flags)
        if trunc:
            self.size = 0

    def op_fsync(self, i):
        data_only = self.rng.random() < 0.3
        self.history.append(("fdatasync" if data_only else "fsync",))
        try:
            (os.fdatasync if data_only else os.fsync)(self.mfd)
        except OSError as e:
            self.fail(i, "fsync on the mount failed: %s" % e)
        # fsync commits: the live version in the repository must now be this exact content.
        if self.cats < 4 and self.rng.random() < 0.25:
            self.cats += 1
            self.history.append(("weightfs cat --version live",))
            p = wfs.run("cat", self.repo, "--version", "live", "/" + NAME, check=False, timeout=300)
            if p.returncode != 0:
                self.fail(i, "weightfs cat --version live after fsync failed (%d): %s"
                          % (p.returncode, p.stderr.decode(errors="replace")))
            want = pread_all(self.rfd, self.size + 1, 0)
            if p.stdout != want:
                d = first_difference(p.stdout, want)
                self.fail(i, "after fsync, `weightfs cat --version live` gives %d bytes, want %d; first "
                          "difference at %d" % (len(p.stdout), len(want), d))

    def op_second_fd(self, i):
        if self.rng.random() < 0.5:
            fd = os.open(self.mnt_path, os.O_RDONLY)
            try:
                for _ in range(3):
                    self.op_read(i, fd)
            finally:
                os.close(fd)
        else:
            n = log_uniform(self.rng, 1, 512 * KiB)
            n = min(n, MAX_SIZE - self.size)
            if n <= 0:
                return
            data = self.data(n)
            self.history.append(("append via 2nd O_APPEND fd", self.size, n))
            for path in (self.ref_path, self.mnt_path):
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
                try:
                    assert os.write(fd, data) == n
                finally:
                    os.close(fd)
            self.size += n

    def op_full_compare(self, i):
        self.history.append(("full compare",))
        compare_files(self.mnt_path, self.ref_path, "full compare at op %d" % i)

    def run(self, ops):
        table = [(0.38, self.op_write), (0.30, self.op_read), (0.08, self.op_truncate),
                 (0.06, self.op_stat), (0.03, self.op_reopen), (0.03, self.op_fsync),
                 (0.05, self.op_second_fd), (0.004, self.op_full_compare)]
        total = sum(w for w, _ in table)
        for i in range(ops):
            x = self.rng.random() * total
            for w, fn in table:
                if x < w:
                    break
                x -= w
            self.counts[fn.__name__] += 1
            fn(i)
            self.max_size = max(self.max_size, self.size)
            self.size_sum += self.size
        os.close(self.mfd)
        os.close(self.rfd)


def test_random_ops():
    rng = random.Random(SEED)
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        plain = os.path.join(work, "plain")
        os.makedirs(plain)
        ref = os.path.join(plain, NAME)
        with wfs.Mount(repo, mnt) as m:
            start = time.time()
            d = Differential(rng, os.path.join(mnt, NAME), ref, repo)
            d.run(OPS)
            size = compare_files(os.path.join(mnt, NAME), ref, "final compare on the mount")
            print("  %d ops in %.1fs, final size %d, max %d, mean %d; %s" % (
                OPS, time.time() - start, size, d.max_size, d.size_sum // OPS,
                ", ".join("%s=%d" % (k[3:], v) for k, v in sorted(d.counts.items()))), flush=True)
            assert "EIO" not in m.log(), m.log()
        with wfs.Mount(repo, mnt):
            compare_files(os.path.join(mnt, NAME), ref, "compare after umount+remount")
        p = wfs.run("cat", repo, "--version", "live", "/" + NAME)
        assert hashlib.sha256(p.stdout).hexdigest() == sha256_file(ref), \
            "weightfs cat --version live differs from the model (seed %d)" % SEED
        p = wfs.run("check", "--read-data", repo, check=False)
        assert p.returncode == 0, "check --read-data failed (%d): %s %s" % (
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def test_concurrent_region_writes():
    """4 threads write random non-overlapping regions (interleaved stripes) of one file at once."""
    threads_n = 4
    stripe = 384 * KiB          # not a power of two, so stripes straddle chunk and frame boundaries
    total = 48 * MiB
    stripes = total // stripe
    ops_per_thread = max(50, OPS // 12)
    model = bytearray(total)
    ends = [0] * threads_n
    errors = []
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        path = os.path.join(mnt, NAME)
        with wfs.Mount(repo, mnt) as m:
            shared_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            barrier = threading.Barrier(threads_n)

            def worker(t):
                rng = random.Random(SEED * 31 + t)
                fd = shared_fd if t < 2 else os.open(path, os.O_RDWR)   # two share one fd
                mine = [s for s in range(stripes) if s % threads_n == t]
                written = []
                try:
                    barrier.wait()
                    for k in range(ops_per_thread):
                        s = rng.choice(mine)
                        lo = s * stripe
                        off = lo + rng.randint(0, stripe - 1)
                        n = log_uniform(rng, 1, lo + stripe - off)
                        data = rng.randbytes(n) if rng.random() > 0.1 else bytes(n)
                        pwrite_all(fd, data, off)
                        model[off:off + n] = data
                        ends[t] = max(ends[t], off + n)
                        written.append((off, n))
                        r = rng.random()
                        if r < 0.3:
                            # Read back part of one of this thread's earlier writes (every byte of it
                            # was written by this thread, and the file is at least that long).
                            woff, wn = rng.choice(written)
                            a = woff + rng.randint(0, wn - 1)
                            b = rng.randint(a + 1, woff + wn)
                            got = pread_all(fd, b - a, a)
                            if got != bytes(model[a:b]):
                                raise AssertionError("thread %d op %d: pread(%d, %d) differs at +%d (seed %d)"
                                                     % (t, k, a, b - a, first_difference(got, bytes(model[a:b])),
                                                        SEED))
                        elif r < 0.33:
                            os.fsync(fd)
                except Exception as e:  # noqa: BLE001 - collected and reported by the main thread
                    errors.append("thread %d: %r" % (t, e))
                    barrier.abort()
                finally:
                    if fd != shared_fd:
                        os.close(fd)

            start = time.time()
            workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            os.close(shared_fd)
            assert not errors, "; ".join(errors)
            size = max(ends)
            expected = bytes(model[:size])
            print("  %d threads x %d writes in %.1fs, final size %d" % (
                threads_n, ops_per_thread, time.time() - start, size), flush=True)
            assert os.stat(path).st_size == size, "size %d, want %d (seed %d)" % (os.stat(path).st_size, size, SEED)
            with open(path, "rb") as f:
                got = f.read()
            assert got == expected, "concurrent writes: contents differ at %d (seed %d)" % (
                first_difference(got, expected), SEED)
            assert "EIO" not in m.log(), m.log()
        with wfs.Mount(repo, mnt):
            with open(path, "rb") as f:
                got = f.read()
            assert got == expected, "after remount: contents differ at %d (seed %d)" % (
                first_difference(got, expected), SEED)
        p = wfs.run("check", "--read-data", repo, check=False)
        assert p.returncode == 0, "check --read-data failed (%d): %s %s" % (
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (differential_test, %d ops)" % (SEED, OPS), flush=True)
    wfs.cases([test_random_ops, test_concurrent_region_writes])
