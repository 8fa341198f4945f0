// Repository: an unlocked weightfs repository. It opens the store with a key slot's credential,
// owns the keys derived from the master secret, and composes the layers that do the work:
//   objects()    ObjectLayer: seal, store, load and authenticate objects (object_layer.h)
//   refs()       RefUpdater: read refs/main, refs/tags, refs/policy and change them with
//                UpdateRef, the one compare-and-swap retry loop (ref_updater.h)
//   policies()   PolicyStore: the policy versions anchored in the snapshot chain (policy_store.h)
//   key_slots()  KeySlotManager: add, remove, rewrap and verify key slots (key_slots.h)
// It records and resolves snapshots itself, and holds this process's gc write lease, which every
// layer registers before its first write (leases.h).
//
// Thread-safe: after Open, all methods may be called concurrently (SetMainObserver of refs()
// excepted, see there).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/key_slots.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/object_layer.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/policy_store.h"
#include "weightfs/repo/ref_updater.h"
#include "weightfs/repo/snapshot_ids.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class Lease;

struct InitOptions {
  std::string slot_name = "admin";
  std::string role = "admin";
  crypto::ScryptParams scrypt;
  bool allow_weak_kdf = false;  // needed for scrypt n < kMinScryptN
  ChunkerParams chunker;
};

class Repository {
 public:
  // Kept for callers that name the policy version type through the repository.
  using PolicyVersion = repo::PolicyVersion;

  // Creates a repository in an empty store: config, first key slot, empty live tree.
  static Status Init(storage::ObjectStore* store, const Credential& credential,
                     const InitOptions& options);

  // Unlocks with credential, trying every slot of its kind (or only slot_name when given).
  // kWrongKey when no slot opens, kUnsupported for a newer format, kCorruption for a
  // modified config, kNotFound when the store holds no repository.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::ObjectStore> store,
                                                  const Credential& credential,
                                                  const std::string& slot_name = "");

  ~Repository();

  const RepoConfig& config() const { return config_; }
  const std::string& slot_name() const { return slot_name_; }
  const std::string& role() const { return role_; }
  storage::ObjectStore* store() const { return store_.get(); }
  const GearTable& gear() const { return gear_; }

  ObjectLayer& objects() { return *objects_; }
  const ObjectLayer& objects() const { return *objects_; }
  RefUpdater& refs() { return *refs_; }
  const RefUpdater& refs() const { return *refs_; }
  PolicyStore& policies() { return *policies_; }
  const PolicyStore& policies() const { return *policies_; }
  KeySlotManager& key_slots() { return *key_slots_; }
  // The keys this session's slot holds (keyring.h).
  const Keyring& keyring() const { return keys_; }
  const KeySlotManager& key_slots() const { return *key_slots_; }

  // Keeps the master secret, the keys derived from it and the cipher's keys in RAM (mlock), for a
  // long-running daemon; fails when RLIMIT_MEMLOCK does not allow it (nothing is unlocked again).
  Status LockKeyMaterial() const;

  // Registers this repository's write lease unless it has one: every method that writes
  // objects or refs calls it first, so a concurrent gc never deletes what this process wrote
  // and has not yet published. Waits while a gc sweeps. Call it early where a later wait would
  // hurt (a mount before it serves requests).
  Status EnsureWriteLease() EXCLUDES(lease_mu_);
  // The name of this repository's write lease ("" when it has none): gc in the same process
  // does not let its own lease protect anything.
  std::string WriteLeaseName() const EXCLUDES(lease_mu_);

  // Records a snapshot (the head's parent chain grows by one) of the tree make_root builds from
  // the current refs/main, and makes it the live tree, with refs().UpdateMain: if refs/main
  // changes concurrently, make_root runs again on the new value, so no concurrent change is
  // lost. Syncs objects before publishing.
  using MakeRootFn = std::function<Result<ObjectId>(const MainRef& current)>;
  Result<SnapshotInfo> CommitSnapshot(const MakeRootFn& make_root, const std::string& message);
  // Gives each scope in scopes keys (refs/keys; the config goes to format v2 first, so builds
  // that know only v1 refuse the repository from then on) and reloads this session's keys, which
  // invalidates every tree handle of objects() (object_layer.h). Needs a slot that holds the
  // master secret (kPermissionDenied otherwise).
  Status EnsureScopeKeys(const std::vector<std::string>& scopes);
  // Gives scope a new generation of keys, which what is written into it from now on is sealed
  // under (Rescope the live tree to seal what it holds again), and reloads this session's keys
  // as EnsureScopeKeys does. Needs the master secret; kNotFound for a scope without keys.
  Result<ScopeKeyInfo> RekeyScope(const std::string& scope);
  // Snapshots from the head back to the first, newest first. With sealed_older, the list stops
  // at the first snapshot this slot cannot open (one recorded before the repository had scopes,
  // sealed under keys only the default scope's holders have) and *sealed_older says so; without
  // it that is kPermissionDenied.
  Result<std::vector<SnapshotInfo>> ListSnapshots(bool* sealed_older = nullptr) const;
  // Resolves "latest", a tag, or a hex id / unique prefix of >= 8 digits (FindSnapshotByIdPrefix)
  // to a snapshot.
  Result<SnapshotInfo> ResolveVersion(const std::string& version) const;

 private:
  Repository() = default;
  Result<SnapshotInfo> LoadSnapshotInfo(const ObjectId& id) const;
  // Builds the cipher and the layers that depend on the keys, from keys_ and registry.
  void MakeKeyedLayers(const std::vector<ScopeKeyInfo>& registry);
  // Writes refs/keys (compare-and-swap against expected_raw) and reloads the keys.
  Status ReplaceKeyRegistry(const std::vector<ScopeKeyInfo>& next,
                            const std::optional<Bytes>& expected_raw);

  std::unique_ptr<storage::ObjectStore> store_;
  RepoConfig config_;
  std::string slot_name_;
  std::string role_;
  Keyring keys_;
  std::unique_ptr<crypto::ObjectCipher> cipher_;
  GearTable gear_{};
  std::unique_ptr<ObjectLayer> objects_;
  std::unique_ptr<RefUpdater> refs_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<KeySlotManager> key_slots_;
  mutable Mutex lease_mu_;
  std::unique_ptr<Lease> lease_ GUARDED_BY(lease_mu_);
  std::atomic<int> lease_pid_{0};  // the pid lease_ was registered by (0: none)
};

// Checks scrypt parameters for a new slot: n a power of two >= 2, and n >= kMinScryptN unless
// allow_weak.
Status ValidateNewScrypt(const crypto::ScryptParams& params, bool allow_weak);

}  // namespace weightfs::repo
