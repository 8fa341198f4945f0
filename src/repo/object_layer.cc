#include "weightfs/repo/object_layer.h"

#include <string>

#include "weightfs/crypto/primitives.h"

namespace weightfs::repo {
namespace {

// Objects at least this large (chunks; not trees or snapshots) are sealed into pooled buffers.
constexpr size_t kPooledSealSize = 64 << 10;

// The authenticated config fixes the format of every object in the repository, so an object whose
// header claims another format was tampered with: corruption (EIO), not "unsupported".
Status ObjectOpenError(const Status& s) {
  return s.code() == Code::kUnsupported ? Corruption(s.message()) : s;
}

}  // namespace

ObjectLayer::ObjectLayer(storage::ObjectStore* store, const Keyring* keys,
                         const crypto::ObjectCipher* cipher, std::vector<ScopeKeyInfo> registry,
                         std::function<Status()> before_write)
    : store_(store),
      keys_(keys),
      cipher_(cipher),
      registry_(std::move(registry)),
      before_write_(std::move(before_write)) {
  auto key = crypto::RandomSecret(32);
  WFS_CHECK(key.ok());
  handle_key_ = std::move(key).value();
}

const ObjectKeys& ObjectLayer::KeysOf(uint32_t key_id) const {
  auto it = keys_->objects.find(key_id);
  WFS_CHECK(it != keys_->objects.end());  // callers check Holds first
  return it->second;
}

ObjectId ObjectLayer::ComputeId(ObjectType type, ByteView plaintext, uint32_t key_id) const {
  auto t = static_cast<uint8_t>(type);
  auto mac = crypto::HmacSha256(KeysOf(key_id).id.view(), {ByteView(&t, 1), plaintext});
  WFS_CHECK(mac.ok());
  return *ObjectId::FromBytes(*mac);
}

Status ObjectLayer::PutObjectWithId(ObjectType type, const ObjectId& id, ByteView plaintext,
                                    uint32_t key_id) {
  RETURN_IF_ERROR(before_write_());
  ASSIGN_OR_RETURN(bool exists, store_->Contains(id));
  // A reused object counts as just written, so gc's grace period and this process's lease
  // protect it as well (best effort: an object file this user may not touch is still a valid
  // object). One that gc deleted between the check and the touch is stored again.
  if (exists) {
    Status touched = store_->Touch(id);
    if (touched.code() != Code::kNotFound) return Status::Ok();
  }
  return StoreNewObject(type, id, plaintext, key_id);
}

Status ObjectLayer::StoreNewObject(ObjectType type, const ObjectId& id, ByteView plaintext,
                                   uint32_t key_id) {
  RETURN_IF_ERROR(before_write_());
  const size_t size = crypto::ObjectCipher::SealedSize(plaintext.size());
  // A chunk is sealed into a pooled page-aligned buffer: the store can write that with O_DIRECT,
  // and a stream of chunks does not fault in fresh memory for each one.
  const bool pooled = plaintext.size() >= kPooledSealSize;
  UninitBuffer sealed = pooled ? seal_buffers_.Take(size) : UninitBuffer(size);
  Status s = cipher_->SealInto(static_cast<uint8_t>(type), id, plaintext, sealed.span(), key_id);
  if (s.ok()) s = store_->Put(id, sealed.view());
  if (pooled) seal_buffers_.Give(std::move(sealed));
  return s;
}

Result<ObjectId> ObjectLayer::PutObject(ObjectType type, ByteView plaintext, uint32_t key_id) {
  if (!keys_->Holds(key_id)) {
    return PermissionDenied("this key slot does not hold the keys of scope " + ScopeOfKey(key_id) +
                            " (key id " + std::to_string(key_id) + ")");
  }
  ObjectId id = ComputeId(type, plaintext, key_id);
  RETURN_IF_ERROR(PutObjectWithId(type, id, plaintext, key_id));
  if (scoped()) RememberKeyId(id, key_id, /*written=*/true);
  return id;
}

Result<ObjectId> ObjectLayer::PutFile(const FileObject& file, uint32_t key_id) {
  return PutObject(ObjectType::kFile, EncodeFile(file), key_id);
}

Result<ObjectId> ObjectLayer::PutSnapshot(SnapshotObject snapshot) {
  if (!scoped()) return PutObject(ObjectType::kSnapshot, EncodeSnapshot(snapshot), kLegacyKeyId);
  ASSIGN_OR_RETURN(std::vector<ScopedRoot> roots, RootsOf(snapshot.root));
  if (roots.size() == 1 && roots[0].key_id == kLegacyKeyId) {
    // Recorded before the repository had scopes (forget rewrites it): it stays as it was, under
    // the first keys, or its message and metadata would open to every slot.
    snapshot.root = roots[0].id;
    snapshot.roots.clear();
    return PutObject(ObjectType::kSnapshot, EncodeSnapshot(snapshot), kLegacyKeyId);
  }
  snapshot.roots = std::move(roots);
  snapshot.root = ObjectId();
  return PutObject(ObjectType::kSnapshot, EncodeSnapshot(snapshot), kCommonKeyId);
}

Result<ObjectId> ObjectLayer::PutPolicy(const PolicyObject& policy) {
  return PutObject(ObjectType::kPolicy, EncodePolicy(policy), MetadataKeyId());
}

Status ObjectLayer::Sync() { return store_->Sync(); }

Result<Bytes> ObjectLayer::GetObject(ObjectType type, const ObjectId& id) const {
  auto plain = GetObjectOnce(type, id);
  // A damaged copy in a local cache is dropped and the object read again from where it is
  // stored; only a second failure is corruption.
  if (!plain.ok() && plain.status().code() == Code::kCorruption && store_->DropCachedCopy(id)) {
    return GetObjectOnce(type, id);
  }
  return plain;
}

Result<Bytes> ObjectLayer::GetObjectOnce(ObjectType type, const ObjectId& id) const {
  auto sealed = store_->Get(id);
  if (!sealed.ok()) {
    if (sealed.status().code() == Code::kNotFound) {
      return Corruption(std::string(ObjectTypeName(type)) + " object " + id.Hex() + " is missing");
    }
    return sealed.status();
  }
  auto plain = cipher_->Open(static_cast<uint8_t>(type), id, *sealed);
  if (!plain.ok()) {
    return ObjectOpenError(plain.status())
        .WithContext(std::string(ObjectTypeName(type)) + " object " + id.Hex() +
                     " failed verification");
  }
  return plain;
}

Result<FileObject> ObjectLayer::LoadFile(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kFile, id));
  auto f = DecodeFile(plain);
  if (!f.ok()) return f.status().WithContext("file object " + id.Hex());
  return f;
}

