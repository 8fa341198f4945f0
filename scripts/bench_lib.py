#!/usr/bin/python3
"""Python parts of scripts/bench.sh (a benchmark, not a test): data generation, the timed
pread / memmap / small-file workloads, and the final markdown table.

Every timed subcommand prints the elapsed wall-clock seconds of its timed part on stdout (one
number) and checks what it read or wrote afterwards, outside the timed part; a wrong result
exits non-zero, so a filesystem that returns bad data cannot produce a number.

Uses Debian's /usr/bin/python3 with numpy. scripts/bench_policy.sh imports read_results from
here (without needing numpy).
"""
import os
import random
import subprocess
import sys
import time
import zlib

try:
    import numpy as np
except ImportError:  # only the workloads of bench.sh need it (bench.sh checks for it first)
    np = None

MIB = 1 << 20


def die(msg):
    print("bench_lib: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def cmd_gen(path, size_mib, seed):
    """Writes SIZE_MIB MiB of seeded pseudo-random (incompressible, dedup-free) bytes to PATH
    and prints the sum of all bytes (the checksum the memmap scan must reproduce)."""
    size_mib, seed = int(size_mib), int(seed)
    rng = np.random.default_rng(seed)
    total = 0
    with open(path, "wb") as f:
        for start in range(0, size_mib, 64):
            n = min(64, size_mib - start) * MIB
            block = rng.integers(0, 256, size=n, dtype=np.uint8)
            total += int(block.sum(dtype=np.uint64))
            f.write(block.tobytes())
        f.flush()
        os.fsync(f.fileno())
    print(total)


def cmd_scan(path, expected_sum, slice_mib="64"):
    """numpy.memmap scan: the sum of a uint8 view of the whole file in SLICE_MIB slices."""
    step = int(slice_mib) * MIB
    t0 = time.perf_counter()
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    total = 0
    for off in range(0, mm.shape[0], step):
        total += int(mm[off:off + step].sum(dtype=np.uint64))
    dt = time.perf_counter() - t0
    size = mm.shape[0]
    del mm
    if total != int(expected_sum):
        die("memmap scan of %s (%d bytes): byte sum %d, expected %d" % (path, size, total, int(expected_sum)))
    print("%.6f" % dt)


def offsets(file_size, block, count, seed):
    rng = random.Random(int(seed) * 1000003 + block)
    slots = file_size // block
    return [rng.randrange(slots) * block for _ in range(count)]


def cmd_pread(path, block, count, seed, source):
    """COUNT os.pread calls of BLOCK bytes at seeded random BLOCK-aligned offsets; afterwards
    (untimed) the bytes are compared with the same ranges of the source file."""
    block, count = int(block), int(count)
    size = os.stat(path).st_size
    offs = offsets(size, block, count, seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        blocks = []
        t0 = time.perf_counter()
        for off in offs:
            blocks.append(os.pread(fd, block, off))
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
    got = [zlib.crc32(d) for d in blocks]
    del blocks
    sfd = os.open(source, os.O_RDONLY)
    try:
        for i, off in enumerate(offs):
            want = os.pread(sfd, block, off)
            if zlib.crc32(want) != got[i]:
                die("pread of %s at offset %d (%d bytes) returned data different from the source" % (path, off, block))
    finally:
        os.close(sfd)
    print("%.6f" % dt)


def small_file_payload(n, size, seed):
    """A distinct pseudo-random payload per file, so that content dedup cannot help."""
    return np.random.default_rng(int(seed) + 7).integers(0, 256, size=n * size, dtype=np.uint8).tobytes()


def cmd_create(directory, n, size, seed):
    n, size = int(n), int(size)
    payload = small_file_payload(n, size, seed)
    t0 = time.perf_counter()
    os.mkdir(directory)
    for i in range(n):
        with open(os.path.join(directory, "f%05d.bin" % i), "wb") as f:
            f.write(payload[i * size:(i + 1) * size])
    dt = time.perf_counter() - t0
    print("%.6f" % dt)


def cmd_ls(directory, n, size):
    """Times `ls -l DIR` and checks that it lists N regular files of SIZE bytes."""
    n, size = int(n), int(size)
    t0 = time.perf_counter()
    p = subprocess.run(["ls", "-l", directory], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"))
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        die("ls -l %s failed (%d): %s" % (directory, p.returncode, p.stderr.decode(errors="replace")))
    files = [line.split() for line in p.stdout.decode().splitlines() if line.startswith("-")]
    if len(files) != n or any(int(f[4]) != size for f in files):
        die("ls -l %s: expected %d files of %d bytes, got %d entries" % (directory, n, size, len(files)))
    print("%.6f" % dt)


def cmd_delete(directory, n):
    n = int(n)
    t0 = time.perf_counter()
    for i in range(n):
        os.unlink(os.path.join(directory, "f%05d.bin" % i))
    os.rmdir(directory)
    dt = time.perf_counter() - t0
    if os.path.exists(directory):
        die("%s still exists after deleting it" % directory)
    print("%.6f" % dt)


# ---------------------------------------------------------------------------------------------
# The table.

FS_ORDER = ["plain", "weightfs", "gocryptfs"]


def metrics(size_mib, nfiles, file_kib, n4k, n1m, slice_mib):
    size = "%g GiB" % (size_mib / 1024) if size_mib % 1024 == 0 else "%d MiB" % size_mib
    files = "{:,}".format(nfiles)
    # (key, label, unit, kind): kind "rate" = higher is better, "time" = lower is better.
    return [
        ("seq_write", "Sequential write, %s (dd bs=1M conv=fsync)" % size, "MiB/s", "rate"),
        ("remount_write", "umount + mount after the write (FUSE only)", "s", "time"),
        ("seq_read", "Sequential read, cold (dd bs=1M)", "MiB/s", "rate"),
        ("rand4k", "Random 4 KiB pread, cold (%d ops)" % n4k, "ops/s", "rate"),
        ("rand1m", "Random 1 MiB pread, cold (%d ops)" % n1m, "MiB/s", "rate"),
        ("mmap_scan", "numpy.memmap scan, cold (uint8 sum, %d MiB slices)" % slice_mib, "MiB/s", "rate"),
        ("create", "Create %s files of %d KiB" % (files, file_kib), "s", "time"),
        ("remount_create", "umount + mount after the creates (FUSE only)", "s", "time"),
        ("ls", "`ls -l` of the %s files, cold" % files, "s", "time"),
        ("delete", "Delete the %s files" % files, "s", "time"),
        ("umount_end", "Final umount after the deletes (FUSE only)", "s", "time"),
    ]


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return ("%.3f s" if v < 1 else "%.2f s" if v < 100 else "%.0f s") % v
    return ("%.0f " % v if v >= 100 else "%.1f " % v) + unit


def ratio(wfs, other, kind):
    if wfs is None or other is None or wfs <= 0 or other <= 0:
        return "—"
    r = wfs / other if kind == "rate" else other / wfs
    return "%.2f×" % r


def read_results(results):
    """The lines ROUND<TAB>NAME<TAB>KEY<TAB>VALUE of the results file (written by `record` in
    scripts/bench_common.sh) as {(NAME, KEY): [(ROUND, VALUE), ...]} in file order; other lines
    are skipped."""
    rows = {}
    with open(results) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            rnd, name, key, value = parts
            rows.setdefault((name, key), []).append((int(rnd), float(value)))
    return rows


def cmd_table(results, size_mib, nfiles, file_kib, n4k, n1m, slice_mib):
    rows = read_results(results)
    ms = metrics(int(size_mib), int(nfiles), int(file_kib), int(n4k), int(n1m), int(slice_mib))

    def best(fs, key, kind):
        vals = [v for _, v in rows.get((fs, key), [])]
        if not vals:
            return None
        return max(vals) if kind == "rate" else min(vals)

    print("Best of each measurement over all rounds. **Ratio columns are speed ratios: > 1 means "
          "weightfs is faster** (weightfs/other for throughputs, other/weightfs for times).")
    print()
    print("| Measurement | plain dir | weightfs | gocryptfs | weightfs vs plain | weightfs vs gocryptfs |")
    print("|---|--:|--:|--:|--:|--:|")
    for key, label, unit, kind in ms:
        b = {fs: best(fs, key, kind) for fs in FS_ORDER}
        if all(v is None for v in b.values()):
            continue
        print("| %s | %s | %s | %s | %s | %s |" % (
            label, fmt(b["plain"], unit), fmt(b["weightfs"], unit), fmt(b["gocryptfs"], unit),
            ratio(b["weightfs"], b["plain"], kind), ratio(b["weightfs"], b["gocryptfs"], kind)))
    print()
    print("<details><summary>Every round (in run order)</summary>")
    print()
    print("| Measurement | plain dir | weightfs | gocryptfs |")
    print("|---|--:|--:|--:|")
    for key, label, unit, kind in ms:
        cells = []
        for fs in FS_ORDER:
            vals = [v for _, v in sorted(rows.get((fs, key), []))]
            cells.append(" / ".join(fmt(v, unit).replace(" " + unit, "") for v in vals) if vals else "—")
        if all(c == "—" for c in cells):
            continue
        print("| %s (%s) | %s |" % (label, unit, " | ".join(cells)))
    print()
    print("</details>")


COMMANDS = {
    "gen": cmd_gen,
    "scan": cmd_scan,
    "pread": cmd_pread,
    "create": cmd_create,
    "ls": cmd_ls,
    "delete": cmd_delete,
    "table": cmd_table,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: bench_lib.py {%s} ARGS..." % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
