#include "weightfs/repo/repository.h"

#include <unistd.h>

#include <algorithm>

#include "repo/records.h"
#include "weightfs/core/clock.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/leases.h"

namespace weightfs::repo {
namespace {

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";
constexpr char kMainRef[] = "refs/main";
constexpr char kTagsRef[] = "refs/tags";
constexpr uint32_t kContentKeyId = 1;
// Objects at least this large (chunks; not trees or snapshots) are sealed into pooled buffers.
constexpr size_t kPooledSealSize = 64 << 10;

// The authenticated config fixes the format of every object in the repository, so an object whose
// header claims another format was tampered with: corruption (EIO), not "unsupported".
Status ObjectOpenError(const Status& s) {
  return s.code() == Code::kUnsupported ? Corruption(s.message()) : s;
}

Result<Bytes> ReadRequired(storage::ObjectStore* store, const std::string& name, size_t max_size) {
  ASSIGN_OR_RETURN(std::optional<Bytes> data, store->ReadFileAtMost(name, max_size));
  if (!data) return NotFound(name + " is missing");
  return std::move(*data);
}

}  // namespace

Status ValidateNewScrypt(const crypto::ScryptParams& p, bool allow_weak) {
  if (p.n < 2 || (p.n & (p.n - 1)) != 0 || p.r == 0 || p.p == 0) {
    return InvalidArgument("scrypt n must be a power of two >= 2, r and p >= 1");
  }
  if (!ScryptWithinLimits(p)) {
    return InvalidArgument("scrypt n=" + std::to_string(p.n) + " r=" + std::to_string(p.r) +
                           " p=" + std::to_string(p.p) +
                           " costs more than a slot may (1 GiB of memory, 64x the default work)");
  }
  if (p.n < kMinScryptN && !allow_weak) {
    return InvalidArgument("scrypt n=" + std::to_string(p.n) +
                           " is below the safe minimum 2^17; "
                           "weak parameters are for tests only (--insecure-fast-kdf)");
  }
  return Status::Ok();
}

Status Repository::Init(storage::ObjectStore* store, const Credential& credential,
                        const InitOptions& options) {
  RETURN_IF_ERROR(ValidateSlotName(options.slot_name));
  RETURN_IF_ERROR(ValidateSlotName(options.role));
  RETURN_IF_ERROR(ValidateChunkerParams(options.chunker));
  if (credential.kind == Credential::Kind::kPassphrase) {
    RETURN_IF_ERROR(ValidateNewScrypt(options.scrypt, options.allow_weak_kdf));
    if (credential.secret.empty()) return InvalidArgument("the passphrase is empty");
  }
  ASSIGN_OR_RETURN(std::optional<Bytes> existing,
                   store->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
  if (existing) return AlreadyExists("a repository already exists here");

  RepoConfig config;
  ASSIGN_OR_RETURN(config.repo_id, crypto::RandomBytes(kRepoIdSize));
  config.chunker = options.chunker;
  config.created = FormatUtc(NowNs(), "%Y-%m-%dT%H:%M:%SZ");
  ASSIGN_OR_RETURN(SecretBytes master, crypto::RandomSecret(kMasterSize));
  ASSIGN_OR_RETURN(DerivedKeys keys, DeriveKeys(master.view(), config.repo_id));

  ASSIGN_OR_RETURN(Bytes slot,
                   WrapKeySlot(options.slot_name, options.role, credential, options.scrypt,
                               config.repo_id, master.view(), keys.config_mac));
  ASSIGN_OR_RETURN(Bytes config_bytes, SerializeConfig(config, keys.config_mac));
  // Slots first, config last: a store with a config is a repository.
  RETURN_IF_ERROR(store->WriteFile(std::string(kKeysDir) + "/" + options.slot_name, slot));
  RETURN_IF_ERROR(store->WriteFile(kConfigFile, config_bytes));

  return Status::Ok();
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<storage::ObjectStore> store,
                                                     const Credential& credential,
                                                     const std::string& slot_name) {
  ASSIGN_OR_RETURN(std::optional<Bytes> config_bytes,
                   store->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
  if (!config_bytes) return NotFound("not a weightfs repository (no config file)");
  ASSIGN_OR_RETURN(RepoConfig config, ParseConfig(*config_bytes));

  ASSIGN_OR_RETURN(std::vector<std::string> slots, store->ListFiles(kKeysDir));
  if (slots.empty()) return Corruption("the repository has no key slots");
  std::unique_ptr<Repository> repo(new Repository());
  bool found = false;
  // Slots that cannot be used because they are damaged. Other slots may still open; if none does,
  // the damage is what to report (exit 5, naming the slot), not a wrong passphrase.
  std::vector<std::string> damaged;
  const std::string prefix = std::string(kKeysDir) + "/";
  for (const std::string& file : slots) {
    const std::string file_slot = file.substr(prefix.size());
    auto read = store->ReadFileAtMost(file, kMaxKeySlotBytes);
    if (!read.ok() && read.status().code() != Code::kCorruption) return read.status();
    if (read.ok() && !*read) continue;  // removed meanwhile
    auto info = read.ok() ? ParseKeySlot(**read) : Result<KeySlotInfo>(read.status());
    if (!slot_name.empty() && file_slot != slot_name && (!info.ok() || info->name != slot_name))
      continue;
    if (!info.ok()) {
      damaged.push_back("key slot '" + file_slot + "' (" + file +
                        ") is damaged: " + info.status().message());
      continue;
    }
    if (file != prefix + info->name) {
      damaged.push_back("key slot file " + file + " is damaged: it holds the slot named '" +
                        info->name + "' (a renamed or copied slot file)");
      continue;
    }
    auto master = UnwrapKeySlot(**read, credential, config.repo_id);
    if (!master.ok()) {
      if (master.status().code() == Code::kWrongKey) continue;
      if (master.status().code() == Code::kCorruption) {
        // A copy: status() returns a temporary (a reference to its message dangled).
        const std::string m = master.status().message();
        damaged.push_back(m.rfind("key slot '", 0) == 0
                              ? m + " (" + file + ")"
                              : "key slot '" + file_slot + "' (" + file + ") is damaged: " + m);
        continue;
      }
      return master.status();
    }
    repo->master_ = std::move(master).value();
    repo->slot_name_ = info->name;
    repo->role_ = info->role;
    found = true;
    break;
  }
  if (!found && !damaged.empty()) {
    std::string list;
    for (const std::string& d : damaged) list += (list.empty() ? "" : "; ") + d;
    return Corruption(
        list +
        ". No intact key slot opens with this secret; restore the damaged slot from a backup, "
        "or unlock with another slot");
  }
  if (!found) {
    const char* what = credential.kind == Credential::Kind::kPassphrase ? "passphrase" : "key file";
    if (!slot_name.empty()) {
      return WrongKey(std::string("wrong ") + what + " for key slot '" + slot_name +
                      "' (or no such slot)");
    }
    return WrongKey(std::string("wrong ") + what +
                    ": no key slot of this repository opens with it");
  }
  ASSIGN_OR_RETURN(repo->keys_, DeriveKeys(repo->master_.view(), config.repo_id));
  RETURN_IF_ERROR(VerifyConfig(*config_bytes, repo->keys_.config_mac));
  std::map<uint32_t, SecretBytes> content_keys;
  content_keys.emplace(kContentKeyId, repo->keys_.content.Clone());
  repo->cipher_ = std::make_unique<crypto::ObjectCipher>(config.repo_id, std::move(content_keys),
                                                         kContentKeyId);
  repo->gear_ = MakeGearTable(repo->keys_.chunker.view());
  repo->config_ = std::move(config);
  repo->store_ = std::move(store);

  // A repository fresh from Init has no refs/main yet: create the empty live tree.
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo->ReadMain());
  if (!main.raw) {
    ASSIGN_OR_RETURN(ObjectId empty, repo->PutTree(TreeObject{}));
    RETURN_IF_ERROR(repo->Sync());
    MainRef m;
    m.live_root = empty;
    Status s = repo->WriteMain(m, std::nullopt);
    if (!s.ok() && s.code() != Code::kConflict) return s;
  }
  return repo;
}

Repository::~Repository() {
  std::lock_guard lock(lease_mu_);
  lease_.reset();
}

Status Repository::EnsureWriteLease() {
  const int pid = static_cast<int>(::getpid());
  if (lease_pid_.load(std::memory_order_acquire) == pid) return Status::Ok();
  std::lock_guard lock(lease_mu_);
  if (lease_ && lease_->info().pid == pid) return Status::Ok();
  // None yet, or one registered by the parent of this forked process (a mount's daemon), which
  // releases it when it exits: this process needs its own.
  ASSIGN_OR_RETURN(
      std::unique_ptr<Lease> lease,
      Lease::Register(store_.get(), LeaseKind::kWrite, "writer (slot " + slot_name_ + ")"));
  if (lease_) (void)lease_.release();  // the parent's: not ours to release (nor to free twice)
  lease_ = std::move(lease);
  lease_pid_.store(pid, std::memory_order_release);
  return Status::Ok();
}

std::string Repository::WriteLeaseName() const {
  std::lock_guard lock(lease_mu_);
  return lease_ ? lease_->name() : "";
}

Status Repository::LockKeyMaterial() const {
  for (const SecretBytes* k :
       {&master_, &keys_.content, &keys_.id, &keys_.chunker, &keys_.config_mac, &keys_.refs}) {
    RETURN_IF_ERROR(LockInMemory(k->data(), k->size()));
  }
  // The gear table is derived from a key and would let someone who reads it find cut points.
  RETURN_IF_ERROR(LockInMemory(gear_.data(), sizeof(gear_)));
  return cipher_->LockKeyMemory();
}

ObjectId Repository::ComputeId(ObjectType type, ByteView plaintext) const {
  uint8_t t = static_cast<uint8_t>(type);
  auto mac = crypto::HmacSha256(keys_.id.view(), {ByteView(&t, 1), plaintext});
  WFS_CHECK(mac.ok());
  return *ObjectId::FromBytes(*mac);
}

Status Repository::PutObjectWithId(ObjectType type, const ObjectId& id, ByteView plaintext) {
  RETURN_IF_ERROR(EnsureWriteLease());
  ASSIGN_OR_RETURN(bool exists, store_->Contains(id));
  // A reused object counts as just written, so gc's grace period and this process's lease
  // protect it as well (best effort: an object file this user may not touch is still a valid
  // object). One that gc deleted between the check and the touch is stored again.
  if (exists) {
    Status touched = store_->Touch(id);
    if (touched.code() != Code::kNotFound) return Status::Ok();
  }
  return StoreNewObject(type, id, plaintext);
}

Status Repository::StoreNewObject(ObjectType type, const ObjectId& id, ByteView plaintext) {
  RETURN_IF_ERROR(EnsureWriteLease());
  const size_t size = crypto::ObjectCipher::SealedSize(plaintext.size());
  // A chunk is sealed into a pooled page-aligned buffer: the store can write that with O_DIRECT,
  // and a stream of chunks does not fault in fresh memory for each one.
  const bool pooled = plaintext.size() >= kPooledSealSize;
  UninitBuffer sealed = pooled ? seal_buffers_.Take(size) : UninitBuffer(size);
  Status s = cipher_->SealInto(static_cast<uint8_t>(type), id, plaintext, sealed.span());
  if (s.ok()) s = store_->Put(id, sealed.view());
  if (pooled) seal_buffers_.Give(std::move(sealed));
  return s;
}

Result<ObjectId> Repository::PutObject(ObjectType type, ByteView plaintext) {
  ObjectId id = ComputeId(type, plaintext);
  RETURN_IF_ERROR(PutObjectWithId(type, id, plaintext));
  return id;
}

Result<Bytes> Repository::GetObject(ObjectType type, const ObjectId& id) const {
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

Result<FileObject> Repository::LoadFile(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kFile, id));
  auto f = DecodeFile(plain);
  if (!f.ok()) return f.status().WithContext("file object " + id.Hex());
  return f;
}

Result<TreeObject> Repository::LoadTree(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kTree, id));
  auto t = DecodeTree(plain);
  if (!t.ok()) return t.status().WithContext("tree object " + id.Hex());
  return t;
}

