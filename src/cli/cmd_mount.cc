// weightfs mount, weightfs umount.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/common.h"
#include "cli/daemon_hardening.h"
#include "cli/mount_policy.h"
#include "weightfs/core/clock.h"
#include "weightfs/fuse/mount.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/writer_lock.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::cli {
namespace {

struct MountArgs {
  std::string repo;
  std::string mountpoint;
  UnlockOptions unlock;
  bool foreground = false;
  bool read_only = false;
  bool allow_other = false;
  bool no_mode_check = false;
  int threads = 8;
  std::vector<std::string> fuse_options;
  std::string log_file;
  double commit_interval = 1.0;
  int64_t cache_mib = 256;
  int read_threads = 4;
  bool no_readahead = false;
  bool debug = false;
  std::string versions_dir = "hidden";
  std::string snapshot_interval;
  MountPolicyArgs policy;
};

// Beside the pid file while the daemon's final commit is failing: "PID\nEXIT CODE\nmessage", so
// that `weightfs umount` reports the failure instead of exiting 0 (issue #10).
std::string FailedCommitFileFor(const std::string& pid_file) { return pid_file + ".commit-failed"; }

void WriteFailedCommit(const std::string& path, const Status& s) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ::getpid() << "\n" << ExitCodeFor(s) << "\n" << s.message() << "\n";
    if (!out.flush()) {
      ::unlink(tmp.c_str());
      return;  // (on a full disk) umount then waits for the daemon until its --timeout
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

// The exit code and message the daemon pid left in path, if it did.
std::optional<std::pair<int, std::string>> ReadFailedCommit(const std::string& path, pid_t pid) {
  std::ifstream in(path);
  pid_t writer = 0;
  int code = 0;
  if (!(in >> writer >> code) || writer != pid) return std::nullopt;
  std::string message;
  in >> std::ws;
  std::getline(in, message);
  return std::make_pair(code, message);
}

std::string RealPath(const std::string& p) {
  boost::system::error_code ec;
  auto r = boost::filesystem::canonical(p, ec);
  return ec ? p : r.string();
}

// Log lines of the daemon: a file (--log-file), stderr in the foreground, syslog otherwise.
class Logger {
 public:
  Logger(const std::string& file, bool foreground) : foreground_(foreground) {
    if (!file.empty()) {
      auto f = OpenPrivateLog(file);
      if (f.ok()) out_ = *f;
    }
    if (!out_ && !foreground_) ::openlog("weightfs", LOG_PID, LOG_DAEMON);
  }
  void Line(const std::string& line) {
    std::lock_guard lock(mu_);
    if (out_) {
      const std::string ts = FormatUtc(NowNs(), "%Y-%m-%dT%H:%M:%SZ");
      std::fprintf(out_, "%s weightfs[%d]: %s\n", ts.c_str(), ::getpid(), line.c_str());
      std::fflush(out_);
    } else if (foreground_) {
      std::fprintf(stderr, "weightfs: %s\n", line.c_str());
    } else {
      ::syslog(LOG_NOTICE, "%s", line.c_str());
    }
  }

 private:
  std::mutex mu_;
  std::FILE* out_ = nullptr;
  bool foreground_;
};

// Start-up result sent from the daemon to the waiting parent: exit code, then a message.
void Report(int fd, int code, const std::string& message) {
  if (fd < 0) return;
  std::string msg = std::to_string(code) + "\n" + message;
  (void)!::write(fd, msg.data(), msg.size());
  ::close(fd);
}

int WaitForDaemon(int fd) {
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (msg.empty()) {
    std::cerr << "weightfs: the mount daemon exited during start-up (see its log)\n";
    return kExitFailure;
  }
  size_t nl = msg.find('\n');
  int code = std::atoi(msg.substr(0, nl).c_str());
  std::string text = nl == std::string::npos ? "" : msg.substr(nl + 1);
  if (!text.empty()) std::cerr << (code == 0 ? "" : "weightfs: ") << text << "\n";
  return code;
}

int RunMount(MountArgs a) {
  // Before any secret is read: a core dump or a debugger attached by the same user would see
  // the passphrase and the keys.
  if (Status s = MakeNonDumpable(); !s.ok()) return Fail(s);
  // Chunks, frames and dirty buffers are megabytes each; by default glibc serves such blocks
  // with fresh mmaps, so every one costs page faults and zeroing. Keep them in the heap.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  a.mountpoint = RealPath(a.mountpoint);
  boost::system::error_code ec;
  if (!boost::filesystem::is_directory(a.mountpoint, ec)) {
    return Fail(NotFound("mountpoint " + a.mountpoint + " is not an existing directory"));
  }
  for (const std::string& o : a.fuse_options) {
    if (o == "ro") a.read_only = true;
    if (o == "allow_other") a.allow_other = true;
  }
  // Checked before anything is mounted: the pid record is how `weightfs umount` finds the daemon.
  auto pid_file = PidRecordFor(a.mountpoint);
  if (!pid_file.ok()) return Fail(pid_file.status());
  auto repo = OpenRepository(a.repo, a.unlock);
  // The daemon outlives the command line; its environment must not keep the passphrase.
  ScrubEnvironment("WEIGHTFS_PASSPHRASE");
  if (!repo.ok()) return Fail(repo.status());
  const std::string repo_path = RealPath(a.repo);
  a.policy.allow_other = a.allow_other;
  auto mount_policy = PrepareMountPolicy(**repo, a.policy);
  if (!mount_policy.ok()) return Fail(mount_policy.status());
  if (mount_policy->read_only) a.read_only = true;

  int report_fd = -1;
  if (!a.foreground) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Fail(ErrnoStatus(errno, "pipe"));
    pid_t pid = ::fork();
    if (pid < 0) return Fail(ErrnoStatus(errno, "fork"));
    if (pid > 0) {
      ::close(fds[1]);
      return WaitForDaemon(fds[0]);
    }
    ::close(fds[0]);
    report_fd = fds[1];
    ::setsid();
  }
  auto fail = [&](const Status& s) {
    if (report_fd >= 0) {
      Report(report_fd, ExitCodeFor(s), s.message());
      return ExitCodeFor(s);
    }
    return Fail(s);
  };

  Logger logger(a.log_file, a.foreground);
  auto log = [&logger](const std::string& line) { logger.Line(line); };
  for (const std::string& note : mount_policy->notes) log(note);
  *mount_policy->log = log;
  // After the fork: memory locks are not inherited.
  if (Status s = (*repo)->LockKeyMaterial(); !s.ok()) {
    struct rlimit rl {};
    ::getrlimit(RLIMIT_MEMLOCK, &rl);
    log("key material is not locked in memory (it could reach swap; RLIMIT_MEMLOCK is " +
        (rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                      : std::to_string(rl.rlim_cur) + " bytes") +
        "): " + s.message());
  }

  std::unique_ptr<repo::WriterLock> lock;
  if (!a.read_only) {
    std::string note;
    auto l = repo::WriterLock::Acquire((*repo)->store(), a.mountpoint, ::getpid(), &note);
    if (!l.ok()) return fail(l.status());
    lock = std::move(l).value();
    if (!note.empty()) {
      log(note);
      if (a.foreground) std::cerr << "weightfs: " << note << "\n";
    }
    // Now, not on the first write: registering waits while a gc sweeps (leases.h).
    if (Status s = (*repo)->EnsureWriteLease(); !s.ok())
      return fail(s.WithContext("registering the mount with gc"));
  }

  vfs::FsOptions fo;
  fo.versions_dir = a.versions_dir == "visible"    ? vfs::FsOptions::VersionsDir::kVisible
                    : a.versions_dir == "disabled" ? vfs::FsOptions::VersionsDir::kDisabled
                                                   : vfs::FsOptions::VersionsDir::kHidden;
  if (!a.snapshot_interval.empty()) {
    auto seconds = repo::ParseDurationSeconds(a.snapshot_interval);
    if (!seconds.ok()) return fail(seconds.status().WithContext("--snapshot-interval"));
    fo.snapshot_interval_s = static_cast<double>(*seconds);
  }
  fo.read_only = a.read_only;
  fo.access = mount_policy->access;
  // A shared mount (--allow-other): callers may see different trees, so the file system gives
  // timeout 0 (the kernel asks for every lookup and getattr; otherwise one user's cached lookup
  // answers another's, libfuse#15) to the paths whose decision differs between callers, and the
  // normal timeouts to the rest.
  fo.commit_interval_s = a.commit_interval;
  fo.dirty_budget = a.cache_mib << 20;
  fo.read_cache = a.cache_mib << 20;
  fo.read_threads = a.read_threads;
  fo.uid = ::getuid();
  fo.gid = ::getgid();
  fo.mode_check = !a.no_mode_check;
  fo.log = log;
  fo.statfs = [repo_path]() -> Result<vfs::StatFsOut> {
    struct statvfs st;
    if (::statvfs(repo_path.c_str(), &st) != 0) return ErrnoStatus(errno, "statfs " + repo_path);
    vfs::StatFsOut out;
    out.block_size = st.f_frsize;
    out.blocks = st.f_blocks;
    out.blocks_free = st.f_bfree;
    out.blocks_avail = st.f_bavail;
    out.files = st.f_files;
    out.files_free = st.f_ffree;
    return out;
  };
  // A read-only mount serves the live tree as it was when it mounted, which the next commit of
  // another writer may leave unreachable: its read lease names that tree, so gc keeps it. The
  // tree is read and the lease written with no gc sweeping in between (Lease::Register).
  Result<std::unique_ptr<vfs::FileSystem>> fs = Internal("the file system was not created");
  std::unique_ptr<repo::Lease> read_lease;
  if (a.read_only) {
    auto make_roots = [&]() -> Result<std::vector<ObjectId>> {
      // The file system reads refs/main itself: a tree read just before and just after it that
      // is the same is the one it serves (else a writer committed meanwhile: try again).
      for (int attempt = 0;; ++attempt) {
        ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> before, (*repo)->refs().ReadMain());
        fs = vfs::FileSystem::Create(repo->get(), fo);
        if (!fs.ok()) return fs.status().WithContext(a.repo);
        ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> after, (*repo)->refs().ReadMain());
        if (before.value.live_root == after.value.live_root || attempt == 20) {
          std::vector<ObjectId> roots = {before.value.live_root};
          if (after.value.live_root != before.value.live_root)
            roots.push_back(after.value.live_root);
          return roots;
        }
      }
    };
    auto lease = repo::Lease::Register((*repo)->store(), repo::LeaseKind::kRead,
                                       "read-only mount on " + a.mountpoint, make_roots);
    const Code code = lease.status().code();
    if (code == Code::kPermissionDenied || code == Code::kReadOnly || code == Code::kNotPermitted) {
      // A repository this user may only read: mount, but say what is not protected.
      log("warning: cannot register this read-only mount with gc (" + lease.status().message() +
          "): a gc that deletes what no ref names any more may delete files this mount serves");
      if (!fs.ok()) fs = vfs::FileSystem::Create(repo->get(), fo);
    } else if (!lease.ok()) {
      return fail(lease.status().WithContext("registering the read-only mount with gc"));
    } else {
      read_lease = std::move(lease).value();
    }
  } else {
    fs = vfs::FileSystem::Create(repo->get(), fo);
  }
  if (!fs.ok()) return fail(fs.status().WithContext(a.repo));

  fuse::SessionOptions so;
  so.mountpoint = a.mountpoint;
  so.fsname = "weightfs:" + repo_path;
  so.read_only = a.read_only;
  so.allow_other = a.allow_other;
  so.threads = a.threads;
  so.tune_readahead = !a.no_readahead && ::geteuid() == 0;
  so.debug = a.debug;
  so.log = log;
  so.caller_groups = a.allow_other || !a.no_mode_check;  // group bits need the supplementary groups
  std::atomic<bool> hangup{false};
  so.hangup = &hangup;
  for (const std::string& o : a.fuse_options) {
    if (o != "ro" && o != "rw" && o != "allow_other") so.extra_options.push_back(o);
  }
  auto session = fuse::Session::Mount(fs->get(), so);
  if (!session.ok()) return fail(session.status());

  if (Status s = WritePidRecord(*pid_file, ::getpid()); !s.ok())
    log(s.message() + " (`weightfs umount` will not wait)");
  log("mounted " + repo_path + " on " + a.mountpoint +
      (a.read_only ? " (read-only)" : " (read-write)") + " with key slot '" + (*repo)->slot_name() +
      "' (role " + (*repo)->role() + ")" +
      (a.allow_other ? ", shared: each caller's own role decides" : ""));
  if (report_fd >= 0) {
    Report(report_fd, 0, "");
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  (*fs)->Start();
  auto watcher = std::make_unique<PolicyWatcher>(repo->get(), a.policy, &*mount_policy,
                                                 session->get(), fs->get(), &hangup, log);
  Status loop = (*session)->Loop();
  // Unmount before stopping the watcher: a cache invalidation it is sending waits for locks that
  // requests no longer served may hold, and ending the connection releases them.
  (*session)->Unmount();
  watcher.reset();
  Status shut = (*fs)->Shutdown();
  if (!shut.ok()) {
    // Files were reported written (closed or fsynced): they may not be dropped. The daemon keeps
    // them, and the writer lock, and retries until the commit succeeds (e.g. once space is
    // freed); `weightfs umount` reports the failure with its exit code meanwhile.
    const std::string failed_file = FailedCommitFileFor(*pid_file);
    log("final commit failed: " + shut.message() + "; the daemon (pid " +
        std::to_string(::getpid()) +
        ") keeps the uncommitted changes and retries until the commit succeeds (free space on the "
        "repository's file system); SIGTERM is ignored meanwhile, SIGKILL loses them");
    WriteFailedCommit(failed_file, shut);
    int delay_ms = 500;
    for (int attempt = 1; !shut.ok(); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms = std::min(delay_ms * 2, 5000);
      shut = (*fs)->Shutdown();
      if (shut.ok()) {
        log("final commit succeeded on retry " + std::to_string(attempt));
      } else if (attempt % 60 == 0) {
        log("final commit still failing (retry " + std::to_string(attempt) +
            "): " + shut.message());
      }
    }
    ::unlink(failed_file.c_str());
  }
  if (lock) lock->Release().IgnoreError();
  if (read_lease) read_lease->Release().IgnoreError();
  ::unlink(pid_file->c_str());
  log("unmounted " + a.mountpoint + ", everything committed");
  if (!loop.ok()) return Fail(loop);
  return kExitOk;
}

