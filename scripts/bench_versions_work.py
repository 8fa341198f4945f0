#!/usr/bin/python3
"""The data of the versions benchmark (scripts/bench_versions.sh, driven by
scripts/bench_versions.py; a benchmark, not a test): the snapshot-time repositories' random
files and the safetensors model with its three variants. The driver runs each subcommand as its
own process: `bench_versions_work.py gen PATH MIB SEED` and
`bench_versions_work.py model OUTDIR HIDDEN SEED INFO_JSON`.

Uses Debian's /usr/bin/python3 with numpy, and tests/integration/safetensors_writer.py.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))

MIB = 1 << 20
BLOCK = 64 * MIB


def die(msg):
    print("bench_versions_work: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def gen_random(path, size_mib, seed):
    """Writes SIZE_MIB MiB of distinct pseudo-random bytes (Philox, a counter-based generator
    keyed by SEED: fast, incompressible, nothing for dedup to find) to PATH."""
    size = int(size_mib) * MIB
    bg = np.random.Philox(key=int(seed))
    with open(path, "wb") as f:
        for start in range(0, size, BLOCK):
            n = min(BLOCK, size - start)
            f.write(memoryview(bg.random_raw(n // 8)).cast("B"))
        f.flush()
        os.fsync(f.fileno())


def bf16_weights(shape, seed, norm=False):
    """bfloat16 bits (uint16) of plausible weights: random sign and mantissa, magnitudes
    2^-7 .. 2^-3 (norm weights: about 1.0). Built from raw Philox output, which is much faster
    than rounding float32 normals with float32_to_bf16 and just as good for chunking and dedup."""
    n = int(np.prod(shape))
    raw = np.random.Philox(key=int(seed)).random_raw((n + 3) // 4).view("<u2")[:n]
    if norm:
        bits = (raw & 0x007F) | 0x3F80            # 1.0 .. 2.0
    else:
        bits = (raw & 0x81FF) | 0x3C00            # +-[2^-7, 2^-3)
    return bits.astype("<u2", copy=False).reshape(shape)


def model_layout(hidden):
    """24 tensors of a small Llama-like model (sizes vary from 4 KiB to 128 MiB at hidden=2048,
    ~514 MiB in all; the proportions do not depend on hidden):
    embeddings, 3 layers of q/k/v/o + gate/up/down projections, final norm, lm_head."""
    h = int(hidden)
    vocab, inter, kv = 16 * h, h * 11 // 4, h // 4
    names = [("model.embed_tokens.weight", (vocab, h), False)]
    for layer in range(3):
        p = "model.layers.%d." % layer
        names += [
            (p + "self_attn.q_proj.weight", (h, h), False),
            (p + "self_attn.k_proj.weight", (kv, h), False),
            (p + "self_attn.v_proj.weight", (kv, h), False),
            (p + "self_attn.o_proj.weight", (h, h), False),
            (p + "mlp.gate_proj.weight", (inter, h), False),
            (p + "mlp.up_proj.weight", (inter, h), False),
            (p + "mlp.down_proj.weight", (h, inter), False),
        ]
    names += [("model.norm.weight", (h,), True), ("lm_head.weight", (vocab, h), False)]
    assert len(names) == 24
    return names


# Tensors rewritten in the "one tensor in ten" variant: 3 of the 24 (positions 3, 12, 21,
# about every eighth to tenth), about 9% of the data at any hidden size.
CHANGED = (3, 12, 21)


def gen_model(outdir, hidden, seed, info_path):
    """Writes base / resave / meta / tenth .safetensors into OUTDIR and a JSON description
    (sizes, header lengths, changed tensors) to INFO_PATH."""
    import safetensors_writer as sw
    seed = int(seed)
    layout = model_layout(hidden)
    tensors = {}
    for i, (name, shape, norm) in enumerate(layout):
        tensors[name] = (bf16_weights(shape, seed * 1000 + i, norm), "BF16")
    meta = {"format": "pt"}
    files = {}

    def save(tag, tens, md):
        path = os.path.join(outdir, tag + ".safetensors")
        sw.save(path, tens, md)
        header, data_start = sw.read_header(path)
        files[tag] = {"path": path, "size": os.path.getsize(path), "data_start": data_start}

    save("base", tensors, meta)
    # Identical re-save: the same tensors and metadata written again (byte-identical file).
    save("resave", tensors, meta)
    # Header metadata changed: extra __metadata__ entries, so the header grows and every
    # tensor's data moves by the same number of bytes.
    meta2 = dict(meta)
    meta2.update({"training_step": "12000", "learning_rate": "2e-5",
                  "base_model": "bench/weightfs-versions-base",
                  "notes": "metadata-only change: " + "x" * 200})
    save("meta", tensors, meta2)
    # One tensor in ten changed: the data of CHANGED tensors rewritten (same shapes, so the
    # header and every other tensor stay where they were).
    changed = []
    tens3 = dict(tensors)
    for i in CHANGED:
        name, shape, norm = layout[i]
        tens3[name] = (bf16_weights(shape, seed * 1000 + 500 + i, norm), "BF16")
        changed.append({"name": name, "shape": list(shape), "bytes": int(np.prod(shape)) * 2})
    save("tenth", tens3, meta)
    with open(os.path.join(outdir, "base.safetensors"), "rb") as a, \
            open(os.path.join(outdir, "resave.safetensors"), "rb") as b:
        while True:
            x, y = a.read(BLOCK), b.read(BLOCK)
            if x != y:
                die("the re-saved model differs from the base model")
            if not x:
                break
    sizes = [int(np.prod(shape)) * 2 for _, shape, _ in layout]
    info = {"tensors": len(layout), "files": files, "changed": changed,
            "min_tensor": min(sizes), "max_tensor": max(sizes), "hidden": int(hidden),
            "changed_bytes": sum(c["bytes"] for c in changed),
            "meta_entries_added": len(meta2) - len(meta),
            "header_growth": files["meta"]["data_start"] - files["base"]["data_start"]}
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)



if __name__ == "__main__":
    COMMANDS = {"gen": gen_random, "model": gen_model}
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: bench_versions_work.py gen|model ARGS...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
