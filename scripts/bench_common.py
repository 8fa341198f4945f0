"""Shared helpers of the benchmark drivers (scripts/bench_mount.py, bench_policy.py,
bench_versions.py, bench_import.py; benchmarks, not tests). Imported by them, never run on its
own; importing it starts nothing. Uses only the standard library of Debian's /usr/bin/python3.
The mounts live in scripts/bench_mounts.py and the results and tables in scripts/bench_report.py;
this module imports both at its end and re-exports their names, so drivers use bench_common only.

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


# --- Re-exported from the modules split off this one (they import the names above) ---------

from bench_mounts import ForegroundMount, WeightfsMount, pid_runs, wfs_pid_file  # noqa: E402,F401
from bench_report import (  # noqa: E402,F401
    OTHERS, FS_ORDER, Results, fmt_ratio, fmt_unit, matching_lines, md_row, notes_block,
    print_ratio_table, speed)
