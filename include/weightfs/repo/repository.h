// Repository: an unlocked weightfs repository. It seals, stores, loads and authenticates
// objects, reads and replaces refs with compare-and-swap, manages key slots, and records
// snapshots. Everything above (CLI, VFS) talks to the repository through this class.
//
// Refs (all sealed with the refs key, name bound in the additional data):
//   refs/main  the branch: head snapshot (id, seq) and the live tree's root, replaced together
//   refs/tags  every tag: name -> snapshot id (one file so tag names do not leak)
//   refs/policy  the current policy object (absent: the built-in policy applies)
// Thread-safe: after Open, all methods may be called concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/buffer_pool.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/chunker.h"
#include "weightfs/repo/keys.h"
#include "weightfs/repo/objects.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class Lease;

struct MainRef {
  std::optional<ObjectId> head;  // latest snapshot
  uint64_t head_seq = 0;
  ObjectId live_root;       // working tree of the live filesystem
  uint64_t generation = 0;  // bumped on every replacement
};

// A ref value together with the stored bytes it came from, for compare-and-swap.
template <typename T>
struct Versioned {
  T value;
  std::optional<Bytes> raw;  // nullopt: the ref did not exist
};

struct InitOptions {
  std::string slot_name = "admin";
  std::string role = "admin";
  crypto::ScryptParams scrypt;
  bool allow_weak_kdf = false;  // needed for scrypt n < kMinScryptN
  ChunkerParams chunker;
};

struct SnapshotInfo {
  ObjectId id;
  SnapshotObject snapshot;
};

class Repository {
 public:
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
  // Seals and opens objects (for the data path's readers and writers, which drive it frame by
  // frame; everything else goes through the methods below).
  const crypto::ObjectCipher& cipher() const { return *cipher_; }

  // Keeps the master secret, the keys derived from it and the cipher's keys in RAM (mlock), for a
  // long-running daemon; fails when RLIMIT_MEMLOCK does not allow it (nothing is unlocked again).
  Status LockKeyMaterial() const;

  // --- objects ---
  ObjectId ComputeId(ObjectType type, ByteView plaintext) const;
  // Seals and stores plaintext unless an object with its id exists; returns the id.
  Result<ObjectId> PutObject(ObjectType type, ByteView plaintext);
  // Like PutObject with a precomputed id.
  Status PutObjectWithId(ObjectType type, const ObjectId& id, ByteView plaintext);
  // Seals and stores plaintext under id without asking the store whether id exists: for a
  // caller that just checked (ChunkSink), so a new chunk costs one existence check, not two.
  Status StoreNewObject(ObjectType type, const ObjectId& id, ByteView plaintext);
  // Loads and authenticates a whole object.
  Result<Bytes> GetObject(ObjectType type, const ObjectId& id) const;
  Result<FileObject> LoadFile(const ObjectId& id) const;
  Result<TreeObject> LoadTree(const ObjectId& id) const;
  Result<SnapshotObject> LoadSnapshot(const ObjectId& id) const;
  Result<ObjectId> PutTree(const TreeObject& tree);
  Result<ObjectId> PutFile(const FileObject& file);
  // Makes every object written so far durable.
  Status Sync();
  // The object id an empty tree has.
  ObjectId EmptyTreeId() const;

  // --- refs ---
  Result<Versioned<MainRef>> ReadMain() const;
  // kConflict if refs/main no longer holds expected_raw.
  Status WriteMain(const MainRef& value, const std::optional<Bytes>& expected_raw);
  // Called after every successful WriteMain with the new value (rollback detection records the
  // head this machine has seen). Set once, before the repository is shared between threads.
  void SetMainObserver(std::function<void(const MainRef&)> observer) {
    main_observer_ = std::move(observer);
  }
  // *generation (when given) receives refs/tags' generation, read with the same bytes (0:
  // missing, or written before generations existed).
  Result<Versioned<std::map<std::string, ObjectId>>> ReadTags(uint64_t* generation = nullptr) const;
  // Writes refs/tags with the next generation (every change bumps it, so a machine that
  // remembers the newest generation it saw detects a rolled-back refs/tags; see local_state.h).
  Status WriteTags(const std::map<std::string, ObjectId>& tags,
                   const std::optional<Bytes>& expected_raw);
  // The generation of refs/tags alone.
  Result<uint64_t> TagsGeneration() const;

