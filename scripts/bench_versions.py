#!/usr/bin/python3
"""The driver of scripts/bench_versions.sh (a benchmark, not a test; no pass/fail on any
number); see scripts/bench_versions.sh for what it measures and its environment. Run as
`./scripts/bench_versions.sh`, which execs this file with Debian's /usr/bin/python3.

Here: the timed steps (weightfs, mkdir, cp and dd run as their own processes) and the report
with its markdown tables. The data (random files, the safetensors model and its variants) comes
from scripts/bench_versions_work.py, run as its own process; mounts, timing and the cleanup
from scripts/bench_common.py.
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import bench_common as bc
from bench_common import die, step, Timer, PY

WORK = os.path.join(bc.SCRIPTS, "bench_versions_work.py")

# ---------------------------------------------------------------------------------------------
# Report.

def human(n):
    n = float(n)
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%s%.2f %s" % (sign, n / div, unit)
    return "%s%d B" % (sign, n)


def ms(s):
    v = s * 1000
    return "%.0f ms" % v if v >= 100 else "%.1f ms" % v


def size_label(mib):
    mib = int(mib)
    return "%g GiB" % (mib / 1024) if mib % 1024 == 0 else "%d MiB" % mib


class Measured:
    """The results {key: [[value], ...]} (values as recorded, in run order)."""

    def __init__(self, res):
        self.res = res

    def vals(self, key):
        return [float(v[0]) for v in self.res.get(key, [])]

    def one(self, key):
        v = self.vals(key)
        return v[-1] if v else None


def report(res, info_path, small_mib, large_mib, nfiles, rounds, cmdline):
    """The report's tables. RES: {key: [[value], ...]} (values as recorded, in run order)."""
    with open(info_path) as f:
        info = json.load(f)
    report_snapshots(Measured(res), [int(small_mib), int(large_mib)], int(nfiles), int(rounds))
    report_growth(Measured(res), info)
    print()
    print("Command line: `%s`" % cmdline)


def report_snapshots(meas, sizes, nfiles, rounds):
    """The raw snapshot times and the snapshot-time table of the repositories of SIZES MiB."""
    vals, one = meas.vals, meas.one
    labels = [size_label(m) for m in sizes]
    print("## Raw measurements")
    print()
    for m, lab in zip(sizes, labels):
        off, mnt = vals("offline_%d" % m), vals("mount_%d" % m)
        print("%-8s offline `weightfs snapshot`:    %s" % (lab, "  ".join(ms(x) for x in off)))
        print("%-8s mount `mkdir .versions/tags`:  %s" % (lab, "  ".join(ms(x) for x in mnt)))
    print()

    print("## Snapshot creation time")
    print()
    print("Median (and minimum) of %d; %d weight files per repository, distinct random data. "
          "Offline: the whole `weightfs snapshot REPO` process (start, unlock with the test-only "
          "fast KDF, record), after a 4 KiB write made through a mount and committed at "
          "unmount. On a mount: `mkdir .versions/tags/NAME` right after a 4 KiB write into one "
          "of the files, so the time includes committing that change." % (rounds, nfiles))
    print()
    print("| Snapshot of a repository of | %s | %s | %s / %s |"
          % (labels[0], labels[1], labels[1], labels[0]))
    print("|---|--:|--:|--:|")
    for key, label in (("offline", "`weightfs snapshot REPO` (offline)"),
                       ("mount", "`mkdir MNT/.versions/tags/NAME` (on a mount)")):
        a, b = vals("%s_%d" % (key, sizes[0])), vals("%s_%d" % (key, sizes[1]))
        if a and b:
            ma, mb = statistics.median(a), statistics.median(b)
            print("| %s | %s (min %s) | %s (min %s) | %.2f× |" % (
                label, ms(ma), ms(min(a)), ms(mb), ms(min(b)), mb / ma))
    ia, ib = one("import_%d" % sizes[0]), one("import_%d" % sizes[1])
    if ia and ib:
        print("| for scale: `weightfs import` of the data | %.2f s | %.1f s | %.0f× |"
              % (ia, ib, ib / ia))
    print()


