#!/usr/bin/python3
"""A repository on a real S3 server (the s3server / s3server_rgw fixtures): every command and
mounts through s3://BUCKET/PREFIX, the node-local object cache, replicas between a local
directory and S3, and secrets kept out of argv, logs and the daemon's environment.

Needs: WEIGHTFS_S3_ENV_FILE (the fixture's settings) and FUSE for the mount part. Without the
settings file it skips (exit 77), or fails under WEIGHTFS_REQUIRE_S3=1.
"""
import json
import os
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import wfs  # noqa: E402

SOURCE = os.environ.get("WEIGHTFS_SOURCE_DIR") or os.path.join(HERE, "..", "..")


def settings():
    path = os.environ.get("WEIGHTFS_S3_ENV_FILE", "")
    if not path or not os.path.exists(path):
        msg = "no S3 server settings (%r): the s3server fixture did not run" % path
        if os.environ.get("WEIGHTFS_REQUIRE_S3") == "1":
            print("FAIL: " + msg, flush=True)
            sys.exit(1)
        print("SKIP: " + msg, flush=True)
        sys.exit(77)
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


S3 = settings()
for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
    os.environ[key] = S3[key]
SECRET = S3["AWS_SECRET_ACCESS_KEY"]


def server(*args):
    env = dict(os.environ, WEIGHTFS_S3_DIR=S3["WEIGHTFS_S3_DIR"])
    p = subprocess.run(["bash", os.path.join(SOURCE, "scripts", "s3-server.sh"), *args],
                       env=env, capture_output=True, timeout=120)
    assert p.returncode == 0, "s3-server.sh %s: %s" % (args, p.stderr.decode(errors="replace"))


def new_bucket():
    name = "wfs-cli-" + uuid.uuid4().hex[:12]
    server("mkbucket", name)
    return name


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def s3_client():
    """A boto3 client of the test server (to look at and damage objects behind weightfs)."""
    import boto3
    from botocore.config import Config
    session = boto3.session.Session(aws_access_key_id=S3["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=SECRET, region_name=S3["AWS_REGION"])
    return session.client("s3", endpoint_url=S3["AWS_ENDPOINT_URL"],
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def read_object(bucket, key):
    """The bytes of KEY in BUCKET, read with boto3 (not with weightfs)."""
    return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()


def no_secret(text, what):
    wfs.true(SECRET not in text, "the S3 secret appears in " + what)


def test_commands_on_s3():
    work = tempfile.mkdtemp(prefix="wfs-s3-")
    bucket = new_bucket()
    repo = "s3://%s/models/team" % bucket
    cache = os.path.join(work, "cache")
    c = ["--cache-dir", cache]
    src = os.path.join(work, "src")
    model = os.urandom(5 << 20)
    write_file(os.path.join(src, "llm", "model.safetensors"), model)
    write_file(os.path.join(src, "readme.txt"), b"v1\n")
    p = wfs.run("init", repo, "--cache-dir", cache)
    no_secret(p.stdout.decode() + p.stderr.decode(), "init's output")
    chunker = json.loads(read_object(bucket, "models/team/config"))["chunker"]
    wfs.eq(chunker, {"min": 1 << 20, "avg": 4 << 20, "max": 16 << 20},
           "an S3 repository's chunks are 4 MiB on average (fewer requests)")
    wfs.run("import", repo, src, "-m", "v1", *c)
    write_file(os.path.join(src, "readme.txt"), b"v2\n")
    wfs.run("import", repo, src, "-m", "v2", *c)
    wfs.run("tag", repo, "latest", "release-2", *c)
    listing = wfs.run("ls", "-r", repo, *c).stdout.decode()
    wfs.true("/llm/model.safetensors" in listing, "ls -r lists the model: " + listing)
    wfs.eq(wfs.run("cat", repo, "/llm/model.safetensors", *c).stdout, model, "cat of the model")
    log = json.loads(wfs.run("log", repo, "--json", *c).stdout)
    wfs.eq(len(log), 2, "two snapshots in log --json")
    diff = wfs.run("diff", repo, log[1]["id"][:12], log[0]["id"][:12], *c).stdout.decode()
    wfs.true("readme.txt" in diff, "diff names the changed file: " + diff)
    out = os.path.join(work, "out")
    wfs.run("export", repo, out, *c)
    wfs.eq(read_file(os.path.join(out, "llm", "model.safetensors")), model, "export of the model")
    wfs.run("snapshot", repo, "-m", "offline", *c)
    wfs.run("check", "--read-data", repo, *c)
    wfs.run("stats", repo, *c)
    wfs.run("forget", repo, "--keep-last", "2", *c)
    wfs.run("gc", repo, "--grace", "0", *c)
    wfs.run("check", "--read-data", repo, *c)
    stats = json.loads(wfs.run("cache", "stats", "--cache-dir", cache, "--json").stdout)
    wfs.true(stats["entries"] > 0, "the object cache holds entries: %s" % stats)
    # A flipped byte in a cached object: read again from S3, no error.
    objs = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(cache, "objects")) for f in fs]
    for path in objs:
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xFF]) if b else b"")
    wfs.eq(wfs.run("cat", repo, "/llm/model.safetensors", *c).stdout, model,
           "cat through a cache whose every entry was damaged")
    # A damaged object in the bucket while the cache holds a good copy: check asks the server.
    client = s3_client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="models/team/objects/")["Contents"]
    victim = max(listed, key=lambda o: o["Size"])["Key"]
    good = read_object(bucket, victim)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    client.put_object(Bucket=bucket, Key=victim, Body=bytes(bad))
    p = wfs.run("check", "--read-data", repo, *c, check=False)
    wfs.eq(p.returncode, 5, "check --read-data finds an object damaged in the bucket although the "
           "cache holds a good copy (%s)" % p.stdout.decode().strip()[-200:])
    client.put_object(Bucket=bucket, Key=victim, Body=good)
    wfs.run("check", "--read-data", repo, *c)
    # Clear errors: a missing bucket, a wrong secret.
    p = wfs.run("ls", "s3://no-such-bucket-%s/x" % uuid.uuid4().hex[:8], check=False)
    wfs.eq(p.returncode, 4, "ls of a missing bucket exits 4 (%s)" % p.stderr.decode().strip())
    env = dict(wfs.env(), AWS_SECRET_ACCESS_KEY="wrong" + SECRET[5:])
    p = subprocess.run([wfs.BINARY, "ls", repo, "--no-cache"], env=env, capture_output=True)
    wfs.true(p.returncode != 0 and b"AWS_SECRET_ACCESS_KEY" in p.stderr,
             "a wrong secret is refused naming what to check: %s" % p.stderr.decode().strip())
    no_secret(p.stderr.decode(), "the wrong-secret error")


