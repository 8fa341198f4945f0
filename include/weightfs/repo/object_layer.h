// ObjectLayer: the repository's content-addressed objects. It computes ids (keyed: equal
// plaintexts of one repository share an id, other repositories cannot tell), seals objects with
// the content key and stores them, and loads and authenticates them. Object types and their
// encodings are in objects.h.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <functional>

#include "weightfs/core/buffer_pool.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/objects.h"
#include "weightfs/storage/object_store.h"

namespace weightfs::repo {

class ObjectLayer {
 public:
  // store, id_key and cipher must outlive this; before_write runs before every write (the
  // repository's write lease).
  ObjectLayer(storage::ObjectStore* store, const SecretBytes* id_key,
              const crypto::ObjectCipher* cipher, std::function<Status()> before_write);

  // Seals and opens objects (for the data path's readers and writers, which drive it frame by
  // frame; everything else goes through the methods below).
  const crypto::ObjectCipher& cipher() const { return *cipher_; }

  ObjectId ComputeId(ObjectType type, ByteView plaintext) const;
  // Seals and stores plaintext unless an object with its id exists; returns the id.
  Result<ObjectId> PutObject(ObjectType type, ByteView plaintext);
  // Like PutObject with a precomputed id. An object that exists already is touched (its
  // modification time renewed), so gc's grace period and the write lease protect it as one just
  // written.
  Status PutObjectWithId(ObjectType type, const ObjectId& id, ByteView plaintext);
  // Seals and stores plaintext under id without asking the store whether id exists: for a
  // caller that just checked (ChunkSink), so a new chunk costs one existence check, not two.
  Status StoreNewObject(ObjectType type, const ObjectId& id, ByteView plaintext);
  Result<ObjectId> PutTree(const TreeObject& tree);
  Result<ObjectId> PutFile(const FileObject& file);
  // Makes every object written so far durable.
  Status Sync();

  // Loads and authenticates a whole object: kCorruption when it is missing or fails
  // verification (never kNotFound: a ref or tree named it).
  Result<Bytes> GetObject(ObjectType type, const ObjectId& id) const;
  Result<FileObject> LoadFile(const ObjectId& id) const;
  Result<TreeObject> LoadTree(const ObjectId& id) const;
  Result<SnapshotObject> LoadSnapshot(const ObjectId& id) const;
  Result<PolicyObject> LoadPolicy(const ObjectId& id) const;
  // The object id an empty tree has.
  ObjectId EmptyTreeId() const;

 private:
  // One read and authentication of an object (GetObject retries once after dropping a cached
  // copy).
  Result<Bytes> GetObjectOnce(ObjectType type, const ObjectId& id) const;
  // Sealed chunk buffers kept for reuse: a few chunks' worth (the sink has more in flight only
  // briefly).
  static constexpr size_t kSealBuffersKept = 16 << 20;

  storage::ObjectStore* const store_;
  const SecretBytes* const id_key_;
  const crypto::ObjectCipher* const cipher_;
  const std::function<Status()> before_write_;
  // Page-aligned buffers that chunks are sealed into, reused (see StoreNewObject).
  BufferPool seal_buffers_{kSealBuffersKept};
};

}  // namespace weightfs::repo
