// Serving a vfs::FileSystem through the kernel with libfuse3's low-level API.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "weightfs/core/status.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::fuse {

struct SessionOptions {
  std::string mountpoint;
  std::string fsname;  // shown in /proc/mounts, e.g. "weightfs:/srv/repo"
  bool read_only = false;
  bool allow_other = false;
  int threads = 8;             // maximum worker threads
  bool tune_readahead = true;  // raise the bdi's read_ahead_kb after mounting (root only)
  uint32_t readahead_kb = 4096;
  std::vector<std::string> extra_options;  // -o values passed to the kernel/libfuse as is
  bool debug = false;
  bool caller_groups = false;  // read each caller's supplementary groups (per-caller policy)
  // When set, SIGHUP sets this flag (the daemon reloads its policy) instead of ending the session.
  std::atomic<bool>* hangup = nullptr;
  std::function<void(const std::string&)> log;
};

// A mounted session. Mount() returns once the kernel mount exists; Loop() serves requests
// until the file system is unmounted or a signal arrives.
class Session {
 public:
  static Result<std::unique_ptr<Session>> Mount(vfs::FileSystem* fs, const SessionOptions& options);
  ~Session();
  // Serves requests (multi-threaded) until unmounted. Returns OK on a clean unmount.
  Status Loop();
  // Unmounts if still mounted (idempotent).
  void Unmount();
  // Drops the kernel's cached entries (each (parent, name) and everything under it) and the
  // attributes of nodes, so that the next access asks the daemon again (after a policy change).
  // Not to be called from a request handler.
  void InvalidateCache(const vfs::FileSystem::KernelNames& names);

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weightfs::fuse
