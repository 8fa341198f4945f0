#!/usr/bin/env bash
# BENCHMARK (not a test: never registered in ctest, no pass/fail on timings). Measures what the
# per-path access policies (issue 5) cost on a mount: every lookup, getattr and open is decided
# by the policy, and a shared (`--allow-other`) mount tells the kernel to cache no entries or
# attributes (timeouts 0, so that one user's cached lookup never answers another user), while a
# private mount keeps 1 s caches.
#
# One tree is generated: BENCH_FILES (5,000) small files of 1-16 KiB in BENCH_DIRS (50)
# directories below /team, plus /team/big.bin of BENCH_BIG_MIB (256) MiB, all seeded random
# data. It is imported with `weightfs import` into two repositories: one that never gets a
# policy (the built-in one applies) and one that gets a large policy with `weightfs policy set`
# (a policy cannot be unset, so the built-in case needs its own repository; both hold the same
# tree, imported the same way). Measured, for each configuration (BENCH_CONFIGS):
#   1. `ls -lR` of the tree, cold: after unmount + mount, `sync; echo 3 > drop_caches`
#   2. `ls -lR` again right away (warm)
#   3. a Python loop of os.stat over every directory and file (warm)
#   4. os.open + os.read + os.close of BENCH_READS (2,000) seeded-random small files (warm: the
#      same files were read once just before, untimed)
#   5. sequential read of big.bin in 1 MiB reads, cold (unmount + mount, caches dropped)
#   6. the same read again right away (warm)
# Configurations (the first one is the baseline of the ratios):
#   plain        (a) the generated tree itself, a plain directory on the same disk
#   builtin      (b) private mount (no --allow-other) of the repository without a policy: the
#                    built-in policy, the admin key slot
#   policy       (c) private mount of the repository with the large policy (config/
#                    policy-team.yaml's roles, root bound to admin, plus BENCH_EXTRA_ROLES (30)
#                    more roles and extra rules with * and ** patterns; see make_policy below)
#   shared       (d) the same repository mounted with --allow-other, requests by root
#   shared-user  (d) the same shared mount, requests by a user this script creates (useradd)
#                    whose group is bound to the member role (run with setpriv)
#   audit        (e) shared mount with --audit-log F --audit-all, requests by root
#   audit-user   (e) the same, requests by the created user (not in the default list)
# Rounds alternate over the configurations (BENCH_ROUNDS rounds) and the best (lowest) time of
# each measurement is reported. Every result is checked outside the timed part (listing counts
# and sizes, stat sizes, CRC-32 of every byte read), so a mount that hides or mangles files
# cannot produce a number.
#
# Needs root (drop_caches, useradd, a shared mount) and FUSE. Progress goes to stderr, a
# markdown report (machine, command, commit, table) to stdout:
#   sudo ./scripts/bench_policy.sh > bench-policy.md
#
# Environment:
#   BENCH_ROUNDS (3)      rounds; each round runs every configuration once
#   BENCH_DIR (/var/tmp/weightfs-bench-policy)  work dir on a real disk; a run.* dir inside it
#                         is created and removed again (BENCH_DIR itself too, if left empty)
#   BENCH_CONFIGS ("plain builtin policy shared shared-user audit")
#   BENCH_FILES (5000), BENCH_DIRS (50), BENCH_READS (2000), BENCH_BIG_MIB (256)
#   BENCH_EXTRA_ROLES (30)  extra roles in the large policy; BENCH_SEED (42)
#   BENCH_TOP (team)      where the tree goes: /team (visible to admin and member, not to guest:
#                         on a shared mount every path differs between roles, nothing is cached)
#                         or /public with its first directory named drafts (which guest may not
#                         see: the only subtree that differs, the rest is cached like on a
#                         private mount). With public, use BENCH_EXTRA_ROLES=0: the extra roles,
#                         bound to groups no user is in here, see nothing of /public
#   BENCH_STEP_TIMEOUT (600) seconds before one step counts as hung
#   WEIGHTFS_BINARY       the binary to measure (default build/weightfs, which this script
#                         does not rebuild); it is copied into the run dir first, so a
#                         concurrent rebuild cannot change it mid-run
set -Eeuo pipefail
export LC_ALL=C
umask 022

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/weightfs-bench-policy}
CONFIGS=${BENCH_CONFIGS:-plain builtin policy shared shared-user audit}
NFILES=${BENCH_FILES:-5000}
NDIRS=${BENCH_DIRS:-50}
NREADS=${BENCH_READS:-2000}
BIG_MIB=${BENCH_BIG_MIB:-256}
EXTRA_ROLES=${BENCH_EXTRA_ROLES:-30}
SEED=${BENCH_SEED:-42}
TREE_TOP=${BENCH_TOP:-team}
[[ $TREE_TOP == team || $TREE_TOP == public ]] || { echo "BENCH_TOP must be team or public" >&2; exit 2; }
export BENCH_TOP=$TREE_TOP
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-600}
PASS=bench-policy-passphrase
BENCH_TAG=bench-policy
# log, die, the cleanup trap, step, record, wfs_mount, ... (see its header)
# shellcheck source=scripts/bench_common.sh
source "$ROOT/scripts/bench_common.sh"
bench_command_line BENCH_ROUNDS BENCH_DIR BENCH_CONFIGS BENCH_FILES BENCH_DIRS BENCH_READS BENCH_BIG_MIB \
  BENCH_EXTRA_ROLES BENCH_SEED BENCH_STEP_TIMEOUT WEIGHTFS_BINARY
