#!/usr/bin/python3
"""A repository on a real S3 server (the s3server / s3server_rgw fixtures) reached through
tests/s3/fault_proxy.py, which delays requests, resets connections (before the server saw the
request, and after it applied it) and answers 503 SlowDown:
  - with a quarter of the requests hit, init, import, copy to an S3 replica and a rw mount all
    succeed, and check --read-data passes with exact content;
  - with every request answered 503 from the middle of an import on, the import fails naming
    the server and the repository is unchanged;
  - with the proxy gone dark (every connection closed) in the middle of an import and back a
    moment later, the import either finished (its snapshot is there, exact) or failed clearly
    (no new snapshot, check passes); a snapshot reported done is never lost.

Needs: WEIGHTFS_S3_ENV_FILE (the fixture's settings); FUSE for the mount part. Without the
settings file it skips (exit 77), or fails under WEIGHTFS_REQUIRE_S3=1.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import s3_cli_test as s3  # noqa: E402  (settings, buckets; exits 77 without a server)
import wfs  # noqa: E402  (s3_cli_test put tests/integration on the path)

SECRET = s3.SECRET


class Proxy:
    """tests/s3/fault_proxy.py in front of the fixture's endpoint; the clients of this test talk
    to it (AWS_ENDPOINT_URL is pointed at it)."""

    def __init__(self, upstream):
        self.p = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fault_proxy.py"),
                                   upstream], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        line = self.p.stdout.readline().split()
        assert line and line[0] == "PORT", "fault_proxy.py did not start: %r" % line
        self.url = "http://127.0.0.1:%s" % line[1]

    def control(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        assert answer == "ok" or answer.startswith("{"), "fault_proxy.py: " + answer
        return json.loads(answer) if answer.startswith("{") else None

    def clean(self):
        self.control(clear=True)

    def flaky(self):
        """About a quarter of the requests get a fault."""
        self.control(delay=0.08, delay_ms=300, reset_before=0.06, reset_after=0.06,
                     slowdown=0.08)

    def stats(self):
        return self.control(stats=True)

    def close(self):
        self.p.stdin.close()
        self.p.kill()
        self.p.wait()


UPSTREAM = os.environ["AWS_ENDPOINT_URL"]
PROXY = Proxy(UPSTREAM)
os.environ["AWS_ENDPOINT_URL"] = PROXY.url


def write_tree(root, files):
    for name, data in files.items():
        s3.write_file(os.path.join(root, name), data)


def random_files(n, size):
    return {"d%d/w%d.bin" % (i % 2, i): os.urandom(size + i * 4099) for i in range(n)}


def snapshots(repo):
    return [s["id"] for s in json.loads(wfs.run("log", repo, "--json", "--no-cache").stdout)]


def listing(repo):
    return wfs.run("ls", "-r", repo, "--no-cache").stdout.decode()


def expect_content(repo, files, version=None):
    v = ["--version", version] if version else []
    for name, data in files.items():
        got = wfs.run("cat", repo, *v, "/" + name, "--no-cache").stdout
        wfs.eq(got, data, "content of /%s in %s" % (name, repo))


def check_clean(repo, what):
    p = wfs.run("check", "--read-data", repo, "--no-cache", check=False)
    wfs.eq(p.returncode, 0, "check --read-data after %s (%s)" % (what, p.stderr.decode().strip()))


def clear_error(p, what):
    err = p.stderr.decode(errors="replace")
    wfs.true(p.returncode != 0, what + " fails")
    low = err.lower()
    wfs.true("s3" in low and any(w in low for w in ("503", "slowdown", "attempt", "retry",
                                                    "try again", "later", "connect", "reset")),
             what + " says the server kept failing: " + err.strip())
    s3.no_secret(err + p.stdout.decode(errors="replace"), what + "'s output")


def test_flaky_server_keeps_working():
    work = tempfile.mkdtemp(prefix="wfs-s3f-")
    repo = "s3://%s/flaky" % s3.new_bucket()
    cache = os.path.join(work, "cache")
    src = os.path.join(work, "src")
    files = random_files(4, 1 << 20)
    write_tree(src, files)
    local = os.path.join(work, "local")
    wfs.run("init", local)
    wfs.run("import", local, src, "-m", "local")
    wfs.run("tag", local, "latest", "v1")
    PROXY.flaky()
    t0 = time.time()
    wfs.run("init", repo, "--cache-dir", cache)
    wfs.run("import", repo, src, "-m", "v1", "--cache-dir", cache)
    replica = "s3://%s/replica" % s3.new_bucket()
    wfs.run("init", replica, "--replica-of", local, "--no-cache")
    wfs.run("copy", local, replica, "--tags", "--no-cache")
    mounted = shutil.which("fusermount3") and os.access("/dev/fuse", os.R_OK | os.W_OK)
    extra = os.urandom(3 << 20)
    if mounted:
        mnt = os.path.join(work, "mnt")
        with wfs.Mount(repo, mnt, "--cache-dir", os.path.join(work, "mcache"),
                       "--commit-interval", "0.3") as m:
            s3.write_file(os.path.join(mnt, "fresh", "extra.bin"), extra)
            wfs.eq(s3.read_file(os.path.join(mnt, "fresh", "extra.bin")), extra,
                   "read back on the rw mount through faults")
            wfs.eq(s3.read_file(os.path.join(mnt, "d0", "w0.bin")), files["d0/w0.bin"],
                   "an imported file read on the mount through faults")
            wfs.run("snapshot", mnt, "-m", "from the mount")
        s3.no_secret(m.log(), "the daemon log")
    else:
        print("  (no FUSE here: the mount part is left out)", flush=True)
    stats = PROXY.stats()
    print("  through faults in %.1f s: %s" % (time.time() - t0, stats), flush=True)
    hit = sum(stats[k] for k in ("delay", "reset_before", "reset_after", "slowdown"))
    wfs.true(hit >= 10 and stats["reset_after"] > 0 and stats["slowdown"] > 0,
             "the proxy injected faults of every kind: %s" % stats)
    PROXY.clean()
    check_clean(repo, "the flaky import and mount")
    check_clean(replica, "the flaky copy")
    expect_content(repo, files)
    if mounted:
        expect_content(repo, {"fresh/extra.bin": extra})
    expect_content(replica, files, version="v1")


def test_answers_lost_after_the_server_applied_writes():
    """A third of the requests are applied by the server but their answer never arrives: the
    retries of writes (objects, the snapshot, the ref's compare-and-swap) must not fail on what
    they did themselves nor record a snapshot twice. (0.3: eight lost answers in a row, the
    retry budget, stay unlikely.)"""
    work = tempfile.mkdtemp(prefix="wfs-s3a-")
    repo = "s3://%s/lost" % s3.new_bucket()
    src = os.path.join(work, "src")
    files = random_files(3, 512 << 10)
    write_tree(src, files)
    wfs.run("init", repo, "--no-cache")
    PROXY.control(reset_after=0.3)
    wfs.run("import", repo, src, "-m", "v1", "--no-cache")
    wfs.run("tag", repo, "latest", "v1", "--no-cache")
    stats = PROXY.stats()
    PROXY.clean()
    wfs.true(stats["reset_after"] >= 5, "answers were lost: %s" % stats)
    wfs.eq(len(snapshots(repo)), 1, "one snapshot after an import whose answers were lost")
    expect_content(repo, files, version="v1")
    check_clean(repo, "an import whose answers were lost")


def test_server_that_only_answers_503():
    work = tempfile.mkdtemp(prefix="wfs-s3s-")
    repo = "s3://%s/throttled" % s3.new_bucket()
    src = os.path.join(work, "src")
    files = random_files(3, 1 << 20)
    write_tree(src, files)
    wfs.run("init", repo, "--no-cache")
    n0 = PROXY.stats()["requests"]
    wfs.run("import", repo, src, "-m", "v1", "--no-cache")
    n = PROXY.stats()["requests"] - n0
    before = (snapshots(repo), listing(repo))
    write_tree(src, random_files(3, 1 << 20))
    # Every request gets 503 from the middle of the import on (about as many requests as the
    # first one made: after it opened the repository and while it writes objects).
    PROXY.control(after=n * 2 // 3, then={"slowdown": 1.0})
    t0 = time.time()
    p = wfs.run("import", repo, src, "-m", "v2", "--no-cache", check=False, timeout=120)
    print("  import under 503s from request %d of about %d gave up after %.1f s: %s" % (
        n * 2 // 3 + 1, n, time.time() - t0, p.stderr.decode().strip()), flush=True)
    clear_error(p, "an import against a server that only answers 503")
    PROXY.clean()
    wfs.eq((snapshots(repo), listing(repo)), before, "log and ls after the failed import")
    check_clean(repo, "the failed import")
    expect_content(repo, files)


def test_server_gone_in_the_middle_of_an_import():
    work = tempfile.mkdtemp(prefix="wfs-s3d-")
    repo = "s3://%s/dark" % s3.new_bucket()
    src = os.path.join(work, "src")
    wfs.run("init", repo, "--no-cache")
    done = {}  # snapshot message -> files, for every import that exited 0
    for i, (after, dark_s) in enumerate(((4, 0.8), (12, 2.0), (30, 15.0), (60, 1.5))):
        files = random_files(3, 700 << 10)
        shutil.rmtree(src, ignore_errors=True)
        write_tree(src, files)
        before = snapshots(repo)
        PROXY.control(after=after, then={"dark": True})
        msg = "round-%d" % i
        proc = subprocess.Popen([wfs.BINARY, "import", repo, src, "-m", msg, "--no-cache"],
                                env=wfs.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wfs.poll(lambda: proc.poll() is not None or PROXY.stats()["is_dark"], 60, step=0.02)
        if PROXY.stats()["is_dark"]:
            time.sleep(dark_s)
        PROXY.clean()
        out, err = proc.communicate(timeout=120)
        now = snapshots(repo)
        if proc.returncode == 0:
            wfs.eq(len(now), len(before) + 1, "%s finished: one new snapshot" % msg)
            done[msg] = files
        else:
            print("  %s failed while the server was gone: %s" % (msg, err.decode().strip()),
                  flush=True)
            clear_error(subprocess.CompletedProcess([], proc.returncode, out, err), msg)
            wfs.eq(now, before, "%s failed: no new snapshot" % msg)
        check_clean(repo, msg)
    wfs.true(len(done) >= 1, "an import finished across a short outage: %s" % sorted(done))
    wfs.run("import", repo, src, "-m", "after", "--no-cache")
    log = json.loads(wfs.run("log", repo, "--json", "--no-cache").stdout)
    messages = [s.get("message") for s in log]
    for msg, files in done.items():
        wfs.true(msg in messages, "the snapshot %s reported done is in log: %s" % (msg, messages))
        sid = [s["id"] for s in log if s.get("message") == msg]
        if sid:
            expect_content(repo, files, version=sid[0][:12])
    check_clean(repo, "the outages")


if __name__ == "__main__":
    try:
        wfs.cases([test_flaky_server_keeps_working,
                   test_answers_lost_after_the_server_applied_writes,
                   test_server_that_only_answers_503,
                   test_server_gone_in_the_middle_of_an_import])
    finally:
        PROXY.close()
