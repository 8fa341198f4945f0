// The daemon side of `weightfs mount`: start-up (checks, fork, locks, leases), serving the FUSE
// session until it is unmounted, and the final commit, retried until it succeeds.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/common.h"
#include "weightfs/vfs/mount_access.h"

namespace weightfs::cli {

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
  int read_threads = 0;  // 0: 4 for a local repository, 16 for S3 (requests wait on the network)
  bool no_readahead = false;
  bool debug = false;
  std::string versions_dir = "hidden";
  std::string snapshot_interval;
  double refresh_s = 2.0;  // read-only mounts: how soon a tree committed elsewhere is served
  vfs::MountAccessOptions policy;
};

// Mounts and serves until unmounted; returns the exit code. Unless a.foreground, forks: the
// parent waits for the daemon's start-up result and returns its exit code.
int RunMount(MountArgs a);

// Beside the pid file while the daemon's final commit is failing: "PID\nEXIT CODE\nmessage", so
// that `weightfs umount` reports the failure instead of exiting 0.
std::string FailedCommitFileFor(const std::string& pid_file);
// The exit code and message the daemon pid left in path, if it did.
std::optional<std::pair<int, std::string>> ReadFailedCommit(const std::string& path, pid_t pid);

std::string RealPath(const std::string& p);

}  // namespace weightfs::cli
