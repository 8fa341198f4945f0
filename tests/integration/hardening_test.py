"""Daemon hardening on real mounts: what the daemon leaves to other local users.

  8. a --policy file is checked on every load: a SIGHUP reload of a file that became writable by
     others (or whose directory did) is refused and the old policy stays; mount refuses it too
  9. the daemon's environment no longer holds WEIGHTFS_PASSPHRASE (/proc/PID/environ), its key
     material is locked in RAM (VmLck), and it is not dumpable (its /proc/PID belongs to root
     although a user started it)
 10. --log-file is created 0600
 11. a non-root mount keeps its pid record in a private directory: one squatted by another user
     (with a symlink into the victim's files) is refused before anything is mounted and the
     victim's file stays intact; $XDG_RUNTIME_DIR is used when private

Needs root (it creates an OS user) and FUSE.
"""
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, fail, poll, true  # noqa: E402

USER = "wfs-hard-u"


class S:
    work = None
    repo = None
    created_user = False
    restore_dev = None
    mounts = []


def sh(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def mount(repo, mnt, *extra, log_file=None):
    m = wfs.Mount(repo, mnt, *extra, log_file=log_file)
    S.mounts.append(m)
    m.__enter__()
    return m


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


ADMIN_ALL = wfs.ADMIN_ALL
ADMIN_NO_SECRET = ADMIN_ALL + """\
      - paths: ["/secret.bin"]
        deny: [read]
"""


def readable(path):
    try:
        with open(path, "rb") as f:
            f.read()
        return "ok"
    except OSError as e:
        return wfs.ename(e.errno)


def test_policy_file_checked_on_every_load():
    pdir = os.path.join(S.work, "policies")
    os.makedirs(pdir, mode=0o755)
    local = os.path.join(pdir, "local.yaml")
    write(local, ADMIN_ALL)
    os.chmod(local, 0o644)
    mnt = os.path.join(S.work, "mnt-policy")
    m = mount(S.repo, mnt, "--policy", local)
    pid = m.daemon_pid()
    secret = os.path.join(mnt, "secret.bin")
    eq(readable(secret), "ok", "secret.bin is readable under the first local policy")

    # Someone else may now write the file: an edit that takes the read away must not apply.
    write(local, ADMIN_NO_SECRET)
    os.chmod(local, 0o666)
    os.kill(pid, signal.SIGHUP)
    refused, _ = poll(lambda: "writable by group or others" in m.log(), 5)
    true(refused, "the daemon refuses the reload of a world-writable policy file: %r" % m.log()[-400:])
    time.sleep(0.5)
    eq(readable(secret), "ok", "after SIGHUP with a world-writable file the old policy still decides")

    # Private again: the same edit applies.
    os.chmod(local, 0o644)
    os.kill(pid, signal.SIGHUP)
    got, secs = poll(lambda: readable(secret) == "EACCES", 5)
    true(got, "a private policy file is applied on SIGHUP (read of secret.bin: %s)" % readable(secret))

    # The directory above becomes writable by others: they could replace the file.
    write(local, ADMIN_ALL)
    os.chmod(pdir, 0o777)
    before = m.log().count("directory")
    os.kill(pid, signal.SIGHUP)
    refused, _ = poll(lambda: m.log().count("directory") > before and "above the policy file" in m.log(), 5)
    true(refused, "the reload is refused when the directory above is world-writable: %r" % m.log()[-400:])
    time.sleep(0.5)
    eq(readable(secret), "EACCES", "the policy in force stays after the refused reload")
    m.unmount()

    # And a mount with such a file is refused before anything is mounted.
    p = wfs.run("mount", S.repo, mnt, "--policy", local, "--log-file", mnt + ".log2", check=False)
    true(p.returncode != 0, "mount --policy under a world-writable directory fails (exit %d)" % p.returncode)
    true(b"above the policy file" in p.stderr, "... saying why: %r" % p.stderr[-300:])
    if not true(not wfs.is_mounted(mnt), "... and mounts nothing"):
        wfs.run("umount", mnt, check=False)
    os.chmod(pdir, 0o755)
    os.chown(local, pwd.getpwnam(USER).pw_uid, -1)
    p = wfs.run("mount", S.repo, mnt, "--policy", local, "--log-file", mnt + ".log2", check=False)
    true(p.returncode != 0 and b"belongs to uid" in p.stderr,
         "mount --policy of a file another user owns fails: %r" % p.stderr[-300:])
    if not true(not wfs.is_mounted(mnt), "... and mounts nothing"):
        wfs.run("umount", mnt, check=False)


def test_daemon_keeps_no_secrets_around():
    mnt = os.path.join(S.work, "mnt-secrets")
    log = os.path.join(S.work, "new-dir-for-log", "daemon.log")
    os.makedirs(os.path.dirname(log))
    old = os.umask(0o022)
    try:
        m = mount(S.repo, mnt, log_file=log)
    finally:
        os.umask(old)
    pid = m.daemon_pid()
    eq(stat.S_IMODE(os.stat(log).st_mode), 0o600, "mode of the new --log-file")
    with open("/proc/%d/environ" % pid, "rb") as f:
        environ = f.read()
    true(wfs.PASSPHRASE.encode() not in environ,
         "the daemon's /proc/PID/environ does not hold the passphrase")
    true(b"WEIGHTFS_PASSPHRASE" not in environ, "... nor the variable's name")
    locked_kib = -1
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmLck:"):
                locked_kib = int(line.split()[1])
    if os.environ.get("WEIGHTFS_SANITIZER") == "asan":
        # AddressSanitizer intercepts mlock and does nothing (its shadow memory cannot be locked).
        print("  (VmLck not checked: AddressSanitizer makes mlock a no-op; it is %d kB)" % locked_kib)
    else:
        true(locked_kib > 0, "the daemon has key material locked in RAM (VmLck %d kB)" % locked_kib)
        true(locked_kib < 4096, "... and only that, not its caches (VmLck %d kB)" % locked_kib)
    true("not locked in memory" not in m.log(), "no 'not locked' note in the log: %r" % m.log()[-300:])
    m.unmount()


def user_env(uid, xdg=None):
    e = wfs.env()
    e.pop("XDG_RUNTIME_DIR", None)
    e["HOME"] = S.home
    e["WEIGHTFS_STATE_DIR"] = os.path.join(S.home, "state")
    if xdg:
        e["XDG_RUNTIME_DIR"] = xdg
    return e


def as_user(args, xdg=None, timeout=120):
    pw = pwd.getpwnam(USER)

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return subprocess.run([wfs.BINARY] + list(args), env=user_env(pw.pw_uid, xdg), capture_output=True,
                          preexec_fn=drop, timeout=timeout, cwd=S.home)


# As the user on its own private mount: the mount root and new files are the user's, and mode bits
# are enforced there too (only the user reaches the mount; root cannot even look).
PROBE = """\
import errno, os, sys
mnt = sys.argv[1]
p = os.path.join(mnt, "mine")
open(p, "w").write("x")
os.chmod(p, 0)
try:
    open(p).read()
    denied = "read"
except OSError as e:
    denied = errno.errorcode[e.errno]
os.unlink(p)
print(os.stat(mnt).st_uid, os.lstat(mnt).st_mode & 0o777, denied)
"""


def private_mount_owners(mnt, uid):
    p = subprocess.run([sys.executable, "-c", PROBE, mnt], capture_output=True, text=True, cwd="/",
                       preexec_fn=wfs.drop_to(USER), env=wfs.user_env(), timeout=60)
    eq(p.stdout.split(), [str(uid), str(0o755), "EACCES"],
       "a user's private mount: root owned by the user (0755), a mode-000 file unreadable (%s)" % p.stderr[-300:])


def test_non_root_pid_record():
    pw = pwd.getpwnam(USER)
    uid = pw.pw_uid
    repo = os.path.join(S.home, "repo")
    mnt = os.path.join(S.home, "mnt")
    os.makedirs(mnt)
    os.chown(mnt, uid, pw.pw_gid)
    p = as_user(["init", repo])
    eq(p.returncode, 0, "init as %s: %s" % (USER, p.stderr[-300:]))
    victim = os.path.join(S.home, "important.txt")
    write(victim, "the victim's data\n")
    os.chown(victim, uid, pw.pw_gid)

    # Another user (root here) squats the predictable directory and plants a symlink.
    squat = "/tmp/weightfs-%d" % uid
    shutil.rmtree(squat, ignore_errors=True)
    os.mkdir(squat)
    os.chmod(squat, 0o777)
    os.symlink(victim, os.path.join(squat, os.path.realpath(mnt).replace("/", "!") + ".pid"))
    try:
        p = as_user(["mount", repo, mnt, "--log-file", os.path.join(S.home, "m.log")])
        mounted = wfs.is_mounted(mnt)
        if mounted:
            subprocess.run(["fusermount3", "-u", "-z", mnt])
        true(p.returncode != 0, "mount refuses a pid directory another user made (exit %d)" % p.returncode)
        true(squat.encode() in p.stderr, "... naming it: %r" % p.stderr[-300:])
        true(not mounted, "... before mounting anything")
        with open(victim) as f:
            eq(f.read(), "the victim's data\n", "the victim's file behind the planted symlink")
    finally:
        shutil.rmtree(squat, ignore_errors=True)

    # A symlink in place of the directory is refused as well.
    os.symlink(S.home, squat)
    try:
        p = as_user(["mount", repo, mnt, "--log-file", os.path.join(S.home, "m.log")])
        if wfs.is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt])
        true(p.returncode != 0 and b"not a directory" in p.stderr,
             "mount refuses a symlinked pid directory: %r" % p.stderr[-300:])
    finally:
        os.unlink(squat)

    # Unsquatted: the mount makes the directory private and records its pid there. libfuse opens
    # /dev/fuse itself before it falls back to fusermount3; where the device is root-only (some
    # VMs), the test user's own group gets it for the rest of this test.
    dev = os.stat("/dev/fuse")
    if dev.st_mode & 0o006 != 0o006:
        os.chown("/dev/fuse", -1, pw.pw_gid)
        os.chmod("/dev/fuse", 0o660)
        S.restore_dev = (dev.st_gid, stat.S_IMODE(dev.st_mode))
    p = as_user(["mount", repo, mnt, "--log-file", os.path.join(S.home, "m.log")])
    eq(p.returncode, 0, "mount as %s: %s" % (USER, p.stderr[-300:]))
    try:
        st = os.lstat(squat)
        true(stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o700,
             "the pid directory is the user's, mode 0700 (mode %o, uid %d)" % (st.st_mode, st.st_uid))
        record = os.path.join(squat, os.path.realpath(mnt).replace("/", "!") + ".pid")
        with open(record) as f:
            pid = int(f.read())
        # Item 9: the daemon started by the user is not dumpable, so its /proc entries are root's.
        true(os.stat("/proc/%d/environ" % pid).st_uid == 0,
             "the user's daemon is not dumpable (/proc/PID/environ owned by root)")
        with open("/proc/%d/status" % pid) as f:
            true(any(l.startswith("Uid:") and l.split()[1] == str(uid) for l in f), "... and runs as the user")
        private_mount_owners(mnt, uid)
        p = as_user(["umount", mnt])
        eq(p.returncode, 0, "umount as %s: %s" % (USER, p.stderr[-300:]))
        gone, _ = poll(lambda: not os.path.exists("/proc/%d" % pid), 5)
        true(gone, "umount waited for the daemon it found in the record")
    finally:
        if wfs.is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt])
        shutil.rmtree(squat, ignore_errors=True)

    # With a private $XDG_RUNTIME_DIR the record lives there.
    xdg = os.path.join(S.home, "run")
    os.mkdir(xdg, 0o700)
    os.chown(xdg, uid, pw.pw_gid)
    p = as_user(["mount", repo, mnt, "--log-file", os.path.join(S.home, "m.log")], xdg=xdg)
    eq(p.returncode, 0, "mount with XDG_RUNTIME_DIR: %s" % p.stderr[-300:])
    try:
        names = os.listdir(os.path.join(xdg, "weightfs")) if os.path.isdir(os.path.join(xdg, "weightfs")) else []
        true(any(n.endswith(".pid") for n in names), "the pid record is in $XDG_RUNTIME_DIR/weightfs: %r" % names)
        true(not os.path.exists(squat), "and not in /tmp")
        p = as_user(["umount", mnt], xdg=xdg)
        eq(p.returncode, 0, "umount with XDG_RUNTIME_DIR: %s" % p.stderr[-300:])
    finally:
        if wfs.is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt])