Result<SnapshotObject> Repository::LoadSnapshot(const ObjectId& id) const {
  ASSIGN_OR_RETURN(Bytes plain, GetObject(ObjectType::kSnapshot, id));
  auto s = DecodeSnapshot(plain);
  if (!s.ok()) return s.status().WithContext("snapshot object " + id.Hex());
  return s;
}

Result<ObjectId> Repository::PutTree(const TreeObject& tree) {
  return PutObject(ObjectType::kTree, EncodeTree(tree));
}

Result<ObjectId> Repository::PutFile(const FileObject& file) {
  return PutObject(ObjectType::kFile, EncodeFile(file));
}

Status Repository::Sync() { return store_->Sync(); }

ObjectId Repository::EmptyTreeId() const {
  return ComputeId(ObjectType::kTree, EncodeTree(TreeObject{}));
}

Result<Bytes> Repository::SealRef(const std::string& name, ByteView plaintext) const {
  ASSIGN_OR_RETURN(Bytes nonce, crypto::RandomBytes(crypto::kGcmNonceSize));
  Bytes aad = ToBytes("weightfs ref v1");
  PutBytes(&aad, config_.repo_id);
  PutLengthPrefixed(&aad, AsBytes(name));
  ASSIGN_OR_RETURN(Bytes sealed, crypto::AesGcmSeal(keys_.refs.view(), nonce, aad, plaintext));
  Bytes out = ToBytes("WFR1");
  PutBytes(&out, nonce);
  PutBytes(&out, sealed);
  return out;
}

