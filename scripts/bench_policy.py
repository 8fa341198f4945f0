#!/usr/bin/python3
"""The driver of scripts/bench_policy.sh (a BENCHMARK, not a test: never registered in ctest,
no pass/fail on timings); see scripts/bench_policy.sh for what it measures and its environment.
Run as `./scripts/bench_policy.sh`, which execs this file with Debian's /usr/bin/python3.

The timed workloads run as child processes of scripts/bench_policy_work.py (a copy in the run
dir, so that the user this driver creates can read it), as root or as that user (setpriv).
Mounting, caches, results and the cleanup come from scripts/bench_common.py.
"""
import os
import shutil
import subprocess
import sys
import time

import bench_common as bc
from bench_common import die, log, step, Timer, PY

PASS = "bench-policy-passphrase"
CONFIGS = ["plain", "builtin", "policy", "shared", "shared-user", "audit", "audit-user"]
ENV_NAMES = ["BENCH_ROUNDS", "BENCH_DIR", "BENCH_CONFIGS", "BENCH_FILES", "BENCH_DIRS",
             "BENCH_READS", "BENCH_BIG_MIB", "BENCH_EXTRA_ROLES", "BENCH_SEED",
             "BENCH_STEP_TIMEOUT", "WEIGHTFS_BINARY"]
LABELS = {
    "plain": "(a) plain directory",
    "builtin": "(b) private mount, built-in policy",
    "policy": "(c) private mount, the policy set",
    "shared": "(d) shared mount (`--allow-other`), root",
    "shared-user": "(d) shared mount, unprivileged member",
    "audit": "(e) shared + `--audit-log --audit-all`, root",
    "audit-user": "(e) shared + audit, unprivileged member",
}


class Config:
    """The BENCH_* environment (see scripts/bench_policy.sh), checked."""

    def __init__(self):
        self.rounds = bc.env_int("BENCH_ROUNDS", 3)
        self.bench_dir = bc.env_str("BENCH_DIR", "/var/tmp/weightfs-bench-policy")
        self.configs_raw = bc.env_str("BENCH_CONFIGS",
                                      "plain builtin policy shared shared-user audit")
        self.configs = self.configs_raw.split()
        self.nfiles = bc.env_int("BENCH_FILES", 5000)
        self.ndirs = bc.env_int("BENCH_DIRS", 50)
        self.nreads = bc.env_int("BENCH_READS", 2000)
        self.big_mib = bc.env_int("BENCH_BIG_MIB", 256)
        self.extra_roles = bc.env_int("BENCH_EXTRA_ROLES", 30, minimum=0)
        self.seed = bc.env_int("BENCH_SEED", 42)
        self.top = bc.env_str("BENCH_TOP", "team")
        self.step_timeout = bc.env_int("BENCH_STEP_TIMEOUT", 600)
        if self.top not in ("team", "public"):
            die("BENCH_TOP must be team or public")
        if self.nreads > self.nfiles:
            die("BENCH_READS (%d) must not exceed BENCH_FILES (%d)" % (self.nreads, self.nfiles))
        if self.ndirs > self.nfiles:
            die("BENCH_DIRS (%d) must not exceed BENCH_FILES (%d)" % (self.ndirs, self.nfiles))
        for c in self.configs:
            if c not in CONFIGS:
                die("unknown configuration in BENCH_CONFIGS: %s" % c)
        if not self.configs:
            die("BENCH_CONFIGS is empty")
        self.need_user = any(c.endswith("-user") for c in self.configs)


