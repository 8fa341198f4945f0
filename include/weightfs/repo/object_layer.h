// ObjectLayer: the repository's content-addressed objects. It computes ids (keyed: equal
// plaintexts of one repository share an id, other repositories cannot tell), seals objects with
// the keys of their key id and stores them, and loads and authenticates them. Object types and
// their encodings are in objects.h.
//
// In a repository with scopes (keyring.h, docs/design.md "Scopes") every scope's paths form a
// tree of their own, sealed under the scope's keys: a directory is one tree object (a fragment)
// per scope that has something at or below it. The rest of the code still sees one tree per
// directory: PutTree splits a directory's entries by the scope of their paths and LoadTree merges
// the fragments this slot's keys open, both through a *handle*, an id made up in this process
// (an HMAC under a random key) that stands for a directory's path and fragments. Handles are
// equal when path and fragments are. Snapshots and refs/main store the root fragments
// (ScopedRoot), and HandleOf/RootsOf convert.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "weightfs/core/buffer_pool.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/core/thread_annotations.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/ref_updater.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

// Maps a normalized path ("/", "/a/b") to the name of its scope (the policy's, policy.h).
using ScopeResolver = std::function<std::string(std::string_view path)>;

class ObjectLayer : public RootCodec {
 public:
  // store, keys and cipher must outlive this; before_write runs before every write (the
  // repository's write lease). registry: refs/keys (empty: the repository has no scopes).
  ObjectLayer(storage::ObjectStore* store, const Keyring* keys, const crypto::ObjectCipher* cipher,
              std::vector<ScopeKeyInfo> registry, std::function<Status()> before_write);

  // Seals and opens objects (for the data path's readers and writers, which drive it frame by
  // frame; everything else goes through the methods below).
  const crypto::ObjectCipher& cipher() const { return *cipher_; }

  // --- scopes ---
  bool scoped() const { return !registry_.empty(); }
  const std::vector<ScopeKeyInfo>& registry() const { return registry_; }
  // Which scope each path is in: needed before anything is written in a repository with scopes
  // (the policy's; installed when it is loaded, replaced when it changes).
  void SetScopeResolver(ScopeResolver resolver) EXCLUDES(scope_mu_);
  // The scope of a normalized path (kDefaultScope without scopes).
  std::string ScopeOf(std::string_view path) const EXCLUDES(scope_mu_);
  // The key id that new objects at path are sealed with: the newest keys of its scope, or
  // kLegacyKeyId without scopes. kPermissionDenied when this slot does not hold them.
  Result<uint32_t> WriteKeyFor(std::string_view path) const EXCLUDES(scope_mu_);
  // The key id of a repository without scopes; aborts in one with scopes (a writer that does not
  // know its path must not write there).
  uint32_t UnscopedKeyId() const;
  // The key id that snapshots and policy versions are sealed with.
  uint32_t MetadataKeyId() const { return scoped() ? kCommonKeyId : kLegacyKeyId; }
  // Whether this slot holds every key of refs/keys (gc and a full check need that).
  bool HoldsAllKeys() const;
  // The scope name of a key id ("" when unknown).
  std::string ScopeOfKey(uint32_t key_id) const;

  ObjectId ComputeId(ObjectType type, ByteView plaintext, uint32_t key_id) const;
  // Seals and stores plaintext under key_id unless an object with its id exists; returns the id.
  Result<ObjectId> PutObject(ObjectType type, ByteView plaintext, uint32_t key_id);
  // Like PutObject with a precomputed id. An object that exists already is touched (its
  // modification time renewed), so gc's grace period and the write lease protect it as one just
  // written.
  Status PutObjectWithId(ObjectType type, const ObjectId& id, ByteView plaintext, uint32_t key_id);
  // Seals and stores plaintext under id without asking the store whether id exists: for a
  // caller that just checked (ChunkSink), so a new chunk costs one existence check, not two.
  Status StoreNewObject(ObjectType type, const ObjectId& id, ByteView plaintext, uint32_t key_id);
  // The tree of the directory at dir_path (normalized). Without scopes: one tree object, its id.
  // With scopes: split into one fragment per scope (see above), returning the handle. base is
  // the directory's previous id, whose fragments this slot cannot open are kept as they were;
  // entries whose scope this slot cannot write are kPermissionDenied; a file entry whose object
  // is sealed under another scope's keys than its path's (moved there) is sealed again under the
  // right ones.
  Result<ObjectId> PutTree(const TreeObject& tree, std::string_view dir_path,
                           const std::optional<ObjectId>& base = std::nullopt);
  // The directory dir stored again for path: every directory below split anew, every file whose
  // scope changed sealed again (a repository getting scopes, a policy whose scopes changed, a
  // tree restored to another path). Without scopes: dir.
  Result<ObjectId> Rescope(const ObjectId& dir, std::string_view path);
  Result<ObjectId> PutFile(const FileObject& file, uint32_t key_id);
  // Snapshots (with scopes: their root handle stored as its fragments) and policy versions, under
  // MetadataKeyId().
  Result<ObjectId> PutSnapshot(SnapshotObject snapshot);
  Result<ObjectId> PutPolicy(const PolicyObject& policy);
  // Makes every object written so far durable.
  Status Sync();

