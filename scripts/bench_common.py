"""Shared helpers of the benchmark drivers (scripts/bench_mount.py, bench_policy.py,
bench_versions.py, bench_import.py; benchmarks, not tests). Imported by them, never run on its
own; importing it starts nothing. Uses only the standard library of Debian's /usr/bin/python3.
It is longer than 500 lines because it is the one module every driver shares: the cleanup, the
mounts and the ratio table belong together here rather than in per-driver copies.

Provides:
  log(msg), die(msg)         progress on stderr as "[TAG HH:MM:SS] msg"; die raises BenchError,
                             which stops the run (the cleanup still runs)
  main(tag, body)            runs body(run) with a Run and guarantees its cleanup: on return, on
                             an error, on Ctrl-C (exit 130), SIGTERM (143) and SIGHUP (129) the
                             commands still running are killed, every mount still registered is
                             unmounted (its process killed if it stays) and the other undo steps
                             (created users, the run dir) run, newest first
  Run                        one run's undo stack, step timeout and the log shown on an error
  step(...), retry(cmd)      one command bounded by a timeout (a hang fails the run); a command
                             tried up to 10 times
  env_int, env_str, shell_quote, command_line   the BENCH_* configuration, the command line
  require_root_fuse, make_run_dir, free_mib, build_binary   preconditions, the run dir, the
                             weightfs binary to measure (WEIGHTFS_BINARY or a build)
  WeightfsMount              a daemonized `weightfs mount` (pid from its pid file)
  ForegroundMount            a FUSE filesystem running in the foreground as our child
                             (gocryptfs -fg, securefs mount, weightfs mount -f)
  mounted, is_mounted, drop_caches, Timer, cpu_ticks, CLK_TCK, vm_hwm_mib, loadavg, nproc,
  cpu_model, mem_gib, machine_info
  Results                    the measurements: record(round, name, key, value), best(...)
  speed, fmt_ratio, md_row, matching_lines, notes_block   report helpers
  print_ratio_table          the mount benchmark's table: ratios to the plain directory, goals,
                             the weightfs daemon's CPU s/GiB and peak RSS, every round
"""
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

MIB = 1 << 20
PY = "/usr/bin/python3"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")

_TAG = ["bench"]


class BenchError(Exception):
    """A fatal error of the run: main() logs it, cleans up and exits 1."""


