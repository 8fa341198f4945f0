#!/usr/bin/python3
"""The timed workloads and the data of the policy benchmark (scripts/bench_policy.sh, driven by
scripts/bench_policy.py; a benchmark, not a test). The driver runs each subcommand as its own
process, as root or as the user it created: `bench_policy_work.py SUBCOMMAND ARGS...`.

Every timed subcommand prints the seconds of its timed part (one number) and checks its results
afterwards, outside the timed part; a wrong result exits non-zero. Self-contained (run with
python3 -I; standard library only). BENCH_TOP (team or public) names the tree's top directory."""
import os
import random
import subprocess
import sys
import time
import zlib

MIB = 1 << 20


def die(msg):
    print("bench_policy: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def read_manifest(path):
    dirs, files = [], []
    with open(path) as f:
        for line in f:
            kind, rel, size, crc = line.rstrip("\n").split("\t")
            if kind == "d":
                dirs.append(rel)
            else:
                files.append((rel, int(size), int(crc)))
    return dirs, files


def dir_name(d):
    """dNN; below /public (BENCH_TOP=public) the first one is "drafts", which the guest role may
    not see: the one subtree whose visibility differs between roles."""
    return "drafts" if d == 0 and os.environ.get("BENCH_TOP", "team") == "public" else "d%02d" % d


def cmd_gen(top, ndirs, nfiles, big_mib, seed, manifest):
    """top/TOP/dNN/fNNNNN.bin (1-16 KiB each, spread over NDIRS directories) and
    top/TOP/big.bin (TOP: BENCH_TOP, team by default); the manifest lists every directory and
    file (size, CRC-32) relative to top/TOP."""
    ndirs, nfiles, big_mib, seed = int(ndirs), int(nfiles), int(big_mib), int(seed)
    rng = random.Random(seed)
    team = os.path.join(top, os.environ.get("BENCH_TOP", "team"))
    os.makedirs(team)
    out = ["d\t.\t0\t0"]
    for d in range(ndirs):
        os.mkdir(os.path.join(team, dir_name(d)))
        out.append("d\t%s\t0\t0" % dir_name(d))
    for i in range(nfiles):
        rel = "%s/f%05d.bin" % (dir_name(i % ndirs), i)
        data = rng.randbytes(rng.randint(1024, 16384))
        with open(os.path.join(team, rel), "wb") as f:
            f.write(data)
        out.append("f\t%s\t%d\t%d" % (rel, len(data), zlib.crc32(data)))
    crc = 0
    with open(os.path.join(team, "big.bin"), "wb") as f:
        for _ in range(big_mib):
            block = rng.randbytes(MIB)
            crc = zlib.crc32(block, crc)
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    out.append("f\tbig.bin\t%d\t%d" % (big_mib * MIB, crc))
    with open(manifest, "w") as f:
        f.write("\n".join(out) + "\n")


def cmd_lsr(top, manifest):
    """Times `ls -lR TOP`; checks that it shows every directory and every file with its size."""
    dirs, files = read_manifest(manifest)
    t0 = time.perf_counter()
    p = subprocess.run(["ls", "-lR", top], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"))
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        die("ls -lR %s failed (%d): %s"
            % (top, p.returncode, p.stderr.decode(errors="replace")[:500]))
    lines = p.stdout.decode(errors="replace").splitlines()
    headers = sum(1 for line in lines if line.endswith(":") and line.startswith(top))
    sizes = sorted(int(line.split()[4]) for line in lines if line.startswith("-"))
    want = sorted(s for _, s, _ in files)
    if headers != len(dirs) or sizes != want:
        die("ls -lR %s: %d directories and %d files (%d bytes); expected %d and %d (%d bytes)" % (
            top, headers, len(sizes), sum(sizes), len(dirs), len(want), sum(want)))
    print("%.6f" % dt)


def cmd_stat(top, manifest):
    """os.stat of every directory and file of the tree."""
    dirs, files = read_manifest(manifest)
    paths = [os.path.join(top, d) for d in dirs] + [os.path.join(top, f) for f, _, _ in files]
    t0 = time.perf_counter()
    got = [os.stat(p) for p in paths]
    dt = time.perf_counter() - t0
    for (rel, size, _), st in zip(files, got[len(dirs):]):
        if st.st_size != size:
            die("stat %s: size %d, expected %d" % (rel, st.st_size, size))
    print("%.6f" % dt)


def cmd_openread(top, manifest, count, seed):
    """os.open + os.read + os.close of COUNT seeded-random small files, timed on the second pass
    (the first one, untimed, makes it warm)."""
    _, files = read_manifest(manifest)
    small = [f for f in files if f[0] != "big.bin"]
    pick = random.Random(int(seed) + 1).sample(small, int(count))
    paths = [(os.path.join(top, rel), size + 1) for rel, size, _ in pick]

    def one_pass():
        out = []
        for p, n in paths:
            fd = os.open(p, os.O_RDONLY)
            out.append(os.read(fd, n))
            os.close(fd)
        return out

    one_pass()
    t0 = time.perf_counter()
    got = one_pass()
    dt = time.perf_counter() - t0
    for (rel, size, crc), data in zip(pick, got):
        if len(data) != size or zlib.crc32(data) != crc:
            die("%s: read %d bytes with CRC %d, expected %d bytes with CRC %d" % (
                rel, len(data), zlib.crc32(data), size, crc))
    print("%.6f" % dt)


def cmd_seqread(path, manifest):
    """Reads PATH front to back in 1 MiB reads into a buffer, then checks its CRC-32."""
    _, files = read_manifest(manifest)
    size, crc = [(s, c) for rel, s, c in files if rel == "big.bin"][0]
    buf = bytearray(b"\1") * (size + MIB)  # touched: no page faults in the timed part
    mv = memoryview(buf)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    off = 0
    while True:
        n = os.readv(fd, [mv[off:off + MIB]])
        if n == 0:
            break
        off += n
        if off > size:
            break
    os.close(fd)
    dt = time.perf_counter() - t0
    if off != size or zlib.crc32(mv[:off]) != crc:
        die("%s: read %d bytes, expected %d with CRC %d" % (path, off, size, crc))
    print("%.6f" % dt)


def cmd_policy(out, group, user, nextra):
    """The large policy: config/policy-team.yaml's three roles with their rules, root bound to
    admin and GROUP to member, 8 extra rules in admin and 16 in member, and NEXTRA more roles of
    three rules each (five of them held by root, five by USER, the rest bound to groups that do
    not exist). No extra rule matches a path of the tree: they cost evaluation, not access.
    With NEXTRA 0 it is just the example with the two bindings."""
    nextra = int(nextra)
    nmore = 8 if nextra else 0  # extra rules in admin and in member (none: the plain example)
    y = ["# Generated by scripts/bench_policy.sh: config/policy-team.yaml plus extra roles and "
         "rules.",
         "version: 1", "roles:",
         "  admin:", "    rules:",
         '      - paths: ["/**"]', "        allow: [all]"]
    for i in range(nmore):
        y += ['      - paths: ["/archive-%02d/**", "/team/*/ckpt-%02d-*/**"]' % (i, i),
              "        allow: [list, read, history]"]
    y += ["  member:", "    rules:",
          '      - paths: ["/", "/public/**", "/team/**"]', "        allow: [list, read, history]",
          '      - paths: ["/team/**", "/public/**"]', "        allow: [create, update, delete]",
          '      - paths: ["/**"]', "        allow: [snapshot]"]
    for i in range(nmore):
        y += ['      - paths: ["/team/**/secret-%02d/**", "/public/**/embargo-%02d*"]' % (i, i),
              "        deny: [all]",
              '      - paths: ["/datasets/set-%02d/**", "/team/d*/shard-%02d-*"]' % (i, i),
              "        allow: [list, read]"]
    y += ["  guest:", "    rules:",
          '      - paths: ["/", "/public/**"]', "        allow: [list, read]",
          '      - paths: ["/public/**/drafts/**"]', "        deny: [list, read]"]
    for i in range(nextra):
        y += ["  proj-%02d:" % i, "    rules:",
              '      - paths: ["/projects/p%02d/**", "/team/*/p%02d-*/**"]' % (i, i),
              "        allow: [list, read, history]",
              '      - paths: ["/projects/p%02d/work/**"]' % i,
              "        allow: [create, update, delete]",
              '      - paths: ["/**/p%02d-secret*/**"]' % i,
              "        deny: [read]"]
    y += ["bindings:",
          "  - role: admin", "    users: [alice, root]",
          "  - role: member", "    groups: [ml-team, %s]" % group]
    for i in range(nextra):
        who = ("users: [root]" if i < 5 else "users: [%s]" % user if i < 10
               else "groups: [wfsbp-nonexistent-%02d]" % i)
        y += ["  - role: proj-%02d" % i, "    " + who]
    y.append("default_role: guest")
    with open(out, "w") as f:
        f.write("\n".join(y) + "\n")
    nrules = sum(1 for line in y if line.startswith("      - paths:"))
    print("%d %d" % (3 + nextra, nrules))


COMMANDS = {"gen": cmd_gen, "lsr": cmd_lsr, "stat": cmd_stat, "openread": cmd_openread,
            "seqread": cmd_seqread, "policy": cmd_policy}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: bench_policy_work.py {%s} ARGS..." % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
