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
#                    more roles and extra rules with * and ** patterns; see cmd_policy in
#                    scripts/bench_policy_work.py)
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
#
# The work is done by scripts/bench_policy.py (the driver) and scripts/bench_policy_work.py (the
# timed workloads, each run as its own process), with scripts/bench_common.py.
set -euo pipefail
BENCH_SCRIPT=$0 exec /usr/bin/python3 -B "$(dirname "$0")/bench_policy.py" "$@"
