#!/usr/bin/python3
"""A file larger than 2 GiB through the mount.

Writes 2 GiB + a partial block sequentially in 1 MiB blocks from a deterministic generator
(numpy PCG64 seeded with (seed, block index)), hashing as it goes; umount, remount, reads it back
and compares the SHA-256; preads random 4 KiB ranges (some across the 2^31 boundary and block
boundaries) and checks them against the generator; overwrites 1 MiB in the middle at an unaligned
offset, umount/remount, and checks the whole hash against the expected one. Prints MB/s (no
timing assertions). The daemon's peak RSS must stay well below the file size (the design says a
large file never sits in memory).

WEIGHTFS_TEST_SEED fixes the seed (printed first).
"""
import hashlib
import os
import random
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
BLOCK = MiB
SIZE = 2 * GiB + 12345           # crosses 2^31 and ends in a partial block
SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)
NAME = "big.bin"
OVERWRITE_AT = GiB + 12345        # 1 MiB overwrite at an unaligned offset in the middle
OVERWRITE_LEN = MiB


def block(i, salt=0):
    """Block i of the file (1 MiB, the last one shorter)."""
    n = min(BLOCK, SIZE - i * BLOCK)
    return np.random.Generator(np.random.PCG64([SEED, salt, i])).bytes(n)


def expected_range(off, n, overwritten=False):
    """Bytes [off, off+n) of the file as generated (optionally after the overwrite)."""
    out = bytearray()
    pos = off
    end = min(off + n, SIZE)
    while pos < end:
        i = pos // BLOCK
        b = block(i)
        take = b[pos - i * BLOCK:min(end, (i + 1) * BLOCK) - i * BLOCK]
        out += take
        pos += len(take)
    out = bytes(out)
    if overwritten:
        patch = overwrite_data()
        lo, hi = max(off, OVERWRITE_AT), min(end, OVERWRITE_AT + OVERWRITE_LEN)
        if lo < hi:
            out = out[:lo - off] + patch[lo - OVERWRITE_AT:hi - OVERWRITE_AT] + out[hi - off:]
    return out


def overwrite_data():
    return np.random.Generator(np.random.PCG64([SEED, 1, 0])).bytes(OVERWRITE_LEN)


def expected_hash(overwritten):
    h = hashlib.sha256()
    patch = overwrite_data() if overwritten else None
    for i in range((SIZE + BLOCK - 1) // BLOCK):
        b = block(i)
        if overwritten:
            lo, hi = max(i * BLOCK, OVERWRITE_AT), min(i * BLOCK + len(b), OVERWRITE_AT + OVERWRITE_LEN)
            if lo < hi:
                b = b[:lo - i * BLOCK] + patch[lo - OVERWRITE_AT:hi - OVERWRITE_AT] + b[hi - i * BLOCK:]
        h.update(b)
    return h.hexdigest()


def read_hash(path):
    """(sha256 hex, size, MB/s) of a sequential read in 1 MiB reads."""
    h = hashlib.sha256()
    start = time.time()
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, BLOCK)
            if not b:
                break
            h.update(b)
            total += len(b)
    finally:
        os.close(fd)
    return h.hexdigest(), total, total / MiB / (time.time() - start)


def test_large_file():
    rng = random.Random(SEED)
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        path = os.path.join(mnt, NAME)
        with wfs.Mount(repo, mnt) as m:
            h = hashlib.sha256()
            gen_time = 0.0
            start = time.time()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for i in range((SIZE + BLOCK - 1) // BLOCK):
                    t = time.time()
                    b = block(i)
                    h.update(b)
                    gen_time += time.time() - t
                    view = memoryview(b)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
            finally:
                os.close(fd)
            elapsed = time.time() - start
            written_hash = h.hexdigest()
            print("  wrote %d bytes in %.1fs: %.0f MB/s through the mount (%.0f MB/s excluding %.1fs of "
                  "generating+hashing)" % (SIZE, elapsed, SIZE / MiB / elapsed,
                                          SIZE / MiB / max(1e-9, elapsed - gen_time), gen_time), flush=True)
            assert os.stat(path).st_size == SIZE, "size %d, want %d" % (os.stat(path).st_size, SIZE)
            rss = wfs.peak_rss_mib(m.daemon_pid())
            print("  daemon peak RSS after writing: %d MiB" % rss, flush=True)
            assert rss < 1536, "the daemon's peak RSS is %d MiB for a %d MiB file" % (rss, SIZE // MiB)
            t = time.time()
        print("  umount (final commit) took %.1fs" % (time.time() - t), flush=True)

        with wfs.Mount(repo, mnt):
            got, total, rate = read_hash(path)
            print("  sequential read after remount: %.0f MB/s" % rate, flush=True)
            assert total == SIZE, "read %d bytes, want %d" % (total, SIZE)
            assert got == written_hash, "sha256 after remount %s, want %s (seed %d)" % (got, written_hash, SEED)

            # Random 4 KiB preads checked against the generator, some at interesting places.
            spots = [0, SIZE - 4096, SIZE - 100, 2 * GiB - 2048, 2 * GiB - 1, BLOCK - 1000,
                     OVERWRITE_AT - 2000, 1 * GiB - 1]
            spots += [rng.randrange(0, SIZE) for _ in range(40)]
            fd = os.open(path, os.O_RDONLY)
            try:
                start = time.time()
                for off in spots:
                    got = os.pread(fd, 4096, off)
                    want = expected_range(off, 4096)
                    assert got == want, "pread(4096 @ %d) differs from the generator (got %d bytes; seed %d)" % (
                        off, len(got), SEED)
                print("  %d random 4 KiB preads: %.1f ms each" % (
                    len(spots), (time.time() - start) * 1000 / len(spots)), flush=True)
            finally:
                os.close(fd)

            # Overwrite 1 MiB in the middle.
            fd = os.open(path, os.O_WRONLY)
            try:
                start = time.time()
                assert os.pwrite(fd, overwrite_data(), OVERWRITE_AT) == OVERWRITE_LEN
            finally:
                os.close(fd)
            print("  1 MiB overwrite in the middle + close: %.2fs" % (time.time() - start), flush=True)

        want_hash = expected_hash(overwritten=True)
        with wfs.Mount(repo, mnt):
            assert os.stat(path).st_size == SIZE, "size %d after overwrite, want %d" % (os.stat(path).st_size, SIZE)
            fd = os.open(path, os.O_RDONLY)
            try:
                for off in (OVERWRITE_AT - 100, OVERWRITE_AT + OVERWRITE_LEN - 100, OVERWRITE_AT + 5000):
                    got = os.pread(fd, 4096, off)
                    assert got == expected_range(off, 4096, overwritten=True), \
                        "pread(4096 @ %d) after the overwrite differs (seed %d)" % (off, SEED)
            finally:
                os.close(fd)
            got, total, rate = read_hash(path)
            print("  sequential read after overwrite+remount: %.0f MB/s" % rate, flush=True)
            assert total == SIZE
            assert got == want_hash, "sha256 after the overwrite %s, want %s (seed %d)" % (got, want_hash, SEED)

        start = time.time()
        p = wfs.run("check", "--read-data", repo, check=False, timeout=900)
        print("  check --read-data: %.1fs" % (time.time() - start), flush=True)
        assert p.returncode == 0, "check --read-data failed (%d): %s %s" % (
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (largefile_test)" % SEED, flush=True)
    wfs.cases([test_large_file])
