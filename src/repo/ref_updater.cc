#include "weightfs/repo/ref_updater.h"

#include "repo/records.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/keys.h"

namespace weightfs::repo {
namespace {

constexpr char kMainRef[] = "refs/main";
constexpr char kKeysRef[] = "refs/keys";
constexpr char kTagsRef[] = "refs/tags";
constexpr char kPolicyRef[] = "refs/policy";
constexpr char kRefMagic[] = "WFR1";

size_t MaxBytesOf(const std::string& name) {
  return name == kTagsRef ? kMaxTagsRefBytes : kMaxRefBytes;
}

Bytes RefAad(ByteView repo_id, const std::string& name) {
  Bytes aad = ToBytes("weightfs ref v1");
  PutBytes(&aad, repo_id);
  PutLengthPrefixed(&aad, AsBytes(name));
  return aad;
}

}  // namespace

Status RetryOnConflict(const std::string& what, const std::function<Status()>& attempt) {
  for (int i = 0; i < kRefUpdateAttempts; ++i) {
    Status s = attempt();
    if (s.code() != Code::kConflict) return s;
  }
  return Conflict(what + " kept changing: other writers won " + std::to_string(kRefUpdateAttempts) +
                  " attempts in a row to update it; run the command again");
}

RefUpdater::RefUpdater(storage::ObjectStore* store, Bytes repo_id, const SecretBytes* refs_key,
                       std::function<Status()> before_write)
    : store_(store),
      repo_id_(std::move(repo_id)),
      refs_key_(refs_key),
      before_write_(std::move(before_write)) {}

Result<Bytes> RefUpdater::Seal(const std::string& name, ByteView plaintext) const {
  ASSIGN_OR_RETURN(Bytes nonce, crypto::RandomBytes(crypto::kGcmNonceSize));
  ASSIGN_OR_RETURN(Bytes sealed,
                   crypto::AesGcmSeal(refs_key_->view(), nonce, RefAad(repo_id_, name), plaintext));
  Bytes out = ToBytes(kRefMagic);
  PutBytes(&out, nonce);
  PutBytes(&out, sealed);
  return out;
}

Result<Bytes> RefUpdater::Open(const std::string& name, ByteView sealed) const {
  if (sealed.size() < 4 + crypto::kGcmNonceSize + crypto::kGcmTagSize ||
      AsString(sealed.subspan(0, 4)) != kRefMagic) {
    return Corruption(name + " is malformed");
  }
  auto plain =
      crypto::AesGcmOpen(refs_key_->view(), sealed.subspan(4, crypto::kGcmNonceSize),
                         RefAad(repo_id_, name), sealed.subspan(4 + crypto::kGcmNonceSize));
  if (!plain.ok())
    return Corruption(name + " failed authentication (modified or from another repository)");
  return plain;
}

Result<std::optional<Bytes>> RefUpdater::ReadRaw(const std::string& name, size_t max_size) const {
  return store_->ReadFileAtMost(name, max_size);
}

Status RefUpdater::Swap(const std::string& name, const std::optional<Bytes>& expected_raw,
                        ByteView plaintext) {
  RETURN_IF_ERROR(before_write_());
  ASSIGN_OR_RETURN(Bytes sealed, Seal(name, plaintext));
  return store_->CompareAndSwapFile(name, expected_raw, sealed);
}

Status RefUpdater::UpdateRef(const std::string& name, const UpdateFn& fn) {
  // fn's own errors end the update as they are (a kConflict of fn's is its verdict, not a lost
  // race); only a lost compare-and-swap is retried.
  Status fn_error;
  Status s = RetryOnConflict(name, [&]() -> Status {
    ASSIGN_OR_RETURN(std::optional<Bytes> raw, ReadRaw(name, MaxBytesOf(name)));
    std::optional<Bytes> plain;
    if (raw) {
      ASSIGN_OR_RETURN(plain, Open(name, *raw));
    }
    Result<std::optional<Bytes>> next = fn(plain);
    if (!next.ok()) {
      fn_error = next.status();
      return Status::Ok();
    }
    if (!*next) return Status::Ok();
    return Swap(name, raw, **next);
  });
  return fn_error.ok() ? s : fn_error;
}

Status RefUpdater::UpdateMain(const MainFn& fn) {
  std::optional<MainRef> written;
  RETURN_IF_ERROR(
      UpdateRef(kMainRef, [&](const std::optional<Bytes>& current) -> Result<std::optional<Bytes>> {
        written.reset();
        MainRef value;
        if (current) {
          ASSIGN_OR_RETURN(value, DecodeMainRef(*current));
        }
        const uint64_t generation = value.generation;
        ASSIGN_OR_RETURN(bool write, fn(&value));
        if (!write) return std::optional<Bytes>();
        value.generation = generation + 1;
        ASSIGN_OR_RETURN(Bytes plain, EncodeMainRef(value));
        written = value;
        return std::optional<Bytes>(std::move(plain));
      }));
  if (written && main_observer_) main_observer_(*written);
  return Status::Ok();
}

Status RefUpdater::UpdateTags(const TagsFn& fn) {
  return UpdateRef(kTagsRef,
                   [&](const std::optional<Bytes>& current) -> Result<std::optional<Bytes>> {
                     TagMap tags;
                     uint64_t generation = 0;
                     if (current) {
                       ASSIGN_OR_RETURN(tags, DecodeTags(*current, &generation));
                     }
                     ASSIGN_OR_RETURN(bool write, fn(&tags));
                     if (!write) return std::optional<Bytes>();
                     return std::optional<Bytes>(EncodeTags(tags, generation + 1));
                   });
}

Result<Versioned<std::vector<ScopeKeyInfo>>> RefUpdater::ReadKeyRegistry() const {
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, ReadRaw(kKeysRef, kMaxRefBytes));
  Versioned<std::vector<ScopeKeyInfo>> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, Open(kKeysRef, *raw));
  ASSIGN_OR_RETURN(out.value, DecodeKeyRegistry(plain));
  out.raw = std::move(raw);
  return out;
}