class PolicyBench:
    """One run: the tree, the repositories, the created user, the mount of the current
    configuration, the results."""

    def __init__(self, run, cfg, rdir, wfs):
        self.run, self.cfg, self.rdir, self.wfs = run, cfg, rdir, wfs
        self.results = bc.Results()
        self.notes = []
        self.mount = None
        self.user = self.group = None   # the user and group this run created
        self.manifest = self.p("manifest.tsv")
        self.work_py = self.p("bench_policy_work.py")
        self.nroles = self.nrules = None
        self.import_note, self.policy_note = "", "not used"

    def p(self, *names):
        return os.path.join(self.rdir, *names)

    def wfs_cmd(self, *args, **kw):
        """`weightfs ARGS...` with the passphrase and the cheap test KDF; KW as for step."""
        env = dict(os.environ, WEIGHTFS_PASSPHRASE=PASS, WEIGHTFS_INSECURE_FAST_KDF="1")
        return step(self.run, [self.wfs] + list(args), env=env, **kw)

    def as_caller(self, cfg, cmd):
        """Runs CMD as the caller of configuration CFG (root, or the created user); returns its
        output."""
        if cfg.endswith("-user"):
            cmd = ["setpriv", "--reuid=" + self.user, "--regid=" + self.group, "--init-groups",
                   "--"] + cmd
            return step(self.run, cmd, capture=True, cwd="/")
        return step(self.run, cmd, capture=True)

    def measure(self, rnd, cfg, key, *args):
        """One timed workload of bench_policy_work.py, as the caller of CFG."""
        dt = self.as_caller(cfg, [PY, "-I", self.work_py] + [str(a) for a in args])
        self.results.record(rnd, cfg, key, dt)

    # --- One configuration of one round ---------------------------------------------------

    def mount_config(self):
        self.mount = bc.WeightfsMount(self.run, self.wfs, self.repo, self.p("mnt"),
                                      ["--log-file", self.p("weightfs.log")] + self.mount_args,
                                      env=dict(os.environ, WEIGHTFS_PASSPHRASE=PASS))

    def setup(self, cfg):
        """Mounts what CFG needs; returns the tree's top as the caller sees it."""
        if cfg == "plain":
            self.run.cur_log = None
            return self.p("tree", self.cfg.top)
        self.repo, self.mount_args = self.p("repo-policy"), []
        if cfg == "builtin":
            self.repo = self.p("repo-builtin")
        elif cfg in ("shared", "shared-user"):
            self.mount_args = ["--allow-other"]
        elif cfg in ("audit", "audit-user"):
            self.mount_args = ["--allow-other", "--audit-log", self.p("audit.jsonl"),
                               "--audit-all"]
        self.run.cur_log = self.p("weightfs.log")
        self.mount_config()
        return os.path.join(self.mount.mnt, self.cfg.top)

    def cold(self, cfg):
        """Unmount + mount a weightfs configuration, then drop the page cache."""
        if cfg != "plain":
            self.mount.umount()
            self.mount_config()
        bc.drop_caches()

    def teardown(self, rnd, cfg):
        if cfg != "plain":
            self.mount.umount()
            self.mount = None
            # Anything alarming the daemon logged goes into the report (the policy's names of
            # users and groups unknown on this machine are expected: alice, ml-team and the
            # unbound extra roles).
            words = ("error", "fail", "corrupt", "warn", "denied", "deny")
            self.notes += ["round %d %s: %s" % (rnd, cfg, line) for line in bc.matching_lines(
                self.p("weightfs.log"), words, unless="is not known on this machine")]
            open(self.p("weightfs.log"), "w").close()
        audit = self.p("audit.jsonl")
        if os.path.isfile(audit):
            with open(audit, "rb") as f:
                data = f.read()
            self.results.record(rnd, cfg, "audit_lines", data.count(b"\n"))
            self.results.record(rnd, cfg, "audit_bytes", len(data))
            denied = [line for line in data.decode(errors="replace").splitlines()
                      if '"decision":"allow"' not in line]
            self.notes += ["round %d %s audit: %s" % (rnd, cfg, line) for line in denied[:5]]
            os.unlink(audit)
        self.run.cur_log = None

    def bench_one(self, rnd, cfg):
        log("round %d/%d: %s" % (rnd, self.cfg.rounds, cfg))
        top = self.setup(cfg)
        self.cold(cfg)
        self.measure(rnd, cfg, "ls_cold", "lsr", top, self.manifest)
        self.measure(rnd, cfg, "ls_warm", "lsr", top, self.manifest)
        self.measure(rnd, cfg, "stat", "stat", top, self.manifest)
        self.measure(rnd, cfg, "openread", "openread", top, self.manifest, self.cfg.nreads,
                     self.cfg.seed)
        self.cold(cfg)
        big = os.path.join(top, "big.bin")
        self.measure(rnd, cfg, "seq_cold", "seqread", big, self.manifest)
        self.measure(rnd, cfg, "seq_warm", "seqread", big, self.manifest)
        self.teardown(rnd, cfg)

    # --- Data, repositories, user ---------------------------------------------------------

    def create_user(self):
        """A user and a group (bound to the member role) that the cleanup removes again."""
        pid = os.getpid()
        group, user = "wfsbp-team-%d" % pid, "wfsbp-%d" % pid
        if step(self.run, ["getent", "group", group], check=False, stdout=subprocess.DEVNULL) == 0:
            die("group %s already exists" % group)
        if step(self.run, ["getent", "passwd", user], check=False, stdout=subprocess.DEVNULL) == 0:
            die("user %s already exists" % user)
        if not bc.retry(["groupadd", group]):
            die("groupadd failed")
        self.group = group
        self.run.push(self.remove_group)
        ok = bc.retry(["useradd", "-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", user])
        if not ok:
            die("useradd failed")
        self.user = user
        self.run.push(self.remove_user)
        log("created the user %s (group %s, bound to the member role)" % (user, group))

    def remove_user(self):
        log("cleanup: removing the user %s" % self.user)
        if not bc.retry(["userdel", self.user]):
            log("cleanup: could not remove the user %s; remove it by hand" % self.user)

    def remove_group(self):
        gone = subprocess.run(["getent", "group", self.group],
                                 stdout=subprocess.DEVNULL).returncode != 0
        if not gone and not bc.retry(["groupdel", self.group]):
            log("cleanup: could not remove the group %s; remove it by hand" % self.group)

    def prepare(self):
        """The tree, the user, the repositories and the policy."""
        c = self.cfg
        log("generating %d small files in %d directories and a %d MiB file (seed %d)"
            % (c.nfiles, c.ndirs, c.big_mib, c.seed))
        step(self.run, [PY, self.work_py, "gen", self.p("tree"), str(c.ndirs), str(c.nfiles),
                        str(c.big_mib), str(c.seed), self.manifest])
        if c.need_user:
            self.create_user()
        repos = []  # the repositories the configurations use
        for cfg in c.configs:
            name = "builtin" if cfg == "builtin" else None if cfg == "plain" else "policy"
            if name and name not in repos:
                repos.append(name)
        notes = []
        for name in repos:
            repo = self.p("repo-" + name)
            log("importing the tree into repo-%s" % name)
            self.wfs_cmd("init", repo)
            bc.drop_caches()
            t = Timer()
            self.wfs_cmd("import", repo, self.p("tree"), "-m", "bench_policy data")
            notes.append("%.2f s into repo-%s" % (t.s(), name))
        self.import_note = ", ".join(notes)
        if "policy" in repos:
            self.set_policy()

    def set_policy(self):
        """The large policy on repo-policy, checked to let the callers read the tree."""
        c, repo, policy = self.cfg, self.p("repo-policy"), self.p("policy.yaml")
        counts = step(self.run, [PY, self.work_py, "policy", policy, self.group or "ml-team",
                                 self.user or "bob", str(c.extra_roles)], capture=True)
        self.nroles, self.nrules = counts.split()
        self.wfs_cmd("policy", "check", policy)
        self.wfs_cmd("policy", "set", repo, policy)
        self.policy_note = ("%s roles, %s rules (%d extra roles; no extra rule matches a path of "
                            "the tree)" % (self.nroles, self.nrules, c.extra_roles))
        # The benchmark must measure allowed requests: make sure the callers are allowed.
        probe = "/%s/d01/f00001.bin" % c.top
        callers = [(["--uid", "0"], "root")] + ([(["--user", self.user], self.user)]
                                                if self.user else [])
        for who, name in callers:
            if self.wfs_cmd("policy", "explain", repo, *who, "--op", "read", probe,
                            check=False, stdout=subprocess.DEVNULL) != 0:
                die("the generated policy does not let %s read %s" % (name, probe))

    def run_rounds(self):
        t = Timer()
        self.load_start = bc.loadavg()
        for rnd in range(1, self.cfg.rounds + 1):
            for cfg in self.cfg.configs:
                self.bench_one(rnd, cfg)
        self.elapsed = int(t.s())
        self.load_end = bc.loadavg()