(( $# == 0 )) || die "bench_policy.sh takes no arguments; configure it with the BENCH_* variables (see above)"

require_positive ROUNDS NFILES NDIRS NREADS BIG_MIB SEED STEP_TIMEOUT
[[ $EXTRA_ROLES =~ ^[0-9]+$ ]] || die "BENCH_EXTRA_ROLES must be a number (got '$EXTRA_ROLES')"
(( NREADS <= NFILES )) || die "BENCH_READS ($NREADS) must not exceed BENCH_FILES ($NFILES)"
(( NDIRS <= NFILES )) || die "BENCH_DIRS ($NDIRS) must not exceed BENCH_FILES ($NFILES)"
NEED_USER=0
for c in $CONFIGS; do
  case $c in
    plain|builtin|policy|shared|audit) ;;
    shared-user|audit-user) NEED_USER=1 ;;
    *) die "unknown configuration in BENCH_CONFIGS: $c" ;;
  esac
done
[[ -n ${CONFIGS// /} ]] || die "BENCH_CONFIGS is empty"

# --- Preconditions ---------------------------------------------------------------------------
require_root_fuse "drop_caches, useradd and shared mounts need it"
[[ -x $PY ]] || die "$PY is missing"
if (( NEED_USER )); then
  for c in useradd userdel groupadd groupdel setpriv; do
    command -v "$c" >/dev/null || die "$c is not installed (needed for the *-user configurations)"
  done
fi

# --- State for the cleanup trap: only what this script created or started. -----------------
RUN=""
WFS=""
WFS_MNT="" WFS_PID=""      # the mounted weightfs mountpoint and its daemon's pid
BUSER="" BGROUP=""         # the user and group this script created (empty until created)
CUR_LOG=""
RESULTS="" NOTES=""

cleanup_extra() {  # run by cleanup after the weightfs unmount: the user and group we created
  if [[ -n $BUSER ]]; then
    log "cleanup: removing the user $BUSER"
    retry userdel "$BUSER" || log "cleanup: could not remove the user $BUSER; remove it by hand"
  fi
  if [[ -n $BGROUP ]] && getent group "$BGROUP" >/dev/null; then
    retry groupdel "$BGROUP" || log "cleanup: could not remove the group $BGROUP; remove it by hand"
  fi
}
bench_traps

# --- Helpers ---------------------------------------------------------------------------------
wfs() { WEIGHTFS_PASSPHRASE=$PASS WEIGHTFS_INSECURE_FAST_KDF=1 step "$WFS" "$@"; }

# Mount options and repository of each configuration (all mounts use the same mountpoint).
MOUNT_REPO="" MOUNT_ARGS=()
wfs_mount_config() { wfs_mount "$RUN/mnt" "$MOUNT_REPO" --log-file "$RUN/weightfs.log" "${MOUNT_ARGS[@]}"; }

# as CONFIG CMD...: runs CMD as the caller of the configuration (root, or the created user).
as() {
  local cfg=$1
  shift
  if [[ $cfg == *-user ]]; then
    (cd / && step setpriv --reuid="$BUSER" --regid="$BGROUP" --init-groups -- "$@")
  else
    step "$@"
  fi
}
measure() {  # measure ROUND CONFIG KEY SUBCOMMAND ARGS...: one timed workload, as the caller
  local r=$1 cfg=$2 key=$3 dt
  shift 3
  dt=$(as "$cfg" "$PY" -I "$PYF" "$@")  # an assignment, so that a failure stops the run
  record "$r" "$cfg" "$key" "$dt"
}

# --- The Python part (timed workloads, data, policy, table), written into the run dir --------
write_python() {
cat >"$1" <<'PYEOF'
"""Python parts of scripts/bench_policy.sh (a benchmark, not a test). Every timed subcommand
prints the seconds of its timed part (one number) and checks its results afterwards, outside
the timed part; a wrong result exits non-zero."""
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
        die("ls -lR %s failed (%d): %s" % (top, p.returncode, p.stderr.decode(errors="replace")[:500]))
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
    y = ["# Generated by scripts/bench_policy.sh: config/policy-team.yaml plus extra roles and rules.",
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


LABELS = {
    "plain": "(a) plain directory",
    "builtin": "(b) private mount, built-in policy",
    "policy": "(c) private mount, the policy set",
    "shared": "(d) shared mount (`--allow-other`), root",
    "shared-user": "(d) shared mount, unprivileged member",
    "audit": "(e) shared + `--audit-log --audit-all`, root",
    "audit-user": "(e) shared + audit, unprivileged member",
}


def fmt(v):
    if v is None:
        return "—"
    return ("%.4f s" if v < 0.1 else "%.3f s" if v < 1 else "%.2f s") % v


def cmd_table(results, configs, nfiles, ndirs, nreads, big_mib, nrules):
    # scripts/bench_lib.py, copied next to this file into the run dir
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_lib import read_results

    configs = configs.split()
    LABELS["policy"] = "(c) private mount, %s-rule policy" % nrules
    rows = read_results(results)
    n = "{:,}".format
    entries = int(nfiles) + int(ndirs) + 2
    ms = [("ls_cold", "`ls -lR`, cold"),
          ("ls_warm", "`ls -lR`, warm"),
          ("stat", "os.stat × %s, warm" % n(entries)),
          ("openread", "open+read+close × %s, warm" % n(int(nreads))),
          ("seq_cold", "read %s MiB, cold" % big_mib),
          ("seq_warm", "read %s MiB, warm" % big_mib)]

    def best(cfg, key):
        vals = [v for _, v in rows.get((cfg, key), [])]
        return min(vals) if vals else None

    base = configs[0]
    print("Best (lowest) time of each measurement over all rounds, and in parentheses **the time "
          "relative to %s (> 1 = slower)**." % LABELS[base].split(" ", 1)[0])
    print()
    def table(cell):  # one row per configuration, one column per measurement: cell(cfg, key)
        print("| Configuration | " + " | ".join(label for _, label in ms) + " |")
        print("|---|" + "--:|" * len(ms))
        for cfg in configs:
            print("| %s | %s |" % (LABELS[cfg], " | ".join(cell(cfg, key) for key, _ in ms)))

    def best_cell(cfg, key):
        v, b = best(cfg, key), best(base, key)
        cell = fmt(v)
        if v is not None and b and cfg != base:
            cell += " (%.2f×)" % (v / b)
        return cell

    def rounds_cell(cfg, key):
        vals = [v for _, v in sorted(rows.get((cfg, key), []))]
        return " / ".join("%.4f" % v for v in vals) if vals else "—"

    table(best_cell)
    print()
    print("<details><summary>Every round (in run order)</summary>")
    print()
    table(rounds_cell)
    print()
    print("</details>")


COMMANDS = {"gen": cmd_gen, "lsr": cmd_lsr, "stat": cmd_stat, "openread": cmd_openread,
            "seqread": cmd_seqread, "policy": cmd_policy, "table": cmd_table}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: bench_policy.py {%s} ARGS..." % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
PYEOF
}

# --- One configuration of one round ----------------------------------------------------------
# setup CONFIG: mounts what the configuration needs; sets TOP (the tree as the caller sees it).
setup() {
  MOUNT_ARGS=()
  case $1 in
    plain) TOP="$RUN/tree/$TREE_TOP"; CUR_LOG=""; return ;;
    builtin) MOUNT_REPO="$RUN/repo-builtin" ;;
    policy) MOUNT_REPO="$RUN/repo-policy" ;;
    shared|shared-user) MOUNT_REPO="$RUN/repo-policy"; MOUNT_ARGS=(--allow-other) ;;
    audit|audit-user)
      MOUNT_REPO="$RUN/repo-policy"
      MOUNT_ARGS=(--allow-other --audit-log "$RUN/audit.jsonl" --audit-all) ;;
  esac
  CUR_LOG="$RUN/weightfs.log"
  wfs_mount_config
  TOP="$WFS_MNT/$TREE_TOP"
}
cold() {  # cold CONFIG: unmount + mount a weightfs configuration, then drop the page cache
  [[ $1 == plain ]] || { wfs_umount; wfs_mount_config; }
  drop_caches
}
teardown() {
  local r=$1 cfg=$2 n
  if [[ $cfg != plain ]]; then
    wfs_umount
    # Anything alarming the daemon logged goes into the report (the policy's names of users and
    # groups unknown on this machine are expected: alice, ml-team and the unbound extra roles).
    grep -iE 'error|fail|corrupt|warn|denied|deny' "$RUN/weightfs.log" | grep -v 'is not known on this machine' |
      sed "s/^/round $r $cfg: /" >>"$NOTES" || true
    : >"$RUN/weightfs.log"
  fi
  if [[ -f $RUN/audit.jsonl ]]; then
    n=$(wc -l <"$RUN/audit.jsonl")
    record "$r" "$cfg" audit_lines "$n"
    n=$(stat -c %s "$RUN/audit.jsonl")
    record "$r" "$cfg" audit_bytes "$n"
    grep -v '"decision":"allow"' "$RUN/audit.jsonl" | head -n 5 | sed "s/^/round $r $cfg audit: /" >>"$NOTES" || true
    rm -f "$RUN/audit.jsonl"
  fi
  CUR_LOG=""
}

