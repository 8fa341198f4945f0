#!/usr/bin/env bash
# weightfs cache stats|clear: counts the entries of a cache directory (the state directory's
# cache/ by default, or --cache-dir) and empties it while others read it: an entry a process has
# open stays readable after clear, temp files being written stay, the directories stay.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

C=$T/cache
A=aa$(printf 'a%.0s' $(seq 62))
B=bb$(printf 'b%.0s' $(seq 62))

section "an empty or missing cache"
export WEIGHTFS_STATE_DIR=$T/state
expect_rc 0 "stats of the default directory (missing)" "$WFS" cache stats
check "it is the state directory's cache/" contains "$OUT" "$T/state/cache"
check "no entries" contains "$OUT" "entries:         0"
check "the bound is unknown" contains "$OUT" "unknown"
expect_rc 2 "cache without a subcommand is a usage error" "$WFS" cache

section "stats"
mkdir -p "$C/objects/aa" "$C/objects/bb" "$C/tmp"
head -c 3000 /dev/urandom >"$C/objects/aa/$A"
head -c 5000 /dev/urandom >"$C/objects/bb/$B"
echo junk >"$C/objects/aa/not-an-entry"
echo 4294967296 >"$C/max_bytes"
expect_rc 0 "stats" "$WFS" cache stats --cache-dir "$C"
check "two entries (not the stray file)" contains "$OUT" "entries:         2"
check "their bytes" contains "$OUT" "bytes:           8000 (7.8 KiB)"
check "the recorded bound" contains "$OUT" "max:             4294967296 (4.0 GiB)"
check "the directory" contains "$OUT" "cache directory: $C"
expect_rc 0 "stats --json" "$WFS" cache stats --cache-dir "$C" --json
check "JSON counts" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert (j["entries"], j["bytes"], j["max_bytes"], j["dir"]) == (2, 8000, 4294967296, sys.argv[2]), j
' "$OUT" "$C"

section "clear while a process reads an entry"
cp "$C/objects/bb/$B" "$T/b.copy"
touch "$C/tmp/.~tmp-0123456789abcdef"  # being written by another process right now
# The reader opens the entry, waits until clear has run, then reads it whole.
"$PY" - "$C/objects/bb/$B" "$T/b.read" "$T/go" <<'PY' &
import os, sys, time
f = open(sys.argv[1], "rb")
open(sys.argv[3] + ".open", "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
open(sys.argv[2], "wb").write(f.read())
PY
READER=$!
while [ ! -e "$T/go.open" ]; do sleep 0.01; done
expect_rc 0 "clear" "$WFS" cache clear --cache-dir "$C"
touch "$T/go"
wait "$READER"
check "it says what it removed" contains "$OUT" "removed 2 cached objects (7.8 KiB)"
check "the reader read the whole entry after clear" same_file "$T/b.copy" "$T/b.read"
check "the entries are gone" test ! -e "$C/objects/bb/$B"
check "the stray file stays" test -e "$C/objects/aa/not-an-entry"
check "a fresh temp file stays" test -e "$C/tmp/.~tmp-0123456789abcdef"
check "the directories stay" test -d "$C/objects/aa"
expect_rc 0 "stats after clear" "$WFS" cache stats --cache-dir "$C"
check "no entries" contains "$OUT" "entries:         0"
expect_rc 0 "clear of an empty cache" "$WFS" cache clear --cache-dir "$C"
check "nothing removed" contains "$OUT" "removed 0 cached objects"

section "errors"
echo x >"$T/file"
expect_rc 8 "stats of a file" "$WFS" cache stats --cache-dir "$T/file"
check "the message says so" contains "$ERR" "the cache directory $T/file is not a directory"
expect_rc 8 "clear of a file" "$WFS" cache clear --cache-dir "$T/file"
check "the file stays" test -f "$T/file"

finish
