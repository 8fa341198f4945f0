"""Shared helpers for weightfs real-mount integration tests (Debian's /usr/bin/python3).

Every test creates its own temporary repository (cheap KDF) and mountpoint, mounts the real
binary, and always unmounts in teardown. Where FUSE is unavailable the test exits 77 (ctest
counts that as skipped) unless WEIGHTFS_REQUIRE_FUSE=1, where it fails.

Soft checks (fail, true, eq, eq_manifest, expect_errno, expect_ok) record a mismatch and let
the test go on; `cases` fails a test that recorded any, at its end, so that one run reports every
mismatch.
"""
import contextlib
import errno
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

BINARY = os.environ.get("WEIGHTFS_BINARY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "weightfs")
PASSPHRASE = "integration-test-passphrase"


def require_fuse():
    """Skips (exit 77) or fails when FUSE cannot be used here."""
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    if shutil.which("fusermount3") is None:
        problems.append("fusermount3 is not installed")
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        problems.append("/dev/fuse is not accessible")
    if not problems:
        return
    msg = "FUSE unavailable: " + "; ".join(problems)
    if os.environ.get("WEIGHTFS_REQUIRE_FUSE") == "1":
        print("FAIL: " + msg + " (WEIGHTFS_REQUIRE_FUSE=1)", flush=True)
        sys.exit(1)
    print("SKIP: " + msg, flush=True)
    sys.exit(77)


def env():
    e = dict(os.environ)
    e["WEIGHTFS_PASSPHRASE"] = PASSPHRASE
    e["WEIGHTFS_INSECURE_FAST_KDF"] = "1"
    return e


def run(*args, check=True, input=None, timeout=600):
    """Runs the weightfs binary; returns the CompletedProcess."""
    p = subprocess.run([BINARY, *args], env=env(), capture_output=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("weightfs %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                              p.stderr.decode(errors="replace")))
    return p


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Mount:
    """A mounted repository. Use as a context manager; always unmounts."""

    def __init__(self, repo, mountpoint, *extra, log_file=None):
        self.repo, self.mountpoint, self.extra = repo, mountpoint, list(extra)
        self.log_file = log_file or mountpoint.rstrip("/") + ".log"

    def __enter__(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        run("mount", self.repo, self.mountpoint, "--log-file", self.log_file, *self.extra, timeout=120)
        assert is_mounted(self.mountpoint), "mount returned but nothing is mounted"
        return self

    def daemon_pid(self):
        # Where the daemon records its pid (cli/daemon_hardening.h: PidRecordDir).
        xdg = os.environ.get("XDG_RUNTIME_DIR", "")
        if os.geteuid() == 0:
            run_dir = "/run/weightfs"
        elif xdg.startswith("/") and os.path.isdir(xdg) and not os.path.islink(xdg) and \
                os.stat(xdg).st_uid == os.geteuid() and os.stat(xdg).st_mode & 0o077 == 0:
            run_dir = os.path.join(xdg, "weightfs")
        else:
            run_dir = "/tmp/weightfs-%d" % os.geteuid()
        name = os.path.realpath(self.mountpoint).replace("/", "!") + ".pid"
        with open(os.path.join(run_dir, name)) as f:
            return int(f.read().strip())

    def log(self):
        try:
            with open(self.log_file) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def unmount(self):
        if is_mounted(self.mountpoint):
            p = run("umount", self.mountpoint, check=False, timeout=300)
            if p.returncode != 0 and is_mounted(self.mountpoint):
                subprocess.run(["fusermount3", "-u", "-z", self.mountpoint])

    def __exit__(self, *exc):
        self.unmount()
        return False


# A policy in which role admin (the role of `init`'s key slot) may do everything.
ADMIN_ALL = """\
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
"""


# Running as other OS users (tests of shared mounts; the test itself runs as root).


def require_root(script):
    """Tests that create OS users run as root: fail (not skip) otherwise."""
    require_fuse()
    if os.geteuid() != 0:
        print("FAIL: %s creates OS users and must run as root" % script, flush=True)
        sys.exit(1)


def drop_to(user):
    """preexec_fn that becomes an OS user (with its groups), or a bare numeric uid (gid = uid, no groups)."""
    if isinstance(user, int):
        def preexec_numeric():
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
        return preexec_numeric
    pw = pwd.getpwnam(user)

    def preexec():
        os.initgroups(user, pw.pw_gid)
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return preexec


def user_env():
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/", "LANG": "C.UTF-8"}


def peak_rss_mib(pid):
    """The process's peak resident memory (VmHWM) in MiB, -1 if unknown."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


@contextlib.contextmanager
def temp_repo(prefix="wfs-test-"):
    """Yields (workdir, repo path) with an initialized repository; removes it afterwards."""
    work = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("WEIGHTFS_TEST_TMP"))
    try:
        repo = os.path.join(work, "repo")
        run("init", repo)
        yield work, repo
    finally:
        # Never leave a mount behind, whatever happened.
        for name in os.listdir(work):
            p = os.path.join(work, name)
            if is_mounted(p):
                subprocess.run(["fusermount3", "-u", "-z", p])
        shutil.rmtree(work, ignore_errors=True)


def kill_daemon(pid):
    """SIGKILLs a daemon this test started (by pid) and waits until it is gone."""
    os.kill(pid, signal.SIGKILL)
    for _ in range(500):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError("daemon %d did not die" % pid)


def use_private_binary_copy(prefix="wfs-bin-"):
    """Copies the binary aside and uses the copy; returns its directory (remove it at the end).

    A developer rebuilding build/weightfs during a long run would otherwise make a later exec
    fail with EACCES mid-link."""
    global BINARY
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("WEIGHTFS_TEST_TMP"))
    copy = os.path.join(d, "weightfs")
    for attempt in range(30):
        try:
            shutil.copy2(BINARY, copy)
            subprocess.run([copy, "--version"], capture_output=True, check=True, timeout=30)
            break
        except (OSError, subprocess.SubprocessError):
            if attempt == 29:
                raise
            time.sleep(2)
    BINARY = copy
    return d


# ---------------------------------------------------------------------------------------------
# Soft checks: every mismatch of a test is recorded, the test fails at its end (see `cases`).

_fails = []  # soft failures of the running test


def failures():
    """The soft failures the running test has recorded so far."""
    return list(_fails)


def ename(e):
    """The errno name of e ("ENOENT"), or str(e) where e is not a known errno."""
    return errno.errorcode.get(e, str(e)) if isinstance(e, int) else str(e)


def errno_of(fn, *args):
    """Calls fn(*args); returns "ok", or the errno name of the OSError it raised."""
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return ename(e.errno)


def describe(v, limit=400):
    """A value for a message: short bytes as they are, long ones by length, sha256 and head."""
    if isinstance(v, (bytes, bytearray)):
        if len(v) <= 64:
            return repr(bytes(v))
        return "<%d bytes sha256 %s..., head %r>" % (len(v), hashlib.sha256(v).hexdigest()[:12], bytes(v[:16]))
    s = repr(v)
    return s if len(s) < limit else s[:limit] + "..."


def fail(msg):
    _fails.append(msg)
    print("  check failed: " + msg, flush=True)


def true(cond, what):
    if not cond:
        fail(what)
    return bool(cond)


def eq(got, want, what):
    if got == want:
        return True
    msg = "%s: expected %s, got %s" % (what, describe(want), describe(got))
    if isinstance(got, (bytes, bytearray)) and isinstance(want, (bytes, bytearray)):
        n = min(len(got), len(want))
        first = next((i for i in range(n) if got[i] != want[i]), n)
        msg += " (lengths %d vs %d, first difference at offset %d)" % (len(got), len(want), first)
    fail(msg)
    return False


def eq_manifest(got, want, what, show=10):
    """Like eq for two manifests (dicts: path -> description); names the paths that differ."""
    if got == want:
        return True
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    msg = "%s: %d missing %r, %d unexpected %r, %d changed" % (
        what, len(missing), missing[:show], len(extra), extra[:show], len(changed))
    for k in changed[:show]:
        msg += "\n      %s: expected %s, got %s" % (k, describe(want[k]), describe(got[k]))
    fail(msg)
    return False


def expect_errno(want, what, fn, *args, **kw):
    """Calls fn, expecting an OSError with one of the errnos in want (int or tuple)."""
    want = (want,) if isinstance(want, int) else tuple(want)
    wanted = "/".join(ename(w) for w in want)
    try:
        r = fn(*args, **kw)
    except OSError as e:
        if e.errno not in want:
            fail("%s: expected %s, got %s (%s)" % (what, wanted, ename(e.errno), e))
        return e.errno
    if isinstance(r, int) and fn is os.open:
        os.close(r)
    fail("%s: expected %s, got success (%s)" % (what, wanted, describe(r)))
    return None


def expect_ok(what, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except OSError as e:
        fail("%s: expected success, got %s (%s)" % (what, ename(e.errno), e))
        return None


def poll(cond, timeout, step=0.1):
    """Calls cond until it returns a true value or timeout seconds pass; returns (value, seconds)."""
    start = time.time()
    while True:
        v = cond()
        if v or time.time() - start >= timeout:
            return v, time.time() - start
        time.sleep(step)


def log_tail(mounts, n=12):
    """Prints the last n lines of the daemon log of each mount (None entries are skipped)."""
    for m in mounts:
        if m is None:
            continue
        lines = m.log().splitlines()[-n:]
        if lines:
            print("  --- daemon log %s (last %d lines) ---\n  %s"
                  % (os.path.basename(m.mountpoint), len(lines), "\n  ".join(lines)), flush=True)


def cases(funcs, log_mounts=None):
    """Runs test functions in order, prints 'N passed, N failed', exits non-zero on failure.

    A test fails when it raises or records soft failures; then, where log_mounts is given, the
    tails of the daemon logs of the mounts it returns (called at that moment) are printed."""
    require_fuse()
    passed = failed = 0
    for f in funcs:
        start = time.time()
        del _fails[:]
        problem = None
        try:
            f()
            if _fails:
                problem = "%d check(s) failed:\n  - %s" % (len(_fails), "\n  - ".join(_fails))
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            traceback.print_exc()
            problem = str(e)
        except BaseException:
            if log_mounts is not None:
                log_tail(log_mounts())
            raise
        if problem is None:
            passed += 1
            print("ok   %s (%.1fs)" % (f.__name__, time.time() - start), flush=True)
            continue
        failed += 1
        if log_mounts is not None:
            log_tail(log_mounts())
        print("FAIL %s: %s" % (f.__name__, problem), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
