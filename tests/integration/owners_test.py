"""Owners, groups, mode bits and special files on a shared mount (POSIX completeness).

Three OS users (alice and bob in one team group, carol outside it) work on an --allow-other
mount whose policy allows everything, so the mode bits alone decide:
  1. new files belong to their creator; chown/chgrp follow POSIX (root anything, the owner only
     the group, to one it is in; others EPERM); chown clears setuid/setgid; ctime moves; owners
     survive a remount;
  2. mode bits decide open (read/write), create, unlink, rename, lookup and listing (search and
     read on directories), chmod (owner or root) and utimens (explicit times: owner; "now": write
     permission); `chmod 000` makes a file unreadable for its non-root owner, not for root;
  3. sticky directories (only the entry's owner, the directory's owner or root remove or rename),
     setgid directories (new entries get the directory's group, new subdirectories setgid);
  4. a FIFO works as a FIFO; device nodes are made only by root, keep st_rdev, cannot be opened
     (nodev), and appear in `.versions/` snapshots (read-only); all survive a remount;
  5. `rsync -aH` and `tar -p` as root of a tree with several owners, a FIFO, a setgid directory
     and a hard link into the mount succeed and preserve owners, modes and the link (also after a
     remount); `import` as root records the source's owners, special files and hard links,
     `export` as root restores them;
  6. hard links: one inode, link counts and ctime after link/unlink/rename, writes seen through
     every name, no links of directories or of another user's unwritable file, both names in a
     `.versions/` snapshot, links kept across a remount;
  7. `--no-mode-check`: the policy alone decides (a mode-000 file is readable), chown's rules stay.

Run as root: WEIGHTFS_BINARY=build/weightfs /usr/bin/python3 tests/integration/owners_test.py
"""
import errno
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402
from wfs import drop_to, eq, true, user_env  # noqa: E402

ALICE, BOB, CAROL = "wfs_own_alice", "wfs_own_bob", "wfs_own_carol"
TEAM = "wfs_own_team"    # alice and bob
OTHER = "wfs_own_other"  # carol only

POLICY = wfs.ADMIN_ALL + "default_role: admin\n"  # everybody may do everything: mode bits decide