def report_growth(meas, info):
    """The repository-growth table of the model's versions (INFO: the model's description)."""
    res, one = meas.res, meas.one
    fsize = info["files"]["base"]["size"]
    changed = info["changed_bytes"]
    print("## Repository growth per version of one safetensors file")
    print()
    print("`model.safetensors`: %s, %d bf16 tensors from %s to %s. Each variant is stored as a new "
          "version of the same path, in this order, and the growth is the increase of the "
          "repository's stored bytes (`weightfs stats --json`: every object, encrypted, "
          "including trees, file objects and snapshots). Import: `weightfs import REPO FILE --to "
          "/model.safetensors`. Mount: `cp FILE MNT/model.safetensors` then `mkdir "
          "MNT/.versions/tags/NAME`, `weightfs umount`." % (
              human(fsize), info["tensors"], human(info["min_tensor"]), human(info["max_tensor"])))
    print()
    rows = [
        ("base", "base model (first version, empty repository)", None),
        ("resave", "identical re-save", "< 1% of the file"),
        ("meta", "header metadata changed (+%d `__metadata__` entries, header +%d B, all tensor "
                 "data shifted)" % (info["meta_entries_added"], info["header_growth"]),
         "< 1% of the file"),
        ("tenth", "one tensor in ten changed (%d of %d tensors rewritten: %s = %.1f%% of the "
                  "file)" % (len(info["changed"]), info["tensors"], human(changed),
                             100.0 * changed / fsize),
         "little more than %s" % human(changed)),
    ]
    paths = [p for p in ("import", "mount")
             if any(("growth_%s_%s" % (p, r[0])) in res for r in rows)]
    head = "| New version of model.safetensors | " + " | ".join(
        "%s: growth | %% of file" % p for p in paths) + " | goal |"
    print(head)
    print("|---|" + "--:|--:|" * len(paths) + "---|")
    for key, label, goal in rows:
        cells = []
        for p in paths:
            g = one("growth_%s_%s" % (p, key))
            if g is None:
                cells += ["—", "—"]
                continue
            pct = ("%.3f%%" if key != "base" else "%.2f%%") % (100.0 * g / fsize)
            if key == "tenth":
                pct += " (%.3f× the changed tensors)" % (g / changed)
            cells += [human(g), pct]
        print("| %s | %s | %s |" % (label, " | ".join(cells), goal or "—"))
    print()
    for p in paths:
        u = one("unreachable_%s" % p)
        if u is not None:
            print("- %s path: %s of unreachable objects left after the four versions "
                  "(`weightfs gc --dry-run --grace 0`), included in the growth above."
                  % (p, human(u)))
    print("- exact byte counts: " + "; ".join(
        "%s %s %d B" % (p, k, int(one("growth_%s_%s" % (p, k))))
        for p in paths for k, _, _ in rows if one("growth_%s_%s" % (p, k)) is not None))


# ---------------------------------------------------------------------------------------------
# The driver.

ENV_NAMES = ["BENCH_DIR", "BENCH_SMALL_MIB", "BENCH_LARGE_MIB", "BENCH_FILES", "BENCH_ROUNDS",
             "BENCH_MODEL_HIDDEN", "WEIGHTFS_BIN"]
VARIANTS = ["base", "resave", "meta", "tenth"]


def out(*args):
    print(*args)


def msec(s):
    return "%.1f ms" % (float(s) * 1000)


