#include "weightfs/policy/key_slot_auth.h"

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

}  // namespace weightfs::policy
