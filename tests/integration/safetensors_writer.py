"""A small, dependency-light writer (and header reader) for the safetensors format.

Pure Python + numpy, so tests and the demo can make real .safetensors files without the
`safetensors` package. Format (https://github.com/huggingface/safetensors):

    u64 little-endian N | N bytes of UTF-8 JSON header (padded with spaces) | tensor data

The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with
offsets relative to the start of the data section, plus an optional "__metadata__" map of
string to string. Tensors are laid out in the order given, back to back, little-endian, C order.

bfloat16 has no numpy dtype: pass its raw bits as a uint16 array with dtype "BF16", e.g.
`(float32_to_bf16(x), "BF16")`.

Usage:
    save("model.safetensors", {"w": np.ones((4, 4), np.float32),
                               "b": (float32_to_bf16(np.zeros(4, np.float32)), "BF16")},
         metadata={"format": "pt"})
    header, data_start = read_header("model.safetensors")
"""
import json
import struct

import numpy as np

# safetensors dtype name -> numpy dtype of the stored elements (little-endian).
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
    "BOOL": "?",
}
_NUMPY_TO_ST = {
    np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("<i2"): "I16", np.dtype("i1"): "I8",
    np.dtype("<u8"): "U64", np.dtype("<u4"): "U32", np.dtype("<u2"): "U16", np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}
ALIGNMENT = 8  # the reference writer pads the header so the data section starts 8-aligned


def float32_to_bf16(a):
    """Rounds float32 values to bfloat16 (round to nearest even); returns the uint16 bits."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def bf16_to_float32(bits):
    """Widens bfloat16 bits (uint16) to float32 values."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")


def _normalize(tensors):
    """Yields (name, contiguous little-endian array, safetensors dtype) in order."""
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError("bad tensor name %r" % (name,))
        if isinstance(value, tuple):
            arr, dtype = value
            if dtype not in DTYPES:
                raise ValueError("unknown safetensors dtype %r" % (dtype,))
            arr = np.asarray(arr)
            want = np.dtype(DTYPES[dtype])
            if arr.dtype.itemsize != want.itemsize:
                raise ValueError("%s: %s elements are %d bytes, got %s" %
                                 (name, dtype, want.itemsize, arr.dtype))
            arr = np.ascontiguousarray(arr.astype(want.newbyteorder("<"), copy=False))
        else:
            arr = np.asarray(value)
            le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            if np.dtype(le) not in _NUMPY_TO_ST:
                raise ValueError("%s: numpy dtype %s has no safetensors name; pass (array, dtype)" %
                                 (name, arr.dtype))
            dtype = _NUMPY_TO_ST[np.dtype(le)]
            arr = np.ascontiguousarray(arr.astype(le, copy=False))
        yield name, arr, dtype


def header_bytes(tensors, metadata=None):
    """Returns (the 8-byte length + padded JSON header, [(name, array)] in data order)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    layout = []
    offset = 0
    for name, arr, dtype in _normalize(tensors):
        size = arr.nbytes
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + size]}
        layout.append((name, arr))
        offset += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    pad = (-(8 + len(text))) % ALIGNMENT
    text += b" " * pad
    return struct.pack("<Q", len(text)) + text, layout


def write(f, tensors, metadata=None, block=1 << 20):
    """Writes a safetensors file to the binary file object f (streamed in `block`-byte writes).

    Returns {name: (absolute file offset of the tensor's data, nbytes)}.
    """
    head, layout = header_bytes(tensors, metadata)
    f.write(head)
    pos = len(head)
    offsets = {}
    for name, arr in layout:
        raw = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else memoryview(b"")
        offsets[name] = (pos, len(raw))
        for i in range(0, len(raw), block):
            f.write(raw[i:i + block])
        pos += len(raw)
    return offsets


def save(path, tensors, metadata=None):
    """Writes a safetensors file at path; returns what write() returns."""
    with open(path, "wb") as f:
        return write(f, tensors, metadata)


def serialize(tensors, metadata=None):
    """Returns a whole safetensors file as bytes (for small tensors)."""
    import io
    buf = io.BytesIO()
    write(buf, tensors, metadata)
    return buf.getvalue()


def read_header(path_or_file):
    """Returns (header dict including any __metadata__, absolute offset of the data section)."""
    def parse(f):
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("file too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 << 20:
            raise ValueError("safetensors header length %d is implausible" % n)
        text = f.read(n)
        if len(text) != n:
            raise ValueError("truncated safetensors header")
        return json.loads(text.decode("utf-8")), 8 + n
    if hasattr(path_or_file, "read"):
        return parse(path_or_file)
    with open(path_or_file, "rb") as f:
        return parse(f)


def load_tensor(path, name, header=None, data_start=None, mode="r"):
    """Returns tensor `name` as a numpy.memmap (BF16 comes back as its uint16 bits)."""
    if header is None:
        header, data_start = read_header(path)
    info = header[name]
    begin, end = info["data_offsets"]
    dtype = np.dtype(DTYPES[info["dtype"]])
    shape = tuple(info["shape"])
    count = int(np.prod(shape)) if shape else 1
    if count * dtype.itemsize != end - begin:
        raise ValueError("%s: data_offsets do not match dtype and shape" % name)
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode=mode, offset=data_start + begin, shape=shape)