def log(msg):
    print("[%s %s] %s" % (_TAG[0], time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def die(msg):
    raise BenchError(msg)


# --- The run and its cleanup -----------------------------------------------------------------

class Run:
    """One run's state. Undo steps (callables) are pushed as things are created or started and
    run newest first by cleanup(); a step that finished its own undo pops it again."""

    def __init__(self, step_timeout=600):
        self.step_timeout = step_timeout
        self.cur_log = None    # the log of what is in use, shown when an error aborts the run
        self.mount_pids = set()  # our children that serve a mount (their undo steps end them)
        self._undo = []

    def push(self, fn):
        self._undo.append(fn)
        return fn

    def pop(self, fn):
        if fn in self._undo:
            self._undo.remove(fn)

    def cleanup(self):
        try:
            self._end_steps()
        except Exception as e:
            log("cleanup: %s" % e)
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception as e:  # cleanup goes on with the next step whatever happens
                log("cleanup: %s" % e)

    def _end_steps(self):
        """Kills and reaps our children other than mount servers: the command of a step that an
        interrupt or an error left running (it may hold files open on a mount)."""
        me = str(os.getpid())
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            pid = int(entry)
            if ppid == me and pid not in self.mount_pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except OSError:
                    pass


def _raise_exit(code):
    def handler(signum, frame):
        raise SystemExit(code)
    return handler


def main(tag, body, step_timeout=600):
    """Runs body(run) and exits with its status: 0, 1 on an error, 130/143/129 on SIGINT/
    SIGTERM/SIGHUP. The run's cleanup runs in every case, with these signals ignored (a second
    Ctrl-C cannot interrupt it)."""
    _TAG[0] = tag
    sys.stdout.reconfigure(line_buffering=True)  # the report interleaves with child processes
    signal.signal(signal.SIGTERM, _raise_exit(143))
    signal.signal(signal.SIGHUP, _raise_exit(129))
    run = Run(step_timeout)
    rc = 0
    try:
        body(run)
    except BenchError as e:
        rc = 1
        log("ERROR: " + str(e))
        _show_log_tail(run.cur_log)
    except KeyboardInterrupt:
        rc = 130
        log("interrupted")
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
        if rc:
            log("stopped by a signal (exit %d)" % rc)
    except Exception:
        rc = 1
        log("ERROR: aborting on an unexpected exception:\n" + traceback.format_exc())
        _show_log_tail(run.cur_log)
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        run.cleanup()
    sys.exit(rc)


def _show_log_tail(path):
    if path and os.path.exists(path) and os.path.getsize(path) > 0:
        log("last lines of %s:" % path)
        with open(path, errors="replace") as f:
            sys.stderr.write("".join(f.readlines()[-30:]))


# --- Commands --------------------------------------------------------------------------------

def step(run, cmd, capture=False, stdout=None, check=True, **kw):
    """Runs CMD (a list), bounded by run.step_timeout seconds: longer counts as a hang and fails
    the run. Its stdout goes to stderr (to STDOUT if given; captured and returned, stripped, with
    CAPTURE). A non-zero exit fails the run, unless CHECK is false: then the exit status is
    returned (0 on success). Other keywords go to subprocess.run (env, cwd, stdin, stderr)."""
    out = subprocess.PIPE if capture else (stdout if stdout is not None else sys.stderr.fileno())
    sys.stdout.flush()
    try:
        p = subprocess.run(cmd, stdout=out, timeout=run.step_timeout, **kw)
    except subprocess.TimeoutExpired:
        die("hung: no result after %d s, killed: %s" % (run.step_timeout, shlex.join(cmd)))
    if p.returncode != 0:
        if not check:
            return p.returncode
        die("exit status %d: %s" % (p.returncode, shlex.join(cmd)))
    if capture:
        return p.stdout.decode().strip()
    return 0 if not check else None


def retry(cmd):
    """CMD, tried up to 10 times a second apart (useradd and friends fail while another tool
    holds /etc/passwd's lock); True once it succeeds."""
    for _ in range(10):
        if subprocess.run(cmd).returncode == 0:
            return True
        time.sleep(1)
    return False


# --- Configuration ---------------------------------------------------------------------------

def env_str(name, default):
    """$NAME, or DEFAULT when it is unset or empty (as bash's ${NAME:-DEFAULT})."""
    return os.environ.get(name) or default


def env_int(name, default, minimum=1):
    """$NAME (DEFAULT when unset or empty) as an integer of at least MINIMUM, else the run
    stops with an error naming NAME."""
    v = env_str(name, str(default))
    if not v.isdigit() or int(v) < minimum:
        what = "a positive integer" if minimum == 1 else "a number"
        die("%s must be %s (got '%s')" % (name, what, v))
    return int(v)


def shell_quote(s):
    """S quoted for a shell as bash's printf %q does: special characters backslash-escaped."""
    if not s:
        return "''"
    return "".join(c if c.isalnum() or c in "_./:=,@%+-^" else "\\" + c for c in s)


def command_line(names):
    """The report's command line: each of NAMES that is set, as NAME=value, then the script
    (BENCH_SCRIPT, which the wrapper sets to its $0)."""
    words = ["%s=%s" % (n, shell_quote(os.environ[n])) for n in names if n in os.environ]
    return " ".join(words + [os.environ.get("BENCH_SCRIPT", sys.argv[0])])


def require_root_fuse(why):
    if os.getuid() != 0:
        die("run as root (%s)" % why)
    if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        die("/proc/sys/vm/drop_caches is not writable")
    if not os.path.exists("/dev/fuse"):
        die("/dev/fuse is missing")
    if not shutil.which("fusermount3"):
        die("fusermount3 is not installed")


def make_run_dir(run, bench_dir):
    """Creates BENCH_DIR and a fresh BENCH_DIR/run.XXXXXX; returns (BENCH_DIR realpath'd, the
    run dir). The cleanup removes the run dir (and BENCH_DIR if left empty) unless something is
    still mounted below it. Warns when BENCH_DIR is not on a real disk."""
    os.makedirs(bench_dir, exist_ok=True)
    bench_dir = os.path.realpath(bench_dir)
    if any(c.isspace() or c == "\\" for c in bench_dir):
        die("BENCH_DIR must not contain whitespace or backslashes")
    rdir = tempfile.mkdtemp(prefix="run.", dir=bench_dir)
    os.chmod(rdir, 0o700)

    def remove():
        below = [m for m in mounted() if m.startswith(rdir + "/")]
        for m in below:
            log("cleanup: %s is still mounted; leaving %s in place" % (m, rdir))
        if not below:
            subprocess.run(["rm", "-rf", "--one-file-system", rdir])
            try:
                os.rmdir(bench_dir)
            except OSError:
                pass
    run.push(remove)
    fstype = subprocess.run(["stat", "-f", "-c", "%T", rdir], stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    if fstype in ("tmpfs", "ramfs", "overlayfs") or fstype.startswith("fuse"):
        log("WARNING: %s is on %s, not a real disk" % (bench_dir, fstype))
    return bench_dir, rdir


def free_mib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // MIB


def build_binary(run, env_name="WEIGHTFS_BINARY", quiet=False):
    """The weightfs binary to measure: $ENV_NAME if set, else build/weightfs after
    ./scripts/build.sh (its output on stderr, or discarded with QUIET)."""
    path = os.environ.get(env_name)
    if not path:
        if not quiet:
            log("building weightfs (./scripts/build.sh)")
        step(run, [os.path.join(SCRIPTS, "build.sh")],
             stdout=subprocess.DEVNULL if quiet else None)
        path = os.path.join(ROOT, "build", "weightfs")
    if not os.access(path, os.X_OK):
        die("no weightfs binary at %s" % path)
    return path


# --- Mounts ----------------------------------------------------------------------------------

def mounted():
    """The mountpoints of /proc/self/mounts. Reading it never stats a mountpoint (which would
    hang with a hung daemon). Paths with whitespace are not supported (octal escapes)."""
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if len(line.split()) > 1]


def is_mounted(mnt):
    return mnt in mounted()


def pid_runs(pid, exe):
    """PID is alive and still runs a command line containing EXE."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return exe.encode() in f.read().replace(b"\0", b" ")
    except (OSError, TypeError):
        return False


def wfs_pid_file(mnt):
    """The pid file of the daemon serving MNT (a canonical path)."""
    return "/run/weightfs/%s.pid" % mnt.replace("/", "!")


class WeightfsMount:
    """`WFS mount REPO MNT OPTS...` (the daemon detaches); the daemon's pid comes from its pid
    file. Until umount() succeeds, the run's cleanup unmounts it (`weightfs umount`, else a lazy
    fusermount3 -u -z) and kills the daemon if it stays."""

    def __init__(self, run, wfs, repo, mnt, opts=(), env=None):
        self.run, self.wfs, self.mnt = run, wfs, mnt
        self.pid = None
        run.push(self._cleanup)  # before the mount, so a half mount is cleaned up too
        step(run, [wfs, "mount", repo, mnt] + list(opts), env=env)
        if not is_mounted(mnt):
            die("weightfs mount returned but %s is not mounted" % mnt)
        with open(wfs_pid_file(mnt)) as f:
            self.pid = int(f.read().strip())

    def cpu_ticks(self):
        return cpu_ticks(self.pid)

    def vm_hwm_mib(self):
        return vm_hwm_mib(self.pid)

    def umount(self, timeout=None):
        t = self.run.step_timeout if timeout is None else timeout
        step(self.run, [self.wfs, "umount", "--timeout", str(t), self.mnt])
        if is_mounted(self.mnt):
            die("weightfs umount returned but %s is still mounted" % self.mnt)
        if pid_runs(self.pid, self.wfs):
            die("weightfs umount returned but the daemon (pid %d) still runs" % self.pid)
        self.run.pop(self._cleanup)

    def _servers(self):
        """The pids of our `weightfs mount` processes for this mountpoint (the command, or the
        daemon it forked): the binary is the run's private copy, so they are ours."""
        pids = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [self.wfs.encode(), b"mount"] and self.mnt.encode() in argv:
                pids.append(int(entry))
        return pids

    def _cleanup(self):
        deadline = time.monotonic() + 10
        while not is_mounted(self.mnt) and self._servers() and time.monotonic() < deadline:
            time.sleep(0.1)  # interrupted while mounting: let the daemon finish, then unmount
        if is_mounted(self.mnt):
            log("cleanup: unmounting weightfs at %s" % self.mnt)
            rc = subprocess.run(["timeout", "90", self.wfs, "umount", "--timeout", "60", self.mnt],
                                stdout=sys.stderr.fileno()).returncode
            if rc != 0:
                subprocess.run(["fusermount3", "-u", "-z", self.mnt])
        for pid in self._servers():
            log("cleanup: killing the weightfs daemon we started (pid %d)" % pid)
            os.kill(pid, signal.SIGKILL)
            try:
                os.unlink(wfs_pid_file(self.mnt))  # the killed daemon could not remove it
            except OSError:
                pass
        if is_mounted(self.mnt):  # a daemon that died while mounted leaves its mount behind
            subprocess.run(["fusermount3", "-u", "-z", self.mnt])


class ForegroundMount:
    """A FUSE filesystem running in the foreground as our child: CMD is started (in its own
    session, so a Ctrl-C reaches only us and the cleanup unmounts it in order) with its output
    appended to LOG (or to stderr), and waited for until MNT is mounted (TIMEOUT seconds).
    umount() unmounts with UMOUNT_CMD (default fusermount3 -u MNT) and waits, bounded, for the
    process to exit with status 0. Until then the run's cleanup unmounts it and ends it."""

    def __init__(self, run, name, mnt, cmd, log_path=None, timeout=60, umount_cmd=None):
        self.run, self.name, self.mnt, self.log_path = run, name, mnt, log_path
        self.umount_cmd = umount_cmd or ["fusermount3", "-u", mnt]
        out = open(log_path, "ab") if log_path else None
        sys.stdout.flush()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT if out else None,
                                         start_new_session=True)
        finally:
            if out:
                out.close()
        run.mount_pids.add(self.proc.pid)
        run.push(self._cleanup)
        deadline = time.monotonic() + timeout
        while not is_mounted(mnt):
            if self.proc.poll() is not None:
                die("%s exited during start-up (see %s)" % (name, log_path or "above"))
            if time.monotonic() > deadline:
                die("%s did not mount within %d s" % (name, timeout))
            time.sleep(0.05)

    def umount(self):
        step(self.run, self.umount_cmd)
        try:
            rc = self.proc.wait(timeout=self.run.step_timeout)  # bounded, unlike a bare wait
        except subprocess.TimeoutExpired:
            die("%s (pid %d) still runs %d s after its unmount"
                % (self.name, self.proc.pid, self.run.step_timeout))
        self.run.pop(self._cleanup)
        if rc != 0:
            die("%s exited with status %d (see %s)" % (self.name, rc, self.log_path or "above"))

    def _cleanup(self):
        if is_mounted(self.mnt):
            log("cleanup: unmounting %s at %s" % (self.name, self.mnt))
            if subprocess.run(self.umount_cmd, stdout=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["fusermount3", "-u", "-z", self.mnt])
        elif self.proc.poll() is None:
            self.proc.terminate()  # still starting: a FUSE server unmounts and exits on SIGTERM
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log("cleanup: killing the %s process we started (pid %d)" % (self.name, self.proc.pid))
            self.proc.kill()
            self.proc.wait()
        if is_mounted(self.mnt):  # a server that died while mounted leaves its mount behind
            log("cleanup: lazily unmounting %s at %s" % (self.name, self.mnt))
            subprocess.run(["fusermount3", "-u", "-z", self.mnt])


