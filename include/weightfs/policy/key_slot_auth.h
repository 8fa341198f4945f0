// Authorization of key-slot holders: what the role of the key slot that unlocked a repository
// may administer under a policy (changing the policy or the key slots needs `admin` on /).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/status.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/repository.h"

namespace weightfs::policy {

// Whether role may administer (`admin` on /) under p.
bool RoleMayAdmin(const Policy& p, const std::string& role);

// OK when the role of the key slot that unlocked repo may administer under current; else
// kPermissionDenied saying that action needs such a slot and which slot and role were used.
Status RequireAdmin(const Policy& current, const repo::Repository& repo, const std::string& action);

// Whether some key slot other than except_slot has a role that may administer under p (so that
// a change does not lock every administrator out).
bool SomeSlotMayAdmin(const Policy& p, const std::vector<repo::KeySlotInfo>& slots,
                      const std::string& except_slot = "");

// What a key slot of role holds in a repository with scopes (registry: refs/keys): nullopt for
// the master secret, which a role that may administer gets (it makes new scopes' keys and every
// slot's); else the key ids of every scope the role needs (Policy::RoleScopes), each scope's
// every generation but default's first (repo::kLegacyKeyId: everything from before the
// repository had scopes), and repo::kCommonKeyId.
std::optional<std::vector<uint32_t>> SlotKeysFor(const Policy& p, const std::string& role,
                                                 const std::vector<repo::ScopeKeyInfo>& registry);
// The scope names of key ids (sorted, unique; "snapshots" for kCommonKeyId left out).
std::vector<std::string> ScopesOfKeys(const std::vector<uint32_t>& key_ids,
                                      const std::vector<repo::ScopeKeyInfo>& registry);

}  // namespace weightfs::policy
