"""The mounts of the benchmark drivers: a daemonized `weightfs mount` (WeightfsMount) and a
FUSE filesystem running in the foreground as our child (ForegroundMount: gocryptfs -fg,
securefs mount, weightfs mount -f). Part of scripts/bench_common.py, which imports it at its end
and re-exports its names; import bench_common (not this module) first."""
import os
import signal
import subprocess
import sys
import time

from bench_common import cpu_ticks, die, is_mounted, log, step, vm_hwm_mib


# --- Mounts ----------------------------------------------------------------------------------


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
