"""Per-path role policies on real mounts, attacked from three OS users (/usr/bin/python3, root).

Longer than the 500-line limit on purpose: this file is one ctest whose checks share one costly
setup (repositories, OS users, real mounts); split into several files, each would repeat it and
the CI run would grow by that much.

The test creates (and removes at the end) OS users wfs_pol_alice (bound to role admin), wfs_pol_bob
(role member through his supplementary group wfs-pol-team) and wfs_pol_guest (no binding: the
default role guest). Each user runs a small Python worker (setgid/initgroups/setuid) that does the
syscalls it is told and reports results or errno names as JSON.

One repository with the policy below (`policy set`), /public/p.bin, /team/t.bin, /private/s.bin,
/README and a tag v1. Cases:
  1. the users exist with the right groups, the workers run as them;
  2. policy check/set/show/explain, import of the tree, one shared mount (--allow-other, admin slot,
     --audit-log, --versions-dir visible) and the tag v1;
  3. on that mount each user gets exactly what the policy says: listings, stat, read, create,
     write, delete, rename, chmod/truncate/setxattr, symlinks, .versions (history, and the
     snapshot's /private hidden from bob), snapshots (mkdir tags/NAME, `weightfs snapshot DIR`);
  4. caches do not leak: right after alice stat/read/listed /private (and while she holds it open
     and sits in it) guest and bob still get ENOENT; bob's new file stays invisible to guest;
     on a second shared mount (--audit-all), what differs between roles (/private, /team, /README)
     reaches the daemon on every stat while the uniform /public is served from the kernel's cache;
  5. a guest-slot mount beside the writer: read-only (EROFS, "ro" in /proc/mounts), shows only what
     guest may see, and caps every caller (alice too) at role guest;
  6. `policy set` on the mounted repository: guest gains /team within 2 s and loses it again
     (latency measured on both the shared and the guest-slot mount); a policy that no slot could
     change again is refused without --force; one without the guest role (guest bound by numeric
     uid to member instead) applies to the shared mount and leaves the guest-slot mount empty;
     a revocation reaches a single-role mount (member slot, --read-only) within 2 s even where
     the kernel caches entries: a file held open and a working directory below .versions/;
  7. a --policy local override reloads on SIGHUP; a malformed edit keeps the old policy and the
     daemon serving; --policy with a non-admin slot is refused; SIGHUP without --policy is harmless;
  8. the audit log: JSON lines with every key, guest's denied lookup of /private, names with a
     newline or non-UTF-8 bytes, a uid without a passwd entry (user null, default role), mode
     0600, no allow lines without --audit-all, allow lines with it;
  9. malformed policies (bad YAML, unknown capability, ".." pattern): `policy check` exit 2 with
     FILE:LINE:COLUMN, `policy set` refuses (policy unchanged), `mount --policy BAD` fails without
     mounting or leaving a daemon; --allow-other with only the built-in policy is refused;
 10. non-admin slots (member, guest) cannot `policy set`.

Run: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/policy_test.py
"""
import errno
import grp
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import describe, drop_to, eq, errno_of, fail, poll, true, user_env  # noqa: E402

ALICE, BOB, GUEST = "wfs_pol_alice", "wfs_pol_bob", "wfs_pol_guest"
TEAM_GROUP = "wfs-pol-team"
NUMERIC_UID = 54321  # a caller with no passwd entry (checked to be unused)
CONTENT = {
    "README": b"weightfs policy test repository\n",
    "public/p.bin": b"public weights " * 300,
    "team/t.bin": b"team weights v1 " * 200,
    "private/s.bin": b"PRIVATE licensed weights " * 100,
}


class State:
    work = repo = mnt = None
    bindir = None
    main = None            # the shared --allow-other wfs.Mount (admin slot)
    mounts = []            # every wfs.Mount this test brought up
    pids = []              # their daemons
    users = {}             # name -> Worker
    created_users = []     # OS users and groups this test created
    created_groups = []
    audit_main = audit_local = None
    guest_key = member_key = None
    policy_file = None


S = State()

# ---------------------------------------------------------------------------------------------
# OS users and their workers.

WORKER = r'''
import errno, json, os, sys
held = {}

def run(op, a):
    if op == "id":
        return [os.getuid(), os.getgid(), sorted(os.getgroups())]
    if op == "stat":
        s = os.stat(a[0])
        return {"mode": s.st_mode, "size": s.st_size}
    if op == "lstat":
        s = os.lstat(a[0])
        return {"mode": s.st_mode, "size": s.st_size}
    if op == "read":
        with open(a[0], "rb") as f:
            return f.read().decode("latin-1")
    if op == "listdir":
        return sorted(os.listdir(a[0]))
    if op == "create":
        fd = os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, a[1].encode("latin-1"))
        finally:
            os.close(fd)
        return None
    if op == "append":
        fd = os.open(a[0], os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, a[1].encode("latin-1"))
        finally:
            os.close(fd)
        return None
    if op == "open_w":
        os.close(os.open(a[0], os.O_WRONLY))
        return None
    if op == "open_trunc":
        os.close(os.open(a[0], os.O_WRONLY | os.O_TRUNC))
        return None
    if op == "unlink":
        return os.unlink(a[0])
    if op == "mkdir":
        return os.mkdir(a[0])
    if op == "rmdir":
        return os.rmdir(a[0])
    if op == "rename":
        return os.rename(a[0], a[1])
    if op == "chmod":
        return os.chmod(a[0], a[1])
    if op == "truncate":
        return os.truncate(a[0], a[1])
    if op == "utime":
        return os.utime(a[0], (1, 1))
    if op == "setxattr":
        return os.setxattr(a[0], a[1], a[2].encode())
    if op == "getxattr":
        return os.getxattr(a[0], a[1]).decode("latin-1")
    if op == "symlink":
        return os.symlink(a[0], a[1])
    if op == "readlink":
        return os.readlink(a[0])
    if op == "fchmod":  # setattr through a descriptor opened for reading
        fd = os.open(a[0], os.O_RDONLY)
        try:
            return os.fchmod(fd, a[1])
        finally:
            os.close(fd)
    if op == "create_hex":  # a name given as hex bytes (not necessarily UTF-8)
        fd = os.open(bytes.fromhex(a[0]), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)
        return None
    if op == "hold":
        held[a[0]] = os.open(a[0], os.O_RDONLY)
        return None
    if op == "release":
        os.close(held.pop(a[0]))
        return None
    if op == "chdir":
        return os.chdir(a[0])
    if op == "access":  # which of "rwx" access(2) grants
        return "".join(c for c, m in (("r", os.R_OK), ("w", os.W_OK), ("x", os.X_OK)) if os.access(a[0], m))
    raise ValueError("unknown op " + op)

for line in sys.stdin:
    out = []
    for op, *args in json.loads(line):
        try:
            out.append({"ok": run(op, args)})
        except OSError as e:
            out.append({"err": errno.errorcode.get(e.errno, str(e.errno))})
        except Exception as e:  # noqa: BLE001
            out.append({"exc": repr(e)})
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
'''


class Worker:
    """A Python process running as an OS user; does syscalls on request (one JSON line each way)."""

    def __init__(self, user):
        self.user = user
        self.short = user.replace("wfs_pol_", "") if isinstance(user, str) else "uid %d" % user
        self.uid = pwd.getpwnam(user).pw_uid if isinstance(user, str) else user
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd="/", env=user_env(),
                                     preexec_fn=drop_to(user))

    def call(self, ops, timeout=30):
        self.proc.stdin.write((json.dumps(ops) + "\n").encode())
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            self.stop()
            raise AssertionError("worker of %s did not answer %r within %ds (mount hung?)" % (self.user, ops, timeout))
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("worker of %s died" % self.user)
        out = json.loads(line)
        for o in out:
            if "exc" in o:
                raise AssertionError("worker of %s: %s" % (self.user, o["exc"]))
        return out

    def do(self, op, *args):
        """('ok', value) or ('err', 'ENOENT')."""
        r = self.call([[op, *args]])[0]
        return ("ok", r["ok"]) if "ok" in r else ("err", r["err"])

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def shown(args):
    """Arguments for messages: mount paths relative to the work dir."""
    out = []
    for a in args:
        if isinstance(a, str) and S.work and a.startswith(S.work + "/"):
            a = a[len(S.work) + 1:]
        out.append(a)
    return " ".join(str(a) for a in out)


