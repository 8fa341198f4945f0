#include "weightfs/repo/keyring.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/keys.h"

namespace weightfs::repo {
namespace {

constexpr uint8_t kRegistryEncoding = 1;
constexpr uint8_t kBundleEncoding = 1;
constexpr size_t kKeySize = 32;

// HKDF info of a scope generation's keys: what || str scope || u32 generation.
Bytes ScopeInfo(const char* what, const std::string& scope, uint32_t generation) {
  Bytes info = ToBytes(what);
  PutLengthPrefixed(&info, AsBytes(scope));
  PutU32(&info, generation);
  return info;
}

void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

Result<ObjectKeys> DeriveObjectKeys(ByteView master, ByteView repo_id, ByteView content_info,
                                    ByteView id_info) {
  ObjectKeys k;
  ASSIGN_OR_RETURN(k.content, crypto::Hkdf(master, repo_id, content_info, kKeySize));
  ASSIGN_OR_RETURN(k.id, crypto::Hkdf(master, repo_id, id_info, kKeySize));
  return k;
}

}  // namespace

Bytes EncodeKeyRegistry(const std::vector<ScopeKeyInfo>& registry) {
  Bytes out;
  PutU8(&out, kRegistryEncoding);
  PutU32(&out, static_cast<uint32_t>(registry.size()));
  for (const ScopeKeyInfo& k : registry) {
    PutU32(&out, k.key_id);
    PutLengthPrefixed(&out, AsBytes(k.scope));
    PutU32(&out, k.generation);
  }
  return out;
}

Result<std::vector<ScopeKeyInfo>> DecodeKeyRegistry(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v != kRegistryEncoding)
    return Corruption("refs/keys has unknown encoding " + std::to_string(v));
  ASSIGN_OR_RETURN(uint32_t n, r.U32());
  if (n == 0 || n > kMaxScopedRoots) return Corruption("refs/keys has a bad number of entries");
  std::vector<ScopeKeyInfo> out;
  std::set<std::pair<std::string, uint32_t>> seen;
  for (uint32_t i = 0; i < n; ++i) {
    ScopeKeyInfo k;
    ASSIGN_OR_RETURN(k.key_id, r.U32());
    ASSIGN_OR_RETURN(k.scope, r.String());
    ASSIGN_OR_RETURN(k.generation, r.U32());
    if (k.key_id < kLegacyKeyId || (!out.empty() && k.key_id <= out.back().key_id) ||
        k.scope.empty() || k.generation == 0 || !seen.emplace(k.scope, k.generation).second) {
      return Corruption("refs/keys has a bad entry (key id " + std::to_string(k.key_id) + ")");
    }
    if ((k.key_id == kLegacyKeyId) != (k.scope == kDefaultScope && k.generation == 1))
      return Corruption("refs/keys does not give key id 1 to the default scope's first keys");
    out.push_back(std::move(k));
  }
  if (!r.done()) return Corruption("refs/keys has trailing bytes");
  if (out.front().key_id != kLegacyKeyId)
    return Corruption("refs/keys lacks the default scope's first keys");
  return out;
}

std::vector<ScopeKeyInfo> InitialKeyRegistry() {
  return {ScopeKeyInfo{kLegacyKeyId, kDefaultScope, 1}};
}

const ScopeKeyInfo* NewestKeyOf(const std::vector<ScopeKeyInfo>& registry,
                                const std::string& scope) {
  const ScopeKeyInfo* best = nullptr;
  for (const ScopeKeyInfo& k : registry) {
    if (k.scope == scope && (!best || k.generation > best->generation)) best = &k;
  }
  return best;
}

bool AddScope(std::vector<ScopeKeyInfo>* registry, const std::string& scope) {
  if (NewestKeyOf(*registry, scope)) return false;
  AddGeneration(registry, scope);
  return true;
}

