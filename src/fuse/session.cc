#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <pthread.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "fuse/adapter.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/fuse/mount.h"
#include "weightfs/fuse/mount_table.h"

namespace weightfs::fuse {

struct Session::Impl {
  AdapterContext ctx;
  std::atomic<bool> init_done{false};
  SessionOptions options;
  fuse_session* se = nullptr;
  std::atomic<bool> mounted{false};
  Mutex mount_mu;  // held while invalidations are sent
  bool signals = false;
  bool stopping GUARDED_BY(mount_mu) = false;  // no invalidation may start any more
  // Entries to invalidate after the request that changed them was answered (invalidate_later).
  Mutex later_mu;
  CondVar later_cv{&later_mu};
  std::vector<std::pair<fuse_ino_t, std::string>> later GUARDED_BY(later_mu);
  bool later_stop GUARDED_BY(later_mu) = false;
  // Sends them; joined after the unmount (ending the connection frees an invalidation that waits
  // for a kernel lock held by a request nobody will answer any more).
  std::thread invalidator;

  // Queues (parent, name) for the invalidator.
  void InvalidateLater(fuse_ino_t parent, const std::string& name) EXCLUDES(later_mu);
  // The invalidator thread's loop: sends queued invalidations until later_stop.
  void SendLaterInvalidations() EXCLUDES(later_mu, mount_mu);
  void StopInvalidator() EXCLUDES(later_mu);
  // Ends the session loop from a normal thread once SIGTERM or SIGINT arrived (see Loop).
  void StopOnExitSignal(const std::atomic<bool>& loop_done, pthread_t loop_thread)
      EXCLUDES(mount_mu);
  // Raises the readahead once the kernel's INIT was answered.
  void TuneReadaheadAfterInit();
};

namespace {

// Signal state (one session per process). The handlers only set flags: the session loop ends
// from a normal thread (see Session::Loop), never halfway through a cache invalidation.
std::atomic<bool>* g_hangup = nullptr;  // SIGHUP reloads the policy when set
std::atomic<bool> g_exit_requested{false};

void OnHangup(int) {
  if (g_hangup) {
    g_hangup->store(true);
  } else {
    g_exit_requested.store(true);
  }
}

void OnExitSignal(int) { g_exit_requested.store(true); }

Status InstallHandler(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, nullptr) != 0) return ErrnoStatus(errno, "installing a signal handler");
  return Status::Ok();
}

void Init(void* userdata, fuse_conn_info* conn) {
  static_cast<AdapterContext*>(userdata)->init_done->store(true);
  // 1 MiB requests: fewer round trips and AEAD calls per byte (libfuse derives max_pages).
  conn->max_write = 1 << 20;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  // The kernel's writeback cache would delay writes past close(); write-through keeps
  // close/fsync semantics exact.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Every change to a file passes through this daemon (and so through the kernel's page cache),
  // so cached pages never need revalidating against the attributes. With it on, a mount with
  // attribute timeout 0 (shared, --allow-other) would send a GETATTR before every cached read.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

const fuse_lowlevel_ops* Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o;
    std::memset(&o, 0, sizeof(o));
    o.init = Init;
    AddNodeOps(&o);
    AddFileOps(&o);
    AddDirOps(&o);
    return o;
  }();
  return &ops;
}

// Raises the kernel's readahead for this mount: FUSE's init can only lower it below the bdi
// default of 128 KiB, which caps sequential reads of large weight files.
void TuneReadahead(const SessionOptions& o) {
  // From /proc/self/mountinfo: stat() on the mountpoint would be a FUSE request to this very
  // daemon, which is not serving yet.
  const std::string dev = MountedDevice(o.mountpoint);
  if (dev.empty()) return;
  const std::string path = "/sys/class/bdi/" + dev + "/read_ahead_kb";
  std::ofstream f(path);
  if (f) f << o.readahead_kb << "\n";
  f.close();
  if (!f) {
    if (o.log) o.log("not raising readahead: cannot write " + path + " (needs root)");
    return;
  }
  if (o.log) o.log("raised readahead to " + std::to_string(o.readahead_kb) + " KiB via " + path);
}

}  // namespace

void Session::Impl::InvalidateLater(fuse_ino_t parent, const std::string& name) {
  {
    MutexLock lock(&later_mu);
    later.emplace_back(parent, name);
  }
  later_cv.Signal();
}

void Session::Impl::SendLaterInvalidations() {
  MutexLock lock(&later_mu);
  while (true) {
    while (!later_stop && later.empty()) later_cv.Wait();
    if (later_stop) return;
    std::vector<std::pair<fuse_ino_t, std::string>> todo;
    todo.swap(later);
    lock.Unlock();
    {
      MutexLock mount_lock(&mount_mu);
      for (const auto& [parent, name] : todo) {
        if (stopping || !mounted || fuse_session_exited(se)) break;
        fuse_lowlevel_notify_inval_entry(se, parent, name.c_str(), name.size());
      }
    }
    lock.Lock();
  }
}

void Session::Impl::StopInvalidator() {
  {
    MutexLock lock(&later_mu);
    later_stop = true;
  }
  later_cv.SignalAll();
  if (invalidator.joinable()) invalidator.join();
}