def binary_note(bin_src):
    """The binary's path and build time, with a warning when sources are newer."""
    mtime = os.stat(bin_src).st_mtime
    note = "%s, built %s" % (bin_src, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime)))
    if not os.environ.get("WEIGHTFS_BINARY"):
        newer = False
        for top in ("src", "include"):
            for d, _, files in os.walk(os.path.join(bc.ROOT, top)):
                newer = newer or any(os.stat(os.path.join(d, f)).st_mtime > mtime for f in files)
        cml = os.path.join(bc.ROOT, "CMakeLists.txt")
        newer = newer or (os.path.exists(cml) and os.stat(cml).st_mtime > mtime)
        if newer:
            log("WARNING: sources are newer than %s; it may not match the checked-out commit"
                % bin_src)
            note += " (older than some sources: may not match the commit)"
    return note


def check_preconditions(cfg):
    bc.require_root_fuse("drop_caches, useradd and shared mounts need it")
    if not os.access(PY, os.X_OK):
        die("%s is missing" % PY)
    if cfg.need_user:
        for c in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
            if not shutil.which(c):
                die("%s is not installed (needed for the *-user configurations)" % c)


def body(run):
    os.environ["LC_ALL"] = "C"
    os.umask(0o022)
    cmdline = bc.command_line(ENV_NAMES)
    if len(sys.argv) > 1:
        die("bench_policy.sh takes no arguments; configure it with the BENCH_* variables "
            "(see scripts/bench_policy.sh)")
    cfg = Config()
    os.environ["BENCH_TOP"] = cfg.top  # read by bench_policy_work.py gen
    run.step_timeout = cfg.step_timeout
    check_preconditions(cfg)
    bin_src = os.environ.get("WEIGHTFS_BINARY") or os.path.join(bc.ROOT, "build", "weightfs")
    if not os.access(bin_src, os.X_OK):
        die("no weightfs binary at %s (build it with ./scripts/build.sh, or set WEIGHTFS_BINARY)"
            % bin_src)
    bin_note = binary_note(bin_src)
    bench_dir, rdir = bc.make_run_dir(run, cfg.bench_dir)
    os.chmod(rdir, 0o755)  # the created user reaches the plain tree and the mountpoint through it
    for d in (os.path.dirname(bench_dir), bench_dir):
        if cfg.need_user and not os.stat(d).st_mode & 1:
            die("%s is not searchable by other users (the *-user configurations need that)" % d)
    wfs = os.path.join(rdir, "weightfs")
    shutil.copy(bin_src, wfs)
    os.environ["WEIGHTFS_STATE_DIR"] = os.path.join(rdir, "state")  # rollback state stays in RUN
    b = PolicyBench(run, cfg, rdir, wfs)
    # A copy of the workloads: the created user runs them, and may not read the checkout.
    shutil.copy(os.path.join(bc.SCRIPTS, "bench_policy_work.py"), b.work_py)
    os.mkdir(b.p("mnt"))
    b.prepare()
    b.run_rounds()
    report(b, cmdline, bench_dir, bin_note)
    log("done in %d s" % b.elapsed)


