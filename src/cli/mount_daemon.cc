#include "cli/mount_daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/daemon_hardening.h"
#include "weightfs/core/clock.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/fuse/mount.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/leases.h"
#include "weightfs/repo/writer_lock.h"
#include "weightfs/vfs/filesystem.h"
#include "weightfs/vfs/policy_watcher.h"

namespace weightfs::cli {

std::string FailedCommitFileFor(const std::string& pid_file) { return pid_file + ".commit-failed"; }

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

namespace {

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

// Log lines of the daemon: a file (--log-file), stderr in the foreground, syslog otherwise.
// Thread-safe.
class Logger {
 public:
  Logger(const std::string& file, bool foreground) : foreground_(foreground) {
    if (!file.empty()) {
      auto f = OpenPrivateLog(file);
      if (f.ok()) out_ = *f;
    }
    if (!out_ && !foreground_) ::openlog("weightfs", LOG_PID, LOG_DAEMON);
  }
  void Line(const std::string& line) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
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
  Mutex mu_;  // one line at a time
  std::FILE* out_ = nullptr;
  const bool foreground_;
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

// The space of the file system under the repository, for statfs. Object storage has no fixed
// size: an S3 repository reports 1 PiB free (as s3fs does), so that tools checking free space
// before writing go ahead.
std::function<Result<vfs::StatFsOut>()> StatFsOf(const std::string& repo_path) {
  if (IsRemoteRepository(repo_path)) {
    return []() -> Result<vfs::StatFsOut> {
      vfs::StatFsOut out;
      out.block_size = 4096;
      out.blocks = out.blocks_free = out.blocks_avail = (uint64_t{1} << 50) / 4096;
      out.files = out.files_free = uint64_t{1} << 32;
      return out;
    };
  }
  return [repo_path]() -> Result<vfs::StatFsOut> {
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
}

// Makes the log line for a key material lock that failed.
std::string KeyMaterialNotLocked(const Status& s) {
  struct rlimit rl {};
  ::getrlimit(RLIMIT_MEMLOCK, &rl);
  return "key material is not locked in memory (it could reach swap; RLIMIT_MEMLOCK is " +
         (rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                       : std::to_string(rl.rlim_cur) + " bytes") +
         "): " + s.message();
}

// Points stdin, stdout and stderr at /dev/null (the daemon, once its parent returned).
void DetachStdio() {
  int null = ::open("/dev/null", O_RDWR);
  if (null < 0) return;
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(null, 2);
  if (null > 2) ::close(null);
}

// One mount's daemon, from the checks before the fork to the final commit. Each step returns a
// failed Status to end the start-up (Fail reports it).
class MountDaemon {
 public:
  explicit MountDaemon(MountArgs a) : a_(std::move(a)) {}
  int Run();

 private:
  // Before the fork: everything that can fail on the terminal does.
  Status Prepare();
  // Forks unless in the foreground; in the parent sets *parent_exit to the daemon's result.
  Status Daemonize(std::optional<int>* parent_exit);
  int Fail(const Status& s);
  void Log(const std::string& line) { logger_->Line(line); }
  Status TakeWriterLock();
  Result<vfs::FsOptions> FileSystemOptions();
  Status CreateFileSystem(const vfs::FsOptions& fo);
  Result<std::vector<ObjectId>> CreateServedTree(const vfs::FsOptions& fo);
  Status MountSession();
  void Announce();
  // Serves until unmounted; returns the session loop's status.
  Status Serve();
  void FinalCommit();
  void Release();

  MountArgs a_;
  Result<std::string> pid_file_ = Internal("no pid record yet");
  std::unique_ptr<repo::Repository> repo_;
  std::string repo_path_;
  std::optional<vfs::MountAccess> policy_;
  int report_fd_ = -1;
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<repo::WriterLock> lock_;
  std::unique_ptr<repo::Lease> read_lease_;
  // The live trees the read lease was registered for, as the file system names them (with
  // scopes, handles; the lease names their stored fragments).
  std::vector<ObjectId> served_roots_;
  Result<std::unique_ptr<vfs::FileSystem>> fs_ = Internal("the file system was not created");
  std::atomic<bool> hangup_{false};  // set on SIGHUP while the session exists
  std::unique_ptr<fuse::Session> session_;
};

int MountDaemon::Fail(const Status& s) {
  if (report_fd_ >= 0) {
    Report(report_fd_, ExitCodeFor(s), s.message());
    return ExitCodeFor(s);
  }
  return cli::Fail(s);
}

Status MountDaemon::Prepare() {
  // Before any secret is read: a core dump or a debugger attached by the same user would see
  // the passphrase and the keys.
  RETURN_IF_ERROR(MakeNonDumpable());
  // Chunks, frames and dirty buffers are megabytes each; by default glibc serves such blocks
  // with fresh mmaps, so every one costs page faults and zeroing. Keep them in the heap.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  a_.mountpoint = RealPath(a_.mountpoint);
  boost::system::error_code ec;
  if (!boost::filesystem::is_directory(a_.mountpoint, ec)) {
    return NotFound("mountpoint " + a_.mountpoint + " is not an existing directory");
  }
  for (const std::string& o : a_.fuse_options) {
    if (o == "ro") a_.read_only = true;
    if (o == "allow_other") a_.allow_other = true;
  }
  // Checked before anything is mounted: the pid record is how `weightfs umount` finds the daemon.
  pid_file_ = PidRecordFor(a_.mountpoint);
  RETURN_IF_ERROR(pid_file_.status());
  auto repo = OpenRepository(a_.repo, a_.unlock);
  // The daemon outlives the command line; its environment must not keep the passphrase.
  ScrubEnvironment("WEIGHTFS_PASSPHRASE");
  // Nor the S3 secrets: the store holds what it needs.
  ScrubEnvironment("AWS_SECRET_ACCESS_KEY");
  ScrubEnvironment("AWS_SESSION_TOKEN");
  RETURN_IF_ERROR(repo.status());
  repo_ = std::move(repo).value();
  repo_path_ = IsRemoteRepository(a_.repo) ? a_.repo : RealPath(a_.repo);
  a_.policy.allow_other = a_.allow_other;
  ASSIGN_OR_RETURN(policy_, vfs::PrepareMountAccess(*repo_, a_.policy));
  if (policy_->read_only) a_.read_only = true;
  if (repo_->objects().scoped() && !a_.read_only) {
    return Unsupported(
        "this repository has scopes (per-scope keys): this build mounts it read-only only (add "
        "--read-only); write with the offline commands (import, restore)");
  }
  return Status::Ok();
}

Status MountDaemon::Daemonize(std::optional<int>* parent_exit) {
  if (a_.foreground) return Status::Ok();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid > 0) {
    ::close(fds[1]);
    *parent_exit = WaitForDaemon(fds[0]);
    return Status::Ok();
  }
  ::close(fds[0]);
  report_fd_ = fds[1];
  ::setsid();
  return Status::Ok();
}

Status MountDaemon::TakeWriterLock() {
  if (a_.read_only) return Status::Ok();
  std::string note;
  ASSIGN_OR_RETURN(lock_,
                   repo::WriterLock::Acquire(repo_->store(), a_.mountpoint, ::getpid(), &note));
  if (!note.empty()) {
    Log(note);
    if (a_.foreground) std::cerr << "weightfs: " << note << "\n";
  }
  // Now, not on the first write: registering waits while a gc sweeps (leases.h).
  if (Status s = repo_->EnsureWriteLease(); !s.ok())
    return s.WithContext("registering the mount with gc");
  return Status::Ok();
}

Result<vfs::FsOptions> MountDaemon::FileSystemOptions() {
  vfs::FsOptions fo;
  fo.versions_dir = a_.versions_dir == "visible"    ? vfs::FsOptions::VersionsDir::kVisible
                    : a_.versions_dir == "disabled" ? vfs::FsOptions::VersionsDir::kDisabled
                                                    : vfs::FsOptions::VersionsDir::kHidden;
  if (!a_.snapshot_interval.empty()) {
    auto seconds = repo::ParseDurationSeconds(a_.snapshot_interval);
    if (!seconds.ok()) return seconds.status().WithContext("--snapshot-interval");
    fo.snapshot_interval_s = static_cast<double>(*seconds);
  }
  fo.read_only = a_.read_only;
  // A shared mount (--allow-other): callers may see different trees, so the file system gives
  // timeout 0 (the kernel asks for every lookup and getattr; otherwise one user's cached lookup
  // answers another's, libfuse#15) to the paths whose decision differs between callers, and the
  // normal timeouts to the rest.
  fo.access = policy_->access;
  fo.commit_interval_s = a_.commit_interval;
  fo.dirty_budget = a_.cache_mib << 20;
  fo.read_cache = a_.cache_mib << 20;
  fo.read_threads = a_.read_threads > 0 ? a_.read_threads : IsRemoteRepository(a_.repo) ? 16 : 4;
  fo.uid = ::getuid();
  fo.gid = ::getgid();
  fo.mode_check = !a_.no_mode_check;
  fo.log = [this](const std::string& line) { Log(line); };
  fo.statfs = StatFsOf(repo_path_);
  fo.versions_refresh_s = a_.refresh_s > 0 ? a_.refresh_s : 1e9;
  fo.live_refresh_s = a_.read_only ? a_.refresh_s : 0;
  fo.invalidate = [this](const vfs::KernelNames& names) {
    if (session_) session_->InvalidateCache(names);
  };
  return fo;
}

// Creates the file system a read-only mount serves and returns the live trees it may serve.
Result<std::vector<ObjectId>> MountDaemon::CreateServedTree(const vfs::FsOptions& fo) {
  // The file system reads refs/main itself: a tree read just before and just after it that
  // is the same is the one it serves (else a writer committed meanwhile: try again).
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> before, repo_->refs().ReadMain());
    fs_ = vfs::FileSystem::Create(repo_.get(), fo);
    if (!fs_.ok()) return fs_.status().WithContext(a_.repo);
    ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> after, repo_->refs().ReadMain());
    if (before.value.live_root == after.value.live_root || attempt == 20) {
      std::vector<ObjectId> roots = {before.value.live_root};
      if (after.value.live_root != before.value.live_root) roots.push_back(after.value.live_root);
      served_roots_ = roots;
      // The lease names stored trees (with scopes, a root's fragments; gc walks those).
      return repo_->objects().StoredTreesOf(roots);
    }
  }
}

