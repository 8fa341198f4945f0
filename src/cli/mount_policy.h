// The policy side of `weightfs mount` (issue #5): which policy a mount enforces, with which
// role, whether it must be read-only, the audit log, and the thread that applies policy changes
// to the running mount.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "weightfs/core/status.h"
#include "weightfs/fuse/mount.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/access.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::cli {

struct MountPolicyArgs {
  bool allow_other = false;
  std::string policy_file;  // --policy: a local override (needs a slot whose role has admin)
  std::string audit_log;    // --audit-log
  bool audit_all = false;
};

struct MountPolicy {
  std::shared_ptr<vfs::AccessControl> access;
  bool read_only = false;           // the slot's role can write nowhere
  std::optional<Bytes> policy_ref;  // refs/policy as loaded (to notice changes)
  uint64_t policy_seq = 0;          // its version (0: none set)
  std::vector<std::string> notes;   // to log once the daemon runs
  // Where audit write failures are reported: set to the daemon's log once it exists (after fork).
  std::shared_ptr<std::function<void(const std::string&)>> log =
      std::make_shared<std::function<void(const std::string&)>>();
};

// Loads a local policy file (`mount --policy`) after checking that only root and this user can
// change it or any directory above it (kPermissionDenied otherwise). Used on every load.
Result<std::shared_ptr<const policy::Policy>> LoadPrivatePolicyFile(const std::string& path);

// Decides everything before the mount starts, so that a bad policy file, a role the policy does
// not know or an --allow-other mount without bindings fail on the terminal, never half-open.
Result<MountPolicy> PrepareMountPolicy(const repo::Repository& repo, const MountPolicyArgs& args);

// Applies policy changes to a running mount within a second: polls refs/policy (no --policy) or
// reloads the override file when *hangup is set (SIGHUP), swaps the policy and drops the
// kernel's cached entries. A policy that fails to load is logged and the old one stays.
class PolicyWatcher {
 public:
  PolicyWatcher(const repo::Repository* repo, MountPolicyArgs args, MountPolicy* policy,
                fuse::Session* session, vfs::FileSystem* fs, std::atomic<bool>* hangup,
                std::function<void(const std::string&)> log);
  ~PolicyWatcher();

 private:
  void Loop();
  void PollRepository();
  void Apply(std::shared_ptr<const policy::Policy> next, const std::string& what);

  const repo::Repository* repo_;
  MountPolicyArgs args_;
  MountPolicy* policy_;
  fuse::Session* session_;
  vfs::FileSystem* fs_;
  std::atomic<bool>* hangup_;
  std::function<void(const std::string&)> log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t applied_seq_ = 0;  // the repository policy version in force
  std::string last_error_;    // logged once, not every poll
  bool denying_ = false;      // a newer policy failed to load: everything is denied
  std::thread thread_;
};

}  // namespace weightfs::cli