void Session::Impl::StopOnExitSignal(const std::atomic<bool>& loop_done, pthread_t loop_thread) {
  bool exiting = false;
  while (!loop_done.load()) {
    if (!exiting && g_exit_requested.load()) {
      {
        MutexLock lock(&mount_mu);
        stopping = true;
      }
      fuse_session_exit(se);
      exiting = true;
    }
    // Wakes the loop's wait (again, in case it was not waiting yet); the handler only sets a
    // flag.
    // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread): the handler only sets a flag.
    if (exiting) pthread_kill(loop_thread, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Session::Impl::TuneReadaheadAfterInit() {
  for (int i = 0; i < 500 && !init_done.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TuneReadahead(options);
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Session::~Session() {
  Unmount();
  impl_->StopInvalidator();
  if (impl_->signals) {
    // The hangup flag lives in the caller, which is going away.
    g_hangup = nullptr;
    for (int sig : {SIGHUP, SIGINT, SIGTERM}) signal(sig, SIG_DFL);
  }
  if (impl_->se) fuse_session_destroy(impl_->se);
}

namespace {

// The -o options and arguments fuse_session_new gets.
std::vector<std::string> SessionArgs(const SessionOptions& options) {
  std::vector<std::string> args = {"weightfs"};
  std::string opts = "fsname=" + options.fsname + ",subtype=weightfs";
  if (options.read_only) opts += ",ro";
  if (options.allow_other) opts += ",allow_other";
  for (const std::string& o : options.extra_options) opts += "," + o;
  args.emplace_back("-o");
  args.push_back(opts);
  if (options.debug) args.emplace_back("-d");
  return args;
}

Status InstallSignalHandlers(std::atomic<bool>* hangup) {
  g_hangup = hangup;
  g_exit_requested.store(false);
  RETURN_IF_ERROR(InstallHandler(SIGHUP, OnHangup));
  RETURN_IF_ERROR(InstallHandler(SIGINT, OnExitSignal));
  RETURN_IF_ERROR(InstallHandler(SIGTERM, OnExitSignal));
  signal(SIGPIPE, SIG_IGN);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Mount(vfs::FileSystem* fs,
                                                const SessionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ctx.fs = fs;
  impl->ctx.log = options.log;
  impl->ctx.init_done = &impl->init_done;
  impl->ctx.caller_groups = options.caller_groups;
  if (options.allow_other) {
    impl->ctx.invalidate_later = [impl = impl.get()](fuse_ino_t parent, const std::string& name) {
      impl->InvalidateLater(parent, name);
    };
  }
  std::vector<std::string> args = SessionArgs(options);
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  impl->se = fuse_session_new(&fargs, Ops(), sizeof(fuse_lowlevel_ops), &impl->ctx);
  fuse_opt_free_args(&fargs);
  if (!impl->se) return InvalidArgument("could not create the FUSE session (bad -o option?)");
  RETURN_IF_ERROR(InstallSignalHandlers(options.hangup));
  impl->signals = true;
  if (fuse_session_mount(impl->se, options.mountpoint.c_str()) != 0) {
    return IoError(
        "mounting on " + options.mountpoint +
        " failed (is /dev/fuse available, and the mountpoint an existing, unmounted directory?)");
  }
  impl->mounted = true;
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Status Session::Loop() {
  // The kernel applies FUSE's max_readahead when it processes the INIT reply, which would undo
  // an earlier change; so readahead is raised once INIT has been answered.
  std::thread tuner;
  if (impl_->options.tune_readahead)
    tuner = std::thread([impl = impl_.get()] { impl->TuneReadaheadAfterInit(); });
  // SIGTERM/SIGINT end the loop from here: first no new cache invalidation may start and the one
  // in flight finishes (requests are still served, so the kernel locks it waits for come free),
  // then the loop is told to stop. libfuse's own handlers would stop serving at once and could
  // leave an invalidation blocked in the kernel forever.
  std::atomic<bool> loop_done{false};
  const pthread_t loop_thread = pthread_self();
  std::thread stopper([&] { impl_->StopOnExitSignal(loop_done, loop_thread); });
  if (!impl_->invalidator.joinable())
    impl_->invalidator = std::thread([impl = impl_.get()] { impl->SendLaterInvalidations(); });
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(std::max(1, impl_->options.threads)));
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  int rc = fuse_session_loop_mt(impl_->se, cfg);
  fuse_loop_cfg_destroy(cfg);
  loop_done.store(true);
  stopper.join();
  if (tuner.joinable()) tuner.join();
  if (rc != 0 && rc != SIGTERM && rc != SIGINT && rc != SIGHUP) {
    return IoError("the FUSE session loop failed: " +
                   std::string(std::strerror(rc < 0 ? -rc : rc)));
  }
  return Status::Ok();
}

void Session::InvalidateCache(const vfs::FileSystem::KernelNames& names) {
  MutexLock lock(&impl_->mount_mu);
  if (impl_->stopping || !impl_->mounted || !impl_->init_done.load()) return;
  for (const auto& [parent, name] : names.entries) {
    // Once the loop has ended nobody answers the requests whose locks an invalidation waits for.
    if (fuse_session_exited(impl_->se)) return;
    // -ENOENT: the kernel had nothing cached under that name.
    fuse_lowlevel_notify_inval_entry(impl_->se, parent, name.c_str(), name.size());
  }
  for (vfs::NodeId ino : names.nodes) {
    if (fuse_session_exited(impl_->se)) return;
    // A negative offset: the attributes only, the page cache stays (content did not change).
    // The root keeps its old behaviour (attributes and cached listing pages).
    fuse_lowlevel_notify_inval_inode(impl_->se, ino, ino == FUSE_ROOT_ID ? 0 : -1, 0);
  }
}

void Session::Unmount() {
  // Not under mount_mu: ending the connection is what releases an invalidation stuck in the
  // kernel (which holds mount_mu).
  if (impl_->mounted.exchange(false)) fuse_session_unmount(impl_->se);
}

}  // namespace weightfs::fuse