bench_one() {  # bench_one ROUND CONFIG
  local r=$1 cfg=$2
  log "round $r/$ROUNDS: $cfg"
  setup "$cfg"
  cold "$cfg"
  measure "$r" "$cfg" ls_cold lsr "$TOP" "$MANIFEST"
  measure "$r" "$cfg" ls_warm lsr "$TOP" "$MANIFEST"
  measure "$r" "$cfg" stat stat "$TOP" "$MANIFEST"
  measure "$r" "$cfg" openread openread "$TOP" "$MANIFEST" "$NREADS" "$SEED"
  cold "$cfg"
  measure "$r" "$cfg" seq_cold seqread "$TOP/big.bin" "$MANIFEST"
  measure "$r" "$cfg" seq_warm seqread "$TOP/big.bin" "$MANIFEST"
  teardown "$r" "$cfg"
}

# --- Binary, work dir, data, repositories, user ----------------------------------------------
BIN_SRC=${WEIGHTFS_BINARY:-$ROOT/build/weightfs}
[[ -x $BIN_SRC ]] || die "no weightfs binary at $BIN_SRC (build it with ./scripts/build.sh, or set WEIGHTFS_BINARY)"
BIN_NOTE="$BIN_SRC, built $(date -u -r "$BIN_SRC" '+%Y-%m-%d %H:%M UTC')"
if [[ -z ${WEIGHTFS_BINARY:-} ]] &&
   [[ -n $(find "$ROOT/src" "$ROOT/include" "$ROOT/CMakeLists.txt" -newer "$BIN_SRC" -print -quit 2>/dev/null) ]]; then
  log "WARNING: sources are newer than $BIN_SRC; it may not match the checked-out commit"
  BIN_NOTE+=" (older than some sources: may not match the commit)"