Result<Bytes> Repository::OpenRef(const std::string& name, ByteView sealed) const {
  if (sealed.size() < 4 + crypto::kGcmNonceSize + crypto::kGcmTagSize ||
      AsString(sealed.subspan(0, 4)) != "WFR1") {
    return Corruption(name + " is malformed");
  }
  Bytes aad = ToBytes("weightfs ref v1");
  PutBytes(&aad, config_.repo_id);
  PutLengthPrefixed(&aad, AsBytes(name));
  auto plain = crypto::AesGcmOpen(keys_.refs.view(), sealed.subspan(4, crypto::kGcmNonceSize), aad,
                                  sealed.subspan(4 + crypto::kGcmNonceSize));
  if (!plain.ok())
    return Corruption(name + " failed authentication (modified or from another repository)");
  return plain;
}

Result<Versioned<MainRef>> Repository::ReadMain() const {
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, store_->ReadFileAtMost(kMainRef, kMaxRefBytes));
  Versioned<MainRef> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, OpenRef(kMainRef, *raw));
  ASSIGN_OR_RETURN(out.value, DecodeMain(plain));
  out.raw = std::move(raw);
  return out;
}

Status Repository::WriteMain(const MainRef& value, const std::optional<Bytes>& expected_raw) {
  RETURN_IF_ERROR(EnsureWriteLease());
  ASSIGN_OR_RETURN(Bytes sealed, SealRef(kMainRef, EncodeMain(value)));
  RETURN_IF_ERROR(store_->CompareAndSwapFile(kMainRef, expected_raw, sealed));
  if (main_observer_) main_observer_(value);
  return Status::Ok();
}

