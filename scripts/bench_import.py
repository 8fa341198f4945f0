#!/usr/bin/python3
"""The driver of scripts/bench_import.sh (a benchmark, not a test); see scripts/bench_import.sh
for what it measures and its environment. Run as `./scripts/bench_import.sh`, which execs this
file with Debian's /usr/bin/python3. Timing and the cleanup come from scripts/bench_common.py;
cp, weightfs, sync and openssl run as their own processes.
"""
import os
import re
import subprocess
import tempfile

import bench_common as bc
from bench_common import die, step

KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
IV = "00112233445566778899aabbccddeeff"


def can_drop_caches():
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def first_field(cmd, line=1, field=0):
    text = subprocess.run(cmd, stdout=subprocess.PIPE, text=True).stdout
    return text.splitlines()[line].split()[field]


class ImportBench:
    def __init__(self, run, d, wfs, size, can_drop):
        self.run, self.d, self.wfs, self.size, self.can_drop = run, d, wfs, size, can_drop

    def p(self, name):
        return os.path.join(self.d, name)

    def drop_caches(self):
        if self.can_drop:
            bc.drop_caches()
        else:
            os.sync()

    def timed_mbps(self, cmd):
        """Runs CMD (its output discarded), then sync; returns MB/s of SIZE bytes, "%.1f"."""
        t = bc.Timer()
        step(self.run, cmd, stdout=subprocess.DEVNULL)
        os.sync()
        return "%.1f" % (self.size / t.s() / 1e6)

    def generate(self):
        """The file: an AES-CTR key stream (distinct data, nothing for dedup to find)."""
        t = bc.Timer()
        with open(self.p("weights.bin"), "wb") as f:
            head = subprocess.Popen(["head", "-c", str(self.size), "/dev/zero"],
                                    stdout=subprocess.PIPE)
            enc = subprocess.run(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", KEY,
                                  "-iv", IV], stdin=head.stdout, stdout=f)
            head.stdout.close()
            if head.wait() != 0 or enc.returncode != 0:
                die("generating the file with openssl failed")
        os.sync()
        print("generated the file in %.1f s" % t.s())

    def one_round(self, r):
        """cp, import (into a fresh repository), export, openssl speed; MB/s of each."""
        self.drop_caches()
        cp = self.timed_mbps(["cp", self.p("weights.bin"), self.p("copy.bin")])
        os.unlink(self.p("copy.bin"))
        subprocess.run(["rm", "-rf", self.p("repo"), self.p("out")], check=True)
        step(self.run, [self.wfs, "init", self.p("repo")], stdout=subprocess.DEVNULL,
             stderr=subprocess.DEVNULL)
        self.drop_caches()
        imp = self.timed_mbps([self.wfs, "import", self.p("repo"), self.p("weights.bin"), "-m",
                               "round %d" % r])
        self.drop_caches()
        exp = self.timed_mbps([self.wfs, "export", self.p("repo"), self.p("out")])
        if step(self.run, ["cmp", "-s", self.p("weights.bin"), self.p("out/weights.bin")],
                check=False) != 0:
            die("the exported file differs from the original")
        subprocess.run(["rm", "-rf", self.p("repo"), self.p("out")], check=True)
        # raw AES-256-GCM: the 16384-byte column, in 1000s of bytes per second
        speed = step(self.run, ["openssl", "speed", "-evp", "aes-256-gcm", "-seconds",
                                str(self.gcm_seconds)], capture=True, stderr=subprocess.DEVNULL)
        k = ""
        for line in speed.splitlines():
            if re.match(r"(AES-256-GCM|aes-256-gcm)", line):
                k = line.split()[-1]
        gcm = "%.1f" % (float(k.rstrip("k") or 0) * 1000 / 1e6)
        print("round %d: cp %s MB/s, import %s MB/s, export %s MB/s, openssl aes-256-gcm %s MB/s"
              % (r, cp, imp, exp, gcm))
        return cp, imp, exp, gcm


def print_table(rounds, rows):
    """ROWS: [(name, [value per round])]; the best is the highest (compared as numbers)."""
    print()
    print("%-34s" % ("MB/s (best of %d)" % rounds) + "".join("%10s" % ("round %d" % r)
                                                          for r in range(1, rounds + 1))
          + "%10s" % "best")
    best = {}
    for name, vals in rows:
        best[name] = max(vals, key=float)
        print("%-34s" % name + "".join("%10s" % v for v in vals) + "%10s" % best[name])
    print()
    b_cp, b_imp, b_exp, b_gcm = (float(best[name]) for name, _ in rows)
    print("import / cp       %.2f" % (b_imp / b_cp))
    print("export / cp       %.2f" % (b_exp / b_cp))
    print("import / openssl  %.2f" % (b_imp / b_gcm))
    print("export / openssl  %.2f" % (b_exp / b_gcm))


def body(run):
    size = bc.env_int("BENCH_SIZE", 2147483648)
    rounds = bc.env_int("BENCH_ROUNDS", 3)
    gcm_seconds = bc.env_int("BENCH_GCM_SECONDS", 2)
    run.step_timeout = 7200  # no step of a full run comes near; a hang still ends
    step(run, [os.path.join(bc.SCRIPTS, "build.sh")], stdout=subprocess.DEVNULL)
    wfs = os.path.join(bc.ROOT, "build", "weightfs")
    d = tempfile.mkdtemp(prefix="wfs-bench.", dir=bc.env_str("BENCH_TMPDIR",
                                                              os.path.join(bc.ROOT, "build")))
    run.push(lambda: subprocess.run(["rm", "-rf", d]))
    need_kb, avail_kb = 3 * size // 1024 + 262144, bc.free_mib(d) * 1024
    if avail_kb < need_kb:
        die("%s has %d MiB free, need %d MiB" % (d, avail_kb // 1024, need_kb // 1024))
    os.environ["WEIGHTFS_PASSPHRASE"] = "benchmark passphrase"
    os.environ["WEIGHTFS_INSECURE_FAST_KDF"] = "1"
    b = ImportBench(run, d, wfs, size, can_drop_caches())
    b.gcm_seconds = gcm_seconds
    version = subprocess.run([wfs, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    ossl = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    print("weightfs import/export benchmark")
    print("  binary:  %s (%s)" % (wfs, version))
    print("  file:    %d bytes (%d MiB) in %s (%s)" % (size, size >> 20, d,
                                                      first_field(["df", "-P", d])))
    print("  rounds:  %d; page cache dropped before each step: %s"
          % (rounds, "yes" if b.can_drop else "no (not root)"))
    print("  cpu:     %s, %d cores" % (bc.cpu_model(), bc.nproc()))
    print("  openssl: %s" % ossl)
    print()
    b.generate()
    results = [b.one_round(r) for r in range(1, rounds + 1)]
    names = ["cp + sync", "weightfs import + sync", "weightfs export + sync",
             "openssl speed aes-256-gcm 16 KiB"]
    print_table(rounds, [(name, [res[i] for res in results]) for i, name in enumerate(names)])


if __name__ == "__main__":
    bc.main("bench_import", body)
