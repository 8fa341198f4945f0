#!/usr/bin/env bash
# The main job on a demo repository: installs what is needed, builds, generates a small
# safetensors model, encrypts it into a new repository, mounts the repository and reads a tensor
# through the mount with numpy.memmap (as a framework would), writes a fine-tuned version
# through the mount, takes a snapshot from the mount, browses the older version under the hidden
# .versions/ directory, unmounts, shows the history and what changed between the versions, and
# publishes the model to a guest key through an access policy (a read-only guest mount).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
./scripts/setup.sh
./scripts/build.sh > /dev/null
W="$ROOT/build/weightfs"
PY=/usr/bin/python3
DEMO=${DEMO_DIR:-/tmp/weightfs-demo}
MNT="$DEMO/mnt"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  if grep -q " $MNT fuse.weightfs " /proc/mounts 2>/dev/null; then "$W" umount "$MNT" || fusermount3 -u -z "$MNT"; fi
}
trap cleanup EXIT
cleanup
rm -rf "$DEMO"
mkdir -p "$DEMO/src/llama-mini" "$MNT"

# The passphrase sits in a file only for the demo; interactively weightfs asks without echo.
printf 'correct horse battery staple\n' > "$DEMO/passphrase"
chmod 600 "$DEMO/passphrase"
P=(--passphrase-file "$DEMO/passphrase")

step "Generating a 64 MiB bf16 safetensors model with numpy"
PYTHONPATH="$ROOT/tests/integration" "$PY" - "$DEMO/src/llama-mini/model.safetensors" <<'PYEOF'
import sys
import numpy as np
import safetensors_writer as st
rng = np.random.default_rng(7)
tensors = {}
for layer in range(4):
    for name, shape in [("attn.q", (1024, 1024)), ("attn.k", (1024, 1024)), ("mlp.up", (1024, 2048))]:
        w = rng.standard_normal(shape, dtype=np.float32) * 0.02
        tensors["layers.%d.%s.weight" % (layer, name)] = (st.float32_to_bf16(w), "BF16")
tensors["embed.weight"] = rng.standard_normal((4096, 256), dtype=np.float32)
st.save(sys.argv[1], tensors, metadata={"format": "pt", "model": "llama-mini"})
print("wrote %s" % sys.argv[1])
PYEOF
echo '{"architectures": ["LlamaMini"], "hidden_size": 1024}' > "$DEMO/src/llama-mini/config.json"

step "weightfs init (scrypt N=2^17: the passphrase takes a moment, by design)"
"$W" init "$DEMO/repo" "${P[@]}"

step "weightfs import: encrypt the model into the repository (snapshot tagged v1)"
"$W" import "$DEMO/repo" "$DEMO/src" -m "llama-mini v1" "${P[@]}"
"$W" tag "$DEMO/repo" latest v1 "${P[@]}"
"$W" ls -l -r "$DEMO/repo" "${P[@]}"

step "What is on disk: no names, no tensor names, no weights in the clear"
find "$DEMO/repo" -maxdepth 2 | head -8
if grep -r -a -q "layers.0.attn" "$DEMO/repo"; then echo "tensor names leaked!"; exit 1; fi
echo "grep for a tensor name in the repository: nothing found"

step "weightfs mount: the repository as an ordinary directory"
"$W" mount "$DEMO/repo" "$MNT" --log-file "$DEMO/mount.log" "${P[@]}"
ls -l "$MNT/llama-mini"

step "A framework-style read: numpy.memmap of one tensor at the offsets from the header"
PYTHONPATH="$ROOT/tests/integration" "$PY" - "$MNT/llama-mini/model.safetensors" "$DEMO/src/llama-mini/model.safetensors" <<'PYEOF'
import sys
import numpy as np
import safetensors_writer as st
mounted, original = sys.argv[1], sys.argv[2]
header, start = st.read_header(mounted)
names = sorted(k for k in header if k != "__metadata__")
print("%d tensors, metadata %s" % (len(names), header.get("__metadata__")))
t = st.load_tensor(mounted, "layers.2.mlp.up.weight")
ref = st.load_tensor(original, "layers.2.mlp.up.weight")
vals = st.bf16_to_float32(t[:2, :4])
print("layers.2.mlp.up.weight", t.shape, "first values", np.round(vals, 4).tolist())
assert np.array_equal(t, ref), "tensor differs from the original"
print("memmap through the mount matches the original byte for byte")
PYEOF

