#!/usr/bin/python3
"""A repository with scopes (per-scope keys) on a real mount.

- A read-only mount unlocked with a guest's key slot (which holds the public scope's keys only)
  shows /public and nothing else, whatever the policy would let the caller see: the other
  scopes' trees do not open with its keys. .versions shows the snapshots it can open.
- Its read lease names the stored trees of the scopes: `gc --grace 0` run by an administrator
  beside it deletes nothing it serves.
- A read-write mount of a repository with scopes is refused with a message saying what to do.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wfs  # noqa: E402

POLICY = """\
version: 1
scopes:
  public: ["/public/**"]
  team: ["/team/**"]
  private: ["/private/**"]
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  guest:
    rules:
      - paths: ["/", "/.versions", "/.versions/**"]
        allow: [list, history]
      - paths: ["/public/**"]
        allow: [list, read, history]
bindings:
  - role: admin
    users: [root]
"""


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def make_repo(work, repo):
    src = os.path.join(work, "src")
    for d in ("public", "team", "private"):
        os.makedirs(os.path.join(src, d))
    public = os.urandom(3 << 20)
    write_file(os.path.join(src, "public", "open-model.safetensors"), public)
    write_file(os.path.join(src, "team", "team-model.safetensors"), b"team weights")
    write_file(os.path.join(src, "private", "secret-model.safetensors"), b"private weights")
    write_file(os.path.join(src, "README"), b"readme")
    wfs.run("import", repo, src)
    policy = os.path.join(work, "policy.yaml")
    write_file(policy, POLICY.encode())
    wfs.run("policy", "set", repo, policy)
    guest_pass = os.path.join(work, "guest.pass")
    write_file(guest_pass, b"guest passphrase\n")
    out = wfs.run("key", "add", repo, "--name", "guest", "--role", "guest",
                  "--new-passphrase-file", guest_pass).stdout.decode()
    wfs.true("holding the keys of scopes public" in out, "the guest slot holds public: " + out)
    return public, guest_pass


def test_a_guest_mount_shows_only_what_its_keys_open():
    with wfs.temp_repo() as (work, repo):
        public, guest_pass = make_repo(work, repo)
        mnt = os.path.join(work, "guest")
        with wfs.Mount(repo, mnt, "--read-only", "--slot", "guest", "--passphrase-file",
                       guest_pass):
            wfs.eq(sorted(os.listdir(mnt)), ["public"], "the guest mount's root")
            wfs.eq(read_file(os.path.join(mnt, "public", "open-model.safetensors")), public,
                   "the public model through the guest mount")
            for hidden in ("team", "private", "README", "private/secret-model.safetensors"):
                wfs.expect_errno(2, "looking up /" + hidden, os.stat, os.path.join(mnt, hidden))
            versions = os.listdir(os.path.join(mnt, ".versions"))
            wfs.true("latest" in versions, ".versions lists the snapshots it opens: %s" % versions)
            wfs.eq(sorted(os.listdir(os.path.join(mnt, ".versions", "latest"))), ["public"],
                   "the latest snapshot through the guest mount")
            # An administrator's gc beside the mount deletes nothing it serves.
            held = open(os.path.join(mnt, "public", "open-model.safetensors"), "rb")
            try:
                head = held.read(1 << 20)
                wfs.run("gc", repo, "--grace", "0")
                wfs.eq(head + held.read(), public, "the open model, read across a gc")
            finally:
                held.close()
            wfs.eq(read_file(os.path.join(mnt, "public", "open-model.safetensors")), public,
                   "the public model after gc")
        wfs.run("check", "--read-data", repo)


def test_a_read_write_mount_of_a_repository_with_scopes_is_refused():
    with wfs.temp_repo() as (work, repo):
        make_repo(work, repo)
        mnt = os.path.join(work, "rw")
        os.makedirs(mnt)
        p = wfs.run("mount", repo, mnt, check=False)
        wfs.true(p.returncode != 0 and not wfs.is_mounted(mnt), "a read-write mount is refused")
        wfs.true(b"mounts it read-only only" in p.stderr, "... saying so: %s" % p.stderr)


if __name__ == "__main__":
    wfs.require_fuse()
    wfs.cases([test_a_guest_mount_shows_only_what_its_keys_open,
               test_a_read_write_mount_of_a_repository_with_scopes_is_refused])