  // --- gc leases (see leases.h) ---
  // Registers this repository's write lease unless it has one: every method that writes
  // objects or refs calls it first, so a concurrent gc never deletes what this process wrote
  // and has not yet published. Waits while a gc sweeps. Call it early where a later wait would
  // hurt (a mount before it serves requests).
  Status EnsureWriteLease();
  // The name of this repository's write lease ("" when it has none): gc in the same process
  // does not let its own lease protect anything.
  std::string WriteLeaseName() const;

  // Records a snapshot (the head's parent chain grows by one) of the tree make_root builds from
  // the current refs/main, and makes it the live tree. If refs/main changes concurrently,
  // make_root runs again on the new value, so no concurrent change is lost. Syncs objects
  // before publishing.
  using MakeRootFn = std::function<Result<ObjectId>(const MainRef& current)>;
  Result<SnapshotInfo> CommitSnapshot(const MakeRootFn& make_root, const std::string& message);
  // Snapshots from the head back to the first, newest first.
  Result<std::vector<SnapshotInfo>> ListSnapshots() const;
  // Resolves "latest", a tag, or a hex id / unique prefix of >= 8 digits to a snapshot.
  Result<SnapshotInfo> ResolveVersion(const std::string& version) const;

  Result<PolicyObject> LoadPolicy(const ObjectId& id) const;
  // The current policy (nullopt when none was ever set) with the raw ref for compare-and-swap.
  struct PolicyVersion {
    ObjectId id;
    PolicyObject policy;
  };
  // Every snapshot names the policy in force when it was recorded, which anchors refs/policy in
  // the snapshot chain: a refs/policy that is missing, or older than (or diverging from) the
  // policy the head snapshot names, was deleted or rolled back, and is kCorruption.
  Result<Versioned<std::optional<PolicyVersion>>> ReadPolicy() const;
  // Stores text as the next policy version (parent: the current one, or the head snapshot's
  // policy if refs/policy was lost or rolled back, which this repairs; a damaged history it does
  // not repair) and publishes it with
  // compare-and-swap on refs/policy, retrying when another writer won. Authorization (the slot's
  // role may administer) is the caller's job: the repository layer does not evaluate policies.
  Result<PolicyVersion> SetPolicy(const std::string& text);
  // The same, but only on top of expected_current (the version the caller decided against;
  // nullopt: none set): kConflict, saying who changed it, if another version came in meanwhile.
  Result<PolicyVersion> SetPolicyIfCurrent(const std::string& text,
                                           const std::optional<ObjectId>& expected_current);
  // Policy versions from the current back to the first, newest first.
  Result<std::vector<PolicyVersion>> ListPolicies() const;

  // --- key slots ---
  Result<std::vector<KeySlotInfo>> ListKeySlots() const;
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
  Repository() = default;
  // Sealed chunk buffers kept for reuse: a few chunks' worth (the sink has more in flight only
  // briefly).
  static constexpr size_t kSealBuffersKept = 16 << 20;
  Result<Bytes> SealRef(const std::string& name, ByteView plaintext) const;
  Result<Bytes> OpenRef(const std::string& name, ByteView sealed) const;
  // refs/policy as stored, without the anchor check.
  Result<Versioned<std::optional<PolicyVersion>>> ReadPolicyRef() const;
  // The policy the head snapshot was recorded under, if any.
  Result<std::optional<PolicyVersion>> PolicyAnchor() const;
  // expected: nullopt for any base, else the id (or none) refs/policy must still hold.
  Result<PolicyVersion> SetPolicyOn(const std::string& text,
                                    const std::optional<std::optional<ObjectId>>& expected);

  std::unique_ptr<storage::ObjectStore> store_;
  RepoConfig config_;
  std::string slot_name_;
  std::string role_;
  SecretBytes master_;
  DerivedKeys keys_;
  std::unique_ptr<crypto::ObjectCipher> cipher_;
  GearTable gear_{};
  // Page-aligned buffers that chunks are sealed into, reused (see StoreNewObject).
  BufferPool seal_buffers_{kSealBuffersKept};
  std::function<void(const MainRef&)> main_observer_;
  mutable std::mutex lease_mu_;
  std::unique_ptr<Lease> lease_;   // guarded by lease_mu_
  std::atomic<int> lease_pid_{0};  // the pid lease_ was registered by (0: none)
};

// Checks scrypt parameters for a new slot: n a power of two >= 2, and n >= kMinScryptN unless
// allow_weak.
Status ValidateNewScrypt(const crypto::ScryptParams& params, bool allow_weak);

}  // namespace weightfs::repo