fi

make_run_dir
chmod 755 "$RUN"  # the created user reaches the plain tree and the mountpoint through it
for d in "$(dirname "$BENCH_DIR")" "$BENCH_DIR"; do
  (( NEED_USER == 0 )) || [[ $(( 0$(stat -c %a "$d") & 1 )) == 1 ]] ||
    die "$d is not searchable by other users (the *-user configurations need that)"
done
WFS="$RUN/weightfs"
cp "$BIN_SRC" "$WFS"
export WEIGHTFS_STATE_DIR="$RUN/state"  # the rollback state of our repositories stays in RUN
PYF="$RUN/bench_policy.py"
write_python "$PYF"
cp "$ROOT/scripts/bench_lib.py" "$RUN/bench_lib.py"  # the table's results reader (cmd_table)
RESULTS="$RUN/results.tsv"
NOTES="$RUN/notes.txt"
MANIFEST="$RUN/manifest.tsv"
: >"$RESULTS"; : >"$NOTES"
mkdir "$RUN/mnt"

log "generating $NFILES small files in $NDIRS directories and a $BIG_MIB MiB file (seed $SEED)"
step "$PY" "$PYF" gen "$RUN/tree" "$NDIRS" "$NFILES" "$BIG_MIB" "$SEED" "$MANIFEST"

