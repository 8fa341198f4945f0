// KeySlotManager: the key slots of an unlocked repository (keys/<name>: the master secret, or a
// bundle of some scopes' keys (keyring.h), wrapped under one passphrase or key file, with the
// slot's role) and the MACs that bind the config and every slot to the repository's keys. The
// slot format is in keys.h. Authorization (may the unlocking slot administer, and which keys
// does a role need?) is the caller's job; a slot can only hand out keys it holds.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/keys.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class KeySlotManager {
 public:
  // store and keys (this session's) must outlive this.
  KeySlotManager(storage::ObjectStore* store, Bytes repo_id, const Keyring* keys);

  Result<std::vector<KeySlotInfo>> ListKeySlots() const;
  // kAlreadyExists when a slot of that name exists. The new slot holds the master secret, or
  // with key_ids a bundle of exactly those key ids' keys (kPermissionDenied when this session
  // does not hold them, or holds no master secret to give).
  Status AddKeySlot(const std::string& name, const std::string& role, const Credential& credential,
                    const crypto::ScryptParams& scrypt,
                    const std::optional<std::vector<uint32_t>>& key_ids = std::nullopt);
  // Refuses to remove the last slot.
  Status RemoveKeySlot(const std::string& name);
  // Rewraps what slot name holds under a new credential (same role, same keys).
  Status ChangeKeySlot(const std::string& name, const Credential& credential,
                       const crypto::ScryptParams& scrypt);
  // Verifies the config MAC and every slot's MAC; returns one message per problem.
  std::vector<std::string> VerifyMetadata() const;

 private:
  storage::ObjectStore* const store_;
  const Bytes repo_id_;
  // The slot file holding key_ids' keys (or the master secret) for name and role.
  Result<Bytes> Wrap(const std::string& name, const std::string& role, const Credential& credential,
                     const crypto::ScryptParams& scrypt,
                     const std::optional<std::vector<uint32_t>>& key_ids) const;
  const Keyring* const keys_;
};

}  // namespace weightfs::repo
