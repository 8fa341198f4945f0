"""inotify on a shared mount: what a watcher learns about entries it may not see.

The kernel, not the daemon, generates inotify events, for every operation that passes through the
mount's VFS, and FUSE gives a filesystem no way to filter them per watcher. What weightfs
guarantees, and this test checks from a guest (a uid without a passwd entry, so the policy's
default role) that watches a shared (--allow-other) mount while root (admin) works in it:

  1. a directory the guest may not look up cannot be watched (inotify_add_watch fails with
     ENOENT), so nothing that happens inside it (creates, writes, renames, deletes, reads) ever
     reaches the guest, also not through a watch on its parent;
  2. a watch on a directory the guest may list works, and events for what the guest may see come
     through (the mount is not broken for watchers);
  3. the side channel the README documents: in a directory the guest may list, an entry the
     policy hides from the guest is named in the events of whoever uses it through the same mount.
     The check asserts that this is still so; if it ever fails, the kernel or FUSE changed, and
     the README's threat model must be updated.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/notify_test.py
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import eq, true  # noqa: E402

GUEST_UID = 54329  # no passwd entry: the policy's default role

POLICY = wfs.ADMIN_ALL + """\
  guest:
    rules:
      - paths: ["/", "/public/**"]
        allow: [list, read]
bindings:
  - role: admin
    users: [root]
default_role: guest
"""

# Runs as the guest: adds the watches it is given (reporting each one's errno), says "ready",
# then prints every event name seen until stdin closes, as JSON lines.
WATCHER = r'''
import ctypes, errno, json, os, select, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
IN_ALL_EVENTS = 0xfff
watches = {}
for path in sys.argv[1:]:
    wd = libc.inotify_add_watch(fd, path.encode(), IN_ALL_EVENTS)
    err = ctypes.get_errno()
    print(json.dumps({"watch": path, "errno": None if wd >= 0 else errno.errorcode[err]}), flush=True)
    if wd >= 0:
        watches[wd] = path
print(json.dumps({"ready": True}), flush=True)
while True:
    r, _, _ = select.select([fd, sys.stdin], [], [])
    if fd in r:
        try:
            buf = os.read(fd, 65536)
        except BlockingIOError:
            continue
        i = 0
        while i < len(buf):
            wd, mask, cookie, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode("utf-8", "replace")
            print(json.dumps({"dir": watches.get(wd), "mask": mask, "name": name}), flush=True)
            i += 16 + n
    if sys.stdin in r and not sys.stdin.readline():
        break
'''


def guest_preexec():
    os.setgroups([])
    os.setgid(GUEST_UID)
    os.setuid(GUEST_UID)


class Env:
    work = repo = mnt = None


E = Env()


def start_watcher(*paths):
    p = subprocess.Popen([sys.executable, "-c", WATCHER, *paths], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, cwd="/", preexec_fn=guest_preexec,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    added = {}
    for line in p.stdout:
        msg = json.loads(line)
        if msg.get("ready"):
            return p, added
        added[msg["watch"]] = msg["errno"]
    raise AssertionError("the watcher exited before it was ready")


def stop_watcher(p):
    time.sleep(0.5)  # the last events reach the queue
    p.stdin.close()
    out = p.stdout.read().decode()
    p.wait(timeout=10)
    return [json.loads(line) for line in out.splitlines()]


def M(rel=""):
    return os.path.join(E.mnt, rel)


def test_hidden_directory_cannot_be_watched_and_leaks_nothing():
    p, added = start_watcher(M(), M("public"), M("private"))
    eq(added[M()], None, "guest watches / (it may list it)")
    eq(added[M("public")], None, "guest watches /public")
    eq(added[M("private")], "ENOENT", "guest cannot watch /private (it may not look it up)")
    # root (admin) works inside /private and /public through the same mount.
    with open(M("private/new-secret-model.bin"), "wb") as f:
        f.write(b"secret weights" * 100)
    with open(M("private/s.bin"), "rb") as f:
        f.read()
    os.rename(M("private/new-secret-model.bin"), M("private/renamed-secret.bin"))
    os.mkdir(M("private/secret-subdir"))
    os.unlink(M("private/renamed-secret.bin"))
    with open(M("public/new-public.bin"), "wb") as f:
        f.write(b"public")
    events = stop_watcher(p)
    names = {e["name"] for e in events}
    true("new-public.bin" in names, "the guest's watch on /public sees root's new file there: %s" % sorted(names))
    for secret in ("new-secret-model.bin", "renamed-secret.bin", "secret-subdir", "s.bin"):
        true(secret not in names, "no event names /private's %s: %s" % (secret, sorted(names)))


def test_hidden_entry_in_a_listable_directory_is_named_by_events():
    # The documented side channel (README, "Threat model"): the guest may list /, the policy hides
    # /hidden-name.bin from it (lookup and listing), yet the kernel reports root's use of it to a
    # watch on /.
    p, added = start_watcher(M())
    eq(added[M()], None, "guest watches /")
    with open(M("hidden-name.bin"), "wb") as f:
        f.write(b"x")
    events = stop_watcher(p)
    names = {e["name"] for e in events}
    listed = subprocess.run(["ls", M()], preexec_fn=guest_preexec, capture_output=True, text=True)
    true("hidden-name.bin" not in listed.stdout.split(), "the guest's listing of / hides hidden-name.bin")
    true("hidden-name.bin" in names,
         "inotify names hidden-name.bin to the guest, as the README says (if this fails, the kernel "
         "now filters events: update the threat model): %s" % sorted(names))
    os.unlink(M("hidden-name.bin"))


def main():
    wfs.require_fuse()
    with wfs.temp_repo("wfs-notify-") as (work, repo):
        os.chmod(work, 0o755)  # the guest must reach the mountpoint
        E.work, E.repo, E.mnt = work, repo, os.path.join(work, "mnt")
        src = os.path.join(work, "src")
        for rel, data in (("public/p.bin", b"public"), ("private/s.bin", b"private")):
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
        wfs.run("import", repo, src, "-m", "tree")
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
        wfs.run("policy", "set", repo, policy)
        with wfs.Mount(repo, E.mnt, "--allow-other") as m:
            E.mount = m
            wfs.cases([test_hidden_directory_cannot_be_watched_and_leaks_nothing,
                       test_hidden_entry_in_a_listable_directory_is_named_by_events],
                      log_mounts=lambda: [m])


if __name__ == "__main__":
    main()