def report(b, cmdline, bench_dir, bin_note):
    c = b.cfg
    rev, cpu, mem, disk = bc.machine_info(b.rdir)
    audit_lines, audit_bytes = b.results.first("audit_lines"), b.results.first("audit_bytes")
    un = os.uname()
    print("### weightfs policy benchmark")
    print()
    print("- Command: `%s`" % cmdline)
    print("- weightfs %s (%s), %s" % (rev, bin_note, time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime())))
    print("- %s %s, %d CPUs (%s), %s RAM; disk %s at %s" % (un.sysname, un.release,
                                                          bc.nproc(), cpu, mem, disk, bench_dir))
    print("- Tree: %d files of 1-16 KiB in %d directories + one %d MiB file, below /%s; import: %s"
          % (c.nfiles, c.ndirs, c.big_mib, c.top, b.import_note))
    print("- Policy set on the repository of (c)-(e): %s" % b.policy_note)
    if audit_lines is not None:
        print("- Audit log of one (e) pass (all six measurements, two mounts): %s lines, %.1f MiB"
              % (audit_lines, int(audit_bytes) / 1048576))
    print("- Rounds: %d, alternating %s; %d s in total; load average %s at the start, %s at the "
          "end" % (c.rounds, c.configs_raw, b.elapsed, b.load_start, b.load_end))
    print("- Cold = unmount + mount (weightfs), then `sync; echo 3 > /proc/sys/vm/drop_caches`; "
          "warm = repeated right away")
    print()
    print_table(b.results, c, b.nrules or "?")
    bc.notes_block("Daemon log lines mentioning errors, warnings or denials, and denied audit "
                   "entries:", b.notes)