class VersionsBench:
    """One run in the work dir D: the weightfs commands, the mounts (`weightfs mount -f` as our
    children) and the results ({key: [[value], ...]})."""

    def __init__(self, run, d, wfs):
        self.run, self.d, self.wfs = run, d, wfs
        self.res = {}
        self.mounts = {}  # mountpoint -> its ForegroundMount

    def p(self, *names):
        return os.path.join(self.d, *names)

    def record(self, key, value):
        self.res.setdefault(key, []).append([str(value)])

    def wfs_cmd(self, *args, stdout=subprocess.DEVNULL, capture=False):
        """`weightfs ARGS...` with its stderr kept aside (the fast-KDF warning is noise here)
        and shown only on failure; returns its output with CAPTURE."""
        with open(self.p("wfs.err"), "w") as err:
            rc = step(self.run, [self.wfs] + [str(a) for a in args], capture=capture,
                      stdout=stdout, stderr=err, check=False)
        if capture and not isinstance(rc, int):
            return rc
        if rc != 0:
            with open(self.p("wfs.err")) as f:
                sys.stderr.write(f.read())
            die("weightfs %s failed" % " ".join(str(a) for a in args))

    def wfs_json(self, *args):
        text = step(self.run, [self.wfs] + list(args), capture=True, stderr=subprocess.DEVNULL)
        return json.loads(text)

    def stored(self, repo):
        return self.wfs_json("stats", repo, "--json")["stored_bytes"]

    def mount_repo(self, repo, mnt):
        os.makedirs(mnt, exist_ok=True)
        self.run.cur_log = self.p("mount.log")
        self.mounts[mnt] = bc.ForegroundMount(
            self.run, "weightfs", mnt, [self.wfs, "mount", "-f", repo, mnt],
            log_path=self.p("mount.log"), timeout=30, umount_cmd=[self.wfs, "umount", mnt])

    def umount_repo(self, mnt):
        self.mounts.pop(mnt).umount()

    def poke(self, path, size):
        """Overwrites 4 KiB at a random 4 KiB-aligned offset of PATH with random bytes."""
        blocks = size // 4096
        step(self.run, ["dd", "if=/dev/urandom", "of=" + path, "bs=4096", "count=1",
                        "seek=%d" % (random.getrandbits(30) % blocks), "conv=notrunc",
                        "status=none"])

    def timed(self, *cmds):
        """Runs the commands in turn (their output to stderr); returns the seconds ("%.6f")."""
        t = Timer()
        for cmd in cmds:
            step(self.run, cmd)
        return t.fmt()

    def timed_wfs(self, *args):
        t = Timer()
        self.wfs_cmd(*args)
        return t.fmt()

    # --- 1. Snapshot creation time --------------------------------------------------------

    def make_repos(self, sizes, nfiles):
        """Repositories of SIZES MiB in NFILES files of distinct random data each; returns
        {(MiB, i): bytes of weights-i.bin}."""
        filesize = {}
        for m in sizes:
            repo = self.p("repo-%d" % m)
            self.wfs_cmd("init", repo)
            import_s = 0.0
            for i in range(nfiles):
                fm = m // nfiles + (1 if i < m % nfiles else 0)
                step(self.run, [PY, WORK, "gen", self.p("src.bin"), str(fm),
                                str(m * 100 + i + 1)])
                import_s += float(self.timed_wfs("import", repo, self.p("src.bin"), "--to",
                                                 "/weights/weights-%d.bin" % i, "-m",
                                                 "weights %d" % i))
                filesize[(m, i)] = fm << 20
                os.unlink(self.p("src.bin"))
            self.record("import_%d" % m, "%.6f" % import_s)
            os.sync()  # so that writeback of the imported data does not fall into the snapshots
            out("repository of %d MiB: imported %d files in %.1f s; stored %d bytes; load %s"
                % (m, nfiles, import_s, self.stored(repo), bc.loadavg()))
        return filesize

    def offline_snapshots(self, sizes, nfiles, rounds, filesize):
        out()
        out("offline snapshots (a 4 KiB write through a mount, unmount, then timed "
            "`weightfs snapshot REPO`):")
        for r in range(1, rounds + 1):
            line = "  round %d:" % r
            for m in sizes:
                repo, mnt, i = self.p("repo-%d" % m), self.p("mnt-%d" % m), r % nfiles
                self.mount_repo(repo, mnt)
                self.poke(os.path.join(mnt, "weights", "weights-%d.bin" % i), filesize[(m, i)])
                self.umount_repo(mnt)
                os.sync()
                dt = self.timed_wfs("snapshot", repo, "-m", "offline %d" % r)
                self.record("offline_%d" % m, dt)
                line += " %d MiB %s;" % (m, msec(dt))
            out("%s load %s" % (line, bc.loadavg()))

    def mount_snapshots(self, sizes, nfiles, rounds, filesize):
        out("snapshots on a mount (a 4 KiB write, then timed `mkdir MNT/.versions/tags/NAME`):")
        for m in sizes:
            self.mount_repo(self.p("repo-%d" % m), self.p("mnt-%d" % m))
        for r in range(1, rounds + 1):
            line = "  round %d:" % r
            for m in sizes:
                mnt, i = self.p("mnt-%d" % m), (r + 3) % nfiles
                self.poke(os.path.join(mnt, "weights", "weights-%d.bin" % i), filesize[(m, i)])
                # the underlying disk only: the 4 KiB stays uncommitted in the mount
                step(self.run, ["sync", "-f", self.d])
                tag = os.path.join(mnt, ".versions", "tags", "s%d" % r)
                dt = self.timed(["mkdir", tag])
                if not os.path.isdir(tag):
                    die("%s missing after mkdir" % tag)
                self.record("mount_%d" % m, dt)
                line += " %d MiB %s;" % (m, msec(dt))
            out("%s load %s" % (line, bc.loadavg()))
        for m in sizes:
            self.umount_repo(self.p("mnt-%d" % m))
        for m in sizes:
            log_text = self.wfs_cmd("log", self.p("repo-%d" % m), capture=True)
            n = sum(1 for line in log_text.splitlines() if line.startswith("snapshot "))
            if n != nfiles + 2 * rounds:
                die("repository of %d MiB has %d snapshots, expected %d"
                    % (m, n, nfiles + 2 * rounds))
            shutil.rmtree(self.p("repo-%d" % m))
            shutil.rmtree(self.p("mnt-%d" % m))

    # --- 2. Repository growth per version of a safetensors file ---------------------------

    def growth_import(self):
        out("import path (`weightfs import REPO FILE --to /model.safetensors`):")
        repo = self.p("repo-import")
        self.wfs_cmd("init", repo)
        before = self.stored(repo)
        for v in VARIANTS:
            dt = self.timed_wfs("import", repo, self.p("model", v + ".safetensors"), "--to",
                                "/model.safetensors", "-m", v)
            after = self.stored(repo)
            self.record("growth_import_" + v, after - before)
            out("  %s: +%d bytes (import %s s; load %s)" % (v, after - before, dt, bc.loadavg()))
            before = after
        self.finish_growth(repo, "import")
        shutil.rmtree(repo)

    def growth_mount(self):
        out("mount path (`cp FILE MNT/model.safetensors`, `mkdir MNT/.versions/tags/NAME`, "
            "umount):")
        repo, mnt = self.p("repo-mount"), self.p("mnt-model")
        self.wfs_cmd("init", repo)
        before = self.stored(repo)
        for v in VARIANTS:
            self.mount_repo(repo, mnt)
            t = Timer()
            step(self.run, ["cp", self.p("model", v + ".safetensors"),
                            os.path.join(mnt, "model.safetensors")])
            step(self.run, ["mkdir", os.path.join(mnt, ".versions", "tags", v)])
            self.umount_repo(mnt)
            dt = t.fmt()
            after = self.stored(repo)
            self.record("growth_mount_" + v, after - before)
            out("  %s: +%d bytes (cp + mkdir + umount %s s; load %s)"
                % (v, after - before, dt, bc.loadavg()))
            before = after
        self.finish_growth(repo, "mount")
        # The last version must read back byte-exact from the repository.
        if not self.same_as_stored(repo, self.p("model", "tenth.safetensors")):
            die("the stored model differs from the one-in-ten variant")
        shutil.rmtree(repo)
        shutil.rmtree(mnt)

    def finish_growth(self, repo, path):
        gc = self.wfs_json("gc", repo, "--dry-run", "--grace", "0", "--json")
        self.record("unreachable_" + path, gc["unreachable_bytes"])
        self.wfs_cmd("check", repo)

    def same_as_stored(self, repo, path):
        """`weightfs cat REPO /model.safetensors` has the bytes of PATH."""
        p = subprocess.Popen([self.wfs, "cat", repo, "/model.safetensors"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        same = True
        with open(path, "rb") as f:
            while True:
                a, b = p.stdout.read(bc.MIB), f.read(bc.MIB)
                if a != b:
                    same = False
                    break
                if not a:
                    break
        p.stdout.close()
        return p.wait() == 0 and same


def command_line():
    """The report's command line: the script, its arguments, and before them each of ENV_NAMES
    that is set and not empty (the last one first)."""
    cmd = " ".join([os.environ.get("BENCH_SCRIPT", sys.argv[0])] + sys.argv[1:])
    for v in ENV_NAMES:
        if os.environ.get(v):
            cmd = "%s=%s %s" % (v, os.environ[v], cmd)
    return cmd


def header(cmdline, bin_src, wfs, d):
    version = subprocess.run([wfs, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    dev = subprocess.run(["df", "-P", d], stdout=subprocess.PIPE, text=True).stdout
    dev = dev.splitlines()[1].split()[0]
    fstype = subprocess.run(["stat", "-f", "-c", "%T", d], stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    out("# weightfs versions benchmark")
    out()
    out("- command:  %s" % cmdline)
    out("- binary:   %s (%s), copied to %s" % (bin_src, version, wfs))
    out("- work dir: %s on %s (%s)" % (d, dev, fstype))
    out("- cpu:      %s, %d cores; memory %s" % (bc.cpu_model(), bc.nproc(), bc.mem_gib()))
    out("- load average at start: %s (other processes share the machine)" % bc.loadavg())
    out("- date:     %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    out()


def body(run):
    cmdline = command_line()
    bench_dir = bc.env_str("BENCH_DIR", "/var/tmp/weightfs-bench-versions")
    small, large = bc.env_int("BENCH_SMALL_MIB", 100), bc.env_int("BENCH_LARGE_MIB", 10240)
    nfiles, rounds = bc.env_int("BENCH_FILES", 8), bc.env_int("BENCH_ROUNDS", 5)
    hidden = bc.env_int("BENCH_MODEL_HIDDEN", 2048)
    os.environ["WEIGHTFS_PASSPHRASE"] = "benchmark passphrase"
    os.environ["WEIGHTFS_INSECURE_FAST_KDF"] = "1"
    run.step_timeout = 7200  # no step of a full run comes near; a hang still ends
    bin_src = bc.build_binary(run, "WEIGHTFS_BIN", quiet=True)
    _, d = bc.make_run_dir(run, bench_dir)
    os.mkdir(os.path.join(d, "bin"))
    wfs = os.path.join(d, "bin", "weightfs")
    shutil.copy(bin_src, wfs)
    need_mib, avail_mib = large * 12 // 10 + 5 * 1024, bc.free_mib(d)
    if avail_mib < need_mib:
        die("%s has %d MiB free, need %d MiB" % (d, avail_mib, need_mib))
    header(cmdline, bin_src, wfs, d)
    t = Timer()
    b = VersionsBench(run, d, wfs)
    sizes = [small, large]
    filesize = b.make_repos(sizes, nfiles)
    b.offline_snapshots(sizes, nfiles, rounds, filesize)
    b.mount_snapshots(sizes, nfiles, rounds, filesize)
    out()
    tm = Timer()
    os.mkdir(b.p("model"))
    step(run, [PY, WORK, "model", b.p("model"), str(hidden), "7", b.p("model.json")])
    out("generated the model and its variants in %.1f s: %d bytes each"
        % (tm.s(), os.stat(b.p("model", "base.safetensors")).st_size))
    b.growth_import()
    b.growth_mount()
    out()
    out("load average at end: %s; total %.0f s" % (bc.loadavg(), t.s()))
    out()
    report(b.res, b.p("model.json"), small, large, nfiles, rounds, cmdline)


if __name__ == "__main__":
    bc.main("bench_versions", body)
