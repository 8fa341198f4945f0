#!/usr/bin/python3
"""The driver of scripts/bench.sh (a BENCHMARK, not a test: never registered in ctest, no
pass/fail on timings); see scripts/bench.sh for what it measures and its environment. Run as
`./scripts/bench.sh`, which execs this file with Debian's /usr/bin/python3.

The timed workloads run as child processes of scripts/bench_mount_work.py (each prints the
seconds of its timed part); commands such as dd and cp run as themselves. Mounting, caches,
CPU and RSS readings, results and the cleanup come from scripts/bench_common.py.
"""
import os
import shutil
import subprocess
import sys

import bench_common as bc
from bench_common import die, log, step, Timer, MIB, PY
from bench_mount_report import FILE_KIB, HIDDEN_SUBTREE, SLICE_MIB, report

WORK = os.path.join(bc.SCRIPTS, "bench_mount_work.py")
PASS = "bench-passphrase"
FS_ALL = ["weightfs", "plain", "gocryptfs", "securefs"]  # also the order of every round
ENV_NAMES = ["BENCH_ROUNDS", "BENCH_DIR", "BENCH_FS", "BENCH_SIZE_MIB", "BENCH_SHARD_MIB",
             "BENCH_FILES", "BENCH_TREE_DIRS", "BENCH_RAND4K", "BENCH_RAND1M", "BENCH_SEED",
             "BENCH_CACHE_MIB", "BENCH_STEP_TIMEOUT", "WEIGHTFS_BINARY"]