# Runs one Python statement as another user; prints "ok" or the errno's name.
ATTEMPT = """\
import errno, os, stat, sys
try:
    exec(sys.argv[1])
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""


class State:
    work = repo = mnt = None
    mount = None
    created_users = []
    created_groups = []


S = State()


def uid(user):
    return pwd.getpwnam(user).pw_uid


def gid_of(group):
    return grp.getgrnam(group).gr_gid


def attempt(user, code):
    """Runs code as user; returns 'ok' or an errno name such as 'EACCES'."""
    p = subprocess.run([sys.executable, "-c", ATTEMPT, code], capture_output=True, text=True, cwd="/",
                       env=user_env(), preexec_fn=drop_to(user), timeout=60)
    if p.returncode != 0:
        raise AssertionError("attempt as %s of %r failed: %s" % (user, code, p.stderr.strip()))
    return p.stdout.strip()


def may(user, code, want="ok"):
    eq(attempt(user, code), want, "%s: %s" % (user.replace("wfs_own_", ""), code.replace(S.mnt, "MNT")))


def W(*parts):
    return os.path.join(S.mnt, "w", *parts)


def sh(*cmd):
    p = subprocess.run(list(cmd), capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def ensure_users():
    for group in (TEAM, OTHER):
        try:
            grp.getgrnam(group)
        except KeyError:
            sh("groupadd", group)
        S.created_groups.append(group)
    for name, groups in ((ALICE, [TEAM]), (BOB, [TEAM]), (CAROL, [OTHER])):
        try:
            pwd.getpwnam(name)
            sh("usermod", "-G", ",".join(groups), name)
        except KeyError:
            sh("useradd", "-M", "-N", "-s", "/usr/sbin/nologin", *(["-G", ",".join(groups)] if groups else []), name)
        S.created_users.append(name)


def remove_users():
    for name in S.created_users:
        subprocess.run(["userdel", name], capture_output=True)
    for g in S.created_groups:
        subprocess.run(["groupdel", g], capture_output=True)


def mount(*extra):
    S.mount = wfs.Mount(S.repo, S.mnt, "--allow-other", *extra).__enter__()


def remount(*extra):
    S.mount.unmount()
    mount(*extra)


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_setup():
    ensure_users()
    policy = os.path.join(S.work, "policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY)
    wfs.run("policy", "set", S.repo, policy)
    mount()
    os.mkdir(W())
    os.chmod(W(), 0o777)  # a directory everybody may work in (the mount root is root's, 0755)
    may(ALICE, "os.stat(%r)" % W())


def test_owners_and_chown():
    team = gid_of(TEAM)
    may(ALICE, "open(%r, 'w').write('a')" % W("a"))
    eq(owner(W("a")), (uid(ALICE), pwd.getpwnam(ALICE).pw_gid), "a new file's owner and group: its creator's")
    may(ALICE, "os.chown(%r, -1, %d)" % (W("a"), team))
    eq(owner(W("a"))[1], team, "chgrp by the owner to a group it is in")
    may(ALICE, "os.chown(%r, -1, %d)" % (W("a"), gid_of(OTHER)), "EPERM")
    may(ALICE, "os.chown(%r, %d, -1)" % (W("a"), uid(BOB)), "EPERM")
    may(BOB, "os.chown(%r, -1, %d)" % (W("a"), team), "EPERM")
    may(CAROL, "os.chown(%r, %d, -1)" % (W("a"), uid(CAROL)), "EPERM")
    # chown clears setuid/setgid of a file and moves ctime; root may give files away.
    may(ALICE, "open(%r, 'w').close(); os.chmod(%r, 0o6755)" % (W("s"), W("s")))
    eq(stat.S_IMODE(os.stat(W("s")).st_mode), 0o6755, "setuid+setgid set by the owner")
    before = os.stat(W("s")).st_ctime_ns
    time.sleep(0.02)
    os.chown(W("s"), uid(BOB), gid_of(TEAM))
    st = os.stat(W("s"))
    eq((st.st_uid, st.st_gid), (uid(BOB), team), "chown by root")
    eq(stat.S_IMODE(st.st_mode), 0o755, "chown cleared setuid and setgid")
    true(st.st_ctime_ns > before, "chown moved ctime (%d -> %d)" % (before, st.st_ctime_ns))
    remount()
    eq(owner(W("s")), (uid(BOB), team), "owner and group after a remount")
    eq(owner(W("a"))[0], uid(ALICE), "alice's file after a remount")


def test_mode_bits():
    team = gid_of(TEAM)
    may(ALICE, "f = os.open(%r, os.O_CREAT | os.O_WRONLY, 0o600); os.write(f, b'x'); os.close(f)" % W("secret"))
    may(ALICE, "open(%r).read()" % W("secret"))
    may(BOB, "open(%r).read()" % W("secret"), "EACCES")
    may(ALICE, "os.chmod(%r, 0)" % W("secret"))
    may(ALICE, "open(%r).read()" % W("secret"), "EACCES")  # chmod 000: not even the owner
    eq(open(W("secret")).read(), "x", "root reads a mode-000 file")
    may(BOB, "os.chmod(%r, 0o644)" % W("secret"), "EPERM")  # chmod: only the owner or root
    # Group bits: alice and bob share the team group, carol does not.
    may(ALICE, "open(%r, 'w').write('g'); os.chown(%r, -1, %d); os.chmod(%r, 0o640)"
        % (W("grp"), W("grp"), team, W("grp")))
    may(BOB, "open(%r).read()" % W("grp"))
    may(BOB, "open(%r, 'a')" % W("grp"), "EACCES")
    may(CAROL, "open(%r).read()" % W("grp"), "EACCES")
    # utimens: explicit times only by the owner; "now" with write permission.
    may(ALICE, "os.chmod(%r, 0o660)" % W("grp"))
    may(BOB, "os.utime(%r, (1, 1))" % W("grp"), "EPERM")
    may(BOB, "os.utime(%r)" % W("grp"))
    may(CAROL, "os.utime(%r)" % W("grp"), "EACCES")
    # Directories: write + search to add and remove, search to look up, read to list.
    may(ALICE, "os.mkdir(%r, 0o755); open(%r, 'w').write('p')" % (W("adir"), W("adir", "f")))
    may(BOB, "open(%r).read()" % W("adir", "f"))
    may(BOB, "open(%r, 'w')" % W("adir", "new"), "EACCES")
    may(BOB, "os.mkdir(%r)" % W("adir", "sub"), "EACCES")
    may(BOB, "os.unlink(%r)" % W("adir", "f"), "EACCES")
    may(BOB, "os.rename(%r, %r)" % (W("adir", "f"), W("stolen")), "EACCES")
    may(ALICE, "os.chmod(%r, 0o700)" % W("adir"))
    may(BOB, "os.stat(%r)" % W("adir", "f"), "EACCES")
    may(BOB, "os.listdir(%r)" % W("adir"), "EACCES")
    may(BOB, "open(%r).read()" % W("adir", "f"), "EACCES")
    may(ALICE, "os.listdir(%r); open(%r).read()" % (W("adir"), W("adir", "f")))
    # Right after alice looked it up, bob still cannot walk through the kernel's cache.
    may(BOB, "os.stat(%r)" % W("adir", "f"), "EACCES")
    may(ALICE, "os.chmod(%r, 0o711)" % W("adir"))
    may(BOB, "os.listdir(%r)" % W("adir"), "EACCES")  # search but no read: no listing
    may(BOB, "open(%r).read()" % W("adir", "f"))      # but a known name opens


def test_sticky_and_setgid():
    os.mkdir(W("tmp"))
    os.chmod(W("tmp"), 0o1777)
    may(ALICE, "open(%r, 'w').write('a')" % W("tmp", "a"))
    may(BOB, "os.unlink(%r)" % W("tmp", "a"), "EPERM")
    may(BOB, "os.rename(%r, %r)" % (W("tmp", "a"), W("tmp", "b")), "EPERM")
    may(BOB, "open(%r, 'w').write('b'); os.rename(%r, %r)" % (W("tmp", "b"), W("tmp", "b"), W("tmp", "a")), "EPERM")
    may(BOB, "os.unlink(%r)" % W("tmp", "b"))
    may(ALICE, "os.unlink(%r)" % W("tmp", "a"))
    team = gid_of(TEAM)
    may(ALICE, "os.mkdir(%r); os.chown(%r, -1, %d); os.chmod(%r, 0o2775)" % (W("team"), W("team"), team, W("team")))
    may(BOB, "open(%r, 'w').write('t'); os.mkdir(%r)" % (W("team", "f"), W("team", "sub")))
    eq(owner(W("team", "f")), (uid(BOB), team), "a file in a setgid directory gets its group")
    st = os.stat(W("team", "sub"))
    eq(st.st_gid, team, "a subdirectory of a setgid directory gets its group")
    true(st.st_mode & stat.S_ISGID, "a subdirectory of a setgid directory is setgid (mode %o)" % st.st_mode)


def fifo_roundtrip(path):
    got = []
    reader = threading.Thread(target=lambda: got.append(open(path, "rb").read()), daemon=True)
    reader.start()
    with open(path, "wb") as f:
        f.write(b"through the pipe")
    reader.join(10)
    eq(got, [b"through the pipe"], "what a reader of the FIFO got")


def test_special_files():
    may(ALICE, "os.mkfifo(%r, 0o640)" % W("fifo"))
    true(stat.S_ISFIFO(os.stat(W("fifo")).st_mode), "mkfifo made a FIFO")
    eq(owner(W("fifo"))[0], uid(ALICE), "the FIFO's owner")
    fifo_roundtrip(W("fifo"))
    null = os.makedev(1, 3)
    may(ALICE, "os.mknod(%r, 0o666 | stat.S_IFCHR, %d)" % (W("null"), null), "EPERM")
    os.mknod(W("null"), 0o666 | stat.S_IFCHR, null)
    os.mknod(W("blk"), 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    st = os.stat(W("null"))
    true(stat.S_ISCHR(st.st_mode), "a character device")
    eq(st.st_rdev, null, "its st_rdev")
    wfs.expect_errno(errno.EACCES, "open of a device node on a nodev mount", os.open, W("null"), os.O_RDONLY)
    os.mkdir(os.path.join(S.mnt, ".versions", "tags", "special"))
    snap = os.path.join(S.mnt, ".versions", "tags", "special", "w")
    true(stat.S_ISFIFO(os.stat(os.path.join(snap, "fifo")).st_mode), "the FIFO in the snapshot")
    eq(os.stat(os.path.join(snap, "null")).st_rdev, null, "the device in the snapshot")
    eq(os.stat(os.path.join(snap, "s")).st_uid, uid(BOB), "an owner in the snapshot")
    wfs.expect_errno(errno.EROFS, "unlink below .versions", os.unlink, os.path.join(snap, "fifo"))
    remount()
    true(stat.S_ISFIFO(os.stat(W("fifo")).st_mode), "the FIFO after a remount")
    eq(os.stat(W("null")).st_rdev, null, "the device after a remount")
    true(stat.S_ISBLK(os.stat(W("blk")).st_mode), "the block device after a remount")
    fifo_roundtrip(W("fifo"))


def make_source_tree(src):
    """A tree with several owners, modes, a setgid directory, a FIFO and a symlink."""
    os.makedirs(os.path.join(src, "d", "e"))
    for rel, user, mode in (("a.bin", ALICE, 0o640), ("b.bin", BOB, 0o600), ("d/c.txt", CAROL, 0o644),
                            ("d/e/x", BOB, 0o4755)):
        with open(os.path.join(src, rel), "wb") as f:
            f.write(rel.encode() * 100)
        os.chown(os.path.join(src, rel), uid(user), gid_of(TEAM) if user == BOB else pwd.getpwnam(user).pw_gid)
        os.chmod(os.path.join(src, rel), mode)
    os.chown(os.path.join(src, "d"), uid(CAROL), gid_of(TEAM))
    os.chmod(os.path.join(src, "d"), 0o2775)
    os.mkfifo(os.path.join(src, "pipe"), 0o620)
    os.chown(os.path.join(src, "pipe"), uid(ALICE), gid_of(TEAM))
    os.symlink("a.bin", os.path.join(src, "link"))
    os.lchown(os.path.join(src, "link"), uid(BOB), gid_of(TEAM))
    os.link(os.path.join(src, "a.bin"), os.path.join(src, "d", "a-link.bin"))


def linked(root, what):
    """a.bin and d/a-link.bin are one file with two names."""
    a, b = os.lstat(os.path.join(root, "a.bin")), os.lstat(os.path.join(root, "d", "a-link.bin"))
    eq((a.st_ino == b.st_ino, a.st_nlink, b.st_nlink), (True, 2, 2), "%s: a.bin and d/a-link.bin are hard links" % what)


def metadata(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def test_rsync_tar_import_export():
    src = os.path.join(S.work, "src")
    make_source_tree(src)
    want = metadata(src)
    p = subprocess.run(["rsync", "-aH", src + "/", W("rsync") + "/"], capture_output=True, text=True)
    eq((p.returncode, p.stderr.strip()), (0, ""), "rsync -aH as root into the mount")
    wfs.eq_manifest(metadata(W("rsync")), want, "owners, modes and types after rsync -aH")
    linked(W("rsync"), "rsync -H")
    tarball = os.path.join(S.work, "src.tar")
    sh("tar", "-C", src, "-cf", tarball, ".")
    os.mkdir(W("tar"))
    p = subprocess.run(["tar", "-C", W("tar"), "-xpf", tarball], capture_output=True, text=True)
    eq((p.returncode, p.stderr.strip()), (0, ""), "tar -xp as root into the mount")
    wfs.eq_manifest(metadata(W("tar")), want, "owners, modes and types after tar -xp")
    linked(W("tar"), "tar")
    # Offline, with the mount down (import is refused beside a read-write mount): import as root
    # records the owners, the FIFO and the link; export restores them.
    S.mount.unmount()
    wfs.run("import", S.repo, src, "--to", "/imported", "-m", "owners")
    out = os.path.join(S.work, "exported")
    wfs.run("export", S.repo, out, "--path", "/imported")
    wfs.eq_manifest(metadata(out), want, "owners, modes and types after import and export")
    linked(out, "import and export")
    mount()
    linked(W("rsync"), "rsync -H, after a remount")
    linked(os.path.join(S.mnt, "imported"), "import, seen through the mount")


def test_hard_links():
    may(ALICE, "os.mkdir(%r); open(%r, 'w').write('one')" % (W("hl"), W("hl", "a")))
    before = os.stat(W("hl", "a")).st_ctime_ns
    time.sleep(0.02)
    may(ALICE, "os.link(%r, %r)" % (W("hl", "a"), W("hl", "b")))
    a, b = os.stat(W("hl", "a")), os.stat(W("hl", "b"))
    eq((a.st_ino == b.st_ino, a.st_nlink), (True, 2), "link: one inode, two names")
    true(a.st_ctime_ns > before, "link moved ctime")
    with open(W("hl", "b"), "w") as f:
        f.write("written through b")
    eq(open(W("hl", "a")).read(), "written through b", "a write through one name, read through the other")
    may(ALICE, "os.link(%r, %r)" % (W("hl"), W("hl-dir")), "EPERM")
    may(BOB, "os.link(%r, %r)" % (W("hl", "a"), W("hl-bob")), "EPERM")  # not his, not writable for him
    os.mkdir(W("hl", "sub"))
    os.rename(W("hl", "b"), W("hl", "sub", "c"))
    eq(os.stat(W("hl", "a")).st_nlink, 2, "link count after a rename")
    os.mkdir(os.path.join(S.mnt, ".versions", "tags", "links"))
    snap = os.path.join(S.mnt, ".versions", "tags", "links", "w", "hl")
    eq((open(os.path.join(snap, "a")).read(), open(os.path.join(snap, "sub", "c")).read()),
       ("written through b",) * 2, "both names in the snapshot")
    remount()
    a, c = os.stat(W("hl", "a")), os.stat(W("hl", "sub", "c"))
    eq((a.st_ino == c.st_ino, a.st_nlink), (True, 2), "hard links after a remount")
    before = a.st_ctime_ns
    time.sleep(0.02)
    os.unlink(W("hl", "a"))
    c = os.stat(W("hl", "sub", "c"))
    eq((c.st_nlink, open(W("hl", "sub", "c")).read()), (1, "written through b"), "the other name after unlink")
    true(c.st_ctime_ns > before, "unlink of a name moved the file's ctime")


def test_no_mode_check():
    remount("--no-mode-check")
    may(ALICE, "open(%r).read()" % W("secret"))  # mode 000: the policy alone decides
    may(BOB, "os.chmod(%r, 0o644)" % W("secret"))
    may(CAROL, "os.chown(%r, %d, -1)" % (W("secret"), uid(CAROL)), "EPERM")  # chown's rules stay


TESTS = [
    test_setup,
    test_owners_and_chown,
    test_mode_bits,
    test_sticky_and_setgid,
    test_special_files,
    test_rsync_tar_import_export,
    test_hard_links,
    test_no_mode_check,
]


def main():
    wfs.require_root("owners_test.py")
    for tool in ("rsync", "tar"):
        if not shutil.which(tool):
            print("FAIL: %s is not installed (scripts/setup.sh installs it)" % tool, flush=True)
            sys.exit(1)
    os.umask(0o022)
    try:
        with wfs.temp_repo(prefix="wfs-owners-") as (work, repo):
            os.chmod(work, 0o755)  # the test users walk to the mountpoint
            S.work, S.repo, S.mnt = work, repo, os.path.join(work, "mnt")
            try:
                wfs.cases(TESTS, log_mounts=lambda: [S.mount])
            finally:
                if S.mount:
                    S.mount.unmount()
    finally:
        remove_users()


if __name__ == "__main__":
    main()
