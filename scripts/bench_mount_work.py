#!/usr/bin/python3
"""The timed workloads and the data of the mount benchmark (scripts/bench.sh, driven by
scripts/bench_mount.py; a benchmark, not a test): data generation (a random file, a safetensors
model, a tree of small files, the shared-mount policy) and the timed workloads (random preads,
memmap scan, model loads, parallel shard readers, small files, `ls -lR`, os.stat). The driver
runs each subcommand as its own process: `bench_mount_work.py SUBCOMMAND ARGS...`.

Every timed subcommand prints the elapsed wall-clock seconds of its timed part on stdout (one
number) and checks what it read or wrote afterwards, outside the timed part; a wrong result
exits non-zero, so a filesystem that returns bad data cannot produce a number.

Uses Debian's /usr/bin/python3 with numpy; self-contained (imports no other script).
"""
import os
import random
import subprocess
import sys
import time
import zlib

import numpy as np

MIB = 1 << 20


def die(msg):
    print("bench_mount_work: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def cmd_gen(path, size_mib, seed):
    """Writes SIZE_MIB MiB of seeded pseudo-random (incompressible, dedup-free) bytes to PATH
    and prints the sum of all bytes (the checksum the memmap scan must reproduce)."""
    size_mib, seed = int(size_mib), int(seed)
    rng = np.random.default_rng(seed)
    total = 0
    with open(path, "wb") as f:
        for start in range(0, size_mib, 64):
            n = min(64, size_mib - start) * MIB
            block = rng.integers(0, 256, size=n, dtype=np.uint8)
            total += int(block.sum(dtype=np.uint64))
            f.write(block.tobytes())
        f.flush()
        os.fsync(f.fileno())
    print(total)


def cmd_scan(path, expected_sum, slice_mib="64"):
    """numpy.memmap scan: the sum of a uint8 view of the whole file in SLICE_MIB slices."""
    step = int(slice_mib) * MIB
    t0 = time.perf_counter()
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    total = 0
    for off in range(0, mm.shape[0], step):
        total += int(mm[off:off + step].sum(dtype=np.uint64))
    dt = time.perf_counter() - t0
    size = mm.shape[0]
    del mm
    if total != int(expected_sum):
        die("memmap scan of %s (%d bytes): byte sum %d, expected %d"
            % (path, size, total, int(expected_sum)))
    print("%.6f" % dt)


def offsets(file_size, block, count, seed):
    rng = random.Random(int(seed) * 1000003 + block)
    slots = file_size // block
    return [rng.randrange(slots) * block for _ in range(count)]


def cmd_pread(path, block, count, seed, source):
    """COUNT os.pread calls of BLOCK bytes at seeded random BLOCK-aligned offsets; afterwards
    (untimed) the bytes are compared with the same ranges of the source file."""
    block, count = int(block), int(count)
    size = os.stat(path).st_size
    offs = offsets(size, block, count, seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        blocks = []
        t0 = time.perf_counter()
        for off in offs:
            blocks.append(os.pread(fd, block, off))
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
    got = [zlib.crc32(d) for d in blocks]
    del blocks
    sfd = os.open(source, os.O_RDONLY)
    try:
        for i, off in enumerate(offs):
            want = os.pread(sfd, block, off)
            if zlib.crc32(want) != got[i]:
                die("pread of %s at offset %d (%d bytes) returned data different from the source"
                    % (path, off, block))
    finally:
        os.close(sfd)
    print("%.6f" % dt)


def small_file_payload(n, size, seed):
    """A distinct pseudo-random payload per file, so that content dedup cannot help."""
    rng = np.random.default_rng(int(seed) + 7)
    return rng.integers(0, 256, size=n * size, dtype=np.uint8).tobytes()


def cmd_create(directory, n, size, seed):
    n, size = int(n), int(size)
    payload = small_file_payload(n, size, seed)
    t0 = time.perf_counter()
    os.mkdir(directory)
    for i in range(n):
        with open(os.path.join(directory, "f%05d.bin" % i), "wb") as f:
            f.write(payload[i * size:(i + 1) * size])
    dt = time.perf_counter() - t0
    print("%.6f" % dt)


def cmd_ls(directory, n, size):
    """Times `ls -l DIR` and checks that it lists N regular files of SIZE bytes."""
    n, size = int(n), int(size)
    t0 = time.perf_counter()
    p = subprocess.run(["ls", "-l", directory], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"))
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        die("ls -l %s failed (%d): %s"
            % (directory, p.returncode, p.stderr.decode(errors="replace")))
    files = [line.split() for line in p.stdout.decode().splitlines() if line.startswith("-")]
    if len(files) != n or any(int(f[4]) != size for f in files):
        die("ls -l %s: expected %d files of %d bytes, got %d entries"
            % (directory, n, size, len(files)))
    print("%.6f" % dt)


def cmd_delete(directory, n):
    n = int(n)
    t0 = time.perf_counter()
    for i in range(n):
        os.unlink(os.path.join(directory, "f%05d.bin" % i))
    os.rmdir(directory)
    dt = time.perf_counter() - t0
    if os.path.exists(directory):
        die("%s still exists after deleting it" % directory)
    print("%.6f" % dt)


# ---------------------------------------------------------------------------------------------
# The model load: a safetensors file of about 200 tensors of mixed sizes and dtypes.

# (dtype name in the safetensors header, bytes per element, numpy dtype the bytes are viewed as;
# numpy has no bfloat16, so BF16 tensors are read as uint16, which moves the same bytes)
DTYPES = {"F32": (4, "<f4"), "F16": (2, "<f2"), "BF16": (2, "<u2")}
LAYERS = 22  # 9 tensors per layer + embedding, final norm and lm_head = 201 tensors


def model_tensors(hidden):
    """The tensor list of a small transformer-shaped model with hidden size HIDDEN: per layer
    q/k/v/o (H x H, BF16), gate/up/down (H x 2.75H, BF16) and two norms (H, F32); an embedding
    and an lm_head (8H x H, F16) and a final norm. Sizes run from a few KiB to tens of MiB."""
    inter = hidden * 11 // 4
    vocab = hidden * 8
    ts = [("model.embed_tokens.weight", "F16", (vocab, hidden))]
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        ts += [(p + "input_layernorm.weight", "F32", (hidden,))]
        ts += [(p + "self_attn.%s_proj.weight" % n, "BF16", (hidden, hidden)) for n in "qkvo"]
        ts += [(p + "post_attention_layernorm.weight", "F32", (hidden,))]
        ts += [(p + "mlp.gate_proj.weight", "BF16", (inter, hidden)),
               (p + "mlp.up_proj.weight", "BF16", (inter, hidden)),
               (p + "mlp.down_proj.weight", "BF16", (hidden, inter))]
    ts += [("model.norm.weight", "F32", (hidden,)), ("lm_head.weight", "F16", (vocab, hidden))]
    return ts


def tensor_bytes(dtype, shape):
    n = DTYPES[dtype][0]
    for d in shape:
        n *= d
    return n


def cmd_gen_model(path, manifest, size_mib, seed):
    """Writes a valid safetensors file of at most SIZE_MIB MiB (the largest hidden size, a
    multiple of 8, that fits; seeded random bytes) to PATH, and to MANIFEST a JSON list of
    [name, start, end, crc32] for the header (start 0) and every tensor (absolute file offsets),
    which the model-load workloads check what they read against. Prints the tensor count."""
    import json
    target, seed = int(size_mib) * MIB, int(seed)
    hidden = 8
    while sum(tensor_bytes(d, s) for _, d, s in model_tensors(hidden + 8)) + (1 << 20) <= target:
        hidden += 8
    ts = model_tensors(hidden)
    header, off = {}, 0
    for name, dtype, shape in ts:
        n = tensor_bytes(dtype, shape)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt", "generator": "weightfs scripts/bench.sh"}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)  # as the safetensors writer does: data starts 8-aligned
    head = len(hjson).to_bytes(8, "little") + hjson
    rng = np.random.default_rng(seed)
    entries = [["__header__", 0, len(head), zlib.crc32(head)]]
    with open(path, "wb") as f:
        f.write(head)
        for name, dtype, shape in ts:
            start, end = header[name]["data_offsets"]
            crc = 0
            for piece in range(start, end, 64 * MIB):
                n = min(64 * MIB, end - piece)
                block = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
                crc = zlib.crc32(block, crc)
                f.write(block)
            entries.append([name, len(head) + start, len(head) + end, crc])
        f.flush()
        os.fsync(f.fileno())
    with open(manifest, "w") as f:
        json.dump({"hidden": hidden, "size": len(head) + off, "entries": entries}, f)
    print("%d tensors, hidden size %d, %d bytes" % (len(ts), hidden, len(head) + off),
          file=sys.stderr)
    print(len(ts))


def load_manifest(manifest):
    import json
    with open(manifest) as f:
        return json.load(f)


def check_ranges(path, buffers, man):
    """BUFFERS: {entry name: bytes-like}; every manifest entry must be there with its CRC-32."""
    for name, start, end, crc in man["entries"]:
        if name not in buffers:
            die("%s: %s was not read" % (path, name))
        if len(buffers[name]) != end - start or zlib.crc32(buffers[name]) != crc:
            die("%s: the bytes of %s (offsets %d-%d) differ from what was written"
                % (path, name, start, end))


def cmd_model_mmap(path, manifest):
    """Loads the model as safetensors' numpy API does: parse the header, then for every tensor
    np.array() of a numpy.memmap slice viewed with its dtype and shape (a copy into memory).
    The timed part includes opening and parsing the header."""
    import json
    man = load_manifest(manifest)
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        hlen = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(hlen))
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + hlen
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        view = mm[base + start:base + end].view(DTYPES[info["dtype"]][1]).reshape(info["shape"])
        tensors[name] = np.array(view)
    dt = time.perf_counter() - t0
    del mm
    with open(path, "rb") as f:
        head = f.read(8 + hlen)
    bufs = {name: memoryview(a).cast("B") for name, a in tensors.items()}
    bufs["__header__"] = head
    check_ranges(path, bufs, man)
    print("%.6f" % dt)


def cmd_model_pread(path, manifest, threads="8", block_mib="16"):
    """Loads the model the way vLLM's prefetch strategy and the Run:ai model streamer read it:
    THREADS threads, each with its own file descriptor, read one contiguous share of the file
    in BLOCK_MIB MiB os.preadv calls straight into one preallocated buffer."""
    import threading
    threads, block = int(threads), int(block_mib) * MIB
    man = load_manifest(manifest)
    size = os.stat(path).st_size
    if size != man["size"]:
        die("%s has %d bytes, expected %d" % (path, size, man["size"]))
    buf = bytearray(size)  # allocated (and zeroed) before the clock starts
    mv = memoryview(buf)
    share = -(-size // threads)
    share += -share % block  # whole blocks per thread
    errors = []

    def worker(lo, hi):
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                for off in range(lo, hi, block):
                    n = min(block, hi - off)
                    if os.preadv(fd, [mv[off:off + n]], off) != n:
                        raise IOError("short read at offset %d" % off)
            finally:
                os.close(fd)
        except Exception as e:  # reported after the join, outside the timed part
            errors.append("%s: %s" % (path, e))

    t0 = time.perf_counter()
    ws = [threading.Thread(target=worker, args=(lo, min(lo + share, size)))
          for lo in range(0, size, share)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    dt = time.perf_counter() - t0
    if errors:
        die("; ".join(errors))
    check_ranges(path, {name: mv[s:e] for name, s, e, _ in man["entries"]}, man)
    print("%.6f" % dt)


# ---------------------------------------------------------------------------------------------
# Four processes, each reading its own shard at the same time.

def cmd_shard_reader(path):
    """One reader process of cmd_shards: allocates a buffer of the file's size, says "ready",
    waits for a line on stdin, reads the file in 1 MiB reads into the buffer, then prints the
    start and end time (time.perf_counter, CLOCK_MONOTONIC: comparable between processes) and
    the CRC-32 of what it read."""
    size = os.stat(path).st_size
    buf = bytearray(size)
    mv = memoryview(buf)
    fd = os.open(path, os.O_RDONLY)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    off = 0
    while off < size:
        n = os.readv(fd, [mv[off:off + MIB]])
        if n <= 0:
            break
        off += n
    t1 = time.perf_counter()
    os.close(fd)
    print("%.9f %.9f %d %d" % (t0, t1, off, zlib.crc32(mv[:off])), flush=True)


def cmd_shards(source, shard_mib, *paths):
    """Starts one reader process per shard PATH, releases them at once, and prints the seconds
    from the first start to the last end. Shard i must equal bytes [i*SHARD_MIB MiB, (i+1)*
    SHARD_MIB MiB) of SOURCE (checked afterwards)."""
    size = int(shard_mib) * MIB
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "shard_reader", p],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for p in paths]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            die("a shard reader did not start")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p, path in zip(procs, paths):
        out, _ = p.communicate()
        if p.returncode != 0:
            die("the reader of %s failed" % path)
        outs.append(out.split())
    dt = max(float(o[1]) for o in outs) - min(float(o[0]) for o in outs)
    with open(source, "rb") as f:
        for i, (o, path) in enumerate(zip(outs, paths)):
            f.seek(i * size)
            want = f.read(size)
            if int(o[2]) != len(want) or int(o[3]) != zlib.crc32(want):
                die("%s: the shard read (%s bytes) differs from the source's bytes %d-%d"
                    % (path, o[2], i * size, (i + 1) * size))
    print("%.6f" % dt)


# ---------------------------------------------------------------------------------------------
# A tree of small files for `ls -lR` and os.stat.

def tree_names(n, ndirs):
    return [("d%02d" % (i % ndirs), "f%05d.bin" % i) for i in range(n)]


def cmd_tree(root, n, ndirs, size, seed):
    """Creates ROOT/dNN/fNNNNN.bin: N files of SIZE bytes spread over NDIRS directories."""
    n, ndirs, size = int(n), int(ndirs), int(size)
    payload = small_file_payload(n, size, int(seed) + 1)
    os.mkdir(root)
    for d in range(ndirs):
        os.mkdir(os.path.join(root, "d%02d" % d))
    for i, (d, f) in enumerate(tree_names(n, ndirs)):
        with open(os.path.join(root, d, f), "wb") as fh:
            fh.write(payload[i * size:(i + 1) * size])


def cmd_ls_r(root, n, size):
    """Times `ls -lR ROOT` and checks that it lists N regular files of SIZE bytes."""
    n, size = int(n), int(size)
    t0 = time.perf_counter()
    p = subprocess.run(["ls", "-lR", root], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"))
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        die("ls -lR %s failed (%d): %s" % (root, p.returncode, p.stderr.decode(errors="replace")))
    files = [line.split() for line in p.stdout.decode().splitlines() if line.startswith("-")]
    if len(files) != n or any(int(f[4]) != size for f in files):
        die("ls -lR %s: expected %d files of %d bytes, got %d" % (root, n, size, len(files)))
    print("%.6f" % dt)


def cmd_stat_tree(root, n, ndirs, size):
    """Times os.stat of every directory and file of the tree (paths known in advance, so no
    readdir) and checks the file sizes."""
    n, ndirs, size = int(n), int(ndirs), int(size)
    paths = [os.path.join(root, "d%02d" % d) for d in range(ndirs)]
    paths += [os.path.join(root, d, f) for d, f in tree_names(n, ndirs)]
    t0 = time.perf_counter()
    sts = [os.stat(p) for p in paths]
    dt = time.perf_counter() - t0
    if any(st.st_size != size for st in sts[ndirs:]):
        die("os.stat of the tree under %s: a file does not have %d bytes" % (root, size))
    print("%.6f" % dt)


def cmd_policy(path, subtree):
    """Writes the shared-mount policy: role admin (bound to root) may do everything; every other
    caller gets role reader (default_role), which lists and reads everything except SUBTREE,
    which it cannot see. So exactly one subtree looks different to the two roles."""
    text = "\n".join([
        "version: 1",
        "roles:",
        "  admin:",
        "    rules:",
        '      - paths: ["/**"]',
        "        allow: [all]",
        "  reader:",
        "    rules:",
        '      - paths: ["/**"]',
        "        allow: [list, read]",
        '      - paths: ["%s/**"]' % subtree,
        "        deny: [list, read]",
        "bindings:",
        "  - role: admin",
        "    users: [root]",
        "default_role: reader",
        ""])
    with open(path, "w") as f:
        f.write(text)


COMMANDS = {
    "gen": cmd_gen,
    "scan": cmd_scan,
    "pread": cmd_pread,
    "create": cmd_create,
    "ls": cmd_ls,
    "delete": cmd_delete,
    "gen_model": cmd_gen_model,
    "model_mmap": cmd_model_mmap,
    "model_pread": cmd_model_pread,
    "shard_reader": cmd_shard_reader,
    "shards": cmd_shards,
    "tree": cmd_tree,
    "ls_r": cmd_ls_r,
    "stat_tree": cmd_stat_tree,
    "policy": cmd_policy,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: bench_mount_work.py {%s} ARGS..." % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