step "Writing a fine-tuned variant through the mount (one tensor changed)"
PYTHONPATH="$ROOT/tests/integration" "$PY" - "$MNT/llama-mini" <<'PYEOF'
import sys
import numpy as np
import safetensors_writer as st
d = sys.argv[1]
header, start = st.read_header(d + "/model.safetensors")
tensors = {}
for name in [k for k in header if k != "__metadata__"]:
    arr = np.array(st.load_tensor(d + "/model.safetensors", name))
    tensors[name] = (arr, header[name]["dtype"])
tensors["embed.weight"] = (tensors["embed.weight"][0] * 1.01, "F32")
st.save(d + "/model.safetensors", tensors, metadata={"format": "pt", "model": "llama-mini-ft"})
print("rewrote model.safetensors with a fine-tuned embed.weight")
PYEOF
ls -l "$MNT/llama-mini"

step "mkdir .versions/tags/v2: a snapshot of the mount, tagged v2"
mkdir "$MNT/.versions/tags/v2"
ls -a "$MNT" | tr '\n' ' '; echo "  (.versions is hidden from listings, reachable by name)"
ls "$MNT/.versions" "$MNT/.versions/tags"

step "Browsing the older version: v1 is still there, read-only and byte-exact"
PYTHONPATH="$ROOT/tests/integration" "$PY" - "$MNT" "$DEMO/src/llama-mini/model.safetensors" <<'PYEOF'
import sys
import numpy as np
import safetensors_writer as st
mnt, original = sys.argv[1], sys.argv[2]
old = st.load_tensor(mnt + "/.versions/tags/v1/llama-mini/model.safetensors", "embed.weight")
new = st.load_tensor(mnt + "/llama-mini/model.safetensors", "embed.weight")
ref = st.load_tensor(original, "embed.weight")
assert np.array_equal(old, ref), "v1 differs from the original"
print("v1 embed.weight[0,:3] =", np.round(old[0, :3], 4).tolist(), "(as imported)")
print("live embed.weight[0,:3] =", np.round(new[0, :3], 4).tolist(), "(fine-tuned)")
PYEOF
if touch "$MNT/.versions/tags/v1/x" 2>/dev/null; then echo "versions must be read-only"; exit 1; fi
echo "writing below .versions: Read-only file system (as it should be)"

step "weightfs umount: returns once everything is committed"
"$W" umount "$MNT"
tail -n 3 "$DEMO/mount.log"

step "The repository afterwards: history, what changed between v1 and v2, dedup, a full check"
"$W" log "$DEMO/repo" "${P[@]}"
"$W" diff "$DEMO/repo" v1 v2 "${P[@]}"
"$W" stats "$DEMO/repo" "${P[@]}"
"$W" check --read-data "$DEMO/repo" "${P[@]}"

step "weightfs export of v1 equals the source"
"$W" export "$DEMO/repo" "$DEMO/exported" --version v1 "${P[@]}"
diff -r "$DEMO/src" "$DEMO/exported" && echo "export is identical to the source"

step "Access policies: publish llama-mini to guests, keep everything else private"
cat > "$DEMO/policy.yaml" <<'YAML'
version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  guest:
    rules:
      - paths: ["/", "/llama-mini/**"]
        allow: [list, read]
      - paths: ["/llama-mini/**/drafts/**"]
        deny: [all]
bindings:
  - role: admin
    users: [root]
YAML
"$W" policy check "$DEMO/policy.yaml"
"$W" policy set "$DEMO/repo" "$DEMO/policy.yaml" "${P[@]}"
"$W" policy explain "$DEMO/policy.yaml" --role guest --op read /llama-mini/model.safetensors || true
"$W" policy explain "$DEMO/policy.yaml" --role guest --op update /llama-mini/model.safetensors || true
"$W" key add "$DEMO/repo" --name guest --role guest --new-key-file "$DEMO/guest.key" "${P[@]}"
"$W" mount "$DEMO/repo" "$MNT" --key-file "$DEMO/guest.key" --log-file "$DEMO/guest-mount.log"
grep " $MNT " /proc/mounts | awk '{print "guest mount options:", $4}'
ls -l "$MNT" "$MNT/llama-mini"
if touch "$MNT/llama-mini/x" 2>/dev/null; then echo "a guest mount must be read-only"; exit 1; fi
echo "writing with the guest key: Read-only file system (its role can write nowhere)"
"$W" umount "$MNT"

echo
echo "Demo finished. Repository: $DEMO/repo (passphrase in $DEMO/passphrase)."