Status RefUpdater::WriteKeyRegistry(const std::vector<ScopeKeyInfo>& registry,
                                    const std::optional<Bytes>& expected_raw) {
  return Swap(kKeysRef, expected_raw, EncodeKeyRegistry(registry));
}

Result<MainRef> RefUpdater::DecodeMainRef(ByteView plain) const {
  ASSIGN_OR_RETURN(MainRef value, DecodeMain(plain));
  if (!codec_) {
    if (!value.live_roots.empty()) {
      return Corruption(
          "refs/main names a root per scope, but the repository has no scopes (refs/keys)");
    }
    return value;
  }
  // A root written before the repository had scopes is the default scope's first keys' tree.
  if (value.live_roots.empty())
    value.live_roots.push_back(ScopedRoot{kLegacyKeyId, value.live_root});
  value.live_root = codec_->HandleOf(value.live_roots);
  return value;
}

Result<Bytes> RefUpdater::EncodeMainRef(MainRef value) const {
  value.live_roots.clear();
  if (codec_) {
    ASSIGN_OR_RETURN(value.live_roots, codec_->RootsOf(value.live_root));
  }
  return EncodeMain(value);
}

Result<Versioned<MainRef>> RefUpdater::ReadMain() const {
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, ReadRaw(kMainRef, kMaxRefBytes));
  Versioned<MainRef> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, Open(kMainRef, *raw));
  ASSIGN_OR_RETURN(out.value, DecodeMainRef(plain));
  out.raw = std::move(raw);
  return out;
}

Status RefUpdater::WriteMain(const MainRef& value, const std::optional<Bytes>& expected_raw) {
  ASSIGN_OR_RETURN(Bytes plain, EncodeMainRef(value));
  RETURN_IF_ERROR(Swap(kMainRef, expected_raw, plain));
  if (main_observer_) main_observer_(value);
  return Status::Ok();
}

Result<Versioned<TagMap>> RefUpdater::ReadTags(uint64_t* generation) const {
  uint64_t unused = 0;
  if (generation == nullptr) generation = &unused;
  *generation = 0;
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, ReadRaw(kTagsRef, kMaxTagsRefBytes));
  Versioned<TagMap> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, Open(kTagsRef, *raw));
  ASSIGN_OR_RETURN(out.value, DecodeTags(plain, generation));
  out.raw = std::move(raw);
  return out;
}

Result<uint64_t> RefUpdater::TagsGeneration() const {
  uint64_t generation = 0;
  RETURN_IF_ERROR(ReadTags(&generation).status());
  return generation;
}

Status RefUpdater::WriteTags(const TagMap& tags, const std::optional<Bytes>& expected_raw) {
  uint64_t generation = 0;
  if (expected_raw) {
    ASSIGN_OR_RETURN(Bytes plain, Open(kTagsRef, *expected_raw));
    RETURN_IF_ERROR(DecodeTags(plain, &generation).status());
  }
  return Swap(kTagsRef, expected_raw, EncodeTags(tags, generation + 1));
}

Result<Versioned<std::optional<ObjectId>>> RefUpdater::ReadPolicyRef() const {
  ASSIGN_OR_RETURN(std::optional<Bytes> raw, ReadRaw(kPolicyRef, kMaxRefBytes));
  Versioned<std::optional<ObjectId>> out;
  if (!raw) return out;
  ASSIGN_OR_RETURN(Bytes plain, Open(kPolicyRef, *raw));
  ASSIGN_OR_RETURN(ObjectId id, DecodePolicyRef(plain));
  out.value = id;
  out.raw = std::move(raw);
  return out;
}

}  // namespace weightfs::repo
