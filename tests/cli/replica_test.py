"""Replicas from the command line: `init --replica-of`, `copy` (log, ls, cat and export of the
replica match the source), refusals (another repository, a diverged replica, a non-empty
directory), and a copy killed with SIGKILL midway that a rerun completes.

Runs the real binary (WEIGHTFS_BINARY) on temporary directories; no FUSE needed.
"""
import filecmp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BINARY = os.environ.get("WEIGHTFS_BINARY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "weightfs")
FAILED = []


def env():
    e = dict(os.environ)
    e["WEIGHTFS_PASSPHRASE"] = "replica-test-passphrase"
    e["WEIGHTFS_INSECURE_FAST_KDF"] = "1"
    return e


def wfs(*args, rc=0):
    p = subprocess.run([BINARY, *args], env=env(), capture_output=True, timeout=600)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    check(p.returncode == rc, "weightfs %s exits %d (got %d: %s)" % (" ".join(args), rc,
                                                                    p.returncode, err.strip()))
    return out, err


def check(cond, what):
    print(("ok   - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    if any(not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)
           for f in cmp.common_files):
        return False
    return all(same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def objects_in(repo):
    root = os.path.join(repo, "objects")
    return sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0


def same_views(t, src, rep, versions):
    for v in versions:
        for args in (["ls", "-r", "--version", v], ["cat", "/data/small.txt", "--version", v]):
            a, _ = wfs(args[0], src, *args[1:])
            b, _ = wfs(args[0], rep, *args[1:])
            check(a == b and a, "%s of %s is the same in the replica" % (args[0], v))
        shutil.rmtree(os.path.join(t, "exp-src"), ignore_errors=True)
        shutil.rmtree(os.path.join(t, "exp-rep"), ignore_errors=True)
        wfs("export", src, os.path.join(t, "exp-src"), "--version", v)
        wfs("export", rep, os.path.join(t, "exp-rep"), "--version", v)
        check(same_tree(os.path.join(t, "exp-src"), os.path.join(t, "exp-rep")),
              "export of %s is the same from the replica" % v)


def basic_copy(t, src, rep):
    wfs("init", rep, "--replica-of", src)
    for name in ("config", "keys/admin"):
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(rep, name), "rb") as b:
            check(a.read() == b.read(), "the replica's %s is the source's, byte for byte" % name)
    out, _ = wfs("copy", src, rep, "--tags")
    check("copied" in out and "main now at" in out, "copy prints one summary line: " + out.strip())
    src_log, _ = wfs("log", src)
    rep_log, _ = wfs("log", rep)
    check(src_log == rep_log and src_log.count("snapshot ") == 2, "log of the replica is the same")
    tags, _ = wfs("tag", "--list", rep)
    check("v1" in tags, "the tag came along")
    same_views(t, src, rep, ["latest", "v1"])
    out, _ = wfs("copy", src, rep, "--tags")
    check(out.startswith("copied 0 objects"), "a second copy sends nothing: " + out.strip())


def refusals(t, src, rep):
    other = os.path.join(t, "other")
    wfs("init", other)
    _, err = wfs("copy", src, other, rc=2)
    check("--replica-of" in err, "another repository is refused, naming init --replica-of")
    _, err = wfs("copy", src, os.path.join(t, "missing"), rc=4)
    check("--replica-of" in err, "a missing replica is refused, naming init --replica-of")
    _, err = wfs("init", other, "--replica-of", src, rc=1)
    check("not empty" in err, "init --replica-of refuses a directory that is not empty")
    # A replica with a snapshot of its own has diverged from the source.
    div = os.path.join(t, "diverged")
    wfs("init", div, "--replica-of", src)
    wfs("copy", src, div)
    write(os.path.join(t, "own", "x"), b"own")
    wfs("import", div, os.path.join(t, "own"), "--to", "/own", "-m", "own")
    write(os.path.join(t, "more", "y"), b"more")
    wfs("import", src, os.path.join(t, "more"), "--to", "/more", "-m", "more")
    _, err = wfs("copy", src, div, rc=1)
    check("diverged" in err, "a diverged replica is refused: " + err.strip())


def killed_copy(t, src, rep):
    rng = random.Random(int(os.environ.get("WEIGHTFS_TEST_SEED", "1234")))
    for i in range(24):
        write(os.path.join(t, "big", "part%02d.bin" % i), rng.randbytes(2 << 20))
    wfs("import", src, os.path.join(t, "big"), "--to", "/big", "-m", "big")
    # The source is at #3 now, the replica at #2: rollback detection keeps one record per
    # location, so the older replica opens (keyed by the repository id alone, it would not).
    head_before, err = wfs("log", rep)
    check("went backwards" not in err, "the older replica is no rollback of its source")
    start = objects_in(rep)
    p = subprocess.Popen([BINARY, "copy", src, rep, "--jobs", "1"], env=env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while p.poll() is None and objects_in(rep) < start + 5 and time.time() < deadline:
        time.sleep(0.002)
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    check(killed, "the copy was killed midway (it had not finished)")
    partial = objects_in(rep) - start
    check(partial >= 5, "objects arrived before the kill (%d)" % partial)
    head_after, _ = wfs("log", rep)
    check(head_after == head_before, "the killed copy did not move the replica's main")
    out, _ = wfs("copy", src, rep)
    check("main now at" in out, "the rerun completes: " + out.strip())
    # "copied C objects (...), P of R already there; ..."
    words = out.split()
    copied = int(words[1])
    present = int(words[words.index("of") - 1])
    reachable = int(words[words.index("of") + 1])
    check(copied == reachable - present and present >= partial and copied <= reachable - partial,
          "the rerun copied only what was missing (%d of %d, %d were there, %d from the killed run)"
          % (copied, reachable, present, partial))
    same_views(t, src, rep, ["latest"])
    a, _ = wfs("cat", src, "/big/part07.bin")
    b, _ = wfs("cat", rep, "/big/part07.bin")
    check(a == b and len(a) > 0, "cat of a large file is the same after the rerun")


def main():
    if not os.path.exists(BINARY):
        print("weightfs binary not found at %s" % BINARY)
        return 1
    t = tempfile.mkdtemp(prefix="wfs-replica-")
    os.environ["WEIGHTFS_STATE_DIR"] = os.path.join(t, "state")
    try:
        src, rep = os.path.join(t, "src"), os.path.join(t, "rep")
        data = os.path.join(t, "in")
        write(os.path.join(data, "data", "small.txt"), b"first version\n")
        write(os.path.join(data, "data", "weights.bin"), os.urandom(3 << 20))
        write(os.path.join(data, "readme"), b"hello\n")
        wfs("init", src)
        wfs("import", src, data, "-m", "one")
        wfs("tag", src, "latest", "v1")
        write(os.path.join(data, "data", "small.txt"), b"second version\n")
        wfs("import", src, data, "-m", "two")
        basic_copy(t, src, rep)
        killed_copy(t, src, rep)
        refusals(t, src, rep)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
