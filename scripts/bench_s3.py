#!/usr/bin/python3
"""The driver of scripts/bench_s3.sh (a benchmark, not a test); see scripts/bench_s3.sh for
what it measures and its environment. Timing, mounts and the cleanup come from
scripts/bench_common.py; the S3 server is scripts/s3-server.sh's."""
import os
import shutil
import signal
import subprocess
import threading

import bench_common as bc
from bench_common import MIB, die, log, step

BUCKET = "wfs-bench"
FILE = "model.bin"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
IV = "00112233445566778899aabbccddeeff"
AWS = "/usr/bin/aws"  # Debian's awscli, not whatever `aws` comes first in PATH


class Server:
    """scripts/s3-server.sh's server, its state under DIR; stopped by the run's cleanup."""

    def __init__(self, run, d, backend):
        self.run, self.dir, self.backend = run, d, backend
        os.environ["WEIGHTFS_S3_DIR"] = d
        self.script = os.path.join(bc.SCRIPTS, "s3-server.sh")
        run.push(self.stop)
        out = step(run, [self.script, "start", backend], capture=True)
        for line in out.splitlines():
            k, _, v = line.partition("=")
            if k.startswith(("AWS_", "WEIGHTFS_S3_")):
                os.environ[k] = v
        self.endpoint = os.environ["AWS_ENDPOINT_URL"]
        step(run, [self.script, "mkbucket", BUCKET], stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run([self.script, "stop"], stdout=subprocess.DEVNULL)

    def cpu_ticks(self):
        """utime+stime so far of the server's processes (those whose command line names the
        state directory, as s3-server.sh tells its own), in clock ticks."""
        total = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    if (self.dir + "/").encode() not in f.read():
                        continue
                total += bc.cpu_ticks(int(name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        return total

    def warm(self):
        """Reads every file of the server's storage (Swift: DIR/srv) into the page cache, so a
        row measures the server's request path without its disk (BENCH_SERVER_WARM=1)."""
        for root, _, files in os.walk(os.path.join(self.dir, "srv")):
            for name in files:
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        while f.read(1 << 20):
                            pass
                except OSError:
                    continue

    def bytes_sent(self):
        """Body bytes the server sent to S3 clients so far (Swift's proxy access log: the
        bytes_sent field of requests not under /v1/, which are s3api's own subrequests); None
        on radosgw."""
        path = os.path.join(self.dir, "log", "proxy.log")
        if self.backend != "swift" or not os.path.exists(path):
            return None
        total = 0
        with open(path, errors="replace") as f:
            for line in f:
                w = line.split()
                if len(w) < 13 or w[0] != "proxy-server:" or w[5].startswith("/v1/"):
                    continue
                if w[12].isdigit():
                    total += int(w[12])
        return total


def machine_busy_ticks():
    """Clock ticks all CPUs spent busy so far (the first line of /proc/stat: user, nice,
    system, irq, softirq, steal; not idle or iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


class S3Bench:
    def __init__(self, run, rdir, wfs, server, size):
        self.run, self.rdir, self.wfs, self.server, self.size = run, rdir, wfs, server, size
        self.res = {}       # row -> [MiB/s per round]
        self.cpu = {}       # row -> [daemon CPU s/GiB per round]
        self.server_cpu = {}  # row -> [the server's CPU s/GiB per round]
        self.machine_cpu = {}  # row -> [all CPUs' busy time s/GiB per round]
        self.sent = {}      # row -> [bytes the server sent per round]
        self.threads = bc.env_str("BENCH_READ_THREADS", "")
        self.n = 0
        self.perf = bc.env_str("BENCH_PERF", "")  # perf.data of the cold row's daemon
        self.perf_done = False
        # Swift's storage read into the page cache after each drop (Swift only: radosgw keeps
        # its objects in its OSD's store, not in files of their own)
        self.server_warm = bc.env_str("BENCH_SERVER_WARM", "") == "1"

    def p(self, *names):
        return os.path.join(self.rdir, *names)

    def fresh_dir(self, name):
        self.n += 1
        d = self.p("%s.%d" % (name, self.n))
        os.makedirs(d)
        return d

    # --- preparation ---

    def prepare(self):
        os.environ["WEIGHTFS_PASSPHRASE"] = "benchmark passphrase"
        os.environ["WEIGHTFS_INSECURE_FAST_KDF"] = "1"
        src = self.p("src")
        os.makedirs(src)
        t = bc.Timer()
        with open(os.path.join(src, FILE), "wb") as f:
            head = subprocess.Popen(["head", "-c", str(self.size), "/dev/zero"],
                                    stdout=subprocess.PIPE)
            enc = subprocess.run(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", KEY,
                                  "-iv", IV], stdin=head.stdout, stdout=f)
            head.stdout.close()
            if head.wait() != 0 or enc.returncode != 0:
                die("generating the model file with openssl failed")
        log("generated %s (%d MiB) in %.1f s" % (FILE, self.size // MIB, t.s()))
        self.s3repo = "s3://%s/repo" % BUCKET
        self.local = self.p("local-repo")
        chunk = bc.env_str("BENCH_CHUNK_SIZE", "")
        for repo in (self.s3repo, self.local):
            extra = ["--chunk-size", chunk] if chunk and repo == self.s3repo else []
            step(self.run, [self.wfs, "init", repo] + extra, stdout=subprocess.DEVNULL)
            t = bc.Timer()
            step(self.run, [self.wfs, "import", repo, os.path.join(src, FILE), "-m", "model"],
                 stdout=subprocess.DEVNULL)
            log("imported into %s in %.1f s" % (repo, t.s()))
        listing = step(self.run, [AWS, "--endpoint-url", self.server.endpoint, "s3", "ls",
                                  "--recursive", "s3://%s/repo/objects/" % BUCKET], capture=True)
        sizes = [int(line.split()[2]) for line in listing.splitlines() if len(line.split()) == 4]
        self.objects = (len(sizes), sum(sizes))
        log("the repository on S3 holds %d objects, %d bytes" % self.objects)
        t = bc.Timer()
        step(self.run, [AWS, "--endpoint-url", self.server.endpoint, "s3", "cp", "--quiet",
                        os.path.join(src, FILE), "s3://%s/plain/%s" % (BUCKET, FILE)])
        log("uploaded the plaintext copy with awscli in %.1f s" % t.s())
        shutil.rmtree(src)
        passwd = self.p("s3fs.passwd")
        fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            # the key=value form: Swift's access key id (account:user) holds a colon
            f.write("AWSAccessKeyId=%s\nAWSSecretKey=%s\n" % (os.environ["AWS_ACCESS_KEY_ID"],
                                                              os.environ["AWS_SECRET_ACCESS_KEY"]))
        self.passwd = passwd
        for k, v in (("TYPE", "s3"), ("PROVIDER", "Other"), ("ENDPOINT", self.server.endpoint),
                     ("ACCESS_KEY_ID", os.environ["AWS_ACCESS_KEY_ID"]),
                     ("SECRET_ACCESS_KEY", os.environ["AWS_SECRET_ACCESS_KEY"]),
                     ("REGION", os.environ.get("AWS_REGION", "us-east-1")),
                     ("FORCE_PATH_STYLE", "true")):
            os.environ["RCLONE_CONFIG_WFSBENCH_" + k] = v

    # --- mounts ---

    def mount(self, kind, cache=None, threads=None):
        """Mounts KIND (wfs-s3, wfs-local, s3fs, rclone) at a fresh mountpoint; returns (the
        mount object, the path of the model file in it)."""
        mnt = self.fresh_dir("mnt")
        if kind in ("wfs-s3", "wfs-local"):
            opts = ["--read-only", "--log-file", self.p("weightfs.log")]
            repo = self.local
            if kind == "wfs-s3":
                repo = self.s3repo
                opts += ["--cache-dir", cache]
                t = threads or self.threads
                if t:
                    opts += ["--read-threads", str(t)]
            m = bc.WeightfsMount(self.run, self.wfs, repo, mnt, opts)
            return m, os.path.join(mnt, FILE)
        if kind == "s3fs":
            cmd = ["s3fs", BUCKET, mnt, "-f", "-o",
                   "ro,use_path_request_style,url=%s,passwd_file=%s"
                   % (self.server.endpoint, self.passwd)]
            m = bc.ForegroundMount(self.run, "s3fs", mnt, cmd, self.p("s3fs.log"))
        else:
            cmd = ["rclone", "mount", "--read-only", "wfsbench:" + BUCKET, mnt]
            m = bc.ForegroundMount(self.run, "rclone", mnt, cmd, self.p("rclone.log"))
        return m, os.path.join(mnt, "plain", FILE)

    # --- measuring ---

    def read_all(self, paths):
        """Reads every path of PATHS at once (dd bs=1M, or `aws s3 cp` for an s3:// URL) with
        the page cache dropped first; returns aggregate MiB/s."""
        bc.drop_caches()
        if self.server_warm:
            self.server.warm()
        cmds = []
        for path in paths:
            if path.startswith("s3://"):
                cmds.append([AWS, "--endpoint-url", self.server.endpoint, "s3", "cp", path, "-"])
            else:
                cmds.append(["dd", "if=" + path, "of=/dev/null", "bs=1M", "status=none"])
        errors = []

        def one(cmd):
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=self.run.step_timeout
                                ).returncode
            if rc != 0:
                errors.append("exit status %d: %s" % (rc, " ".join(cmd)))
        t = bc.Timer()
        threads = [threading.Thread(target=one, args=(c,)) for c in cmds]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        secs = t.s()
        if errors:
            die(errors[0])
        return len(paths) * self.size / MIB / secs

    def row(self, name, kind, copies=1, cache=None, threads=None):
        """One measurement of row NAME: COPIES readers of KIND at once."""
        sent0 = self.server.bytes_sent()
        server0 = self.server.cpu_ticks()
        busy0 = machine_busy_ticks()
        cpu = None
        if kind == "awscli":
            mbs = self.read_all(["s3://%s/plain/%s" % (BUCKET, FILE)] * copies)
        else:
            mounts = [self.mount(kind, cache or self.fresh_dir("cache"), threads)
                      for _ in range(copies)]
            ticks0 = [m.cpu_ticks() for m, _ in mounts if isinstance(m, bc.WeightfsMount)]
            perf = None
            if self.perf and kind == "wfs-s3" and copies == 1 and not self.perf_done:
                self.perf_done = True  # the first cold read (a cold row comes first)
                perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o", self.perf, "-p",
                                         str(mounts[0][0].pid)], stdout=subprocess.DEVNULL)
            mbs = self.read_all([path for _, path in mounts])
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=120)
            if ticks0:
                used = sum(m.cpu_ticks() for m, _ in mounts) - sum(ticks0)
                cpu = used / bc.CLK_TCK / (copies * self.size / (1 << 30))
            for m, _ in mounts:
                m.umount()
        sent1 = self.server.bytes_sent()
        gib = copies * self.size / (1 << 30)
        server_cpu = (self.server.cpu_ticks() - server0) / bc.CLK_TCK / gib
        machine_cpu = (machine_busy_ticks() - busy0) / bc.CLK_TCK / gib
        self.res.setdefault(name, []).append(mbs)
        self.server_cpu.setdefault(name, []).append(server_cpu)
        self.machine_cpu.setdefault(name, []).append(machine_cpu)
        self.cpu.setdefault(name, []).append(cpu)
        self.sent.setdefault(name, []).append(None if sent0 is None else sent1 - sent0)
        log("%-24s %8.1f MiB/s%s, server CPU %.2f s/GiB, machine CPU %.2f s/GiB"
            % (name, mbs, "" if cpu is None else ", daemon CPU %.2f s/GiB" % cpu, server_cpu,
               machine_cpu))

    def one_round(self):
        cache = self.fresh_dir("cache")
        self.row("weightfs S3 cold", "wfs-s3", cache=cache)
        self.row("awscli s3 cp", "awscli")
        self.row("s3fs", "s3fs")
        self.row("rclone mount", "rclone")
        self.row("weightfs S3 warm", "wfs-s3", cache=cache)
        self.row("weightfs local", "wfs-local")
        shutil.rmtree(cache)
        self.row("4 x weightfs S3 cold", "wfs-s3", copies=4)
        self.row("4 x awscli", "awscli", copies=4)
        self.row("4 x s3fs", "s3fs", copies=4)
        self.row("4 x rclone", "rclone", copies=4)
        for d in os.listdir(self.rdir):
            if d.startswith(("cache.", "mnt.")):
                shutil.rmtree(self.p(d), ignore_errors=True)

    def sweep(self, values):
        for t in values:
            self.row("weightfs S3 cold, %s threads" % t, "wfs-s3", threads=t)


GOALS = [  # row, baseline, minimum ratio
    ("weightfs S3 cold", "awscli s3 cp", 0.8),
    ("weightfs S3 cold", "s3fs", 1.0),
    ("weightfs S3 cold", "rclone mount", 1.0),
    ("weightfs S3 warm", "weightfs local", 0.9),
    ("4 x weightfs S3 cold", "4 x s3fs", 1.0),
    ("4 x weightfs S3 cold", "4 x rclone", 1.0),
]


def print_table(b, rounds):
    best = {name: max(v) for name, v in b.res.items()}
    print()
    print("| row | MiB/s (best of %d) | rounds | daemon CPU s/GiB | server CPU s/GiB "
          "| machine CPU s/GiB | server sent (MiB) |" % rounds)
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, vals in b.res.items():
        i = vals.index(best[name])
        cpu, sent = b.cpu[name][i], b.sent[name][i]
        print(bc.md_row([name, "%.1f" % best[name], " ".join("%.1f" % v for v in vals),
                         "-" if cpu is None else "%.2f" % cpu, "%.2f" % b.server_cpu[name][i],
                         "%.2f" % b.machine_cpu[name][i],
                         "n/a" if sent is None else "%.1f" % (sent / MIB)]))
    print()
    print("| goal | ratio | met |")
    print("|---|---:|---|")
    for row, base, goal in GOALS:
        if row in best and base in best:
            r = best[row] / best[base]
            print(bc.md_row(["%s >= %.1fx %s" % (row, goal, base), "%.2f" % r,
                             "yes" if r >= goal else "no"]))


def body(run):
    size_mib = bc.env_int("BENCH_SIZE_MIB", 2048)
    rounds = bc.env_int("BENCH_ROUNDS", 3)
    backend = bc.env_str("BENCH_S3_BACKEND", "swift")
    if backend not in ("swift", "rgw"):
        die("BENCH_S3_BACKEND must be swift or rgw (got '%s')" % backend)
    sweep = bc.env_str("BENCH_THREADS_SWEEP", "").split()
    bc.require_root_fuse("drop_caches and FUSE mounts")
    for tool in (AWS, "s3fs", "rclone", "openssl"):
        if not shutil.which(tool):
            die("%s is not installed; run scripts/setup.sh" % tool)
    run.step_timeout = 3600
    # The server is plain http on 127.0.0.1; rclone refuses to start at all when AWS_CA_BUNDLE
    # is set ("unsupported transport").
    os.environ.pop("AWS_CA_BUNDLE", None)
    bin_src = bc.build_binary(run)
    bench_dir, rdir = bc.make_run_dir(run, bc.env_str("BENCH_DIR", "/var/tmp/wfs-bench-s3"))
    need = 3 * size_mib + 1024 if backend == "swift" else size_mib + 1024
    if bc.free_mib(rdir) < need:
        die("%s has %d MiB free, need %d MiB" % (rdir, bc.free_mib(rdir), need))
    wfs = os.path.join(rdir, "weightfs")
    shutil.copy(bin_src, wfs)  # a private copy: a rebuild cannot change it mid-run
    os.makedirs(os.path.join(rdir, "s3"))
    server = Server(run, os.path.join(rdir, "s3"), backend)
    b = S3Bench(run, rdir, wfs, server, size_mib * MIB)
    rev, cpu, mem, disk = bc.machine_info(rdir)
    print("weightfs S3 read benchmark")
    print("  command: %s" % bc.command_line(["BENCH_SIZE_MIB", "BENCH_ROUNDS", "BENCH_S3_BACKEND",
                                             "BENCH_READ_THREADS", "BENCH_THREADS_SWEEP",
                                             "BENCH_CHUNK_SIZE"]))
    print("  commit:  %s; server: %s on %s; file: %d MiB; rounds: %d"
          % (rev, backend, server.endpoint, size_mib, rounds))
    print("  machine: %s, %d cores, %s, disk %s, load %s" % (cpu, bc.nproc(), mem, disk,
                                                            bc.loadavg()))
    b.prepare()
    print("  objects: %d in the S3 repository (%.2f MiB on average; chunks and metadata)"
          % (b.objects[0], b.objects[1] / MIB / max(b.objects[0], 1)))
    for r in range(1, rounds + 1):
        log("round %d of %d" % (r, rounds))
        if sweep:
            b.sweep(sweep)
        else:
            b.one_round()
    print_table(b, rounds)
    print()
    print("server sent: body bytes of the client's S3 requests in Swift's proxy access log "
          "(n/a on radosgw); daemon CPU: utime+stime of the weightfs daemon(s) during the read; "
          "server CPU: the same for the S3 server's processes; machine CPU: the busy time of all "
          "CPUs (reader, client, server and kernel; %d cores give %d CPU-seconds a second)."
          % (bc.nproc(), bc.nproc()))


if __name__ == "__main__":
    bc.main("bench_s3", body)
