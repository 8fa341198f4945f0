#!/usr/bin/python3
"""Framework-style access on a mount: safetensors files read with numpy.memmap, and numpy.memmap
writes (shared writable mmap) that must survive umount+remount.

- A safetensors file (float32, int32, bf16 stored as uint16, float16 with an odd shape, an empty
  tensor) is written through the mount with safetensors_writer.py; after umount+remount its
  header is parsed (8-byte LE length + JSON) and tensors are mapped with numpy.memmap at the
  header's offsets and compared; the same through a --read-only mount (where writes fail EROFS).
- A file is created with numpy.memmap mode 'w+', filled, flushed, closed; reopened 'r+', partly
  changed, flushed, closed; after remount the contents must be the final values.

WEIGHTFS_TEST_SEED fixes the seed (printed first).
"""
import errno
import json
import mmap
import os
import random
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer as st  # noqa: E402
import wfs  # noqa: E402

SEED = int(os.environ["WEIGHTFS_TEST_SEED"]) if os.environ.get("WEIGHTFS_TEST_SEED") else \
    random.SystemRandom().randrange(1 << 32)


def make_tensors():
    rng = np.random.Generator(np.random.PCG64(SEED))
    f32 = rng.standard_normal((1024, 1024), dtype=np.float32)
    return {
        "model.embed.weight": f32,
        "model.layers.0.counts": rng.integers(-2**31, 2**31 - 1, size=(1024, 1024), dtype=np.int32),
        "model.layers.0.attn.q_proj.weight": (st.float32_to_bf16(
            rng.standard_normal((1024, 1024), dtype=np.float32)), "BF16"),
        "model.layers.0.norm.bias": rng.standard_normal((3, 5, 7)).astype(np.float16),  # odd size
        "model.empty": np.zeros((0, 4), np.float32),
        "lm_head.weight": rng.standard_normal((512, 1024), dtype=np.float32),
    }


def check_safetensors(path, tensors, metadata):
    """Parses the header by hand and compares every tensor through numpy.memmap."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    data_start = 8 + n
    assert header.get("__metadata__") == metadata, header.get("__metadata__")
    assert set(header) - {"__metadata__"} == set(tensors), sorted(header)
    expected_end = data_start
    for name, value in tensors.items():
        arr, dtype = value if isinstance(value, tuple) else (value, None)
        info = header[name]
        assert list(info["shape"]) == list(arr.shape), (name, info)
        if dtype:
            assert info["dtype"] == dtype, (name, info)
        begin, end = info["data_offsets"]
        assert end - begin == arr.nbytes, (name, info)
        expected_end = max(expected_end, data_start + end)
        if arr.size == 0:
            continue
        mm = np.memmap(path, dtype=arr.dtype.newbyteorder("<"), mode="r", offset=data_start + begin,
                       shape=arr.shape)
        assert np.array_equal(mm, arr), "tensor %s differs (seed %d)" % (name, SEED)
        # A strided slice touches many pages non-sequentially.
        assert np.array_equal(mm[::37], arr[::37]), name
        del mm
        # The helper's reader must agree too (used by the demo).
        t = st.load_tensor(path, name)
        assert np.array_equal(t, arr), name
        del t
    assert os.path.getsize(path) == expected_end, (os.path.getsize(path), expected_end)
    bf = st.load_tensor(path, "model.layers.0.attn.q_proj.weight")
    widened = st.bf16_to_float32(bf[:4, :4])
    del bf
    assert widened.dtype == np.float32 and np.all(np.isfinite(widened))


def test_safetensors_memmap():
    tensors = make_tensors()
    metadata = {"format": "pt", "seed": str(SEED)}
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        path = os.path.join(mnt, "models", "model.safetensors")
        with wfs.Mount(repo, mnt):
            os.makedirs(os.path.dirname(path))
            offsets = st.save(path, tensors, metadata)
            assert offsets["model.embed.weight"][1] == 4 << 20
            # Reading right away (same mount, page cache and daemon state) must already be right.
            check_safetensors(path, tensors, metadata)
        with wfs.Mount(repo, mnt):
            check_safetensors(path, tensors, metadata)
        ro = os.path.join(work, "ro")
        with wfs.Mount(repo, ro, "--read-only"):
            ro_path = os.path.join(ro, "models", "model.safetensors")
            check_safetensors(ro_path, tensors, metadata)
            for attempt in (lambda: open(ro_path, "r+b"),
                            lambda: open(os.path.join(ro, "models", "new.bin"), "wb")):
                try:
                    attempt().close()
                    raise AssertionError("writing on a --read-only mount succeeded")
                except OSError as e:
                    assert e.errno == errno.EROFS, "writing on a --read-only mount: %s, want EROFS" % e
        p = wfs.run("cat", repo, "--version", "live", "/models/model.safetensors")
        with open(os.path.join(work, "exported.safetensors"), "wb") as f:
            f.write(p.stdout)
        check_safetensors(os.path.join(work, "exported.safetensors"), tensors, metadata)


def test_numpy_memmap_writes():
    rng = np.random.Generator(np.random.PCG64(SEED + 1))
    shape = (3000, 1024)  # 12 MB of float32: several chunks
    first = rng.standard_normal(shape, dtype=np.float32)
    with wfs.temp_repo() as (work, repo):
        mnt = os.path.join(work, "mnt")
        path = os.path.join(mnt, "mm.f32")
        with wfs.Mount(repo, mnt):
            mm = np.memmap(path, dtype=np.float32, mode="w+", shape=shape)
            mm[:] = first
            mm.flush()
            del mm
            assert os.path.getsize(path) == first.nbytes
            mm = np.memmap(path, dtype=np.float32, mode="r+", shape=shape)
            # Sparse changes through the shared mapping: single elements, a row block, a column.
            mm[0, 0] = 1.5
            mm[1000:1100] = 7.0
            mm[:, 513] = -3.0
            mm[-1, -1] = 42.0
            mm.flush()
            del mm
            expected = first.copy()
            expected[0, 0] = 1.5
            expected[1000:1100] = 7.0
            expected[:, 513] = -3.0
            expected[-1, -1] = 42.0
            got = np.fromfile(path, dtype=np.float32).reshape(shape)
            assert np.array_equal(got, expected), "memmap writes not visible through read() (seed %d)" % SEED
            # A raw mmap write without msync, only munmap+close: still written back by the kernel.
            with open(path, "r+b") as f:
                m = mmap.mmap(f.fileno(), 0)
                m[8:12] = np.float32(9.25).tobytes()
                m.close()
            expected.reshape(-1)[2] = 9.25
        with wfs.Mount(repo, mnt):
            got = np.fromfile(path, dtype=np.float32).reshape(shape)
            bad = np.argwhere(got != expected)
            assert bad.size == 0, "after remount %d elements differ, first at %s (seed %d)" % (
                len(bad), bad[:3].tolist(), SEED)
            mm = np.memmap(path, dtype=np.float32, mode="r", shape=shape)
            assert np.array_equal(mm, expected)
            del mm
        p = wfs.run("check", "--read-data", repo, check=False)
        assert p.returncode == 0, "check --read-data failed (%d): %s" % (p.returncode, p.stderr.decode())


if __name__ == "__main__":
    print("WEIGHTFS_TEST_SEED=%d (frameworks_test)" % SEED, flush=True)
    wfs.cases([test_safetensors_memmap, test_numpy_memmap_writes])