def ok(u, op, *args):
    """The op succeeds for user u; returns its value."""
    kind, v = u.do(op, *args)
    if kind != "ok":
        fail("%s: %s %s: expected success, got %s" % (u.short, op, shown(args), v))
        return None
    return v


def err(u, want, op, *args):
    """The op fails for user u with one of the errno names in want ('ENOENT' or a tuple)."""
    want = (want,) if isinstance(want, str) else tuple(want)
    kind, v = u.do(op, *args)
    if kind == "ok":
        fail("%s: %s %s: expected %s, got success (%s)" % (u.short, op, shown(args), "/".join(want), describe(v)))
    elif v not in want:
        fail("%s: %s %s: expected %s, got %s" % (u.short, op, shown(args), "/".join(want), v))
    return v


def reads(u, path, want):
    got = ok(u, "read", path)
    if got is not None:
        eq(got, want.decode("latin-1"), "%s: content of %s" % (u.short, shown([path])))


def M(rel, mnt=None):
    return os.path.join(mnt or S.mnt, rel)


def sh(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def ensure_users():
    try:
        grp.getgrnam(TEAM_GROUP)
    except KeyError:
        sh(["groupadd", TEAM_GROUP])
    S.created_groups.append(TEAM_GROUP)  # ours even if an earlier run left it behind
    for name, groups in ((ALICE, []), (BOB, [TEAM_GROUP]), (GUEST, [])):
        try:
            pwd.getpwnam(name)
            sh(["usermod", "-G", ",".join(groups), name])  # left over from an earlier run
        except KeyError:
            extra = ["-G", ",".join(groups)] if groups else []
            sh(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin"] + extra + [name])
        S.created_users.append(name)


def remove_users():
    for w in S.users.values():
        w.stop()
    S.users = {}
    for name in S.created_users:
        sh(["userdel", name], check=False)
    for g in S.created_groups:
        sh(["groupdel", g], check=False)


# ---------------------------------------------------------------------------------------------
# Policies, mounts and weightfs commands.

POLICY = """\
# The policy of the test: admins everything, the team writes /team, guests read /public.
""" + wfs.ADMIN_ALL + """\
  member:
    rules:
      - paths: ["/**"]
        allow: [list, read, history]
      - paths: ["/team/**"]
        allow: [create, update, delete, snapshot]
      - paths: ["/private/**"]
        deny: [all]
  guest:
    rules:
      - paths: ["/", "/public/**"]
        allow: [list, read]%(extra)s
bindings:
  - role: admin
    users: [%(alice)s, root]
  - role: member
    groups: [%(team)s]
default_role: guest
"""

GUEST_TEAM_RULE = """
      - paths: ["/team/**"]
        allow: [list, read]"""


def policy_text(guest_team=False):
    return POLICY % {"extra": GUEST_TEAM_RULE if guest_team else "", "alice": ALICE, "team": TEAM_GROUP}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wrun(*args, timeout=120):
    return wfs.run(*args, check=False, timeout=timeout)


def out(p):
    return (p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")).strip()


def set_policy(text, name):
    path = os.path.join(S.work, name)
    write(path, text)
    start = time.time()
    p = wrun("policy", "set", S.repo, path)
    if p.returncode != 0:
        raise AssertionError("policy set %s failed (%d): %s" % (name, p.returncode, out(p)))
    return start, time.time()


def show_policy():
    p = wrun("policy", "show", S.repo)
    return p.returncode, p.stdout.decode(errors="replace")


def policy_seqs():
    p = wrun("policy", "show", S.repo, "--history")
    return p.stdout.decode(errors="replace").strip().splitlines()


def mount(mnt, *extra):
    # The policy alone is under test here: the tree was imported by root (root-owned, 0755), so
    # mode bits would refuse the users' writes first (owners_test.py tests them together).
    m = wfs.Mount(S.repo, mnt, "--no-mode-check", *extra)
    m.__enter__()
    S.mounts.append(m)
    try:
        S.pids.append(m.daemon_pid())
    except OSError:
        pass
    return m


def mount_options(mnt):
    real = os.path.realpath(mnt)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == real:
                return fields[3].split(",")
    return None


def in_mountinfo(mnt):
    real = os.path.realpath(mnt)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def processes_naming(text):
    """Pids of processes whose command line mentions text (read-only scan of /proc)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_as(user, *args, timeout=60):
    """Runs the weightfs binary as an OS user (no passphrase in its environment)."""
    return subprocess.run([wfs.BINARY, *args], capture_output=True, text=True, env=user_env(), cwd="/",
                          preexec_fn=drop_to(user), timeout=timeout)


# ---------------------------------------------------------------------------------------------
# 1. Users.


def test_os_users():
    ensure_users()
    team_gid = grp.getgrnam(TEAM_GROUP).gr_gid
    for name in (ALICE, BOB, GUEST):
        S.users[name] = Worker(name)
    for name, w in S.users.items():
        uid, gid, groups = w.call([["id"]])[0]["ok"]
        pw = pwd.getpwnam(name)
        eq((uid, gid), (pw.pw_uid, pw.pw_gid), "%s: uid/gid of the worker" % name)
        eq(team_gid in groups, name == BOB, "%s: %s among the supplementary groups %r" % (name, TEAM_GROUP, groups))
        eq(team_gid == gid, False, "%s: %s is not the primary group (the daemon must read supplementary groups)"
           % (name, TEAM_GROUP))
    try:
        pwd.getpwuid(NUMERIC_UID)
        fail("uid %d has a passwd entry; the audit case needs an unnamed uid" % NUMERIC_UID)
    except KeyError:
        pass
    # Every user must reach the mountpoint's parent.
    for w in S.users.values():
        ok(w, "stat", S.work)


# ---------------------------------------------------------------------------------------------
# 2. Policy, content, the shared mount.


def test_policy_set_and_populate():
    S.policy_file = os.path.join(S.work, "policy.yaml")
    write(S.policy_file, policy_text())
    p = wrun("policy", "check", S.policy_file)
    eq(p.returncode, 0, "policy check of the test policy (%s)" % out(p))
    eq(show_policy()[0], 0, "policy show before any policy (the built-in one)")
    p = wrun("policy", "set", S.repo, S.policy_file)
    eq(p.returncode, 0, "policy set (%s)" % out(p))
    code, text = show_policy()
    true(code == 0 and policy_text() in text, "policy show prints the stored policy: %r" % text[:400])
    eq(len(policy_seqs()), 1, "policy show --history: one version")

    # What the policy decides for the users, as `policy explain` sees it.
    for who, op, path, want in [
        (ALICE, "read", "/private/s.bin", 0),
        (BOB, "read", "/private/s.bin", 1),
        (BOB, "list", "/private", 1),
        (BOB, "create", "/team/x.bin", 0),
        (BOB, "create", "/x.bin", 1),
        (BOB, "create", "/public/a", 1),
        (BOB, "history", "/team/t.bin", 0),
        (GUEST, "list", "/README", 1),
        (GUEST, "read", "/public/p.bin", 0),
        (GUEST, "update", "/public/p.bin", 1),
        (GUEST, "list", "/team", 1),
        (GUEST, "history", "/public/p.bin", 1),
    ]:
        p = wrun("policy", "explain", S.repo, "--user", who, "--op", op, path)
        eq(p.returncode, want, "policy explain --user %s --op %s %s (%s)" % (who, op, path, out(p)[:300]))
    p = wrun("policy", "explain", S.repo, "--user", GUEST, "--op", "read", "/public/p.bin", "--json")
    try:
        j = json.loads(p.stdout.decode())
        eq((j.get("decision"), j.get("roles")), ("allow", ["guest"]), "explain --json for guest: decision and roles")
    except ValueError:
        fail("policy explain --json does not print JSON: %r" % out(p))

    # The tree, imported (records a snapshot).
    src = os.path.join(S.work, "src")
    for rel, data in CONTENT.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), "wb") as f:
            f.write(data)
    p = wrun("import", S.repo, src, "-m", "policy test tree")
    if p.returncode != 0:
        raise AssertionError("import failed: %s" % out(p))

    # The key slots of the later cases.
    S.guest_key = os.path.join(S.work, "guest.key")
    S.member_key = os.path.join(S.work, "member.key")
    for slot, role, key in (("guestslot", "guest", S.guest_key), ("memberslot", "member", S.member_key)):
        p = wrun("key", "add", S.repo, "--name", slot, "--role", role, "--new-key-file", key, "--insecure-fast-kdf")
        if p.returncode != 0:
            raise AssertionError("key add %s failed: %s" % (slot, out(p)))

    S.audit_main = os.path.join(S.work, "audit-main.jsonl")
    S.main = mount(S.mnt, "--allow-other", "--audit-log", S.audit_main, "--versions-dir", "visible")
    true("(role admin)" in S.main.log(), "the mount log names the mount's role: %r" % S.main.log()[-300:])
    opts = mount_options(S.mnt) or []
    true("rw" in opts and "allow_other" in opts, "shared mount is rw with allow_other: %r" % opts)
    # Root is bound to admin: tag the imported tree.
    os.mkdir(M(".versions/tags/v1"))
    eq(sorted(os.listdir(M(".versions/tags/v1"))), ["README", "private", "public", "team"],
       "root (admin) lists the snapshot v1")


# ---------------------------------------------------------------------------------------------
# 3. One shared mount, three users.


def test_shared_mount_per_user():
    alice, bob, guest = S.users[ALICE], S.users[BOB], S.users[GUEST]

    # Listings of the root.
    eq(ok(alice, "listdir", S.mnt), [".versions", "README", "private", "public", "team"], "alice: ls /")
    eq(ok(bob, "listdir", S.mnt), [".versions", "README", "public", "team"], "bob: ls /")
    eq(ok(guest, "listdir", S.mnt), ["public"], "guest: ls /")
    ok(guest, "stat", S.mnt)

    # guest: /public only, read-only.
    reads(guest, M("public/p.bin"), CONTENT["public/p.bin"])
    eq(ok(guest, "listdir", M("public")), ["p.bin"], "guest: ls /public")
    for rel in ("README", "team", "team/t.bin", "private", "private/s.bin", ".versions", ".versions/tags/v1"):
        err(guest, "ENOENT", "stat", M(rel))
    err(guest, "ENOENT", "read", M("README"))
    err(guest, "ENOENT", "read", M("team/t.bin"))
    err(guest, "ENOENT", "listdir", M("team"))
    err(guest, "ENOENT", "listdir", M(".versions"))
    err(guest, "ENOENT", "create", M("team/g.bin"), "x")
    err(guest, "EACCES", "create", M("public/g.bin"), "x")
    err(guest, "EACCES", "create", M("g.bin"), "x")
    err(guest, "EACCES", "mkdir", M("public/gdir"))
    err(guest, "EACCES", "chmod", M("public/p.bin"), 0o600)
    err(guest, "EACCES", "truncate", M("public/p.bin"), 0)
    # access(2) answers as the policy decides (shells' test -r/-w, os.access).
    eq(ok(guest, "access", M("public/p.bin")), "rx", "guest: access(/public/p.bin)")
    eq(ok(guest, "access", M("public")), "rx", "guest: access(/public)")
    eq(ok(bob, "access", M("team/t.bin")), "rwx", "bob: access(/team/t.bin)")
    eq(ok(bob, "access", M("README")), "rx", "bob: access(/README)")
    eq(ok(alice, "access", M("private/s.bin")), "rwx", "alice: access(/private/s.bin)")
    eq(ok(guest, "access", M("private/s.bin")), "", "guest: access(/private/s.bin) grants nothing")
    err(guest, "EACCES", "open_w", M("public/p.bin"))
    err(guest, "EACCES", "utime", M("public/p.bin"))
    err(guest, "EACCES", "fchmod", M("public/p.bin"), 0o600)
    err(guest, "EACCES", "open_trunc", M("public/p.bin"))
    err(guest, "EACCES", "chmod", S.mnt, 0o777)
    err(guest, "EACCES", "utime", S.mnt)
    err(guest, "EACCES", "setxattr", S.mnt, "user.guest", "x")
    err(guest, "EACCES", "setxattr", M("public/p.bin"), "user.guest", "x")
    err(guest, "EACCES", "unlink", M("public/p.bin"))
    err(guest, "EACCES", "rename", M("public/p.bin"), M("public/q.bin"))
    err(guest, "ENOENT", "unlink", M("team/t.bin"))
    err(guest, "ENOENT", "unlink", M("README"))
    eq(os.stat(M("public/p.bin")).st_size, len(CONTENT["public/p.bin"]), "p.bin untouched after guest's attempts")

    # bob: everything but /private; writes only in /team.
    reads(bob, M("README"), CONTENT["README"])
    reads(bob, M("public/p.bin"), CONTENT["public/p.bin"])
    reads(bob, M("team/t.bin"), CONTENT["team/t.bin"])
    for rel in ("private", "private/s.bin"):
        err(bob, "ENOENT", "stat", M(rel))
    err(bob, "ENOENT", "read", M("private/s.bin"))
    err(bob, "ENOENT", "listdir", M("private"))
    err(bob, "ENOENT", "create", M("private/b.bin"), "x")
    ok(bob, "create", M("team/a"), "bob's file\n")
    eq(ok(bob, "read", M("team/a")), "bob's file\n", "bob: reads back /team/a")
    ok(bob, "append", M("team/a"), "more\n")
    ok(bob, "chmod", M("team/a"), 0o600)
    ok(bob, "setxattr", M("team/a"), "user.note", "bob")
    eq(ok(bob, "getxattr", M("team/a"), "user.note"), "bob", "bob: getxattr user.note")
    ok(bob, "mkdir", M("team/bdir"))
    ok(bob, "create", M("team/bdir/inner.bin"), "inner")
    err(bob, "EACCES", "create", M("b.bin"), "x")
    err(bob, "EACCES", "mkdir", M("bdir"))
    err(bob, "EACCES", "create", M("public/b.bin"), "x")
    err(bob, "EACCES", "open_w", M("README"))
    err(bob, "EACCES", "chmod", M("public/p.bin"), 0o600)
    err(bob, "EACCES", "truncate", M("public/p.bin"), 0)
    err(bob, "EACCES", "open_trunc", M("public/p.bin"))
    err(bob, "EACCES", "fchmod", M("README"), 0o600)
    err(bob, "EACCES", "unlink", M("public/p.bin"))
    err(bob, "EACCES", "unlink", M("README"))
    err(bob, "EACCES", "rmdir", M("public"))
    # Rename needs delete at the source and create at the destination.
    err(bob, "EACCES", "rename", M("team/a"), M("public/a"))
    err(bob, "EACCES", "rename", M("team/bdir"), M("public/bdir"))
    err(bob, "EACCES", "rename", M("team/a"), M("a"))
    err(bob, "EACCES", "rename", M("public/p.bin"), M("team/p.bin"))
    err(bob, "EACCES", "rename", M("team/a"), M("public/p.bin"))
    err(bob, "ENOENT", "rename", M("team/a"), M("private/a"))
    true(os.path.exists(M("team/a")) and not os.path.exists(M("public/a")), "refused renames left /team/a in place")
    eq(os.path.getsize(M("public/p.bin")), len(CONTENT["public/p.bin"]), "public/p.bin not replaced")
    ok(bob, "rename", M("team/a"), M("team/a2"))
    ok(bob, "rename", M("team/bdir"), M("team/bdir2"))
    ok(bob, "unlink", M("team/a2"))
    ok(bob, "unlink", M("team/bdir2/inner.bin"))
    ok(bob, "rmdir", M("team/bdir2"))
    eq(ok(bob, "listdir", M("team")), ["t.bin"], "bob: ls /team after his cleanup")

    # alice (admin): everything.
    reads(alice, M("private/s.bin"), CONTENT["private/s.bin"])
    eq(ok(alice, "listdir", M("private")), ["s.bin"], "alice: ls /private")
    ok(alice, "create", M("private/alice.bin"), "alice")
    ok(alice, "unlink", M("private/alice.bin"))

    # A symlink in /public pointing into /private does not open /private.
    ok(alice, "symlink", "../private/s.bin", M("public/leak"))
    eq(ok(guest, "readlink", M("public/leak")), "../private/s.bin", "guest: readlink /public/leak")
    err(guest, "ENOENT", "read", M("public/leak"))
    err(bob, "ENOENT", "read", M("public/leak"))
    reads(alice, M("public/leak"), CONTENT["private/s.bin"])
    ok(alice, "unlink", M("public/leak"))

    # History: guest none; bob the snapshot without /private; alice all of it.
    v1 = M(".versions/tags/v1")
    eq(ok(bob, "listdir", M(".versions/tags")), ["v1"], "bob: ls .versions/tags")
    eq(ok(bob, "listdir", v1), ["README", "public", "team"], "bob: ls .versions/tags/v1")
    reads(bob, os.path.join(v1, "team/t.bin"), CONTENT["team/t.bin"])
    err(bob, "ENOENT", "stat", os.path.join(v1, "private"))
    err(bob, "ENOENT", "read", os.path.join(v1, "private/s.bin"))
    err(bob, "ENOENT", "listdir", os.path.join(v1, "private"))
    eq(ok(alice, "listdir", v1), ["README", "private", "public", "team"], "alice: ls .versions/tags/v1")
    reads(alice, os.path.join(v1, "private/s.bin"), CONTENT["private/s.bin"])
    ids = ok(alice, "listdir", M(".versions/ids")) or []
    for i in ids:
        err(bob, "ENOENT", "read", M(".versions/ids/%s/private/s.bin" % i))
        reads(alice, M(".versions/ids/%s/private/s.bin" % i), CONTENT["private/s.bin"])
    err(guest, "ENOENT", "stat", os.path.join(v1, "public/p.bin"))
    err(guest, "ENOENT", "read", M(".versions/latest/public/p.bin"))

    # Snapshots: mkdir in tags/ needs snapshot on /; `weightfs snapshot DIR` on that DIR.
    err(bob, "EACCES", "mkdir", M(".versions/tags/bobtag"))
    err(guest, "ENOENT", "mkdir", M(".versions/tags/guesttag"))
    n_ids = len(os.listdir(M(".versions/ids")))
    p = run_as(BOB, "snapshot", M("team"), "-m", "bob's snapshot")
    eq(p.returncode, 0, "bob: weightfs snapshot MNT/team (%s)" % (p.stdout + p.stderr).strip())
    p = run_as(BOB, "snapshot", S.mnt, "-m", "bob on the root")
    true(p.returncode != 0, "bob: weightfs snapshot MNT (the root) must fail: %r" % (p.stdout + p.stderr).strip())
    p = run_as(GUEST, "snapshot", M("public"), "-m", "guest")
    true(p.returncode != 0, "guest: weightfs snapshot MNT/public must fail: %r" % (p.stdout + p.stderr).strip())
    ok(alice, "mkdir", M(".versions/tags/alicetag"))
    n, _ = poll(lambda: len(os.listdir(M(".versions/ids"))) >= n_ids + 2, 5)
    eq(len(os.listdir(M(".versions/ids"))), n_ids + 2, "snapshots in ids/ after bob's and alice's (and no others)")
    eq(sorted(ok(bob, "listdir", M(".versions/tags")) or []), ["alicetag", "v1"], "bob: ls .versions/tags")


# ---------------------------------------------------------------------------------------------
# 4. The kernel's caches are shared by all callers: they must not leak one user's lookups.


def test_cache_does_not_leak():
    alice, bob, guest = S.users[ALICE], S.users[BOB], S.users[GUEST]
    s_bin, priv = M("private/s.bin"), M("private")
    for round_ in range(5):
        r = alice.call([["stat", s_bin], ["read", s_bin], ["listdir", priv], ["stat", priv]])
        true(all("ok" in x for x in r), "round %d: alice stat/read/ls /private: %r" % (round_, r))
        # Immediately (well within any cache timeout) the others.
        for u in (guest, bob):
            r = u.call([["stat", s_bin], ["read", s_bin], ["stat", priv], ["listdir", priv],
                        ["lstat", s_bin], ["getxattr", s_bin, "user.x"]])
            eq([x.get("err") for x in r], ["ENOENT"] * 6,
               "round %d: %s right after alice: stat/read/stat dir/ls/lstat/getxattr of /private" % (round_, u.short))
        eq("private" in (ok(guest, "listdir", S.mnt) or []), False, "round %d: guest ls / after alice" % round_)
        eq("private" in (ok(bob, "listdir", S.mnt) or []), False, "round %d: bob ls / after alice" % round_)

    # While alice holds the file open and sits in /private.
    ok(alice, "hold", s_bin)
    ok(alice, "chdir", priv)
    try:
        for u in (guest, bob):
            err(u, "ENOENT", "stat", s_bin)
            err(u, "ENOENT", "read", s_bin)
            err(u, "ENOENT", "listdir", priv)
    finally:
        ok(alice, "release", s_bin)
        ok(alice, "chdir", "/")

    # Root (admin) looked at everything through readdirplus: still nothing for guest.
    for dirpath, dirs, files in os.walk(S.mnt):
        pass
    err(guest, "ENOENT", "stat", s_bin)
    err(guest, "ENOENT", "stat", M("README"))

    # bob's new file in /team is no more visible to guest than /team itself.
    new = M("team/new.bin")
    ok(bob, "create", new, "fresh team weights")
    ok(bob, "stat", new)
    for _ in range(3):
        err(guest, "ENOENT", "stat", new)
        err(guest, "ENOENT", "read", new)
        err(guest, "ENOENT", "listdir", M("team"))
    reads(alice, new, b"fresh team weights")
    eq("new.bin" in (ok(bob, "listdir", M("team")) or []), True, "bob: ls /team shows new.bin")


def test_uniform_paths_cached():
    """Paths that every caller sees alike (/public here) are cached by the kernel like on a private
    mount; paths whose visibility differs (/team, /private, /README) still reach the daemon for
    every caller, so each user keeps its own view right after another one looked."""
    alice, bob, guest = S.users[ALICE], S.users[BOB], S.users[GUEST]
    cm = os.path.join(S.work, "mnt-cache")
    audit = os.path.join(S.work, "audit-cache.jsonl")
    m = mount(cm, "--read-only", "--allow-other", "--audit-log", audit, "--audit-all")
    try:
        def asked(user, rel, since):
            """How many decisions the daemon made for user on /rel after audit line number since."""
            uid = pwd.getpwnam(user.user).pw_uid
            return sum(1 for j in audit_lines(audit)[since:] if j["uid"] == uid and j["path"] == "/" + rel)

        # A differing subtree: each user its own view, right after another user looked.
        for round_ in range(3):
            ok(alice, "stat", M("private/s.bin", cm))
            err(guest, "ENOENT", "stat", M("private/s.bin", cm))
            err(bob, "ENOENT", "stat", M("private/s.bin", cm))
            err(bob, "ENOENT", "listdir", M("private", cm))
            ok(alice, "stat", M("private/s.bin", cm))
            ok(bob, "stat", M("team/t.bin", cm))
            err(guest, "ENOENT", "stat", M("team/t.bin", cm))
            err(guest, "ENOENT", "stat", M("README", cm))
            ok(bob, "stat", M("team/t.bin", cm))
            eq(sorted(ok(guest, "listdir", cm) or []), ["public"], "round %d: guest ls / after the others" % round_)
            # A path that differs reaches the daemon for every caller, every time.
            n = len(audit_lines(audit))
            ok(bob, "stat", M("team/t.bin", cm))
            true(asked(bob, "team/t.bin", n) > 0, "round %d: bob's stat of /team/t.bin right after his last one "
                 "was decided by the daemon (not served from a cache entry)" % round_)

        # A uniform subtree: guest's lookup answers bob's stat from the kernel's cache (retried a few
        # times: the entry lives 1 s, and this machine may be slow).
        cached = False
        for _ in range(10):
            ok(guest, "stat", M("public/p.bin", cm))
            n = len(audit_lines(audit))
            ok(bob, "stat", M("public/p.bin", cm))
            if asked(bob, "public/p.bin", n) == 0 and asked(bob, "public", n) == 0:
                cached = True
                break
        true(cached, "bob's stat of /public/p.bin right after guest's was served from the kernel's cache")
        reads(guest, M("public/p.bin", cm), CONTENT["public/p.bin"])
    finally:
        m.unmount()


# ---------------------------------------------------------------------------------------------
# 5. A mount with the guest slot: read-only, beside the writer, and a ceiling for every caller.


def test_guest_slot_mount():
    alice, bob, guest = S.users[ALICE], S.users[BOB], S.users[GUEST]
    gm = os.path.join(S.work, "mnt-guest")
    m = mount(gm, "--key-file", S.guest_key, "--slot", "guestslot", "--allow-other", "--versions-dir", "visible")
    opts = mount_options(gm) or []
    true("ro" in opts, "/proc/mounts shows the guest-slot mount 'ro': %r" % opts)
    true("read-only" in m.log(), "the daemon log says it mounted read-only: %r" % m.log()[-400:])
    with open(os.path.join(gm, "public/p.bin"), "rb") as f:
        eq(f.read(), CONTENT["public/p.bin"], "root reads /public/p.bin on the guest-slot mount")
    for path, fn in ((os.path.join(gm, "x.bin"), lambda p: open(p, "wb").close()),
                     (os.path.join(gm, "public/x.bin"), lambda p: open(p, "wb").close()),
                     (os.path.join(gm, "public/dir"), os.mkdir),
                     (os.path.join(gm, "public/p.bin"), lambda p: open(p, "ab").close())):
        try:
            fn(path)
            fail("root: writing %s on the guest-slot mount succeeded" % path)
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "EROFS", "root: writing %s on the guest-slot mount" % shown([path]))
    # Root is bound to admin, but this mount's role (guest) caps it.
    for rel in ("private", "private/s.bin", "team", "README", ".versions"):
        try:
            os.stat(os.path.join(gm, rel))
            fail("root: stat %s on the guest-slot mount succeeded (must be ENOENT)" % rel)
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "ENOENT", "root: stat %s on the guest-slot mount" % rel)
    eq(sorted(os.listdir(gm)), ["public"], "root: ls / of the guest-slot mount")
    # And so are the users (alice is admin by her binding).
    for u in (alice, bob, guest):
        eq(ok(u, "listdir", gm), ["public"], "%s: ls / of the guest-slot mount" % u.short)
        reads(u, os.path.join(gm, "public/p.bin"), CONTENT["public/p.bin"])
        err(u, "ENOENT", "stat", os.path.join(gm, "private/s.bin"))
        err(u, "ENOENT", "read", os.path.join(gm, "team/t.bin"))
        err(u, "EROFS", "create", os.path.join(gm, "public/u.bin"), "x")
    # The shared writer mount still works beside it.
    ok(bob, "create", M("team/after-guest-mount.bin"), "x")
    ok(bob, "unlink", M("team/after-guest-mount.bin"))


# ---------------------------------------------------------------------------------------------
# 6. `policy set` while mounted.


def test_live_policy_change():
    guest = S.users[GUEST]
    gm = os.path.join(S.work, "mnt-guest")
    t_main = M("team/t.bin")
    t_guest_mount = os.path.join(gm, "team/t.bin")
    have_gm = wfs.is_mounted(gm)
    err(guest, "ENOENT", "read", t_main)
    seqs = len(policy_seqs())

    def guest_reads():
        return guest.do("read", t_main) == ("ok", CONTENT["team/t.bin"].decode("latin-1"))

    def guest_mount_reads():
        try:
            with open(t_guest_mount, "rb") as f:
                return f.read() == CONTENT["team/t.bin"]
        except OSError:
            return False

    # Grant guest list+read on /team/**.
    t0, t1 = set_policy(policy_text(guest_team=True), "policy-grant.yaml")
    got, secs = poll(guest_reads, 5)
    print("  grant: guest reads /team/t.bin %.2fs after `policy set` returned (%.2fs after it started)"
          % (time.time() - t1 if got else float("nan"), time.time() - t0), flush=True)
    true(got, "guest reads /team/t.bin after the grant (waited %.1fs)" % secs)
    true(got and secs <= 2.0, "grant took effect on the shared mount within 2 s (took %.2fs)" % secs)
    eq(ok(guest, "listdir", S.mnt), ["public", "team"], "guest: ls / with the grant")
    err(guest, "ENOENT", "stat", M("README"))
    err(guest, "EACCES", "open_w", t_main)
    if have_gm:
        got, secs2 = poll(guest_mount_reads, 5)
        print("  grant: the guest-slot mount reads /team/t.bin after %.2fs" % (time.time() - t1), flush=True)
        true(got and time.time() - t1 <= 2.2, "grant took effect on the guest-slot mount within 2 s (%.2fs)"
             % (time.time() - t1))
    eq(len(policy_seqs()), seqs + 1, "policy show --history has one more version")

    # Revoke.
    t0, t1 = set_policy(policy_text(), "policy-revoke.yaml")

    def guest_lost():
        return guest.do("stat", t_main) == ("err", "ENOENT")
    got, secs = poll(guest_lost, 5)
    print("  revoke: guest gets ENOENT for /team/t.bin %.2fs after `policy set` returned" % secs, flush=True)
    true(got and secs <= 2.0, "revocation took effect on the shared mount within 2 s (took %.2fs)" % secs)
    err(guest, "ENOENT", "read", t_main)
    err(guest, "ENOENT", "listdir", M("team"))
    eq(ok(guest, "listdir", S.mnt), ["public"], "guest: ls / after the revocation")
    if have_gm:
        got, _ = poll(lambda: not guest_mount_reads() and not os.path.exists(os.path.join(gm, "team")), 5)
        true(got and time.time() - t1 <= 2.2, "revocation took effect on the guest-slot mount within 2 s (%.2fs)"
             % (time.time() - t1))
    eq(len(policy_seqs()), seqs + 2, "policy show --history has two more versions")


# ---------------------------------------------------------------------------------------------
# 6a. A policy without the guest role (guest bound by numeric uid instead) while mounted, and one
# that would lock every admin out.

NO_GUEST_POLICY = """\
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  member:
    rules:
      - paths: ["/**"]
        allow: [list, read, history]
      - paths: ["/team/**"]
        allow: [create, update, delete, snapshot]
      - paths: ["/private/**"]
        deny: [all]
bindings:
  - role: admin
    users: [%(alice)s, root]
  - role: member
    groups: [%(team)s]
    users: ["%(guest_uid)d"]
"""

NO_ADMIN_POLICY = """\
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [list, read, create, update, delete, history, snapshot]
default_role: admin
"""


def test_policy_without_the_mounts_role():
    guest = S.users[GUEST]
    gm = os.path.join(S.work, "mnt-guest")
    have_gm = wfs.is_mounted(gm)
    n = len(policy_seqs())
    # No role left with `admin`: refused unless --force.
    path = os.path.join(S.work, "policy-no-admin.yaml")
    write(path, NO_ADMIN_POLICY)
    p = wrun("policy", "set", S.repo, path)
    true(p.returncode != 0, "policy set of a policy no slot could ever change again must fail without --force")
    true("--force" in out(p), "... and mention --force: %r" % out(p))
    eq(len(policy_seqs()), n, "... and store nothing")

    text = NO_GUEST_POLICY % {"alice": ALICE, "team": TEAM_GROUP, "guest_uid": pwd.getpwnam(GUEST).pw_uid}
    path = os.path.join(S.work, "policy-no-guest.yaml")
    write(path, text)
    p = wrun("policy", "set", S.repo, path)
    eq(p.returncode, 0, "policy set without the guest role (%s)" % out(p))
    true("guestslot" in out(p), "policy set warns that slot guestslot's role is not defined: %r" % out(p))
    t1 = time.time()
    try:
        # guest is now a member through the numeric uid binding.
        team_t = ("ok", CONTENT["team/t.bin"].decode("latin-1"))
        got, secs = poll(lambda: guest.do("read", M("team/t.bin")) == team_t, 4)
        true(got and secs <= 2.0, "guest (bound by uid to member) reads /team/t.bin within 2 s (%.2fs)" % secs)
        eq(ok(guest, "listdir", S.mnt), [".versions", "README", "public", "team"], "guest as member: ls /")
        err(guest, "ENOENT", "stat", M("private/s.bin"))
        ok(guest, "create", M("team/by-guest.bin"), "x")
        ok(guest, "unlink", M("team/by-guest.bin"))
        if have_gm:
            # The guest-slot mount's role is gone: it may do nothing.
            got, _ = poll(lambda: errno_of(os.stat, os.path.join(gm, "public")) == "ENOENT", 4)
            secs = time.time() - t1
            true(got and secs <= 2.2, "guest-slot mount: /public is ENOENT within 2 s once its role is gone (%.2fs)"
                 % secs)
            eq(errno_of(lambda p: open(p, "rb").close(), os.path.join(gm, "public/p.bin")), "ENOENT",
               "guest-slot mount: open /public/p.bin without a role")
            eq(sorted(os.listdir(gm)), [], "guest-slot mount: ls / without a role")
            true("does not define this mount's role" in [m for m in S.mounts if m.mountpoint == gm][0].log(),
                 "guest-slot mount: the log says the policy does not define its role")
    finally:
        set_policy(policy_text(), "policy-restore.yaml")
    t1 = time.time()
    got, secs = poll(lambda: guest.do("stat", M("team")) == ("err", "ENOENT"), 4)
    true(got and secs <= 2.0, "guest is back to the default role guest within 2 s (%.2fs)" % secs)
    eq(ok(guest, "listdir", S.mnt), ["public"], "guest: ls / after restoring")
    if have_gm:
        got, _ = poll(lambda: os.path.exists(os.path.join(gm, "public/p.bin")), 4)
        true(got, "guest-slot mount: /public is back after restoring the policy")


# ---------------------------------------------------------------------------------------------
# 6b. A revocation must also reach what the kernel cached. On a single-role mount entries and
# attributes may be cached (below .versions for long), also while a program holds a file open or
# sits in a directory there.


REVOKE_MEMBER = ("""      - paths: ["/private/**"]
        deny: [all]
""", """      - paths: ["/private/**"]
        deny: [all]
      - paths: ["/team/**"]
        deny: [history]
      - paths: ["/public/**"]
        deny: [list, read]
""")


def test_revocation_reaches_kernel_cache():
    bob = S.users[BOB]
    mm = os.path.join(S.work, "mnt-member")
    m = mount(mm, "--read-only", "--key-file", S.member_key, "--slot", "memberslot", "--versions-dir", "visible")
    v1 = os.path.join(mm, ".versions/tags/v1")
    old_t = os.path.join(v1, "team/t.bin")        # held open across the revocation
    old_pub = os.path.join(v1, "public")          # a program's working directory across it
    old_p = os.path.join(v1, "public/p.bin")      # only looked at before it
    live_p = os.path.join(mm, "public/p.bin")     # held open across it
    # A mount without --allow-other is the mounting user's alone (the kernel refuses others).
    err(bob, "EACCES", "stat", mm)
    # Root uses it with the slot's role (member): warm every cache.
    for path, data in ((old_t, CONTENT["team/t.bin"]), (old_p, CONTENT["public/p.bin"]),
                       (live_p, CONTENT["public/p.bin"])):
        with open(path, "rb") as f:
            eq(f.read(), data, "member mount: read %s" % shown([path]))
        os.stat(path)
    eq(sorted(os.listdir(v1)), ["README", "public", "team"], "member mount: ls .versions/tags/v1")
    eq(errno_of(os.stat, os.path.join(mm, "private")), "ENOENT", "member mount: stat /private")
    fds = [os.open(old_t, os.O_RDONLY), os.open(live_p, os.O_RDONLY)]
    sitter = subprocess.Popen(["sleep", "60"], cwd=old_pub)
    # bob holds the same old file open on the shared mount.
    ok(bob, "hold", M(".versions/tags/v1/team/t.bin"))

    revoke = policy_text().replace(*REVOKE_MEMBER)
    true(revoke != policy_text(), "test bug: the revoking policy is the old one")
    set_policy(revoke, "policy-revoke-member.yaml")
    t1 = time.time()
    try:
        probes = [
            ("stat live /public/p.bin (held open)", os.stat, live_p),
            ("stat .versions/tags/v1/public/p.bin", os.stat, old_p),
            ("stat .versions/tags/v1/team/t.bin (held open)", os.stat, old_t),
            ("stat .versions/tags/v1/public (a cwd)", os.stat, old_pub),
            ("open .versions/tags/v1/team/t.bin", lambda p: open(p, "rb").close(), old_t),
            ("ls .versions/tags/v1/public", os.listdir, old_pub),
        ]
        results = {}
        while time.time() - t1 < 4 and len(results) < len(probes):
            for what, fn, path in probes:
                if what not in results and errno_of(fn, path) == "ENOENT":
                    results[what] = time.time() - t1
            time.sleep(0.1)
        for what, fn, path in probes:
            if what in results:
                print("  member mount: %s -> ENOENT %.2fs after `policy set`" % (what, results[what]), flush=True)
                true(results[what] <= 2.0, "member mount: %s: ENOENT only after %.2fs (> 2 s)" % (what, results[what]))
            else:
                fail("member mount: %s still gives %s %.1fs after `policy set` revoked it"
                     % (what, errno_of(fn, path), time.time() - t1))
        eq(sorted(os.listdir(v1)), ["README"], "member mount: ls .versions/tags/v1 after the revocation")
        with open(os.path.join(mm, "team/t.bin"), "rb") as f:
            eq(f.read(), CONTENT["team/t.bin"], "member mount: live /team/t.bin still readable")
        # The shared mount (no kernel caching) applies the same to bob, also for his open file.
        got, _ = poll(lambda: bob.do("stat", M(".versions/tags/v1/team/t.bin")) == ("err", "ENOENT"), 3)
        true(got, "shared mount: bob loses .versions/tags/v1/team/t.bin (held open)")
        err(bob, "ENOENT", "read", M("public/p.bin"))
        err(bob, "ENOENT", "stat", M(".versions/tags/v1/public"))
        reads(bob, M("team/t.bin"), CONTENT["team/t.bin"])
    finally:
        for fd in fds:
            os.close(fd)
        sitter.kill()
        sitter.wait()
        bob.do("release", M(".versions/tags/v1/team/t.bin"))
        set_policy(policy_text(), "policy-restore.yaml")
    got, _ = poll(lambda: os.path.exists(live_p) and os.path.exists(old_t), 4)
    true(got, "member mount: access comes back after restoring the policy")
    m.unmount()


# ---------------------------------------------------------------------------------------------
# 7. A local policy override, reloaded by SIGHUP.


def test_sighup_local_policy():
    guest, bob = S.users[GUEST], S.users[BOB]
    lm = os.path.join(S.work, "mnt-local")
    local = os.path.join(S.work, "local.yaml")
    write(local, policy_text())
    # --policy needs an admin slot.
    os.makedirs(lm + "-x", exist_ok=True)
    p = wrun("mount", S.repo, lm + "-x", "--key-file", S.guest_key, "--policy", local, "--read-only",
             "--log-file", lm + "-x.log")
    true(p.returncode != 0, "mount --policy with the guest slot must fail")
    true("admin" in out(p), "... saying it needs an admin slot: %r" % out(p))
    true(not in_mountinfo(lm + "-x"), "... and mounts nothing")

    S.audit_local = os.path.join(S.work, "audit-local.jsonl")
    m = mount(lm, "--read-only", "--allow-other", "--policy", local, "--audit-log", S.audit_local, "--audit-all")
    pid = m.daemon_pid()
    t_bin = os.path.join(lm, "team/t.bin")
    err(guest, "ENOENT", "read", t_bin)
    reads(bob, t_bin, CONTENT["team/t.bin"])

    # Grant guest /team in the local file: nothing happens until SIGHUP.
    write(local, policy_text(guest_team=True))
    time.sleep(1.0)
    err(guest, "ENOENT", "stat", t_bin)
    os.kill(pid, signal.SIGHUP)
    got, secs = poll(lambda: guest.do("read", t_bin) == ("ok", CONTENT["team/t.bin"].decode("latin-1")), 5)
    print("  SIGHUP: the local grant took effect after %.2fs" % secs, flush=True)
    true(got and secs <= 2.0, "SIGHUP applied the edited local policy within 2 s (took %.2fs)" % secs)
    # The repository's policy (and the shared mount) are not affected.
    err(guest, "ENOENT", "stat", M("team/t.bin"))
    eq(ok(guest, "listdir", lm), ["public", "team"], "guest: ls / of the local-policy mount")

    # A malformed edit: the old policy stays, the daemon keeps serving.
    bad = policy_text(guest_team=True).replace("allow: [list, read]\nbindings", "allow: [list, wirte]\nbindings")
    true(bad != policy_text(guest_team=True), "test bug: the malformed edit changed nothing")
    write(local, bad)
    os.kill(pid, signal.SIGHUP)
    kept, _ = poll(lambda: "keeping the current policy" in m.log(), 3)
    true(kept, "daemon log says it keeps the current policy after a malformed edit: %r" % m.log()[-500:])
    time.sleep(0.5)
    true(alive(pid), "the daemon survived SIGHUP with a malformed policy")
    true(wfs.is_mounted(lm), "still mounted after the malformed reload")
    reads(guest, t_bin, CONTENT["team/t.bin"])
    reads(guest, os.path.join(lm, "public/p.bin"), CONTENT["public/p.bin"])
    err(guest, "ENOENT", "stat", os.path.join(lm, "private/s.bin"))

    # A valid edit after the bad one is applied again (revoke).
    write(local, policy_text())
    os.kill(pid, signal.SIGHUP)
    got, secs = poll(lambda: guest.do("stat", t_bin) == ("err", "ENOENT"), 5)
    true(got and secs <= 2.0, "SIGHUP after a bad reload still applies a valid edit within 2 s (took %.2fs)" % secs)

    # SIGHUP to a mount without --policy changes nothing and does not stop it.
    main_pid = S.main.daemon_pid()
    os.kill(main_pid, signal.SIGHUP)
    time.sleep(1.0)
    true(alive(main_pid) and wfs.is_mounted(S.mnt), "the shared mount survives SIGHUP")
    reads(bob, M("team/t.bin"), CONTENT["team/t.bin"])
    err(guest, "ENOENT", "stat", M("team/t.bin"))


# ---------------------------------------------------------------------------------------------
# 8. The audit logs.

AUDIT_KEYS = ["time", "uid", "user", "role", "op", "capability", "path", "decision", "rule"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def audit_lines(path):
    with open(path) as f:
        raw = f.read()
    lines = []
    for i, line in enumerate(raw.splitlines()):
        try:
            j = json.loads(line)
        except ValueError:
            fail("%s line %d is not JSON: %r" % (os.path.basename(path), i + 1, line[:200]))
            continue
        if not isinstance(j, dict) or sorted(j) != sorted(AUDIT_KEYS):
            fail("%s line %d keys: %r" % (os.path.basename(path), i + 1, sorted(j) if isinstance(j, dict) else j))
            continue
        if not TIME_RE.match(str(j["time"])) or j["decision"] not in ("allow", "deny") or not j["rule"]:
            fail("%s line %d: bad time/decision/rule: %r" % (os.path.basename(path), i + 1, j))
        lines.append(j)
    true(raw == "" or raw.endswith("\n"), "%s ends with a newline" % os.path.basename(path))
    return lines


def test_audit_log():
    guest, bob = S.users[GUEST], S.users[BOB]
    guest_uid = pwd.getpwnam(GUEST).pw_uid
    err(guest, "ENOENT", "stat", M("private"))
    err(bob, "EACCES", "create", M("public/audit.bin"), "x")
    # Names that could break a line-per-record log: a newline with fake JSON, bytes that are not UTF-8.
    err(bob, "EACCES", "create", M('public/evil\n{"decision": "allow"}'), "x")
    err(bob, "EACCES", "create_hex", (M("public/") + "\udcff").encode("utf-8", "surrogateescape").hex())
    time.sleep(0.2)
    lines = audit_lines(S.audit_main)
    print("  %s: %d lines" % (os.path.basename(S.audit_main), len(lines)), flush=True)
    hit = [j for j in lines if j["user"] == GUEST and j["path"] == "/private" and j["decision"] == "deny"]
    if true(hit, "audit: a deny line for guest's stat of /private; lines for guest: %r"
            % [j for j in lines if j["user"] == GUEST][:5]):
        j = hit[-1]
        eq((j["uid"], j["role"], j["capability"]), (guest_uid, "guest", "list"),
           "audit: uid, role, capability of guest's denied /private")
        true(isinstance(j["rule"], str) and j["rule"], "audit: the rule is named: %r" % j["rule"])
    hit = [j for j in lines if j["user"] == BOB and j["path"] == "/public/audit.bin" and j["decision"] == "deny"]
    if true(hit, "audit: a deny line for bob's create of /public/audit.bin"):
        eq((hit[-1]["role"], hit[-1]["capability"]), ("member", "create"), "audit: bob's denied create")
    eq([j for j in lines if j["decision"] == "allow"][:3], [], "no allow lines without --audit-all")
    true(any(j["path"] == '/public/evil\n{"decision": "allow"}' for j in lines),
         "audit: the name with a newline is one escaped line")
    true(any(j["user"] == BOB and j["path"].startswith("/public/") and j["path"][8:] not in ("audit.bin", "")
             and "evil" not in j["path"] for j in lines), "audit: the non-UTF-8 name is logged (replaced)")
    # A caller with no passwd entry gets the default role; the log says user null.
    nobody = Worker(NUMERIC_UID)
    try:
        eq(ok(nobody, "listdir", S.mnt), ["public"], "uid %d (no passwd entry): ls /" % NUMERIC_UID)
        reads(nobody, M("public/p.bin"), CONTENT["public/p.bin"])
        err(nobody, "ENOENT", "stat", M("private"))
    finally:
        nobody.stop()
    time.sleep(0.2)
    lines = audit_lines(S.audit_main)
    hit = [j for j in lines if j["uid"] == NUMERIC_UID and j["path"] == "/private"]
    if true(hit, "audit: a deny line for uid %d's stat of /private" % NUMERIC_UID):
        eq((hit[-1]["user"], hit[-1]["role"], hit[-1]["decision"]), (None, "guest", "deny"),
           "audit: user, role and decision for a uid without a name")
    # The log names paths guest may not see: it is not for other users to read.
    eq(os.stat(S.audit_main).st_mode & 0o077, 0, "the audit log is not readable by group or others (mode %o)"
       % os.stat(S.audit_main).st_mode)
    err(guest, "EACCES", "read", S.audit_main)
    # Denials of the earlier cases are there too.
    true(any(j["user"] == BOB and j["path"].startswith("/private") for j in lines), "audit: bob's /private denials")

    if S.audit_local is None or not os.path.exists(S.audit_local):
        fail("no --audit-all log (the SIGHUP case did not mount)")
        return
    lm = os.path.join(S.work, "mnt-local")
    if wfs.is_mounted(lm):
        reads(guest, os.path.join(lm, "public/p.bin"), CONTENT["public/p.bin"])
        err(guest, "ENOENT", "stat", os.path.join(lm, "private"))
        time.sleep(0.2)
    local = audit_lines(S.audit_local)
    print("  %s: %d lines" % (os.path.basename(S.audit_local), len(local)), flush=True)
    allows = [j for j in local if j["decision"] == "allow"]
    true(allows, "--audit-all: allow lines are written")
    true(any(j["user"] == GUEST and j["path"] == "/public/p.bin" and j["capability"] == "read" for j in allows),
         "--audit-all: guest's read of /public/p.bin is an allow line: %r"
         % [j for j in allows if j["user"] == GUEST][:4])
    true(any(j["user"] == GUEST and j["path"] == "/private" and j["decision"] == "deny" for j in local),
         "--audit-all: denials are still written")


# ---------------------------------------------------------------------------------------------
# 9. Malformed policies.

BAD_POLICIES = [
    # name, text, line, columns (None: any), what
    ("bad-yaml.yaml",
     'version: 1\nroles:\n  guest:\n    rules:\n      - paths: ["/", "/public/**"\n'
     '        allow: [list, read]\ndefault_role: guest\n',
     (5, 6), None, "unclosed bracket"),
    ("bad-cap.yaml",
     'version: 1\nroles:\n  guest:\n    rules:\n      - paths: ["/public/**"]\n'
     '        allow: [list, wirte]\ndefault_role: guest\n',
     (6,), (23,), "unknown capability wirte"),
    ("bad-dotdot.yaml",
     'version: 1\nroles:\n  admin:\n    rules:\n      - paths: ["/**"]\n        allow: [all]\n'
     '  guest:\n    rules:\n      - paths: ["/public/**", "/public/../private/**"]\n'
     '        allow: [list, read]\ndefault_role: guest\n',
     (9,), (31, 32), "pattern with .."),
]


def test_malformed_policies():
    before = show_policy()
    n_before = len(policy_seqs())
    for name, text, lines, cols, what in BAD_POLICIES:
        path = os.path.join(S.work, name)
        write(path, text)
        p = wrun("policy", "check", path)
        msg = p.stderr.decode(errors="replace")
        eq(p.returncode, 2, "policy check %s (%s): exit code (%s)" % (name, what, msg.strip()))
        mt = re.search(re.escape(path) + r":(\d+):(\d+): ", msg)
        if true(mt, "policy check %s: FILE:LINE:COLUMN: in %r" % (name, msg)):
            line, col = int(mt.group(1)), int(mt.group(2))
            true(line in lines, "policy check %s (%s): line %d, expected %s" % (name, what, line, lines))
            true(cols is None or col in cols, "policy check %s (%s): column %d, expected %s" % (name, what, col, cols))
        print("  %s: %s" % (name, msg.strip()), flush=True)

        p = wrun("policy", "set", S.repo, path)
        true(p.returncode != 0, "policy set %s must fail" % name)
        true(path + ":" in out(p), "policy set %s names the file and line: %r" % (name, out(p)))

        bad_mnt = os.path.join(S.work, "mnt-bad")
        os.makedirs(bad_mnt, exist_ok=True)
        p = wrun("mount", S.repo, bad_mnt, "--read-only", "--policy", path, "--log-file", bad_mnt + ".log")
        true(p.returncode != 0, "mount --policy %s must fail" % name)
        true(re.search(re.escape(path) + r":\d+:\d+: ", out(p)), "mount --policy %s prints FILE:LINE:COLUMN: %r"
             % (name, out(p)))
        true(not in_mountinfo(bad_mnt), "mount --policy %s: nothing mounted at the mountpoint" % name)
        time.sleep(0.2)
        eq(processes_naming(bad_mnt), [], "mount --policy %s: no daemon left" % name)
        if in_mountinfo(bad_mnt):
            subprocess.run(["fusermount3", "-u", "-z", bad_mnt])
    eq(show_policy(), before, "policy show unchanged after the refused sets")
    eq(len(policy_seqs()), n_before, "no policy version added by the refused sets")

    # A local policy others may edit would let them pick their own role: refused.
    loose = os.path.join(S.work, "loose.yaml")
    write(loose, policy_text())
    os.chmod(loose, 0o666)
    loose_mnt = os.path.join(S.work, "mnt-loose")
    os.makedirs(loose_mnt, exist_ok=True)
    p = wrun("mount", S.repo, loose_mnt, "--read-only", "--policy", loose, "--log-file", loose_mnt + ".log")
    true(p.returncode != 0, "mount --policy with a world-writable file must fail")
    true("writable by group or others" in out(p), "... and say why: %r" % out(p))
    true(not in_mountinfo(loose_mnt), "... and mount nothing")

    # --allow-other needs bindings or a default_role; the built-in policy has neither.
    with wfs.temp_repo(prefix="wfs-pol-builtin-") as (work2, repo2):
        m2 = os.path.join(work2, "mnt")
        os.makedirs(m2)
        p = wrun("mount", repo2, m2, "--allow-other", "--log-file", m2 + ".log")
        true(p.returncode != 0, "mount --allow-other with the built-in policy must fail")
        true("binding" in out(p), "... with a message about bindings: %r" % out(p))
        true(not in_mountinfo(m2), "... and mounts nothing")
        eq(processes_naming(m2), [], "... and leaves no daemon")
        if in_mountinfo(m2):
            subprocess.run(["fusermount3", "-u", "-z", m2])


# ---------------------------------------------------------------------------------------------
# 10. Only admin slots change the policy.


def test_non_admin_slot_cannot_set_policy():
    before = show_policy()
    n_before = len(policy_seqs())
    for slot, key in (("memberslot", S.member_key), ("guestslot", S.guest_key)):
        p = wrun("policy", "set", S.repo, os.path.join(S.work, "policy-grant.yaml"), "--key-file", key, "--slot", slot)
        true(p.returncode != 0, "policy set with slot %s must fail" % slot)
        true("admin" in out(p), "policy set with slot %s: message mentions admin: %r" % (slot, out(p)))
    eq(show_policy(), before, "policy unchanged after the refused sets")
    eq(len(policy_seqs()), n_before, "no policy version added")
    # And the live mount did not change: guest still has no /team.
    err(S.users[GUEST], "ENOENT", "stat", M("team/t.bin"))


def test_unmount():
    # SIGTERM ends a daemon the way an unmount does (its handler only asks the loop to stop, so a
    # policy watcher mid-invalidation cannot wedge the exit).
    live = [m for m in S.mounts if wfs.is_mounted(m.mountpoint)]
    if live:
        victim = live[0]
        pid = victim.daemon_pid()
        os.kill(pid, signal.SIGTERM)
        gone, took = poll(lambda: not alive(pid) and not wfs.is_mounted(victim.mountpoint), 20)
        true(gone, "SIGTERM: daemon %d exited and %s is unmounted" % (pid, victim.mountpoint))
        print("  SIGTERM: daemon exited after %.2fs" % took)
    for m in reversed(S.mounts):
        if not wfs.is_mounted(m.mountpoint):
            continue  # unmounted by its case
        p = wrun("umount", m.mountpoint, timeout=120)
        eq(p.returncode, 0, "weightfs umount %s (%s)" % (os.path.basename(m.mountpoint), out(p)))
    for pid in S.pids:
        gone, _ = poll(lambda: not alive(pid), 10)
        true(gone, "daemon %d exited after umount" % pid)
    p = wrun("check", S.repo)
    eq(p.returncode, 0, "weightfs check after unmounting (%s)" % out(p)[-300:])


TESTS = [
    test_os_users,
    test_policy_set_and_populate,
    test_shared_mount_per_user,
    test_cache_does_not_leak,
    test_uniform_paths_cached,
    test_guest_slot_mount,
    test_live_policy_change,
    test_policy_without_the_mounts_role,
    test_revocation_reaches_kernel_cache,
    test_sighup_local_policy,
    test_audit_log,
    test_malformed_policies,
    test_non_admin_slot_cannot_set_policy,
    test_unmount,
]


def main():
    wfs.require_root("policy_test.py")
    os.umask(0o022)
    S.bindir = wfs.use_private_binary_copy("wfs-policy-bin-")
    os.chmod(S.bindir, 0o755)  # the test users run it too
    start = time.time()
    try:
        with wfs.temp_repo(prefix="wfs-policy-") as (work, repo):
            os.chmod(work, 0o755)  # the test users walk to the mountpoints
            S.work, S.repo, S.mnt = work, repo, os.path.join(work, "mnt")
            try:
                wfs.cases(TESTS, log_mounts=lambda: S.mounts)
            finally:
                print("total %.1fs" % (time.time() - start), flush=True)
                for m in reversed(S.mounts):
                    m.unmount()
                for pid in S.pids:
                    if alive(pid):
                        gone, _ = poll(lambda: not alive(pid), 10)
                        if not gone:
                            wfs.kill_daemon(pid)
                remove_users()
    finally:
        shutil.rmtree(S.bindir, ignore_errors=True)


if __name__ == "__main__":
    main()
