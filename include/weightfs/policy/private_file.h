// A local policy file that overrides the repository's on one mount (`weightfs mount --policy`).
// Whoever could edit or replace it could give themselves any role, so it is loaded only when
// root and the current user alone can change it and every directory above it.
#pragma once

#include <memory>
#include <string>

#include "weightfs/core/status.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {

// Loads the policy file at path after checking the file (a regular file of at most
// kMaxPolicyBytes, owned by root or the effective user, not writable by group or others) and
// every directory above it, as path names them and after resolving symlinks (owned by root or
// the user, not writable by group or others unless sticky). kPermissionDenied, saying what to
// fix, when a check fails. Checked on every load, on the very file that is then read.
Result<std::shared_ptr<const Policy>> LoadPrivatePolicyFile(const std::string& path);

}  // namespace weightfs::policy