Result<Versioned<std::map<std::string, ObjectId>>> Repository::ReadTags(
    uint64_t* generation) const {
  uint64_t unused = 0;
  if (generation == nullptr) generation = &unused;
  *generation = 0;
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, store_->ReadFileAtMost(kTagsRef, kMaxTagsRefBytes));
  Versioned<std::map<std::string, ObjectId>> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, OpenRef(kTagsRef, *raw));
  ASSIGN_OR_RETURN(out.value, DecodeTags(plain, generation));
  out.raw = std::move(raw);
  return out;
}

Result<uint64_t> Repository::TagsGeneration() const {
  uint64_t generation = 0;
  RETURN_IF_ERROR(ReadTags(&generation).status());
  return generation;
}

Status Repository::WriteTags(const std::map<std::string, ObjectId>& tags,
                             const std::optional<Bytes>& expected_raw) {
  RETURN_IF_ERROR(EnsureWriteLease());
  uint64_t generation = 0;
  if (expected_raw) {
    ASSIGN_OR_RETURN(Bytes plain, OpenRef(kTagsRef, *expected_raw));
    RETURN_IF_ERROR(DecodeTags(plain, &generation).status());
  }
  ASSIGN_OR_RETURN(Bytes sealed, SealRef(kTagsRef, EncodeTags(tags, generation + 1)));
  return store_->CompareAndSwapFile(kTagsRef, expected_raw, sealed);
}

