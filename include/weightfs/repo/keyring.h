// Keyring: the keys one unlocked key slot holds, and refs/keys, the list of every scope's keys.
//
// A repository without scopes has one secret, the master secret, and every slot holds it: every
// key is derived from it (keys.h, DeriveKeys). A repository with scopes (docs/design.md, "Scopes")
// gives each scope its own object keys, a content key (sealing) and an id key (object ids), under
// a key id that sealed objects carry in their header:
//   key id 0 (kCommonKeyId)  snapshots and policy versions; every slot holds it
//   key id 1 (kLegacyKeyId)  the default scope's first keys: the keys of a repository without
//                            scopes, so what was written before scopes existed stays readable
//   key id 2, 3, ...         one per scope and generation, as refs/keys lists them
// All of them are derived from the master secret (HKDF, the scope's name and generation in the
// info), so a slot that holds the master secret (administrators' slots, and every slot written
// before the repository had scopes) holds every scope. Other slots hold a key bundle: the
// repository-wide keys (config MAC, refs, chunker seed) and the object keys of exactly the key
// ids their role needs, never the master secret, so they cannot derive anything else.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {

// The name of the scope of every path no declared scope claims.
inline constexpr char kDefaultScope[] = "default";

// One entry of refs/keys: a generation of a scope's keys and the key id its objects carry.
struct ScopeKeyInfo {
  uint32_t key_id = 0;
  std::string scope;
  uint32_t generation = 1;
  bool operator==(const ScopeKeyInfo&) const = default;
};

// refs/keys' plaintext: u8 1, u32 count, count x (u32 key id, str scope, u32 generation), sorted
// by key id, key ids unique and >= kLegacyKeyId, (scope, generation) unique; kLegacyKeyId is
// (default, 1). At most kMaxScopedRoots entries.
Bytes EncodeKeyRegistry(const std::vector<ScopeKeyInfo>& registry);
Result<std::vector<ScopeKeyInfo>> DecodeKeyRegistry(ByteView data);

// The default scope's first keys alone (kLegacyKeyId).
std::vector<ScopeKeyInfo> InitialKeyRegistry();
// The entry with the newest generation of scope (nullptr: the scope has no keys yet).
const ScopeKeyInfo* NewestKeyOf(const std::vector<ScopeKeyInfo>& registry,
                                const std::string& scope);
// Adds generation 1 of scope under the next free key id, unless it has keys; returns whether it
// added one.
bool AddScope(std::vector<ScopeKeyInfo>* registry, const std::string& scope);
// Adds scope's next generation under the next free key id; returns it.
const ScopeKeyInfo& AddGeneration(std::vector<ScopeKeyInfo>* registry, const std::string& scope);
// The registry of a repository getting its first scopes: the default scope's first keys (what
// everything was sealed under so far, kLegacyKeyId, which only slots holding the master secret
// keep) and its second, which the default scope is sealed under from then on.
std::vector<ScopeKeyInfo> FirstScopedRegistry();

// The keys that seal objects of one key id.
struct ObjectKeys {
  SecretBytes content;  // input of the per-object keys (object_cipher.h)
  SecretBytes id;       // HMAC key of object ids
  ObjectKeys Clone() const { return ObjectKeys{content.Clone(), id.Clone()}; }
};

struct Keyring {
  std::optional<SecretBytes> master;       // only slots that hold the master secret
  SecretBytes config_mac;                  // MACs of config and key slots
  SecretBytes refs;                        // seals refs/*
  SecretBytes chunker;                     // gear table seed (one for the whole repository)
  std::map<uint32_t, ObjectKeys> objects;  // by key id
  bool Holds(uint32_t key_id) const { return objects.contains(key_id); }
};

// Every key the master secret gives: the repository-wide keys, kLegacyKeyId, and (when the
// repository has scopes: registry non-empty) kCommonKeyId and every registry entry's keys.
Result<Keyring> KeyringFromMaster(ByteView master, ByteView repo_id,
                                  const std::vector<ScopeKeyInfo>& registry);

// A key slot's bundle (what a slot without the master secret wraps): the repository-wide keys
// and the object keys of some key ids. Encoding: u8 1, config MAC, refs and chunker keys (32
// bytes each), u32 count, count x (u32 key id, content key, id key), sorted by key id.
SecretBytes EncodeKeyBundle(const Keyring& keys, const std::vector<uint32_t>& key_ids);
// kCorruption when malformed (a bundle is authenticated before it is decoded, so that is damage
// or a bug, never an attack that gets this far).
Result<Keyring> DecodeKeyBundle(ByteView data);

}  // namespace weightfs::repo
