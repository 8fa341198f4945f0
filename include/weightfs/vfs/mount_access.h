// How a mount is decided, settled before it starts: the policy it enforces (the repository's,
// or a local override), with which role, whether it must be read-only, and the audit log.
// vfs::PolicyWatcher applies later policy changes to the running mount.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/repository.h"
#include "weightfs/vfs/access.h"

namespace weightfs::vfs {

struct MountAccessOptions {
  bool allow_other = false;  // shared mount: decided per caller
  std::string policy_file;   // a local override (needs a slot whose role has admin)
  std::string audit_log;     // append one JSON line per audited request; empty: none
  bool audit_all = false;    // audit allowed requests too
};

struct MountAccess {
  std::shared_ptr<AccessControl> access;
  bool read_only = false;           // the slot's role can write nowhere
  std::optional<Bytes> policy_ref;  // refs/policy as loaded (to notice changes)
  uint64_t policy_seq = 0;          // its version (0: none set)
  std::vector<std::string> notes;   // to log once the daemon runs
  // Where audit write failures are reported: set to the daemon's log once it exists (after a
  // fork), before requests are served.
  std::shared_ptr<std::function<void(const std::string&)>> log =
      std::make_shared<std::function<void(const std::string&)>>();
};

// Decides everything before the mount starts, so that a bad policy file, a role the policy does
// not know or a shared mount without bindings fail on the terminal, never half-open:
// kPermissionDenied for an override without an admin slot or a role the policy does not define,
// kInvalidArgument for allow_other under a policy without bindings or default role.
Result<MountAccess> PrepareMountAccess(const repo::Repository& repo,
                                       const MountAccessOptions& options);

}  // namespace weightfs::vfs
