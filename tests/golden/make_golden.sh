#!/usr/bin/env bash
# Makes the golden fixture repository tests/golden/v1 with the real binary. Run ONCE per format
# version: the committed fixture must open forever, so it is never regenerated for format v1
# (regenerating gives different random keys and ids anyway). See tests/golden/README.md.
#
#   tests/golden/make_golden.sh [OUT_DIR]     (default tests/golden/v1; must not exist)
#
# WEIGHTFS_BINARY overrides build/weightfs. Sources are deterministic; the repository is not.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${WEIGHTFS_BINARY:-$PWD/build/weightfs}"
OUT="${1:-tests/golden/v1}"
if [ -e "$OUT" ]; then
  echo "$OUT exists; a golden fixture is never overwritten (bump the format version instead)" >&2
  exit 1
fi

export WEIGHTFS_PASSPHRASE="golden-passphrase"
export WEIGHTFS_INSECURE_FAST_KDF=1
export TZ=UTC
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT

# Snapshot 1: a small model directory.
mkdir -p "$SRC/model/nested/deeper"
printf '{"architectures": ["TinyModel"], "hidden_size": 8}\n' > "$SRC/model/config.json"
: > "$SRC/model/empty.txt"
printf 'nested notes\n' > "$SRC/model/nested/deeper/notes.md"
printf 'spaces are fine\n' > "$SRC/model/name with spaces.txt"
# 70000 bytes (two 64 KiB frames): byte i = (i * 7 + i / 251) mod 256.
python3 -c '
import sys
sys.stdout.buffer.write(bytes((i * 7 + i // 251) % 256 for i in range(70000)))' > "$SRC/model/blob.bin"
# A safetensors file: "a" F32 [2, 2] = 1.0, 2.0, 3.0, 4.0 and "b" BF16 [4] = 1, -1, 0.5, 2.
python3 -c '
import json, struct, sys
a = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
b = bytes.fromhex("803f80bf003f0040")
header = {"__metadata__": {"format": "pt"},
          "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
          "b": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]}}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-(8 + len(h)) % 8)
sys.stdout.buffer.write(struct.pack("<Q", len(h)) + h + a + b)' > "$SRC/model/model.safetensors"
ln -s model.safetensors "$SRC/model/latest"
chmod 0600 "$SRC/model/name with spaces.txt"
chmod 0750 "$SRC/model/nested"
find "$SRC/model" -depth -exec touch -h -d '@1700000000' {} +
touch -h -d '@1700000123' "$SRC/model/config.json"

# Snapshot 2: config.json replaced.
mkdir -p "$SRC/v2"
printf '{"architectures": ["TinyModel"], "hidden_size": 16}\n' > "$SRC/v2/config.json"
touch -d '@1700086400' "$SRC/v2/config.json"

"$BIN" init "$OUT"
"$BIN" import "$OUT" "$SRC/model" -m "golden: first import"
"$BIN" import "$OUT" "$SRC/v2/config.json" --to /config.json -m "golden: second config"
"$BIN" check --read-data "$OUT"
"$BIN" log "$OUT"
(cd "$SRC/model" && sha256sum blob.bin config.json empty.txt model.safetensors "name with spaces.txt" nested/deeper/notes.md)
sha256sum "$SRC/v2/config.json"
rm -f "$OUT/.~files.lock"
du -sh "$OUT"
