// KeySlotManager: the key slots of an unlocked repository (keys/<name>: the master secret wrapped
// under one passphrase or key file, with the slot's role) and the MACs that bind the config and
// every slot to the master secret. The slot format is in keys.h. Authorization (may the unlocking
// slot administer?) is the caller's job.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/keys.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class KeySlotManager {
 public:
  // store, master and mac_key must outlive this.
  KeySlotManager(storage::ObjectStore* store, Bytes repo_id, const SecretBytes* master,
                 const SecretBytes* mac_key);

  Result<std::vector<KeySlotInfo>> ListKeySlots() const;
  // kAlreadyExists when a slot of that name exists.
  Status AddKeySlot(const std::string& name, const std::string& role, const Credential& credential,
                    const crypto::ScryptParams& scrypt);
  // Refuses to remove the last slot.
  Status RemoveKeySlot(const std::string& name);
  // Rewraps slot name's master secret under a new credential (same role).
  Status ChangeKeySlot(const std::string& name, const Credential& credential,
                       const crypto::ScryptParams& scrypt);
  // Verifies the config MAC and every slot's MAC; returns one message per problem.
  std::vector<std::string> VerifyMetadata() const;

 private:
  storage::ObjectStore* const store_;
  const Bytes repo_id_;
  const SecretBytes* const master_;
  const SecretBytes* const mac_key_;
};

}  // namespace weightfs::repo