# --- Measuring -------------------------------------------------------------------------------

def drop_caches():
    """`sync; echo 3 > /proc/sys/vm/drop_caches` (needs root)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Timer:
    """Wall-clock seconds since it was made: Timer().s() (a float), .fmt() ("%.6f")."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def s(self):
        return time.perf_counter() - self.t0

    def fmt(self):
        return "%.6f" % self.s()


def cpu_ticks(pid):
    """PID's utime + stime so far, in clock ticks (fields 14 and 15 of /proc/PID/stat; the
    command name before them may hold spaces and parentheses)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def vm_hwm_mib(pid):
    """PID's peak RSS (VmHWM of /proc/PID/status) in MiB, as "%.1f"."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return "%.1f" % (int(line.split()[1]) / 1024)
    die("no VmHWM in /proc/%d/status" % pid)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def nproc():
    """The CPUs this process may run on (as nproc(1))."""
    return len(os.sched_getaffinity(0))


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def mem_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return "%.1f GiB" % (int(line.split()[1]) / 1048576)
    return "?"


def machine_info(path):
    """(git revision of the checkout, CPU model, RAM, "SOURCE (FSTYPE)" of the disk of PATH)."""
    def out(cmd):
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""
    rev = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "unknown"
    if out(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]):
        rev += " (+ local changes)"
    disk = " ".join(out(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", path]).split())
    disk = disk.replace(" ", " (", 1) + ")"
    return rev, cpu_model(), mem_gib(), disk


# --- Results and tables ----------------------------------------------------------------------

class Results:
    """The measurements of a run: (round, name, key, value) in run order. Values are kept as
    the strings recorded (the precision the tables read) and compared as floats."""

    def __init__(self):
        self.rows = []

    def record(self, rnd, name, key, value):
        self.rows.append((int(rnd), name, key, str(value)))
        log("  %s %s = %s" % (name, key, value))

    def values(self, name, key):
        """[(round, float value)] of NAME's KEY, in run order."""
        return [(r, float(v)) for r, n, k, v in self.rows if n == name and k == key]

    def first(self, key):
        """The string value of the first record of KEY (any name), or None."""
        return next((v for _, _, k, v in self.rows if k == key), None)

    def names(self):
        return {n for _, n, _, _ in self.rows}

    def grouped(self):
        """{(name, key): [(round, float value), ...]}, keys in the order of their first record
        and values in run order."""
        out = {}
        for r, n, k, v in self.rows:
            out.setdefault((n, k), []).append((r, float(v)))
        return out

    def best(self, name, key, kind="time"):
        """The best value of NAME's KEY: the highest for kind "rate", else the lowest."""
        vals = [v for _, v in self.values(name, key)]
        if not vals:
            return None
        return max(vals) if kind == "rate" else min(vals)


def speed(a, b, kind):
    """How many times faster A is than B (throughputs, kind "rate": A/B; times: B/A); None if
    unknown."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if kind == "rate" else b / a


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


def md_row(cells):
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def matching_lines(path, words, unless=None):
    """The lines of the file PATH (without newlines) holding one of WORDS, in any case (as
    grep -iE 'w1|w2...'), except those holding UNLESS."""
    with open(path, errors="replace") as f:
        return [line.rstrip("\n") for line in f
                if any(w in line.lower() for w in words) and not (unless and unless in line)]


def notes_block(title, lines):
    """The report's block of note lines (the first 50), if any, as a code block."""
    if not lines:
        return
    print()
    print(title)
    print()
    print("```")
    for line in lines[:50]:
        print(line)
    print("```")


# --- The ratio table of the mount benchmark --------------------------------------------------

FS_ORDER = ["plain", "weightfs", "gocryptfs", "securefs"]  # the table's columns
OTHERS = ["gocryptfs", "securefs"]  # the small-file rows' goal: as fast as the fastest of these


def fmt_unit(v, unit):
    if v is None:
        return "—"
    if unit == "s":
        return ("%.3f s" if v < 1 else "%.2f s" if v < 100 else "%.0f s") % v
    return ("%.0f " % v if v >= 100 else "%.1f " % v) + unit


def print_ratio_table(results, metrics, cache_mib):
    """The markdown report of the mount benchmark: the best of every measurement of RESULTS per
    filesystem, its speed ratio to the plain directory (and weightfs's to gocryptfs), the goal
    and whether weightfs meets it, the weightfs daemon's CPU s/GiB; the daemon's peak RSS
    against CACHE_MIB + 64 MiB; every round in a details block. METRICS: the rows in order, each
    (key, label, unit, kind, goal, CPU goal or None, the key of the plain value it is compared
    with); kind "rate" (higher is better) or "time"; goal None, ("ratio", min ratio to plain),
    ("fastest",) (of OTHERS) or ("shared", private key, max ratio to it or None)."""
    rows = results.grouped()
    fses = [fs for fs in FS_ORDER if any(name == fs for name, _ in rows)]
    print("Best of each measurement over all rounds. **Ratios are speed ratios: > 1 means faster "
          "than the plain directory** (fs/plain for throughputs, plain/fs for times); the goals "
          "are issue #9's, for weightfs. CPU = the weightfs daemon's utime + stime over the timed "
          "step (/proc/PID/stat) per GiB moved, lowest over the rounds.")
    print()
    others = [fs for fs in fses if fs != "plain"]
    head = ["Measurement"] + fses + ["%s ÷ plain" % fs for fs in others]
    if "weightfs" in fses and "gocryptfs" in fses:
        head.append("weightfs ÷ gocryptfs")
    head += ["goal (weightfs)", "met?", "weightfs CPU s/GiB (goal)"]
    print(md_row(head))
    print("|---" + "|--:" * (len(head) - 4) + "|---|---|--:|")
    for m in metrics:
        cells = _ratio_row(results, rows, fses, m)
        if cells:
            print(md_row(cells))
    print()
    rss = [(v, key[4:], rnd) for (fs, key), vals in rows.items()
           if fs == "weightfs" and key.startswith("rss:") for rnd, v in vals]
    if rss:
        v, phase, rnd = max(rss)
        bound = int(cache_mib) + 64
        print("weightfs daemon peak RSS (VmHWM before each of its %d unmounts, max over the run): "
              "**%.0f MiB** (round %d, mount ending after `%s`); bound `--cache-size` %s MiB + 64 "
              "MiB = %d MiB: %s." % (len(rss), v, rnd, phase, cache_mib, bound,
                                     "met" if v <= bound else "**not met**"))
        print()
    _print_rounds(rows, fses, metrics, rss)


def _ratio_row(results, rows, fses, metric):
    """The cells of one row of the ratio table, or None when no filesystem has a value."""
    key, label, unit, kind, goal, cpu_goal, base_key = metric
    b = {fs: results.best(fs, key, kind) for fs in fses}
    if all(v is None for v in b.values()):
        return None
    plain = results.best("plain", base_key, kind) if "plain" in fses else None
    cells = [label] + [fmt_unit(plain if fs == "plain" else b[fs], unit) for fs in fses]
    cells += [fmt_ratio(speed(b[fs], plain, kind)) for fs in fses if fs != "plain"]
    if "weightfs" in fses and "gocryptfs" in fses:
        cells.append(fmt_ratio(speed(b["weightfs"], b["gocryptfs"], kind)))
    cells += _goal_cells(results, b, plain, kind, goal)
    cpu_vals = [v for _, v in rows.get(("weightfs", "cpu:" + key), [])]
    cpu = ""
    if cpu_vals:
        cpu = "%.2f" % min(cpu_vals)
        if cpu_goal is not None:
            cpu += " (≤ %g: %s)" % (cpu_goal, "yes" if min(cpu_vals) <= cpu_goal else "**no**")
    return cells + [cpu]


def _goal_cells(results, b, plain, kind, goal):
    """[goal, met?] of a row: B holds the best value per filesystem, PLAIN the baseline's."""
    goal_s, met = "", ""
    w = b.get("weightfs")
    if goal and goal[0] == "ratio":
        goal_s = "≥ %.2f× plain" % goal[1]
        r = speed(w, plain, kind)
        met = "—" if r is None else ("yes" if r >= goal[1] else "**no**")
    elif goal and goal[0] == "fastest":
        goal_s = "≥ fastest of " + ", ".join(OTHERS)
        rivals = [b.get(fs) for fs in OTHERS if b.get(fs) is not None]
        if w is not None and rivals:
            fastest = min(rivals)  # all these rows are times
            met = "yes" if w <= fastest else "**no**"
    elif goal and goal[0] == "shared":
        private = results.best("weightfs", goal[1], kind)
        r = None if w is None or not private else w / private
        if goal[2] is not None:
            goal_s = "shared ≤ %g× private" % goal[2]
        if r is not None:
            met = "%.2f× private" % r
            if goal[2] is not None:
                met += ": " + ("yes" if r <= goal[2] else "**no**")
    return [goal_s, met]


def _print_rounds(rows, fses, metrics, rss):
    """The details block: every round's value of every row, the CPU and the VmHWM readings."""
    print("<details><summary>Every round (in run order)</summary>")
    print()
    print("| Measurement | " + " | ".join(fses) + " |")
    print("|---" + "|--:" * len(fses) + "|")
    for key, label, unit, kind, goal, cpu_goal, base_key in metrics:
        cells = []
        for fs in fses:
            vals = [v for _, v in sorted(rows.get((fs, base_key if fs == "plain" else key), []))]
            cells.append(" / ".join(fmt_unit(v, unit).replace(" " + unit, "") for v in vals)
                         if vals else "—")
        if all(cl == "—" for cl in cells):
            continue
        print("| %s (%s) | %s |" % (label, unit, " | ".join(cells)))

    def weightfs_only(label, text):  # a row with a value in the weightfs column only
        print("| %s | %s |" % (label, " | ".join(text if fs == "weightfs" else "" for fs in fses)))

    for m in metrics:
        vals = [v for _, v in sorted(rows.get(("weightfs", "cpu:" + m[0]), []))]
        if vals:
            weightfs_only("weightfs daemon CPU, %s (s/GiB)" % m[0],
                          " / ".join("%.2f" % v for v in vals))
    if rss:
        weightfs_only("weightfs daemon VmHWM per mount, in run order (MiB)", " / ".join(
            "%.0f (%s)" % (v, phase) for v, phase, _ in sorted(rss, key=lambda x: x[2])))
    print()
    print("</details>")