  // Loads and authenticates a whole object: kCorruption when it is missing or fails
  // verification (never kNotFound: a ref or tree named it); kPermissionDenied when it is sealed
  // under a scope's keys this slot does not hold.
  Result<Bytes> GetObject(ObjectType type, const ObjectId& id) const;
  Result<FileObject> LoadFile(const ObjectId& id) const;
  // A directory: the tree object id names, or with scopes the merge of the handle's fragments
  // that this slot opens.
  Result<TreeObject> LoadTree(const ObjectId& id) const;
  // One stored tree object as it is (a fragment with scopes; no handle).
  Result<TreeObject> LoadStoredTree(const ObjectId& id) const;
  // The stored tree objects a tree id stands for: with scopes a handle's fragments (every one,
  // also those this slot cannot open), without scopes the id itself (under kLegacyKeyId).
  Result<std::vector<ScopedRoot>> FragmentsOf(const ObjectId& tree) const EXCLUDES(handles_mu_);
  // The stored tree objects of trees (FragmentsOf each, ids only): what a read lease names.
  Result<std::vector<ObjectId>> StoredTreesOf(const std::vector<ObjectId>& trees) const;
  Result<SnapshotObject> LoadSnapshot(const ObjectId& id) const;
  Result<PolicyObject> LoadPolicy(const ObjectId& id) const;

  // Stores an empty root directory; its id (a tree object without scopes, a handle with).
  Result<ObjectId> EmptyRoot();
  // The id an empty tree has in a repository without scopes (aborts in one with scopes).
  ObjectId EmptyTreeId() const;

  // RootCodec: the root directory "/" made of roots, and back.
  ObjectId HandleOf(const std::vector<ScopedRoot>& roots) const override EXCLUDES(handles_mu_);
  Result<std::vector<ScopedRoot>> RootsOf(const ObjectId& handle) const override
      EXCLUDES(handles_mu_);

 private:
  // A directory as its fragments (sorted by key id).
  struct Handle {
    std::string path;
    std::vector<ScopedRoot> fragments;
  };
  // One read and authentication of an object (GetObject retries once after dropping a cached
  // copy).
  Result<Bytes> GetObjectOnce(ObjectType type, const ObjectId& id) const;
  const ObjectKeys& KeysOf(uint32_t key_id) const;
  ObjectId MakeHandle(std::string path, std::vector<ScopedRoot> fragments) const
      EXCLUDES(handles_mu_);
  Result<Handle> FindHandle(const ObjectId& id) const EXCLUDES(handles_mu_);
  // The key id a stored object is sealed under (remembered from writes and merges, else read
  // from its header).
  Result<uint32_t> KeyIdOf(const ObjectId& id) const EXCLUDES(handles_mu_);
  // written: this process sealed it (so it may move it, see CheckMove).
  void RememberKeyId(const ObjectId& id, uint32_t key_id, bool written) const EXCLUDES(handles_mu_);
  // A merge showed file id at path, named by the fragment of key_id.
  void RememberNaming(const std::string& path, const ObjectId& id, uint32_t key_id) const
      EXCLUDES(handles_mu_);
  // Whether a file sealed under sealed_under may be sealed again for path's scope: only when a
  // tree of its own scope named it (kCorruption for an entry that points into another scope).
  Status CheckMove(const std::string& path, const ObjectId& id, uint32_t sealed_under) const
      EXCLUDES(handles_mu_);
  Result<TreeObject> MergeFragments(const Handle& h) const;
  Result<ObjectId> SplitTree(const TreeObject& tree, std::string_view dir_path,
                             const std::optional<ObjectId>& base);
  // Adds entry e (at path child) to the fragments of its directory (SplitTree).
  Status SplitEntry(const TreeEntry& e, const std::string& child,
                    std::map<uint32_t, TreeObject>* fragments);
  // A file object (and its chunks) sealed again under key_id; returns the new file id.
  Result<ObjectId> Reseal(const ObjectId& file, uint32_t key_id);
  Result<ObjectId> EmptyTreeUnder(uint32_t key_id);

  // Sealed chunk buffers kept for reuse: a few chunks' worth (the sink has more in flight only
  // briefly).
  static constexpr size_t kSealBuffersKept = 16 << 20;

  storage::ObjectStore* const store_;
  const Keyring* const keys_;
  const crypto::ObjectCipher* const cipher_;
  const std::vector<ScopeKeyInfo> registry_;
  const std::function<Status()> before_write_;
  // Page-aligned buffers that chunks are sealed into, reused (see StoreNewObject).
  BufferPool seal_buffers_{kSealBuffersKept};

  mutable Mutex scope_mu_;  // a leaf lock
  ScopeResolver resolver_ GUARDED_BY(scope_mu_);

  SecretBytes handle_key_;    // random, this process's only
  mutable Mutex handles_mu_;  // a leaf lock
  mutable std::unordered_map<ObjectId, Handle, ObjectIdHash> handles_ GUARDED_BY(handles_mu_);
  // Authenticated: the key id each object seen or written is sealed under.
  mutable std::unordered_map<ObjectId, uint32_t, ObjectIdHash> key_ids_ GUARDED_BY(handles_mu_);
  // Which fragment named each file, by path and by object (see CheckMove).
  mutable std::unordered_map<std::string, ScopedRoot> named_at_ GUARDED_BY(handles_mu_);
  mutable std::unordered_map<ObjectId, std::set<uint32_t>, ObjectIdHash> named_under_
      GUARDED_BY(handles_mu_);
};

}  // namespace weightfs::repo