Result<SnapshotInfo> Repository::CommitSnapshot(const MakeRootFn& make_root,
                                                const std::string& message) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    ASSIGN_OR_RETURN(Versioned<MainRef> main, ReadMain());
    ASSIGN_OR_RETURN(ObjectId root, make_root(main.value));
    SnapshotObject snap;
    snap.root = root;
    snap.parent = main.value.head;
    snap.seq = main.value.head_seq + 1;
    snap.time_ns = NowNs();
    snap.author = slot_name_;
    snap.message = message;
    ASSIGN_OR_RETURN(auto policy, ReadPolicy());
    if (policy.value) snap.policy = policy.value->id;
    ASSIGN_OR_RETURN(ObjectId id, PutObject(ObjectType::kSnapshot, EncodeSnapshot(snap)));
    RETURN_IF_ERROR(Sync());
    MainRef next = main.value;
    next.head = id;
    next.head_seq = snap.seq;
    next.live_root = root;
    next.generation = main.value.generation + 1;
    Status s = WriteMain(next, main.raw);
    if (s.ok()) return SnapshotInfo{id, std::move(snap)};
    if (s.code() != Code::kConflict) return s;
  }
  return Conflict("could not record the snapshot: refs/main keeps changing");
}

Result<std::vector<SnapshotInfo>> Repository::ListSnapshots() const {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, ReadMain());
  std::vector<SnapshotInfo> out;
  std::optional<ObjectId> next = main.value.head;
  uint64_t expect_seq = main.value.head_seq;
  while (next) {
    ASSIGN_OR_RETURN(SnapshotObject s, LoadSnapshot(*next));
    if (s.seq != expect_seq) {
      return Corruption("snapshot " + next->Hex() + " has sequence number " +
                        std::to_string(s.seq) + ", expected " + std::to_string(expect_seq));
    }
    --expect_seq;
    std::optional<ObjectId> parent = s.parent;
    out.push_back(SnapshotInfo{*next, std::move(s)});
    next = parent;
  }
  // The oldest snapshot is #1 unless `forget` dropped older ones: numbers never go back
  // (history.h).
  return out;
}

Result<SnapshotInfo> Repository::ResolveVersion(const std::string& version) const {
  if (version.empty() || version == "latest") {
    ASSIGN_OR_RETURN(Versioned<MainRef> main, ReadMain());
    if (!main.value.head) return NotFound("the repository has no snapshots yet");
    ASSIGN_OR_RETURN(SnapshotObject s, LoadSnapshot(*main.value.head));
    return SnapshotInfo{*main.value.head, std::move(s)};
  }
  ASSIGN_OR_RETURN(auto tags, ReadTags());
  if (auto it = tags.value.find(version); it != tags.value.end()) {
    ASSIGN_OR_RETURN(SnapshotObject s, LoadSnapshot(it->second));
    return SnapshotInfo{it->second, std::move(s)};
  }
  const bool is_hex = std::all_of(version.begin(), version.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!is_hex) return NotFound("no tag or snapshot named '" + version + "'");
  if (version.size() < 8)
    return InvalidArgument("a snapshot id prefix needs at least 8 hex digits: '" + version + "'");
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> all, ListSnapshots());
  std::optional<SnapshotInfo> match;
  for (SnapshotInfo& s : all) {
    if (s.id.Hex().compare(0, version.size(), version) == 0) {
      if (match) return InvalidArgument("snapshot id prefix '" + version + "' is ambiguous");
      match = std::move(s);
    }
  }
  if (!match && version.size() == 2 * ObjectId::kSize) {
    // A whole id outside the chain: a snapshot only a tag named (e.g. one gc kept because a lost
    // refs/tags named it), which can be tagged again by its id.
    ASSIGN_OR_RETURN(ObjectId id, ObjectId::FromHex(version));
    ASSIGN_OR_RETURN(bool stored, store_->Contains(id));
    if (stored) {
      ASSIGN_OR_RETURN(SnapshotObject s, LoadSnapshot(id));
      return SnapshotInfo{id, std::move(s)};
    }
  }
  if (!match) return NotFound("no snapshot with id '" + version + "'");
  return std::move(*match);
}