TESTS = [test_policy_file_checked_on_every_load, test_daemon_keeps_no_secrets_around, test_non_root_pid_record]


def main():
    wfs.require_fuse()
    if os.geteuid() != 0:
        print("FAIL: hardening_test.py creates an OS user and must run as root", flush=True)
        sys.exit(1)
    bindir = wfs.use_private_binary_copy("wfs-hard-bin-")
    os.chmod(bindir, 0o755)  # the test user runs it too
    try:
        pwd.getpwnam(USER)
    except KeyError:
        sh(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", USER])
        S.created_user = True
    try:
        with wfs.temp_repo(prefix="wfs-hard-") as (work, repo):
            os.chmod(work, 0o755)
            S.work, S.repo = work, repo
            with open(os.path.join(work, "secret.txt"), "w") as f:
                f.write("x")
            src = os.path.join(work, "src")
            os.makedirs(src)
            write(os.path.join(src, "secret.bin"), "secret weights\n")
            wfs.run("import", repo, src)
            S.home = tempfile.mkdtemp(prefix="wfs-hard-home-")
            os.chmod(S.home, 0o755)
            os.chown(S.home, pwd.getpwnam(USER).pw_uid, -1)
            try:
                wfs.cases(TESTS, log_mounts=lambda: S.mounts)
            finally:
                for m in reversed(S.mounts):
                    m.unmount()
                shutil.rmtree(S.home, ignore_errors=True)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
        if S.restore_dev:
            os.chown("/dev/fuse", -1, S.restore_dev[0])
            os.chmod("/dev/fuse", S.restore_dev[1])
        if S.created_user:
            sh(["userdel", USER], check=False)


if __name__ == "__main__":
    main()
