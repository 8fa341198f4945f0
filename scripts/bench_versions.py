#!/usr/bin/python3
"""Python parts of scripts/bench_versions.sh (a benchmark, not a test): data generation for
the snapshot-time repositories, the safetensors model and its three variants, and the final
report with its markdown table.

Uses Debian's /usr/bin/python3 with numpy, and tests/integration/safetensors_writer.py (on
PYTHONPATH) for the safetensors files.
"""
import json
import os
import statistics
import sys

import numpy as np

MIB = 1 << 20
BLOCK = 64 * MIB


def die(msg):
    print("bench_versions: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Data.

def cmd_gen(path, size_mib, seed):
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


def cmd_model(outdir, hidden, seed, info_path):
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


# ---------------------------------------------------------------------------------------------
# Report.

def human(n):
    n = float(n)
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%s%.2f %s" % (sign, n / div, unit)
    return "%s%d B" % (sign, n)


def ms(s):
    v = s * 1000
    return "%.0f ms" % v if v >= 100 else "%.1f ms" % v


def size_label(mib):
    mib = int(mib)
    return "%g GiB" % (mib / 1024) if mib % 1024 == 0 else "%d MiB" % mib


def read_results(path):
    """Lines `key<TAB>value...`; repeated keys accumulate."""
    res = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                res.setdefault(parts[0], []).append(parts[1:])
    return res


def cmd_report(results_path, info_path, small_mib, large_mib, nfiles, rounds, cmdline):
    res = read_results(results_path)
    with open(info_path) as f:
        info = json.load(f)

    def vals(key):
        return [float(v[0]) for v in res.get(key, [])]

    def one(key):
        v = vals(key)
        return v[-1] if v else None

    sizes = [int(small_mib), int(large_mib)]
    labels = [size_label(m) for m in sizes]
    rounds = int(rounds)

    print("## Raw measurements")
    print()
    for m, lab in zip(sizes, labels):
        off, mnt = vals("offline_%d" % m), vals("mount_%d" % m)
        print("%-8s offline `weightfs snapshot`:    %s" % (lab, "  ".join(ms(x) for x in off)))
        print("%-8s mount `mkdir .versions/tags`:  %s" % (lab, "  ".join(ms(x) for x in mnt)))
    print()

    print("## Snapshot creation time")
    print()
    print("Median (and minimum) of %d; %d weight files per repository, distinct random data. Offline: the "
          "whole `weightfs snapshot REPO` process (start, unlock with the test-only fast KDF, "
          "record), after a 4 KiB write made through a mount and committed at unmount. On a "
          "mount: `mkdir .versions/tags/NAME` right after a 4 KiB write into one of the files, "
          "so the time includes committing that change." % (rounds, int(nfiles)))
    print()
    print("| Snapshot of a repository of | %s | %s | %s / %s |" % (labels[0], labels[1], labels[1], labels[0]))
    print("|---|--:|--:|--:|")
    for key, label in (("offline", "`weightfs snapshot REPO` (offline)"),
                       ("mount", "`mkdir MNT/.versions/tags/NAME` (on a mount)")):
        a, b = vals("%s_%d" % (key, sizes[0])), vals("%s_%d" % (key, sizes[1]))
        if a and b:
            ma, mb = statistics.median(a), statistics.median(b)
            print("| %s | %s (min %s) | %s (min %s) | %.2f× |" % (
                label, ms(ma), ms(min(a)), ms(mb), ms(min(b)), mb / ma))
    ia, ib = one("import_%d" % sizes[0]), one("import_%d" % sizes[1])
    if ia and ib:
        print("| for scale: `weightfs import` of the data | %.2f s | %.1f s | %.0f× |" % (ia, ib, ib / ia))
    print()

    fsize = info["files"]["base"]["size"]
    changed = info["changed_bytes"]
    print("## Repository growth per version of one safetensors file")
    print()
    print("`model.safetensors`: %s, %d bf16 tensors from %s to %s. Each variant is stored as a new "
          "version of the same path, in this order, and the growth is the increase of the "
          "repository's stored bytes (`weightfs stats --json`: every object, encrypted, "
          "including trees, file objects and snapshots). Import: `weightfs import REPO FILE --to "
          "/model.safetensors`. Mount: `cp FILE MNT/model.safetensors` then `mkdir "
          "MNT/.versions/tags/NAME`, `weightfs umount`." % (
              human(fsize), info["tensors"], human(info["min_tensor"]), human(info["max_tensor"])))
    print()
    rows = [
        ("base", "base model (first version, empty repository)", None),
        ("resave", "identical re-save", "< 1% of the file"),
        ("meta", "header metadata changed (+%d `__metadata__` entries, header +%d B, all tensor "
                 "data shifted)" % (info["meta_entries_added"], info["header_growth"]), "< 1% of the file"),
        ("tenth", "one tensor in ten changed (%d of %d tensors rewritten: %s = %.1f%% of the file)" % (
            len(info["changed"]), info["tensors"], human(changed), 100.0 * changed / fsize),
         "little more than %s" % human(changed)),
    ]
    paths = [p for p in ("import", "mount") if any(("growth_%s_%s" % (p, r[0])) in res for r in rows)]
    head = "| New version of model.safetensors | " + " | ".join(
        "%s: growth | %% of file" % p for p in paths) + " | goal |"
    print(head)
    print("|---|" + "--:|--:|" * len(paths) + "---|")
    for key, label, goal in rows:
        cells = []
        for p in paths:
            g = one("growth_%s_%s" % (p, key))
            if g is None:
                cells += ["—", "—"]
                continue
            pct = "%.3f%%" % (100.0 * g / fsize) if key != "base" else "%.2f%%" % (100.0 * g / fsize)
            if key == "tenth":
                pct += " (%.3f× the changed tensors)" % (g / changed)
            cells += [human(g), pct]
        print("| %s | %s | %s |" % (label, " | ".join(cells), goal or "—"))
    print()
    for p in paths:
        u = one("unreachable_%s" % p)
        if u is not None:
            print("- %s path: %s of unreachable objects left after the four versions "
                  "(`weightfs gc --dry-run --grace 0`), included in the growth above." % (p, human(u)))
    print("- exact byte counts: " + "; ".join(
        "%s %s %d B" % (p, k, int(one("growth_%s_%s" % (p, k))))
        for p in paths for k, _, _ in rows if one("growth_%s_%s" % (p, k)) is not None))
    print()
    print("Command line: `%s`" % cmdline)


def main():
    cmds = {"gen": cmd_gen, "model": cmd_model, "report": cmd_report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        die("usage: bench_versions.py gen|model|report ARGS...")
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
