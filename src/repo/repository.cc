#include "weightfs/repo/repository.h"

#include <unistd.h>

#include "weightfs/core/clock.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/leases.h"

namespace weightfs::repo {
namespace {

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";
constexpr uint32_t kContentKeyId = 1;

// The slot a credential opened.
struct UnlockedSlot {
  SecretBytes master;
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
    out.unlocked = UnlockedSlot{std::move(master).value(), info->name, info->role};
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
  repo->master_ = std::move(slot.master);
  repo->slot_name_ = std::move(slot.name);
  repo->role_ = std::move(slot.role);
  ASSIGN_OR_RETURN(repo->keys_, DeriveKeys(repo->master_.view(), config.repo_id));
  RETURN_IF_ERROR(VerifyConfig(*config_bytes, repo->keys_.config_mac));
  std::map<uint32_t, SecretBytes> content_keys;
  content_keys.emplace(kContentKeyId, repo->keys_.content.Clone());
  repo->cipher_ = std::make_unique<crypto::ObjectCipher>(config.repo_id, std::move(content_keys),
                                                         kContentKeyId);
  repo->gear_ = MakeGearTable(repo->keys_.chunker.view());
  repo->config_ = std::move(config);
  repo->store_ = std::move(store);
  repo->MakeLayers();

  // A repository fresh from Init has no refs/main yet: create the empty live tree.
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo->refs().ReadMain());
  if (!main.raw) {
    ASSIGN_OR_RETURN(ObjectId empty, repo->objects().PutTree(TreeObject{}));
    RETURN_IF_ERROR(repo->objects().Sync());
    MainRef m;
    m.live_root = empty;
    Status s = repo->refs().WriteMain(m, std::nullopt);
    if (!s.ok() && s.code() != Code::kConflict) return s;
  }
  return repo;
}

void Repository::MakeLayers() {
  auto before_write = [this] { return EnsureWriteLease(); };
  objects_ = std::make_unique<ObjectLayer>(store_.get(), &keys_.id, cipher_.get(), before_write);
  refs_ = std::make_unique<RefUpdater>(store_.get(), config_.repo_id, &keys_.refs, before_write);
  policies_ = std::make_unique<PolicyStore>(objects_.get(), refs_.get(), slot_name_, role_);
  key_slots_ =
      std::make_unique<KeySlotManager>(store_.get(), config_.repo_id, &master_, &keys_.config_mac);
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
  for (const SecretBytes* k :
       {&master_, &keys_.content, &keys_.id, &keys_.chunker, &keys_.config_mac, &keys_.refs}) {
    RETURN_IF_ERROR(LockInMemory(k->data(), k->size()));
  }
  // The gear table is derived from a key and would let someone who reads it find cut points.
  RETURN_IF_ERROR(LockInMemory(gear_.data(), sizeof(gear_)));
  return cipher_->LockKeyMemory();
}

}  // namespace weightfs::repo