class Config:
    """The BENCH_* environment (see scripts/bench.sh), checked."""

    def __init__(self):
        self.rounds = bc.env_int("BENCH_ROUNDS", 3)
        self.bench_dir = bc.env_str("BENCH_DIR", "/var/tmp/weightfs-bench")
        self.fses = bc.env_str("BENCH_FS", "weightfs plain gocryptfs securefs").split()
        self.size_mib = bc.env_int("BENCH_SIZE_MIB", 2048)
        self.shard_mib = bc.env_int("BENCH_SHARD_MIB", self.size_mib // 4)
        self.nfiles = bc.env_int("BENCH_FILES", 5000)
        self.tree_dirs = bc.env_int("BENCH_TREE_DIRS", 5)
        self.n4k = bc.env_int("BENCH_RAND4K", 2000)
        self.n1m = bc.env_int("BENCH_RAND1M", 200)
        self.seed = bc.env_int("BENCH_SEED", 42)
        self.cache_mib = bc.env_int("BENCH_CACHE_MIB", 256)
        self.step_timeout = bc.env_int("BENCH_STEP_TIMEOUT", 900)
        if self.size_mib < 4:
            die("BENCH_SIZE_MIB must be at least 4")
        if self.shard_mib * 4 > self.size_mib:
            die("4 shards of BENCH_SHARD_MIB (%d) must fit in BENCH_SIZE_MIB (%d)"
                % (self.shard_mib, self.size_mib))
        if self.cache_mib < 16:
            die("BENCH_CACHE_MIB must be at least 16 (weightfs mount --cache-size)")
        if not 2 <= self.tree_dirs <= 100:
            die("BENCH_TREE_DIRS must be 2 to 100")
        for fs in self.fses:
            if fs not in FS_ALL:
                die("unknown filesystem in BENCH_FS: %s" % fs)
        self.order = [fs for fs in FS_ALL if fs in self.fses]
        self.file_bytes = FILE_KIB * 1024
        self.rand4k_mib = float("%.6f" % (self.n4k * 4 / 1024))


class MountBench:
    """One run: the files in RUN, the filesystem mounted for the current round, the results."""

    def __init__(self, run, cfg, rdir, wfs):
        self.run, self.cfg, self.rdir, self.wfs = run, cfg, rdir, wfs
        self.results = bc.Results()
        self.notes = []
        self.mount = None    # the mounted FUSE filesystem of the round (WeightfsMount, ...)
        self.target = None   # where the files of the round go
        self.src = self.p("source.bin")
        self.model_dir = self.p("model")
        self.model = os.path.join(self.model_dir, "model.safetensors")
        self.manifest = self.p("model.manifest.json")

    def p(self, *names):
        return os.path.join(self.rdir, *names)

    def work(self, *args, capture=True):
        """A bench_mount_work.py subcommand as its own process; returns what it printed."""
        return step(self.run, [PY, WORK] + [str(a) for a in args], capture=capture)

    def record(self, rnd, fs, key, value):
        self.results.record(rnd, fs, key, value)

    # --- Mounts ---------------------------------------------------------------------------

    def wfs_cmd(self, *args):
        env = dict(os.environ, WEIGHTFS_PASSPHRASE=PASS, WEIGHTFS_INSECURE_FAST_KDF="1")
        step(self.run, [self.wfs] + list(args), env=env)

    def mount_fs(self, fs, *opts):
        """Mounts FS's storage of the round (made by setup) and sets self.mount."""
        if fs == "weightfs":
            self.mount = bc.WeightfsMount(
                self.run, self.wfs, self.p("wfs-repo"), self.p("wfs-mnt"),
                ["--cache-size", str(self.cfg.cache_mib), "--log-file", self.p("weightfs.log")]
                + list(opts), env=dict(os.environ, WEIGHTFS_PASSPHRASE=PASS))
        elif fs == "gocryptfs":
            self.mount = bc.ForegroundMount(
                self.run, "gocryptfs", self.p("gc-mnt"),
                ["gocryptfs", "-fg", "-q", "-passfile", self.p("passfile"), self.p("gc-cipher"),
                 self.p("gc-mnt")], self.p("gocryptfs.log"))
        elif fs == "securefs":
            # securefs 0.13 has no passfile option: the file serves as its --keyfile (used
            # instead of a password, so nothing is asked). `securefs mount` stays in the
            # foreground.
            self.mount = bc.ForegroundMount(
                self.run, "securefs", self.p("sf-mnt"),
                ["securefs", "mount", "--keyfile", self.p("passfile"), self.p("sf-cipher"),
                 self.p("sf-mnt")], self.p("securefs.log"))
        self.target = self.mount.mnt

    def umount_wfs(self, rnd, phase):
        """Records the daemon's peak RSS (VmHWM, MiB) as rss:PHASE, then unmounts; PHASE names
        the last measurement of that mount."""
        self.record(rnd, "weightfs", "rss:" + phase, self.mount.vm_hwm_mib())
        self.mount.umount()

    def remount(self, rnd, fs, phase):
        if fs == "weightfs":
            self.umount_wfs(rnd, phase)
        else:
            self.mount.umount()
        self.mount_fs(fs)

    def cold(self, rnd, fs, phase):
        """Remounts a FUSE filesystem, then drops the page cache."""
        if fs != "plain":
            self.remount(rnd, fs, phase)
        bc.drop_caches()

    def setup(self, fs):
        """Fresh storage of FS, mounted; sets self.target (where the files go)."""
        if fs == "plain":
            os.mkdir(self.p("plain"))
            self.target, self.run.cur_log = self.p("plain"), None
            return
        if fs == "weightfs":
            os.mkdir(self.p("wfs-mnt"))
            self.run.cur_log = self.p("weightfs.log")
            open(self.run.cur_log, "w").close()
            self.wfs_cmd("init", self.p("wfs-repo"))
            # The policy of the shared-mount rows; on the private mounts the admin slot decides.
            self.wfs_cmd("policy", "set", self.p("wfs-repo"), self.p("policy.yaml"))
        elif fs == "gocryptfs":
            os.mkdir(self.p("gc-cipher"))
            os.mkdir(self.p("gc-mnt"))
            self.run.cur_log = self.p("gocryptfs.log")
            with open(self.run.cur_log, "w") as flog:
                step(self.run, ["gocryptfs", "-init", "-q", "-passfile", self.p("passfile"),
                                "-scryptn", "10", self.p("gc-cipher")], stdout=flog,
                     stderr=subprocess.STDOUT)
        elif fs == "securefs":
            os.mkdir(self.p("sf-cipher"))
            os.mkdir(self.p("sf-mnt"))
            self.run.cur_log = self.p("securefs.log")
            # PBKDF2 with few rounds: a cheap KDF like the others' (the KDF is not measured).
            with open(self.run.cur_log, "w") as flog:
                step(self.run, ["securefs", "create", "--pbkdf", "pkcs5-pbkdf2-hmac-sha256",
                                "-r", "1000", "--keyfile", self.p("passfile"),
                                self.p("sf-cipher")], stdout=flog, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL)
        self.mount_fs(fs)

    def teardown(self, rnd, fs):
        """Unmounts (timed, recorded) and removes the filesystem's storage."""
        if fs != "plain":
            if fs == "weightfs":
                # the shared mount's VmHWM (read before the timed unmount, which must not
                # include it)
                self.record(rnd, "weightfs", "rss:tree (shared mount)", self.mount.vm_hwm_mib())
            t = Timer()
            self.mount.umount()
            self.record(rnd, fs, "umount_end", t.fmt())
            self.mount = None
        t = Timer()
        dirs = {"plain": ["plain"], "weightfs": ["wfs-repo", "wfs-mnt"],
                "gocryptfs": ["gc-cipher", "gc-mnt"], "securefs": ["sf-cipher", "sf-mnt"]}[fs]
        if fs == "weightfs":
            # Anything alarming the daemon logged goes into the report.
            self.notes += ["round %d: %s" % (rnd, line) for line in bc.matching_lines(
                self.p("weightfs.log"), ("error", "fail", "corrupt", "warn"))]
        subprocess.run(["rm", "-rf", "--one-file-system"] + [self.p(d) for d in dirs], check=True)
        log("  (%s storage removed in %s s)" % (fs, t.fmt()))
        self.run.cur_log = None

    # --- Measurements ---------------------------------------------------------------------

    def timed(self, cmd):
        """Runs CMD (its output to stderr); returns its wall-clock seconds ("%.6f")."""
        t = Timer()
        step(self.run, cmd)
        return t.fmt()

    def measure(self, rnd, fs, key, per, moved, fn):
        """FN() runs the workload and returns the seconds of its timed part; records PER /
        seconds under KEY (PER None: the seconds themselves). For weightfs also records
        cpu:KEY, the daemon's CPU seconds over FN per GiB moved (MOVED MiB; None: not
        recorded)."""
        c0 = self.mount.cpu_ticks() if fs == "weightfs" and moved is not None else None
        dt = fn()
        c1 = self.mount.cpu_ticks() if c0 is not None else None
        self.record(rnd, fs, key, dt if per is None else "%.3f" % (float(per) / float(dt)))
        if c0 is not None:
            self.record(rnd, fs, "cpu:" + key,
                        "%.3f" % ((c1 - c0) / bc.CLK_TCK / (float(moved) / 1024)))

    def measure_work(self, rnd, fs, key, per, moved, *args):
        self.measure(rnd, fs, key, per, moved, lambda: self.work(*args))

    def bench_one(self, rnd, fs):
        log("round %d/%d: %s" % (rnd, self.cfg.rounds, fs))
        self.setup(fs)
        if fs != "securefs":
            self.bench_data(rnd, fs)
        self.bench_small(rnd, fs)
        if fs in ("weightfs", "plain"):
            self.bench_tree(rnd, fs)
        self.teardown(rnd, fs)
        if fs == "plain":
            self.bench_cp(rnd)
        elif fs == "weightfs":
            self.bench_import_export(rnd)

    def bench_data(self, rnd, fs):
        """The big-file, model and shard rows."""
        c, big = self.cfg, os.path.join(self.target, "big.bin")
        size = c.size_mib
        # 1. Sequential write, source file in the page cache, nothing else dirty.
        with open(self.src, "rb") as f:
            while f.read(MIB):
                pass
        os.sync()
        self.measure(rnd, fs, "seq_write", size, size, lambda: self.timed(
            ["dd", "if=" + self.src, "of=" + big, "bs=1M", "conv=fsync", "status=none"]))
        if step(self.run, ["stat", "-c", "%s", big], capture=True) != str(size * MIB):
            die("%s: %s has the wrong size after the write" % (fs, big))
        if fs != "plain":
            t = Timer()
            self.remount(rnd, fs, "seq_write")
            self.record(rnd, fs, "remount_write", t.fmt())
        # 2./3. Sequential read, cold (just remounted), then warm.
        bc.drop_caches()
        read = ["dd", "if=" + big, "of=/dev/null", "bs=1M", "status=none"]
        self.measure(rnd, fs, "seq_read", size, size, lambda: self.timed(read))
        self.measure(rnd, fs, "seq_read_warm", size, size, lambda: self.timed(read))
        # 4./5. Random preads, cold.
        self.cold(rnd, fs, "seq_read_warm")
        self.measure_work(rnd, fs, "rand4k", c.n4k, c.rand4k_mib,
                          "pread", big, 4096, c.n4k, c.seed, self.src)
        self.cold(rnd, fs, "rand4k")
        self.measure_work(rnd, fs, "rand1m", c.n1m, c.n1m,
                          "pread", big, 1048576, c.n1m, c.seed, self.src)
        # 6. numpy.memmap scan, cold.
        self.cold(rnd, fs, "rand1m")
        self.measure_work(rnd, fs, "mmap_scan", size, size, "scan", big, self.src_sum, SLICE_MIB)
        self.bench_model_shards(rnd, fs, big)

    def bench_model_shards(self, rnd, fs, big):
        """7. Model load and 8. the four shards, cold. The model and the shards are written
        untimed (and the big file is removed first, so the disk holds one data set at a time)."""
        c, model = self.cfg, os.path.join(self.target, "model.safetensors")
        os.unlink(big)
        step(self.run, ["cp", self.model, model])
        shards = [os.path.join(self.target, "shard%d.bin" % i) for i in range(4)]
        for i, shard in enumerate(shards):
            step(self.run, ["dd", "if=" + self.src, "of=" + shard, "bs=1M",
                            "skip=%d" % (i * c.shard_mib), "count=%d" % c.shard_mib,
                            "status=none"])
        os.sync()
        self.cold(rnd, fs, "mmap_scan")
        self.measure_work(rnd, fs, "model_mmap", self.model_mib, self.model_mib,
                          "model_mmap", model, self.manifest)
        self.cold(rnd, fs, "model_mmap")
        self.measure_work(rnd, fs, "model_pread", self.model_mib, self.model_mib,
                          "model_pread", model, self.manifest, 8, 16)
        self.cold(rnd, fs, "model_pread")
        self.measure_work(rnd, fs, "shards", 4 * c.shard_mib, 4 * c.shard_mib,
                          "shards", self.src, c.shard_mib, *shards)
        for path in [model] + shards:
            os.unlink(path)

    def bench_small(self, rnd, fs):
        """Create, `ls -l` (cold), delete of BENCH_FILES small files."""
        c, small = self.cfg, os.path.join(self.target, "small")
        self.measure_work(rnd, fs, "create", None, None,
                          "create", small, c.nfiles, c.file_bytes, c.seed)
        if fs != "plain":
            t = Timer()
            self.remount(rnd, fs, "create")
            self.record(rnd, fs, "remount_create", t.fmt())
            small = os.path.join(self.target, "small")
        bc.drop_caches()
        self.measure_work(rnd, fs, "ls", None, None, "ls", small, c.nfiles, c.file_bytes)
        self.measure_work(rnd, fs, "delete", None, None, "delete", small, c.nfiles)

    def tree_rows(self, rnd, fs, suffix):
        """`ls -lR` cold, `ls -lR` warm, os.stat warm."""
        c, tree = self.cfg, os.path.join(self.target, "tree")
        bc.drop_caches()
        for key in ("tree_lsr_cold", "tree_lsr_warm"):
            self.measure_work(rnd, fs, key + suffix, None, None,
                              "ls_r", tree, c.nfiles, c.file_bytes)
        self.measure_work(rnd, fs, "tree_stat" + suffix, None, None,
                          "stat_tree", tree, c.nfiles, c.tree_dirs, c.file_bytes)

    def bench_tree(self, rnd, fs):
        """The tree rows; for weightfs on a private and on a shared mount."""
        c = self.cfg
        self.work("tree", os.path.join(self.target, "tree"), c.nfiles, c.tree_dirs,
                  c.file_bytes, c.seed, capture=False)
        if fs != "plain":
            self.remount(rnd, fs, "tree creation")
        self.tree_rows(rnd, fs, "")
        if fs == "weightfs":
            self.umount_wfs(rnd, "tree (private mount)")
            self.mount_fs("weightfs", "--allow-other")
            self.tree_rows(rnd, fs, "_shared")

    def timed_then_sync(self, cmd, env=None):
        """Runs CMD (its output to stderr), then sync; returns the seconds of both."""
        t = Timer()
        step(self.run, cmd, env=env)
        os.sync()
        return t.fmt()

    def bench_cp(self, rnd):
        """The baseline of import and export, cold, ending with sync."""
        bc.drop_caches()
        dst = self.p("cp-dst")
        self.measure(rnd, "plain", "cp", self.model_mib, None,
                     lambda: self.timed_then_sync(["cp", "-r", self.model_dir, dst]))
        step(self.run, ["cmp", self.model, os.path.join(dst, "model.safetensors")])
        shutil.rmtree(dst)

    def bench_import_export(self, rnd):
        """Offline import + export of the model's directory."""
        repo, dst = self.p("imp-repo"), self.p("exp-dst")
        env = dict(os.environ, WEIGHTFS_PASSPHRASE=PASS)
        self.wfs_cmd("init", repo)
        bc.drop_caches()
        self.measure(rnd, "weightfs", "import", self.model_mib, None, lambda: self.timed_then_sync(
            [self.wfs, "import", repo, self.model_dir, "-m", "bench round %d" % rnd], env))
        bc.drop_caches()
        self.measure(rnd, "weightfs", "export", self.model_mib, None, lambda: self.timed_then_sync(
            [self.wfs, "export", repo, dst], env))
        step(self.run, ["cmp", self.model, os.path.join(dst, "model.safetensors")])
        subprocess.run(["rm", "-rf", "--one-file-system", repo, dst], check=True)

    # --- Data and rounds ------------------------------------------------------------------

    def prepare(self):
        """The passfile, the policy, the source file and the model."""
        c = self.cfg
        with open(self.p("passfile"), "w") as f:
            f.write(PASS + "\n")
        self.work("policy", self.p("policy.yaml"), HIDDEN_SUBTREE, capture=False)
        log("generating the %d MiB source file (seed %d)" % (c.size_mib, c.seed))
        self.src_sum = self.work("gen", self.src, c.size_mib, c.seed)
        os.mkdir(self.model_dir)
        log("generating the safetensors model file (at most %d MiB)" % c.size_mib)
        self.ntensors = self.work("gen_model", self.model, self.manifest, c.size_mib, c.seed + 1)
        self.model_mib = "%.3f" % (os.stat(self.model).st_size / MIB)

    def run_rounds(self):
        t = Timer()
        self.load_start = bc.loadavg()
        for rnd in range(1, self.cfg.rounds + 1):
            for fs in self.cfg.order:
                self.bench_one(rnd, fs)
        self.elapsed = int(t.s())
        self.load_end = bc.loadavg()


def check_preconditions(cfg):
    bc.require_root_fuse("dropping the page cache needs it")
    for fs in ("gocryptfs", "securefs"):
        if fs in cfg.fses and not shutil.which(fs):
            die("%s is not installed (./scripts/setup.sh, or leave it out of BENCH_FS)" % fs)
    if subprocess.run([PY, "-c", "import numpy"], stderr=subprocess.DEVNULL).returncode != 0:
        die("%s has no numpy (apt-get install python3-numpy)" % PY)


def body(run):
    os.environ["LC_ALL"] = "C"
    os.umask(0o022)  # the policy file must not be group/world writable
    cmdline = bc.command_line(ENV_NAMES)
    if len(sys.argv) > 1:
        die("bench.sh takes no arguments; configure it with the BENCH_* variables "
            "(see scripts/bench.sh)")
    cfg = Config()
    run.step_timeout = cfg.step_timeout
    check_preconditions(cfg)
    bin_src = bc.build_binary(run)
    bench_dir, rdir = bc.make_run_dir(run, cfg.bench_dir)
    # Peak use: the source and the model (2x), a FUSE store holding the big file, the model and
    # the shards (3x, chunks of deleted files included), then an imported repository and its
    # export (2x).
    need_mib, avail_mib = 7 * cfg.size_mib + 512, bc.free_mib(rdir)
    if avail_mib < need_mib:
        die("%s has %d MiB free; this run needs about %d MiB" % (bench_dir, avail_mib, need_mib))
    # A private copy, so a concurrent rebuild of build/weightfs cannot change it mid-run.
    wfs = os.path.join(rdir, "weightfs")
    shutil.copy(bin_src, wfs)
    os.environ["WEIGHTFS_STATE_DIR"] = os.path.join(rdir, "state")  # rollback state stays in RUN
    b = MountBench(run, cfg, rdir, wfs)
    b.prepare()
    b.run_rounds()
    report(b, cmdline, bench_dir)
    log("done in %d s" % b.elapsed)


if __name__ == "__main__":
    bc.main("bench", body)
