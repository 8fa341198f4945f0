#include "weightfs/repo/repository.h"

#include <unistd.h>

#include <set>

#include "weightfs/core/clock.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/leases.h"

namespace weightfs::repo {
namespace {

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";

// The slot a credential opened.
struct UnlockedSlot {
  SecretBytes secret;  // the master secret (v1 slot) or a key bundle (v2)
  bool bundle = false;
  std::string name;
  std::string role;
};

// What trying one slot file gave: its master secret, nothing (not this credential's slot, or not
// the slot asked for), or damage to report if no other slot opens.
struct SlotAttempt {
  std::optional<UnlockedSlot> unlocked;
  std::optional<std::string> damage;
};

Result<SlotAttempt> TrySlot(storage::ObjectStore* store, const std::string& file,
                            const Credential& credential, const std::string& slot_name,
                            ByteView repo_id) {
  const std::string prefix = std::string(kKeysDir) + "/";
  const std::string file_slot = file.substr(prefix.size());
  SlotAttempt out;
  auto read = store->ReadFileAtMost(file, kMaxKeySlotBytes);
  if (!read.ok() && read.status().code() != Code::kCorruption) return read.status();
  if (read.ok() && !*read) return out;  // removed meanwhile
  auto info = read.ok() ? ParseKeySlot(**read) : Result<KeySlotInfo>(read.status());
  if (!slot_name.empty() && file_slot != slot_name && (!info.ok() || info->name != slot_name))
    return out;
  if (!info.ok()) {
    out.damage =
        "key slot '" + file_slot + "' (" + file + ") is damaged: " + info.status().message();
    return out;
  }
  if (file != prefix + info->name) {
    out.damage = "key slot file " + file + " is damaged: it holds the slot named '" + info->name +
                 "' (a renamed or copied slot file)";
    return out;
  }
  auto master = UnwrapKeySlot(**read, credential, repo_id);
  if (master.ok()) {
    out.unlocked =
        UnlockedSlot{std::move(master).value(), info->key_ids.has_value(), info->name, info->role};
    return out;
  }
  if (master.status().code() == Code::kWrongKey) return out;
  if (master.status().code() != Code::kCorruption) return master.status();
  // A copy: status() returns a temporary (a reference to its message dangled).
  const std::string m = master.status().message();
  out.damage = m.rfind("key slot '", 0) == 0
                   ? m + " (" + file + ")"
                   : "key slot '" + file_slot + "' (" + file + ") is damaged: " + m;
  return out;
}

// Tries every slot file (or only slot_name's). Slots that cannot be used because they are
// damaged do not stop the search; if no other slot opens, the damage is what to report (exit 5,
// naming the slot), not a wrong passphrase.
Result<UnlockedSlot> Unlock(storage::ObjectStore* store, const Credential& credential,
                            const std::string& slot_name, ByteView repo_id) {
  ASSIGN_OR_RETURN(std::vector<std::string> slots, store->ListFiles(kKeysDir));
  if (slots.empty()) return Corruption("the repository has no key slots");
  std::string damaged;
  for (const std::string& file : slots) {
    ASSIGN_OR_RETURN(SlotAttempt attempt, TrySlot(store, file, credential, slot_name, repo_id));
    if (attempt.unlocked) return std::move(*attempt.unlocked);
    if (attempt.damage) damaged += (damaged.empty() ? "" : "; ") + *attempt.damage;
  }
  if (!damaged.empty()) {
    return Corruption(
        damaged +
        ". No intact key slot opens with this secret; restore the damaged slot from a backup, "
        "or unlock with another slot");
  }
  const char* what = credential.kind == Credential::Kind::kPassphrase ? "passphrase" : "key file";
  if (!slot_name.empty()) {
    return WrongKey(std::string("wrong ") + what + " for key slot '" + slot_name +
                    "' (or no such slot)");
  }
  return WrongKey(std::string("wrong ") + what + ": no key slot of this repository opens with it");
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
  RETURN_IF_ERROR(ValidateRoleName(options.role));
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
  config.format_version = kBaseFormatVersion;

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
  ASSIGN_OR_RETURN(UnlockedSlot slot, Unlock(store.get(), credential, slot_name, config.repo_id));

  std::unique_ptr<Repository> repo(new Repository());
  repo->slot_name_ = std::move(slot.name);
  repo->role_ = std::move(slot.role);
  repo->store_ = std::move(store);
  // The repository-wide keys first (refs/keys is sealed under the refs key), then every key the
  // slot gives once refs/keys says which scopes exist.
  if (slot.bundle) {
    ASSIGN_OR_RETURN(repo->keys_, DecodeKeyBundle(slot.secret.view()));
  } else {
    ASSIGN_OR_RETURN(repo->keys_, KeyringFromMaster(slot.secret.view(), config.repo_id, {}));
  }
  RETURN_IF_ERROR(VerifyConfig(*config_bytes, repo->keys_.config_mac));
  auto before_write = [r = repo.get()] { return r->EnsureWriteLease(); };
  repo->refs_ = std::make_unique<RefUpdater>(repo->store_.get(), config.repo_id, &repo->keys_.refs,
                                             before_write);
  ASSIGN_OR_RETURN(Versioned<std::vector<ScopeKeyInfo>> registry, repo->refs_->ReadKeyRegistry());
  if (!registry.value.empty() && config.format_version < kScopedFormatVersion) {
    return Corruption("the repository has scopes (refs/keys) but its config says format v" +
                      std::to_string(config.format_version));
  }
  if (!slot.bundle && !registry.value.empty()) {
    ASSIGN_OR_RETURN(repo->keys_,
                     KeyringFromMaster(slot.secret.view(), config.repo_id, registry.value));
  }
  if (slot.bundle && (registry.value.empty() || !repo->keys_.Holds(kCommonKeyId))) {
    return Corruption("key slot '" + repo->slot_name_ +
                      "' holds a key bundle, which only a repository with scopes gives");
  }
  repo->gear_ = MakeGearTable(repo->keys_.chunker.view());
  repo->config_ = std::move(config);
  repo->MakeKeyedLayers(registry.value);
  repo->key_slots_ =
      std::make_unique<KeySlotManager>(repo->store_.get(), repo->config_.repo_id, &repo->keys_);

  // A repository fresh from Init has no refs/main yet: create the empty live tree.
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo->refs().ReadMain());
  if (!main.raw) {
    ASSIGN_OR_RETURN(ObjectId empty, repo->objects().EmptyRoot());
    RETURN_IF_ERROR(repo->objects().Sync());
    MainRef m;
    m.live_root = empty;
    Status s = repo->refs().WriteMain(m, std::nullopt);
    if (!s.ok() && s.code() != Code::kConflict) return s;
  }
  return repo;
}

void Repository::MakeKeyedLayers(const std::vector<ScopeKeyInfo>& registry) {
  std::map<uint32_t, SecretBytes> content_keys;
  for (const auto& [key_id, keys] : keys_.objects)
    content_keys.emplace(key_id, keys.content.Clone());
  std::set<uint32_t> withheld;
  for (const ScopeKeyInfo& k : registry) {
    if (!keys_.Holds(k.key_id)) withheld.insert(k.key_id);
  }
  policies_.reset();  // before the layers it points to
  objects_.reset();
  cipher_ = std::make_unique<crypto::ObjectCipher>(config_.repo_id, std::move(content_keys),
                                                   registry.empty() ? kLegacyKeyId : kCommonKeyId,
                                                   std::move(withheld));
  objects_ = std::make_unique<ObjectLayer>(store_.get(), &keys_, cipher_.get(), registry,
                                           [this] { return EnsureWriteLease(); });
  refs_->SetRootCodec(objects_->scoped() ? objects_.get() : nullptr);
  policies_ = std::make_unique<PolicyStore>(objects_.get(), refs_.get(), slot_name_, role_);
}

Status Repository::EnsureScopeKeys(const std::vector<std::string>& scopes) {
  if (!keys_.master) {
    return PermissionDenied("giving scopes keys needs a key slot that holds the master secret (" +
                            slot_name_ + " holds only some scopes' keys)");
  }
  ASSIGN_OR_RETURN(Versioned<std::vector<ScopeKeyInfo>> current, refs_->ReadKeyRegistry());
  std::vector<ScopeKeyInfo> next = current.value.empty() ? FirstScopedRegistry() : current.value;
  bool changed = current.value.empty();
  for (const std::string& scope : scopes) changed = AddScope(&next, scope) || changed;
  if (!changed) return Status::Ok();
  if (config_.format_version < kScopedFormatVersion) {
    ASSIGN_OR_RETURN(std::optional<Bytes> old,
                     store_->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
    if (!old) return Corruption("the config file is missing");
    RepoConfig raised = config_;
    raised.format_version = kScopedFormatVersion;
    ASSIGN_OR_RETURN(Bytes bytes, SerializeConfig(raised, keys_.config_mac));
    RETURN_IF_ERROR(store_->CompareAndSwapFile(kConfigFile, old, bytes));
    config_.format_version = kScopedFormatVersion;
  }
  return ReplaceKeyRegistry(next, current.raw);
}

Status Repository::ReplaceKeyRegistry(const std::vector<ScopeKeyInfo>& next,
                                      const std::optional<Bytes>& expected_raw) {
  Status s = refs_->WriteKeyRegistry(next, expected_raw);
  if (s.code() == Code::kConflict) {
    return Conflict(
        "refs/keys changed meanwhile (another `policy set` or `rekey`); run the "
        "command again");
  }
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(Keyring keys, KeyringFromMaster(keys_.master->view(), config_.repo_id, next));
  keys_ = std::move(keys);
  MakeKeyedLayers(next);
  return Status::Ok();
}

Result<ScopeKeyInfo> Repository::RekeyScope(const std::string& scope) {
  if (!keys_.master) {
    return PermissionDenied("rekey needs a key slot that holds the master secret (" + slot_name_ +
                            " holds only some scopes' keys)");
  }
  ASSIGN_OR_RETURN(Versioned<std::vector<ScopeKeyInfo>> current, refs_->ReadKeyRegistry());
  if (!NewestKeyOf(current.value, scope)) {
    return NotFound("scope " + scope + " has no keys (refs/keys): is it in the policy?");
  }
  std::vector<ScopeKeyInfo> next = current.value;
  const ScopeKeyInfo made = AddGeneration(&next, scope);
  RETURN_IF_ERROR(ReplaceKeyRegistry(next, current.raw));
  return made;
}

Repository::~Repository() {
  MutexLock lock(&lease_mu_);
  lease_.reset();
}

Status Repository::EnsureWriteLease() {
  const int pid = static_cast<int>(::getpid());
  if (lease_pid_.load(std::memory_order_acquire) == pid) return Status::Ok();
  MutexLock lock(&lease_mu_);
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
  MutexLock lock(&lease_mu_);
  return lease_ ? lease_->name() : "";
}

Status Repository::LockKeyMaterial() const {
  std::vector<const SecretBytes*> secrets = {&keys_.chunker, &keys_.config_mac, &keys_.refs};
  if (keys_.master) secrets.push_back(&*keys_.master);
  for (const auto& [key_id, keys] : keys_.objects) {
    secrets.push_back(&keys.content);
    secrets.push_back(&keys.id);
  }
  for (const SecretBytes* k : secrets) RETURN_IF_ERROR(LockInMemory(k->data(), k->size()));
  // The gear table is derived from a key and would let someone who reads it find cut points.
  RETURN_IF_ERROR(LockInMemory(gear_.data(), sizeof(gear_)));
  return cipher_->LockKeyMemory();
}

}  // namespace weightfs::repo