def test_mounts_on_s3():
    work = tempfile.mkdtemp(prefix="wfs-s3m-")
    repo = "s3://%s/r" % new_bucket()
    cache = os.path.join(work, "cache")
    wfs.run("init", repo, "--cache-dir", cache)
    rw, ro = os.path.join(work, "rw"), os.path.join(work, "ro")
    data = os.urandom(8 << 20)
    with wfs.Mount(repo, rw, "--cache-dir", cache, "--commit-interval", "0.2") as m, \
            wfs.Mount(repo, ro, "--read-only", "--refresh", "0.5", "--cache-dir", cache) as r:
        write_file(os.path.join(rw, "w", "model.bin"), data)
        wfs.eq(read_file(os.path.join(rw, "w", "model.bin")), data, "read back on the rw mount")
        seen, secs = wfs.poll(lambda: os.path.exists(os.path.join(ro, "w", "model.bin")) and
                              read_file(os.path.join(ro, "w", "model.bin")) == data, 15)
        wfs.true(seen, "the read-only mount shows the write within 15 s")
        print("  read-only mount saw the write after %.1f s" % secs, flush=True)
        st = os.statvfs(rw)
        wfs.true(st.f_bavail * st.f_frsize >= 1 << 40, "statfs of an S3 mount reports space")
        for mount in (m, r):
            pid = mount.daemon_pid()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                no_secret(f.read().decode(errors="replace"), "the daemon's command line")
            with open("/proc/%d/environ" % pid, "rb") as f:
                no_secret(f.read().decode(errors="replace"), "the daemon's environment")
        wfs.run("snapshot", rw, "-m", "from the mount")
    no_secret(m.log() + r.log(), "the daemon logs")
    wfs.eq(wfs.run("cat", repo, "/w/model.bin", "--no-cache").stdout, data, "cat after unmount")
    wfs.run("check", "--read-data", repo, "--no-cache")


def test_replicas_between_local_and_s3():
    work = tempfile.mkdtemp(prefix="wfs-s3r-")
    local = os.path.join(work, "local")
    wfs.run("init", local)
    src = os.path.join(work, "src")
    write_file(os.path.join(src, "m.bin"), os.urandom(3 << 20))
    wfs.run("import", local, src, "-m", "v1")
    wfs.run("tag", local, "latest", "v1")
    s3 = "s3://%s/replica" % new_bucket()
    wfs.run("init", s3, "--replica-of", local)
    wfs.run("copy", local, s3, "--tags")
    back = os.path.join(work, "back")
    wfs.run("init", back, "--replica-of", s3)
    wfs.run("copy", s3, back, "--tags")
    wfs.eq(wfs.run("cat", back, "--version", "v1", "/m.bin").stdout,
           read_file(os.path.join(src, "m.bin")), "local -> S3 -> local keeps the file")
    again = wfs.run("copy", local, s3).stdout.decode()
    wfs.true(" 0 objects" in again or "0 objects" in again, "a second copy sends nothing: " + again)
    wfs.run("check", "--read-data", s3, "--no-cache")


if __name__ == "__main__":
    wfs.cases([test_commands_on_s3, test_mounts_on_s3, test_replicas_between_local_and_s3])