Status MountDaemon::CreateFileSystem(const vfs::FsOptions& fo) {
  if (!a_.read_only) {
    fs_ = vfs::FileSystem::Create(repo_.get(), fo);
    return fs_.status().WithContext(a_.repo);
  }
  // A read-only mount serves the live tree as it was when it mounted, which the next commit of
  // another writer may leave unreachable: its read lease names that tree, so gc keeps it. The
  // tree is read and the lease written with no gc sweeping in between (Lease::Register).
  auto lease = repo::Lease::Register(repo_->store(), repo::LeaseKind::kRead,
                                     "read-only mount on " + a_.mountpoint,
                                     [&] { return CreateServedTree(fo); });
  const Code code = lease.status().code();
  if (code == Code::kPermissionDenied || code == Code::kReadOnly || code == Code::kNotPermitted) {
    // A repository this user may only read: mount, but say what is not protected.
    Log("warning: cannot register this read-only mount with gc (" + lease.status().message() +
        "): a gc that deletes what no ref names any more may delete files this mount serves");
    if (!fs_.ok()) fs_ = vfs::FileSystem::Create(repo_.get(), fo);
  } else if (!lease.ok()) {
    return lease.status().WithContext("registering the read-only mount with gc");
  } else {
    read_lease_ = std::move(lease).value();
  }
  return fs_.status().WithContext(a_.repo);
}