const ScopeKeyInfo& AddGeneration(std::vector<ScopeKeyInfo>* registry, const std::string& scope) {
  uint32_t next = kLegacyKeyId + 1;
  for (const ScopeKeyInfo& k : *registry) next = std::max(next, k.key_id + 1);
  const ScopeKeyInfo* newest = NewestKeyOf(*registry, scope);
  registry->push_back(ScopeKeyInfo{next, scope, newest ? newest->generation + 1 : 1});
  return registry->back();
}

std::vector<ScopeKeyInfo> FirstScopedRegistry() {
  std::vector<ScopeKeyInfo> registry = InitialKeyRegistry();
  AddGeneration(&registry, kDefaultScope);
  return registry;
}

Result<Keyring> KeyringFromMaster(ByteView master, ByteView repo_id,
                                  const std::vector<ScopeKeyInfo>& registry) {
  ASSIGN_OR_RETURN(DerivedKeys d, DeriveKeys(master, repo_id));
  Keyring k;
  k.master = SecretBytes(master);
  k.config_mac = std::move(d.config_mac);
  k.refs = std::move(d.refs);
  k.chunker = std::move(d.chunker);
  k.objects.emplace(kLegacyKeyId, ObjectKeys{std::move(d.content), std::move(d.id)});
  if (registry.empty()) return k;
  ASSIGN_OR_RETURN(ObjectKeys common,
                   DeriveObjectKeys(master, repo_id, AsBytes("weightfs common content key v1"),
                                    AsBytes("weightfs common id key v1")));
  k.objects.emplace(kCommonKeyId, std::move(common));
  for (const ScopeKeyInfo& s : registry) {
    if (s.key_id == kLegacyKeyId) continue;
    ASSIGN_OR_RETURN(
        ObjectKeys keys,
        DeriveObjectKeys(master, repo_id,
                         ScopeInfo("weightfs scope content key v1", s.scope, s.generation),
                         ScopeInfo("weightfs scope id key v1", s.scope, s.generation)));
    k.objects.emplace(s.key_id, std::move(keys));
  }
  return k;
}

SecretBytes EncodeKeyBundle(const Keyring& keys, const std::vector<uint32_t>& key_ids) {
  std::vector<uint32_t> ids;
  for (uint32_t id : key_ids) {
    if (keys.Holds(id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  SecretBytes out(1 + 3 * kKeySize + 4 + ids.size() * (4 + 2 * kKeySize));
  uint8_t* p = out.data();
  *p++ = kBundleEncoding;
  for (const SecretBytes* k : {&keys.config_mac, &keys.refs, &keys.chunker}) {
    std::memcpy(p, k->data(), kKeySize);
    p += kKeySize;
  }
  StoreLe32(p, static_cast<uint32_t>(ids.size()));
  p += 4;
  for (uint32_t id : ids) {
    const ObjectKeys& k = keys.objects.at(id);
    StoreLe32(p, id);
    std::memcpy(p + 4, k.content.data(), kKeySize);
    std::memcpy(p + 4 + kKeySize, k.id.data(), kKeySize);
    p += 4 + 2 * kKeySize;
  }
  return out;
}

Result<Keyring> DecodeKeyBundle(ByteView data) {
  const auto bad = [] { return Corruption("the key slot's key bundle is malformed"); };
  Reader r(data);
  auto version = r.U8();
  if (!version.ok() || *version != kBundleEncoding) return bad();
  Keyring k;
  for (SecretBytes* key : {&k.config_mac, &k.refs, &k.chunker}) {
    auto raw = r.Raw(kKeySize);
    if (!raw.ok()) return bad();
    *key = SecretBytes(*raw);
  }
  auto n = r.U32();
  if (!n.ok() || *n > kMaxScopedRoots + 1 || r.remaining() != *n * (4 + 2 * kKeySize)) return bad();
  for (uint32_t i = 0; i < *n; ++i) {
    auto id = r.U32();
    auto content = r.Raw(kKeySize);
    auto mac = r.Raw(kKeySize);
    if (!id.ok() || !content.ok() || !mac.ok()) return bad();
    if (!k.objects.emplace(*id, ObjectKeys{SecretBytes(*content), SecretBytes(*mac)}).second)
      return bad();
  }
  return k;
}

}  // namespace weightfs::repo
