#!/usr/bin/python3
"""No plaintext in the repository (guarantee 1: no file content, no file or directory name, no
tensor names leak to someone who can read the repository's files).

Files whose contents AND names (files and directories, nested) contain a random marker
("WFSMARKER-<hex>"), a symlink whose target holds it, an xattr value holding it (where the mount
supports user xattrs), and a safetensors file whose tensor names and metadata hold it are written
through the mount; after umount every file under the repository is read as bytes and searched
for the marker in ASCII, hex (lower and upper), UTF-16 (LE and BE) and reversed. Nothing may be
found. So that the test can fail, the marker must come back through `weightfs ls`/`weightfs cat`
(and the search itself is checked on a planted copy).
"""
import errno
import os
import secrets
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer as st  # noqa: E402
import wfs  # noqa: E402

MARKER = "WFSMARKER-" + secrets.token_hex(8)


def needles(marker):
    m = marker.encode()
    return {
        "ascii": m,
        "hex": m.hex().encode(),
        "HEX": m.hex().upper().encode(),
        "utf-16le": marker.encode("utf-16-le"),
        "utf-16be": marker.encode("utf-16-be"),
        "reversed": m[::-1],
    }


def search_tree(root, marker):
    """[(path, form)] for every file under root whose bytes (or name) contain the marker."""
    found = []
    forms = needles(marker)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            for form, n in forms.items():
                if n in name.encode(errors="surrogateescape"):
                    found.append((os.path.join(dirpath, name), "name:" + form))
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                target = os.readlink(p).encode(errors="surrogateescape")
                found += [(p, "symlink:" + f) for f, n in forms.items() if n in target]
                continue
            with open(p, "rb") as f:
                data = f.read()
            found += [(p, f) for f, n in forms.items() if n in data]
    return found


def test_no_plaintext_in_repository():
    print("  marker %s" % MARKER, flush=True)
    rng = np.random.Generator(np.random.PCG64(int(MARKER[-8:], 16)))
    body = (b"header " + MARKER.encode() + b"\n") * 1000
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        dir_rel = "dir-%s/sub-%s" % (MARKER, MARKER)
        files = {
            "%s.txt" % MARKER: body,
            dir_rel + "/weights-%s.bin" % MARKER:
                rng.bytes(3 << 20) + MARKER.encode() + rng.bytes(5 << 20) + MARKER.encode() * 50,
            "plain-name.txt": MARKER.encode(),  # a tiny file: content only
            "config-%s.json" % MARKER: ('{"name": "%s", "layers": 2}' % MARKER).encode(),
        }
        tensors = {
            "model.%s.weight" % MARKER: rng.standard_normal((256, 256), dtype=np.float32),
            "%s.bias" % MARKER: rng.standard_normal((256,), dtype=np.float32),
        }
        xattr_ok = False
        with wfs.Mount(repo, mnt):
            for rel, data in files.items():
                os.makedirs(os.path.dirname(os.path.join(mnt, rel)), exist_ok=True)
                with open(os.path.join(mnt, rel), "wb") as f:
                    f.write(data)
            os.makedirs(os.path.join(mnt, "empty-dir-%s" % MARKER))
            st.save(os.path.join(mnt, "model-%s.safetensors" % MARKER), tensors,
                    metadata={"author": MARKER})
            try:
                os.symlink("target-%s" % MARKER, os.path.join(mnt, "link-%s" % MARKER))
            except OSError as e:
                print("  (symlinks not supported: %s)" % e, flush=True)
            try:
                os.setxattr(os.path.join(mnt, "plain-name.txt"), "user.note", MARKER.encode())
                xattr_ok = True
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                print("  (user xattrs not supported: %s)" % e, flush=True)
            # While mounted, after interval commits (and the writer lock, and any temp files).
            time.sleep(2.5)
            found = search_tree(repo, MARKER)
            assert not found, "plaintext marker found in the repository while mounted: %r" % found[:20]
        # After unmount everything is committed.
        found = search_tree(repo, MARKER)
        assert not found, "plaintext marker found in the repository: %r" % found[:20]

        # The data is really there (so the search above could have found something).
        listing = wfs.run("ls", "-r", repo, "--version", "live").stdout.decode()
        assert ("dir-%s" % MARKER) in listing and ("weights-%s.bin" % MARKER) in listing, listing
        for rel, data in files.items():
            got = wfs.run("cat", repo, "--version", "live", "/" + rel).stdout
            assert got == data, "weightfs cat %s gave %d bytes, want %d" % (rel, len(got), len(data))
        raw = wfs.run("cat", repo, "--version", "live", "/model-%s.safetensors" % MARKER).stdout
        assert MARKER.encode() in raw[:4096]
        if xattr_ok:
            with wfs.Mount(repo, mnt, "--read-only"):
                assert os.getxattr(os.path.join(mnt, "plain-name.txt"), "user.note") == MARKER.encode()

        # Sanity of the search itself: a planted plaintext copy is found.
        planted = os.path.join(repo, "objects", "planted")
        with open(planted, "wb") as f:
            f.write(b"x" * 100 + MARKER.encode().hex().encode())
        try:
            assert search_tree(repo, MARKER) == [(planted, "hex")]
        finally:
            os.remove(planted)


if __name__ == "__main__":
    wfs.cases([test_no_plaintext_in_repository])