// Whether mountpoint (a real path) is a mount point now, from /proc/self/mountinfo.
bool IsMounted(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, unescaped;
    fields >> id >> parent >> dev >> root >> point;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        unescaped.push_back(static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        unescaped.push_back(point[i]);
      }
    }
    if (unescaped == mountpoint) return true;
  }
  return false;
}

// A daemon that has exited but not yet been reaped (a zombie: its parent is init, which may
// take a while) has finished: it released everything before exiting.
bool ProcessAlive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z');
}

int RunUmount(const std::string& mountpoint_arg, double timeout_s) {
  const std::string mountpoint = RealPath(mountpoint_arg);
  // A record another user could have written is not trusted: unmount, but do not wait on it.
  pid_t pid = 0;
  auto pid_file = PidRecordFor(mountpoint);
  auto recorded = pid_file.ok() ? ReadPidRecord(*pid_file) : Result<pid_t>(pid_file.status());
  if (recorded.ok()) {
    pid = *recorded;
  } else {
    std::cerr << "weightfs: warning: " << recorded.status().message() << "\n";
  }
  // Already unmounted, with its daemon still retrying its final commit: wait for that daemon
  // (again) rather than fail.
  const bool retrying = pid > 0 && ProcessAlive(pid) && !IsMounted(mountpoint);
  if (!retrying) {
    pid_t child = ::fork();
    if (child == 0) {
      ::execlp("fusermount3", "fusermount3", "-u", mountpoint.c_str(), static_cast<char*>(nullptr));
      std::perror("weightfs: running fusermount3");
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Fail(
          Busy("could not unmount " + mountpoint + " (is it busy? close the programs using it)"));
    }
  }
  if (pid <= 0) {
    std::cerr << "weightfs: unmounted " << mountpoint
              << ", but no daemon pid was recorded; not waiting for it\n";
    return kExitOk;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  const std::string failed_file = FailedCommitFileFor(*pid_file);
  while (ProcessAlive(pid)) {
    if (auto failed = ReadFailedCommit(failed_file, pid)) {
      // Never exit 0 while what was written is not committed.
      std::cerr << "weightfs: unmounted " << mountpoint
                << ", but the final commit failed: " << failed->second
                << "\nweightfs: the daemon (pid " << pid
                << ") keeps the changes and retries until the commit succeeds (free space on the "
                   "repository's "
                   "file system); `weightfs umount "
                << mountpoint << "` again waits for it\n";
      return failed->first != kExitOk ? failed->first : kExitFailure;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(Busy("the daemon (pid " + std::to_string(pid) + ") is still committing after " +
                       std::to_string(static_cast<int>(timeout_s)) + " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return kExitOk;
}

}  // namespace

void AddMountCommands(CLI::App* app, int* exit_code) {
  auto ma = std::make_shared<MountArgs>();
  CLI::App* mount = app->add_subcommand(
      "mount", "Mount a repository as a live, read-write (or read-only) directory");
  mount->add_option("REPO", ma->repo, "Repository directory")->required();
  mount->add_option("MOUNTPOINT", ma->mountpoint, "Existing empty directory")->required();
  ma->unlock.AddTo(mount);
  mount->add_flag("-f,--foreground", ma->foreground, "Stay in the foreground (logs go to stderr)");
  mount->add_flag("--read-only", ma->read_only, "Mount read-only (takes no writer lock)");
  mount->add_flag("--allow-other", ma->allow_other,
                  "Let other users access the mount; each request is decided for the calling user "
                  "by the policy "
                  "(needs bindings or a default_role), never beyond the key slot's role");
  mount->add_flag("--no-mode-check", ma->no_mode_check,
                  "Do not enforce mode bits (owner/group/other, sticky, setgid): only the policy "
                  "decides; owners "
                  "are still stored and chown still follows POSIX");
  mount->add_option(
      "--policy", ma->policy.policy_file,
      "Enforce this local policy file instead of the repository's (needs an admin-role slot; "
      "SIGHUP reloads it)");
  mount->add_option(
      "--audit-log", ma->policy.audit_log,
      "Append one JSON line per denied request (and allowed ones with --audit-all) to FILE");
  mount->add_flag("--audit-all", ma->policy.audit_all, "Audit allowed requests too");
  mount->add_option("--threads", ma->threads, "Maximum FUSE worker threads")
      ->check(CLI::Range(1, 256));
  mount->add_option("-o", ma->fuse_options, "FUSE mount option (repeatable; comma lists allowed)")
      ->delimiter(',');
  mount->add_option("--log-file", ma->log_file,
                    "Append the daemon's log to FILE (default: syslog)");
  mount->add_option("--commit-interval", ma->commit_interval, "Seconds between batched commits")
      ->check(CLI::Range(0.05, 3600.0));
  mount
      ->add_option("--cache-size", ma->cache_mib,
                   "MiB of memory for file data: decrypted chunks read ahead and cached, and "
                   "unsealed writes")
      ->check(CLI::Range(16, 1 << 20));
  mount
      ->add_option("--read-threads", ma->read_threads,
                   "Workers that read and decrypt chunks ahead of readers")
      ->check(CLI::Range(1, 64));
  mount->add_flag("--no-readahead-tweak", ma->no_readahead,
                  "Do not raise the mount's read_ahead_kb");
  mount->add_flag("--debug-fuse", ma->debug, "Print every FUSE request (with -f)");
  mount
      ->add_option(
          "--versions-dir", ma->versions_dir,
          "The .versions/ snapshot tree: hidden (default; reachable by name), visible or disabled")
      ->check(CLI::IsMember({"hidden", "visible", "disabled"}));
  mount->add_option(
      "--snapshot-interval", ma->snapshot_interval,
      "Take a snapshot every DURATION (e.g. 30m, 6h) when something changed; default none");
  mount->callback([=] { *exit_code = RunMount(*ma); });

  auto mountpoint = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(300);
  CLI::App* umount =
      app->add_subcommand("umount", "Unmount and wait until the daemon has committed and exited");
  umount->add_option("MOUNTPOINT", *mountpoint, "Mounted directory")->required();
  umount->add_option("--timeout", *timeout, "Seconds to wait for the daemon");
  umount->callback([=] { *exit_code = RunUmount(*mountpoint, *timeout); });
}

}  // namespace weightfs::cli