if (( NEED_USER )); then
  BGROUP="wfsbp-team-$$"
  getent group "$BGROUP" >/dev/null && die "group $BGROUP already exists"
  getent passwd "wfsbp-$$" >/dev/null && die "user wfsbp-$$ already exists"
  retry groupadd "$BGROUP" || { BGROUP=""; die "groupadd failed"; }
  retry useradd -M -N -g "$BGROUP" -s /usr/sbin/nologin "wfsbp-$$" || die "useradd failed"
  BUSER="wfsbp-$$"
  log "created the user $BUSER (group $BGROUP, bound to the member role)"
fi

REPOS=""  # the repositories the configurations use
for c in $CONFIGS; do
  case $c in
    builtin) [[ $REPOS == *builtin* ]] || REPOS+=" builtin" ;;
    policy|shared*|audit*) [[ $REPOS == *policy* ]] || REPOS+=" policy" ;;
  esac
done
IMPORT_NOTE=""
for repo in $REPOS; do
  log "importing the tree into repo-$repo"
  wfs init "$RUN/repo-$repo" >&2
  drop_caches
  t=$(now)
  wfs import "$RUN/repo-$repo" "$RUN/tree" -m "bench_policy data" >&2
  IMPORT_NOTE+="${IMPORT_NOTE:+, }$(awk -v s="$(since "$t")" 'BEGIN { printf "%.2f", s }') s into repo-$repo"
done

POLICY_NOTE="not used"
if [[ -d $RUN/repo-policy ]]; then
  counts=$(step "$PY" "$PYF" policy "$RUN/policy.yaml" "${BGROUP:-ml-team}" "${BUSER:-bob}" "$EXTRA_ROLES")
  read -r NROLES NRULES <<<"$counts"
  wfs policy check "$RUN/policy.yaml" >&2
  wfs policy set "$RUN/repo-policy" "$RUN/policy.yaml" >&2
  POLICY_NOTE="$NROLES roles, $NRULES rules ($EXTRA_ROLES extra roles; no extra rule matches a path of the tree)"
  # The benchmark must measure allowed requests: make sure the callers are allowed.
  probe=/$TREE_TOP/d01/f00001.bin
  wfs policy explain "$RUN/repo-policy" --uid 0 --op read "$probe" >/dev/null ||
    die "the generated policy does not let root read $probe"
  if [[ -n $BUSER ]]; then
    wfs policy explain "$RUN/repo-policy" --user "$BUSER" --op read "$probe" >/dev/null ||
      die "the generated policy does not let $BUSER read $probe"
  fi
fi

# --- Rounds ----------------------------------------------------------------------------------
# shellcheck disable=SC2086  # a list of names, split on purpose
run_rounds $CONFIGS

# --- Report ----------------------------------------------------------------------------------
machine_info
AUDIT_LINES=$(awk -F'\t' '$3 == "audit_lines" { print $4; exit }' "$RESULTS")
AUDIT_MIB=$(awk -F'\t' '$3 == "audit_bytes" { printf "%.1f", $4 / 1048576; exit }' "$RESULTS")
{
  echo "### weightfs policy benchmark"
  echo
  echo "- Command: \`$COMMAND_LINE\`"
  echo "- weightfs $GIT_REV ($BIN_NOTE), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- $(uname -s) $(uname -r), $(nproc) CPUs ($CPU), $MEM RAM; disk $DISK at $BENCH_DIR"
  echo "- Tree: $NFILES files of 1-16 KiB in $NDIRS directories + one $BIG_MIB MiB file, below /$TREE_TOP; import: $IMPORT_NOTE"
  echo "- Policy set on the repository of (c)-(e): $POLICY_NOTE"
  [[ -z $AUDIT_LINES ]] || echo "- Audit log of one (e) pass (all six measurements, two mounts): $AUDIT_LINES lines, $AUDIT_MIB MiB"
  echo "- Rounds: $ROUNDS, alternating $CONFIGS; $ELAPSED s in total; load average $LOAD_START at the start, $LOAD_END at the end"
  echo "- Cold = unmount + mount (weightfs), then \`sync; echo 3 > /proc/sys/vm/drop_caches\`; warm = repeated right away"
  echo
  "$PY" "$PYF" table "$RESULTS" "$CONFIGS" "$NFILES" "$NDIRS" "$NREADS" "$BIG_MIB" "${NRULES:-?}"
  print_notes "Daemon log lines mentioning errors, warnings or denials, and denied audit entries:"
}
log "done in $ELAPSED s"
