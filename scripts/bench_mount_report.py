"""The report of scripts/bench_mount.py (the driver of scripts/bench.sh): its header lines and
the rows of its ratio table (metrics), plus the workload sizes they name. A benchmark, not a test."""
import os
import shutil
import subprocess

import bench_common as bc

FILE_KIB = 4
SLICE_MIB = 64
HIDDEN_SUBTREE = "/tree/d00"  # the one subtree the shared mount's second role does not see


def metrics(c):
    """The rows of the table, in order. C: the run's configuration (a dict of strings).
    Each row: key, label, unit, kind ("rate": higher is better, "time": lower is better),
    goal, the weightfs daemon's CPU goal in s/GiB (or None), and the key of the plain
    directory's value it is compared with (its own key unless given)."""
    def size(mib):
        mib = float(mib)
        return "%g GiB" % (mib / 1024) if mib >= 1024 else "%d MiB" % round(mib)
    files = "{:,}".format(int(c["files"]))
    tree = "{:,} files in %s dirs" % c["tree_dirs"]
    tree = tree.format(int(c["files"]))
    def R(x):
        return ("ratio", x)
    rows = [
        ("seq_write", "Sequential write, %s (dd bs=1M conv=fsync)" % size(c["size_mib"]),
         "MiB/s", "rate", R(0.75), 1.2),
        ("remount_write", "umount + mount after the write (FUSE only)", "s", "time", None, None),
        ("seq_read", "Sequential read, cold (dd bs=1M)", "MiB/s", "rate", R(0.85), 0.6),
        ("seq_read_warm", "Sequential read, warm (dd bs=1M again, no remount)",
         "MiB/s", "rate", None, None),
        ("rand4k", "Random 4 KiB pread, cold (%s ops)" % c["rand4k"], "ops/s", "rate", None, None),
        ("rand1m", "Random 1 MiB pread, cold (%s ops)" % c["rand1m"], "MiB/s", "rate", None, None),
        ("mmap_scan", "numpy.memmap scan, cold (uint8 sum, %s MiB slices)" % c["slice_mib"],
         "MiB/s", "rate", R(0.90), 0.6),
        ("model_mmap", "Model load, numpy.memmap: np.array per tensor, cold (%s, %s tensors)"
         % (size(c["model_mib"]), c["tensors"]), "MiB/s", "rate", R(0.90), 0.6),
        ("model_pread", "Model load, 8 threads x 16 MiB preads (vLLM prefetch / Run:ai "
         "streamer), cold", "MiB/s", "rate", R(0.90), 0.6),
        ("shards", "4 processes each reading its own %s shard, cold (aggregate)"
         % size(c["shard_mib"]), "MiB/s", "rate", R(0.80), 0.6),
        ("create", "Create %s files of %s KiB" % (files, c["file_kib"]),
         "s", "time", ("fastest",), None),
        ("remount_create", "umount + mount after the creates (FUSE only)",
         "s", "time", None, None),
        ("ls", "`ls -l` of the %s files, cold" % files, "s", "time", ("fastest",), None),
        ("delete", "Delete the %s files" % files, "s", "time", ("fastest",), None),
        ("tree_lsr_cold", "`ls -lR` of %s, cold, private mount" % tree, "s", "time", None, None),
        ("tree_lsr_cold_shared", "`ls -lR` of %s, cold, shared mount" % tree,
         "s", "time", ("shared", "tree_lsr_cold", 2.0), None),
        ("tree_lsr_warm", "`ls -lR` again, warm, private mount", "s", "time", None, None),
        ("tree_lsr_warm_shared", "`ls -lR` again, warm, shared mount",
         "s", "time", ("shared", "tree_lsr_warm", 2.0), None),
        ("tree_stat", "os.stat of every file and dir, warm, private mount",
         "s", "time", None, None),
        ("tree_stat_shared", "os.stat of every file and dir, warm, shared mount",
         "s", "time", ("shared", "tree_stat", None), None),
        ("umount_end", "Final umount (FUSE only)", "s", "time", None, None),
        ("import", "`weightfs import` of a dir with the model, cold (+ sync); plain column: "
         "`cp -r` + sync", "MiB/s", "rate", R(0.7), None),
        ("export", "`weightfs export` of it, cold (+ sync); plain column: `cp -r` + sync",
         "MiB/s", "rate", R(0.8), None),
    ]
    base = {"tree_lsr_cold_shared": "tree_lsr_cold", "tree_lsr_warm_shared": "tree_lsr_warm",
            "tree_stat_shared": "tree_stat", "import": "cp", "export": "cp"}
    return [(k, label, unit, kind, goal, cpu, base.get(k, k))
            for k, label, unit, kind, goal, cpu in rows]


def report(b, cmdline, bench_dir):
    c = b.cfg
    rev, cpu, mem, disk = bc.machine_info(b.rdir)
    gc_ver = subprocess.run(["gocryptfs", "-version"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True).stdout.split() \
        if shutil.which("gocryptfs") else []
    gc_ver = gc_ver[1].rstrip(";") if len(gc_ver) > 1 else ""
    sf_ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "securefs"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    un = os.uname()
    print("### weightfs benchmark")
    print()
    print("- Command: `%s`" % cmdline)
    print("- weightfs %s, %s %s, %d CPUs (%s), %s RAM" % (rev, un.sysname, un.release,
                                                        bc.nproc(), cpu, mem))
    print("- Disk: %s at %s; gocryptfs %s (scryptn 10); securefs %s (format 4, PBKDF2 1000 "
          "rounds; small-file rows only); weightfs with the cheap test KDF and `--cache-size %d`"
          % (disk, bench_dir, gc_ver or "n/a", sf_ver or "n/a", c.cache_mib))
    print("- Rounds: %d, alternating %s; %d s in total; load average %s at the start, %s at the "
          "end" % (c.rounds, " → ".join(c.order), b.elapsed, b.load_start, b.load_end))
    print("- Cold = `sync; echo 3 > /proc/sys/vm/drop_caches`, after an unmount + remount for the "
          "FUSE filesystems")
    print("- Shared mount = `--allow-other` with a policy under which the default role does not "
          "see `%s` (one of the tree's %d directories); measured as root (bound to admin)"
          % (HIDDEN_SUBTREE, c.tree_dirs))
    print()
    bc.print_ratio_table(b.results, metrics(dict(
        size_mib=c.size_mib, model_mib=b.model_mib, tensors=b.ntensors, shard_mib=c.shard_mib,
        files=c.nfiles, file_kib=FILE_KIB, tree_dirs=c.tree_dirs, rand4k=c.n4k, rand1m=c.n1m,
        slice_mib=SLICE_MIB)), c.cache_mib)
    bc.notes_block("weightfs daemon log lines mentioning errors or warnings:", b.notes)