Status MountDaemon::MountSession() {
  fuse::SessionOptions so;
  so.mountpoint = a_.mountpoint;
  so.fsname = "weightfs:" + repo_path_;
  so.read_only = a_.read_only;
  so.allow_other = a_.allow_other;
  so.threads = a_.threads;
  so.tune_readahead = !a_.no_readahead && ::geteuid() == 0;
  so.debug = a_.debug;
  so.log = [this](const std::string& line) { Log(line); };
  so.caller_groups = a_.allow_other || !a_.no_mode_check;  // group bits need the groups
  so.hangup = &hangup_;
  for (const std::string& o : a_.fuse_options) {
    if (o != "ro" && o != "rw" && o != "allow_other") so.extra_options.push_back(o);
  }
  ASSIGN_OR_RETURN(session_, fuse::Session::Mount(fs_->get(), so));
  return Status::Ok();
}

void MountDaemon::Announce() {
  if (Status s = WritePidRecord(*pid_file_, ::getpid()); !s.ok())
    Log(s.message() + " (`weightfs umount` will not wait)");
  Log("mounted " + repo_path_ + " on " + a_.mountpoint +
      (a_.read_only ? " (read-only)" : " (read-write)") + " with key slot '" + repo_->slot_name() +
      "' (role " + repo_->role() + ")" +
      (a_.allow_other ? ", shared: each caller's own role decides" : ""));
  if (report_fd_ >= 0) {
    Report(report_fd_, 0, "");
    DetachStdio();
  }
}