def fmt(v):
    if v is None:
        return "—"
    return ("%.4f s" if v < 0.1 else "%.3f s" if v < 1 else "%.2f s") % v


def print_table(results, c, nrules):
    """One row per configuration, one column per measurement: the best (lowest) time and its
    ratio to the first configuration; then every round in a details block."""
    labels = dict(LABELS, policy="(c) private mount, %s-rule policy" % nrules)
    n = "{:,}".format
    entries = c.nfiles + c.ndirs + 2
    ms = [("ls_cold", "`ls -lR`, cold"),
          ("ls_warm", "`ls -lR`, warm"),
          ("stat", "os.stat × %s, warm" % n(entries)),
          ("openread", "open+read+close × %s, warm" % n(c.nreads)),
          ("seq_cold", "read %s MiB, cold" % c.big_mib),
          ("seq_warm", "read %s MiB, warm" % c.big_mib)]
    base = c.configs[0]
    print("Best (lowest) time of each measurement over all rounds, and in parentheses **the time "
          "relative to %s (> 1 = slower)**." % labels[base].split(" ", 1)[0])
    print()

    def table(cell):  # one row per configuration, one column per measurement: cell(cfg, key)
        print("| Configuration | " + " | ".join(label for _, label in ms) + " |")
        print("|---|" + "--:|" * len(ms))
        for cfg in c.configs:
            print("| %s | %s |" % (labels[cfg], " | ".join(cell(cfg, key) for key, _ in ms)))

    def best_cell(cfg, key):
        v, b = results.best(cfg, key), results.best(base, key)
        cell = fmt(v)
        if v is not None and b and cfg != base:
            cell += " (%.2f×)" % (v / b)
        return cell

    def rounds_cell(cfg, key):
        vals = [v for _, v in sorted(results.values(cfg, key))]
        return " / ".join("%.4f" % v for v in vals) if vals else "—"

    table(best_cell)
    print()
    print("<details><summary>Every round (in run order)</summary>")
    print()
    table(rounds_cell)
    print()
    print("</details>")


if __name__ == "__main__":
    bc.main("bench-policy", body)
