#!/usr/bin/python3
"""Read-ahead through a real mount, with a small --cache-size.

Two weight files (160 MiB each, larger than the cache) are written and the repository remounted
with --cache-size 32. Readers start streams on both files and then stall while the daemon's
workers load ahead of them; then 8 threads read one file in 16 MiB preads (as vLLM's prefetch
does) and a reader scans the other with random seeks. Every byte read is checked, and the
daemon's peak RSS must stay within --cache-size + 64 MiB throughout (the issue's bound).

WEIGHTFS_TEST_SEED fixes the seed (printed first).
"""
import os
import random
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

MiB = 1 << 20
SIZE = 160 * MiB
CACHE_MIB = 32
BOUND_MIB = CACHE_MIB + 64
SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)


def content(salt):
    return np.random.Generator(np.random.PCG64([SEED, salt])).bytes(SIZE)


def check_rss(m, when):
    rss = wfs.peak_rss_mib(m.daemon_pid())
    print("  daemon peak RSS %s: %d MiB (bound %d)" % (when, rss, BOUND_MIB), flush=True)
    wfs.true(0 < rss <= BOUND_MIB, "peak RSS %d MiB %s is within --cache-size %d + 64 MiB" % (rss, when, CACHE_MIB))


def test_read_ahead_within_bound():
    rng = random.Random(SEED)
    data = {name: content(i) for i, name in enumerate(["a.safetensors", "b.bin"])}
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        with wfs.Mount(repo, mnt):
            for name, d in data.items():
                with open(os.path.join(mnt, name), "wb") as f:
                    f.write(d)
        with wfs.Mount(repo, mnt, "--cache-size", str(CACHE_MIB)) as m:
            # Streams that start and stall: the workers load ahead, the cache must not grow past
            # its bound.
            fds = {name: os.open(os.path.join(mnt, name), os.O_RDONLY) for name in data}
            try:
                for name, fd in fds.items():
                    got = os.pread(fd, 4 * MiB, 0)
                    wfs.true(got == data[name][:4 * MiB], "the first 4 MiB of %s" % name)
                time.sleep(2)
                check_rss(m, "after two readers stalled")

                # 8 threads x 16 MiB preads over a.safetensors.
                name = "a.safetensors"
                errors = []

                def worker(k):
                    for off in range(k * 16 * MiB, SIZE, 8 * 16 * MiB):
                        got = os.pread(fds[name], 16 * MiB, off)
                        if got != data[name][off:off + 16 * MiB]:
                            errors.append(off)

                threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
                start = time.time()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print("  8 threads x 16 MiB preads: %.0f MiB/s" % (SIZE / MiB / (time.time() - start)), flush=True)
                wfs.eq(errors, [], "offsets whose 16 MiB pread differed")
                check_rss(m, "after 8 threads read %s" % name)

                # Sequential runs with random seeks over b.bin (page cache dropped first).
                if os.geteuid() == 0:
                    with open("/proc/sys/vm/drop_caches", "w") as f:
                        f.write("3\n")
                name = "b.bin"
                pos, bad = 0, []
                for _ in range(300):
                    if rng.random() < 0.1:
                        pos = rng.randrange(0, SIZE)
                    n = rng.choice([4096, 65536, MiB, 3 * MiB + 17])
                    got = os.pread(fds[name], n, pos)
                    if got != data[name][pos:pos + n]:
                        bad.append((pos, n))
                    pos = (pos + len(got)) % SIZE
                wfs.eq(bad, [], "reads of %s with seeks that differed" % name)
                check_rss(m, "after seeking reads of %s" % name)
            finally:
                for fd in fds.values():
                    os.close(fd)


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (readahead_test)" % SEED, flush=True)
    wfs.cases([test_read_ahead_within_bound])
