// AccessControl: decides every request of a mount against the repository's policy and writes the
// audit log. Each decision is the policy's IAM evaluation for the caller's roles, capped by the
// mount's own role: a mount shared with --allow-other decides per calling user (its bindings, or
// the default role) but never allows what the key slot's role may not do; a private mount decides
// everything with the slot's role.
//
// Thread-safe: the policy is swapped atomically (SetPolicy) while requests are decided. mu_ is
// a leaf lock (nothing else is taken under it); name lookups (NSS) run without it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class AccessControl {
 public:
  struct Options {
    std::string mount_role;   // the role of the key slot that unlocked the repository
    bool per_caller = false;  // --allow-other: each caller's own roles, capped by mount_role
    bool audit_all = false;   // audit allows too, not only denials
    std::function<void(const std::string&)> audit;   // one JSON object per call; null: no audit log
    const policy::NameResolver* resolver = nullptr;  // null: the system's users and groups
    double role_cache_s = 1.0;  // how long a caller's roles are reused (names resolve again after)
  };

  AccessControl(std::shared_ptr<const policy::Policy> policy, Options options);

  void SetPolicy(std::shared_ptr<const policy::Policy> policy) EXCLUDES(mu_);
  std::shared_ptr<const policy::Policy> policy() const EXCLUDES(mu_);
  const Options& options() const { return options_; }

  // Decides cap on a normalized path for c and audits the decision.
  bool Check(const Caller& c, policy::Capability cap, const std::string& path, const char* op);
  // Decides without auditing (entries left out of a listing are not requests).
  bool Peek(const Caller& c, policy::Capability cap, const std::string& path);
  // True if some rule could allow c one of caps somewhere (denies ignored): whether .versions/
  // is shown to a caller, whether a mount can write at all.
  bool MayEver(const Caller& c, policy::CapabilitySet caps);
  // MayEver for one capability, audited like Check (path names what was asked for).
  bool CheckEver(const Caller& c, policy::Capability cap, const std::string& path, const char* op);
  // Whether every caller gets the same answer to lookup and getattr of path (list and read decide
  // the same for all; always on a private mount): its kernel cache entry may then serve everyone.
  bool SameForEveryCaller(const std::string& path) const;

 private:
  struct Verdict {
    bool allowed = false;
    std::string roles;  // the caller's roles, comma-separated
    std::string rule;   // what decided
  };
  Verdict Decide(const Caller& c, policy::Capability cap, const std::string& path);
  std::vector<std::string> RolesOf(const Caller& c, const policy::Policy& p) EXCLUDES(mu_);
  void Audit(const Caller& c, const Verdict& v, policy::Capability cap, const std::string& path,
             const char* op);

  Options options_;
  mutable Mutex mu_;
  std::shared_ptr<const policy::Policy> policy_ GUARDED_BY(mu_);
  using CallerKey = std::tuple<uint32_t, uint32_t, std::vector<uint32_t>>;
  struct CachedRoles {
    const policy::Policy* policy = nullptr;
    std::vector<std::string> roles;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<CallerKey, CachedRoles> roles_cache_ GUARDED_BY(mu_);
};

// The policy a repository's mounts and commands use: the stored one, or the built-in policy when
// none was set. A stored policy that does not load is an error naming its version.
Result<std::shared_ptr<const policy::Policy>> LoadRepositoryPolicy(const repo::Repository& repo);
// The same for a version already read (nullopt: none set, the built-in policy).
Result<std::shared_ptr<const policy::Policy>> LoadStoredPolicy(
    const std::optional<repo::Repository::PolicyVersion>& version);

// One audit log line (JSON, no newline) for tests and the CLI.
std::string AuditLine(int64_t time_ns, uint32_t uid, const std::string& user,
                      const std::string& role, const std::string& op, const std::string& capability,
                      const std::string& path, bool allowed, const std::string& rule);

}  // namespace weightfs::vfs
