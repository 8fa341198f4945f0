#include "weightfs/policy/key_slot_auth.h"

#include <algorithm>
#include <set>

namespace weightfs::policy {

bool RoleMayAdmin(const Policy& p, const std::string& role) {
  return p.Decide({role}, Capability::kAdmin, "/").allowed;
}

Status RequireAdmin(const Policy& current, const repo::Repository& repo,
                    const std::string& action) {
  if (RoleMayAdmin(current, repo.role())) return Status::Ok();
  return PermissionDenied(action +
                          " needs a key slot whose role may administer (`admin` on /); key slot '" +
                          repo.slot_name() + "' has role '" + repo.role() +
                          "'. Unlock with an admin slot (--slot NAME)");
}

bool SomeSlotMayAdmin(const Policy& p, const std::vector<repo::KeySlotInfo>& slots,
                      const std::string& except_slot) {
  for (const auto& s : slots) {
    if (s.name != except_slot && RoleMayAdmin(p, s.role)) return true;
  }
  return false;
}

std::optional<std::vector<uint32_t>> SlotKeysFor(const Policy& p, const std::string& role,
                                                 const std::vector<repo::ScopeKeyInfo>& registry) {
  if (RoleMayAdmin(p, role)) return std::nullopt;
  std::vector<uint32_t> ids = {repo::kCommonKeyId};
  for (const RoleScope& rs : p.RoleScopes(role)) {
    if (!rs.needs_key) continue;
    for (const repo::ScopeKeyInfo& k : registry) {
      // The first keys sealed everything written before there were scopes: they stay with
      // slots that hold the master secret.
      if (k.scope == rs.scope && k.key_id != repo::kLegacyKeyId) ids.push_back(k.key_id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> ScopesOfKeys(const std::vector<uint32_t>& key_ids,
                                      const std::vector<repo::ScopeKeyInfo>& registry) {
  std::set<std::string> names;
  for (uint32_t id : key_ids) {
    for (const repo::ScopeKeyInfo& k : registry) {
      if (k.key_id == id) names.insert(k.scope);
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace weightfs::policy