Result<TreeObject> ObjectLayer::LoadStoredTree(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kTree, id));
  auto t = DecodeTree(plain);
  if (!t.ok()) return t.status().WithContext("tree object " + id.Hex());
  return t;
}

Result<SnapshotObject> ObjectLayer::LoadSnapshot(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kSnapshot, id));
  auto s = DecodeSnapshot(plain);
  if (!s.ok()) return s.status().WithContext("snapshot object " + id.Hex());
  if (scoped()) {
    // A snapshot recorded before the repository had scopes: the default scope's first keys.
    if (s->roots.empty()) s->roots.push_back(ScopedRoot{kLegacyKeyId, s->root});
    s->root = HandleOf(s->roots);
  } else if (!s->roots.empty()) {
    return Corruption("snapshot object " + id.Hex() +
                      " names a root per scope, but the repository has no scopes");
  }
  return s;
}

Result<PolicyObject> ObjectLayer::LoadPolicy(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kPolicy, id));
  auto p = DecodePolicy(plain);
  if (!p.ok()) return p.status().WithContext("policy object " + id.Hex());
  return p;
}

Result<ObjectId> ObjectLayer::EmptyRoot() { return PutTree(TreeObject{}, "/"); }

ObjectId ObjectLayer::EmptyTreeId() const {
  return ComputeId(ObjectType::kTree, EncodeTree(TreeObject{}), UnscopedKeyId());
}

}  // namespace weightfs::repo
