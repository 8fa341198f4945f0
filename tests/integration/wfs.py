"""Shared helpers for weightfs real-mount integration tests (Debian's /usr/bin/python3).

Every test creates its own temporary repository (cheap KDF) and mountpoint, mounts the real
binary, and always unmounts in teardown. Where FUSE is unavailable the test exits 77 (ctest
counts that as skipped) unless WEIGHTFS_REQUIRE_FUSE=1, where it fails.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

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
        run_dir = "/run/weightfs" if os.geteuid() == 0 else "/tmp/weightfs-%d" % os.geteuid()
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


def cases(funcs):
    """Runs test functions in order, prints 'N passed, N failed', exits non-zero on failure."""
    require_fuse()
    passed = failed = 0
    for f in funcs:
        start = time.time()
        try:
            f()
            passed += 1
            print("ok   %s (%.1fs)" % (f.__name__, time.time() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (f.__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
