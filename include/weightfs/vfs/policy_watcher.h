// PolicyWatcher: applies policy changes to a running mount within a second. Without a local
// policy file it polls refs/policy; with one (`mount --policy`) it reloads the file when the
// hangup flag is set (SIGHUP). A new policy is swapped into the mount's AccessControl and then
// on_change runs (the mount drops what the kernel cached under the old policy). A policy that
// fails to load is logged and the old one stays, except a newer repository version that does
// not load: it may revoke access, so everything is denied until it loads.
//
// Thread-safe: one thread of its own, stopped and joined by the destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/access.h"

namespace weightfs::vfs {

class PolicyWatcher {
 public:
  struct Options {
    std::string policy_file;          // a local override; empty: the repository's policy
    std::optional<Bytes> policy_ref;  // refs/policy as the mount loaded it
    uint64_t policy_seq = 0;          // its version (0: none set)
    // Set by the SIGHUP handler; the watcher clears it when it reloads the file. May be null.
    std::atomic<bool>* hangup = nullptr;
    std::function<void()> on_change;  // after a new policy is in force; may be empty
    std::function<void(const std::string&)> log;
    std::chrono::milliseconds poll_interval{400};
  };

  // repo and access outlive the watcher.
  PolicyWatcher(const repo::Repository* repo, std::shared_ptr<AccessControl> access,
                Options options);
  ~PolicyWatcher();
  PolicyWatcher(const PolicyWatcher&) = delete;
  PolicyWatcher& operator=(const PolicyWatcher&) = delete;

 private:
  void Loop() EXCLUDES(mu_);
  // One step of the loop (on the watcher's thread only).
  void Poll();
  void PollRepository();
  void ReloadFile();
  void Apply(std::shared_ptr<const policy::Policy> next, const std::string& what);
  void Log(const std::string& line) const;

  const repo::Repository* const repo_;
  const std::shared_ptr<AccessControl> access_;
  Options options_;  // policy_ref changes on the watcher's thread only
  Mutex mu_;
  CondVar cv_{&mu_};
  bool stop_ GUARDED_BY(mu_) = false;
  // The watcher's thread only:
  uint64_t applied_seq_ = 0;  // the repository policy version in force
  std::string last_error_;    // logged once, not every poll
  bool denying_ = false;      // a newer policy failed to load: everything is denied
  std::thread thread_;
};

}  // namespace weightfs::vfs