Status MountDaemon::Serve() {
  if (read_lease_) (*fs_)->SetReadLease(read_lease_.get(), served_roots_);
  (*fs_)->Start();
  vfs::PolicyWatcher::Options wo;
  wo.policy_file = a_.policy.policy_file;
  wo.policy_ref = policy_->policy_ref;
  wo.policy_seq = policy_->policy_seq;
  wo.hangup = &hangup_;
  wo.on_change = [this] { session_->InvalidateCache((*fs_)->CachedByKernel()); };
  wo.log = [this](const std::string& line) { Log(line); };
  auto watcher = std::make_unique<vfs::PolicyWatcher>(repo_.get(), policy_->access, std::move(wo));
  Status loop = session_->Loop();
  // Unmount before stopping the watcher: a cache invalidation it is sending waits for locks that
  // requests no longer served may hold, and ending the connection releases them.
  session_->Unmount();
  watcher.reset();
  return loop;
}

void MountDaemon::FinalCommit() {
  Status shut = (*fs_)->Shutdown();
  if (shut.ok()) return;
  // Files were reported written (closed or fsynced): they may not be dropped. The daemon keeps
  // them, and the writer lock, and retries until the commit succeeds (e.g. once space is
  // freed); `weightfs umount` reports the failure with its exit code meanwhile.
  const std::string failed_file = FailedCommitFileFor(*pid_file_);
  Log("final commit failed: " + shut.message() + "; the daemon (pid " + std::to_string(::getpid()) +
      ") keeps the uncommitted changes and retries until the commit succeeds (free space on the "
      "repository's file system); SIGTERM is ignored meanwhile, SIGKILL loses them");
  WriteFailedCommit(failed_file, shut);
  int delay_ms = 500;
  for (int attempt = 1; !shut.ok(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min(delay_ms * 2, 5000);
    shut = (*fs_)->Shutdown();
    if (shut.ok()) {
      Log("final commit succeeded on retry " + std::to_string(attempt));
    } else if (attempt % 60 == 0) {
      Log("final commit still failing (retry " + std::to_string(attempt) + "): " + shut.message());
    }
  }
  ::unlink(failed_file.c_str());
}

void MountDaemon::Release() {
  if (lock_) lock_->Release().IgnoreError();
  if (read_lease_) read_lease_->Release().IgnoreError();
  ::unlink(pid_file_->c_str());
  Log("unmounted " + a_.mountpoint + ", everything committed");
}

int MountDaemon::Run() {
  if (Status s = Prepare(); !s.ok()) return cli::Fail(s);
  std::optional<int> parent_exit;
  if (Status s = Daemonize(&parent_exit); !s.ok()) return cli::Fail(s);
  if (parent_exit) return *parent_exit;
  logger_ = std::make_unique<Logger>(a_.log_file, a_.foreground);
  for (const std::string& note : policy_->notes) Log(note);
  *policy_->log = [this](const std::string& line) { Log(line); };
  // After the fork: memory locks are not inherited.
  if (Status s = repo_->LockKeyMaterial(); !s.ok()) Log(KeyMaterialNotLocked(s));
  if (Status s = TakeWriterLock(); !s.ok()) return Fail(s);
  auto fo = FileSystemOptions();
  if (!fo.ok()) return Fail(fo.status());
  if (Status s = CreateFileSystem(*fo); !s.ok()) return Fail(s);
  if (Status s = MountSession(); !s.ok()) return Fail(s);
  Announce();
  Status loop = Serve();
  FinalCommit();
  Release();
  if (!loop.ok()) return cli::Fail(loop);
  return kExitOk;
}

}  // namespace

int RunMount(MountArgs a) { return MountDaemon(std::move(a)).Run(); }

}  // namespace weightfs::cli