Result<std::vector<KeySlotInfo>> Repository::ListKeySlots() const {
  ASSIGN_OR_RETURN(std::vector<std::string> files, store_->ListFiles(kKeysDir));
  std::vector<KeySlotInfo> out;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(Bytes data, ReadRequired(store_.get(), f, kMaxKeySlotBytes));
    auto info = ParseKeySlot(data);
    if (!info.ok()) return info.status().WithContext(f);
    out.push_back(std::move(info).value());
  }
  return out;
}

Status Repository::AddKeySlot(const std::string& name, const std::string& role,
                              const Credential& credential, const crypto::ScryptParams& scrypt) {
  ASSIGN_OR_RETURN(Bytes slot, WrapKeySlot(name, role, credential, scrypt, config_.repo_id,
                                           master_.view(), keys_.config_mac));
  Status s = store_->CreateFileExclusive(std::string(kKeysDir) + "/" + name, slot);
  if (s.code() == Code::kAlreadyExists)
    return AlreadyExists("a key slot named '" + name + "' already exists");
  return s;
}

Status Repository::RemoveKeySlot(const std::string& name) {
  RETURN_IF_ERROR(ValidateSlotName(name));
  ASSIGN_OR_RETURN(std::vector<KeySlotInfo> slots, ListKeySlots());
  bool exists =
      std::any_of(slots.begin(), slots.end(), [&](const KeySlotInfo& s) { return s.name == name; });
  if (!exists) return NotFound("no key slot named '" + name + "'");
  if (slots.size() == 1)
    return InvalidArgument("refusing to remove the last key slot: the repository would be lost");
  return store_->DeleteFile(std::string(kKeysDir) + "/" + name);
}

Status Repository::ChangeKeySlot(const std::string& name, const Credential& credential,
                                 const crypto::ScryptParams& scrypt) {
  RETURN_IF_ERROR(ValidateSlotName(name));
  const std::string file = std::string(kKeysDir) + "/" + name;
  ASSIGN_OR_RETURN(std::optional<Bytes> old, store_->ReadFileAtMost(file, kMaxKeySlotBytes));
  if (!old) return NotFound("no key slot named '" + name + "'");
  RETURN_IF_ERROR(VerifyKeySlot(*old, keys_.config_mac));
  ASSIGN_OR_RETURN(KeySlotInfo info, ParseKeySlot(*old));
  ASSIGN_OR_RETURN(Bytes slot, WrapKeySlot(name, info.role, credential, scrypt, config_.repo_id,
                                           master_.view(), keys_.config_mac));
  return store_->CompareAndSwapFile(file, old, slot);
}

std::vector<std::string> Repository::VerifyMetadata() const {
  std::vector<std::string> problems;
  auto config = store_->ReadFileAtMost(kConfigFile, kMaxConfigBytes);
  if (!config.ok() || !*config) {
    problems.push_back(config.ok() ? "config cannot be read"
                                   : "config cannot be read: " + config.status().message());
  } else if (Status s = VerifyConfig(**config, keys_.config_mac); !s.ok()) {
    problems.push_back(s.message());
  }
  auto files = store_->ListFiles(kKeysDir);
  if (!files.ok()) {
    problems.push_back("key slots cannot be listed: " + files.status().message());
    return problems;
  }
  for (const std::string& f : *files) {
    auto data = store_->ReadFileAtMost(f, kMaxKeySlotBytes);
    if (!data.ok() || !*data) {
      problems.push_back(f + " cannot be read" + (data.ok() ? "" : ": " + data.status().message()));
      continue;
    }
    if (Status s = VerifyKeySlot(**data, keys_.config_mac); !s.ok()) {
      problems.push_back(f + ": " + s.message());
      continue;
    }
    auto info = ParseKeySlot(**data);
    if (!info.ok() || f != std::string(kKeysDir) + "/" + info->name) {
      problems.push_back(f + ": slot file name does not match the slot's name");
    }
  }
  return problems;
}

}  // namespace weightfs::repo
