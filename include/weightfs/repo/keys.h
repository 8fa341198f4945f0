// Key slots and the repository config.
//
// The repository has one random 64-byte master secret. Every key slot (keys/<name>) holds it
// wrapped with AES-256-GCM under a key-encryption key derived from the slot's passphrase
// (scrypt, parameters stored in the slot) or key file (HKDF). The slot's name, role, kind and
// KDF parameters are the wrap's additional data, so editing them makes the slot unusable, and
// every slot also carries a MAC under a key derived from the master secret so `check` can find
// an edited slot it did not use. Adding, removing or rewrapping a slot never touches data.
//
// The config file is public JSON (format version, repo id, chunker parameters) with a MAC under
// a key derived from the master secret, checked on every open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/names.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/chunker.h"

namespace weightfs::repo {

// The newest repository format this build reads. 1: no scopes (what init writes). 2: the
// repository has scopes (refs/keys, v2 key slots, v2 snapshots and refs/main), which builds that
// know only v1 refuse; `policy set` raises a repository to it with its first scopes.
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kBaseFormatVersion = 1;
constexpr uint32_t kScopedFormatVersion = 2;
constexpr size_t kRepoIdSize = 16;
constexpr size_t kMasterSize = 64;
constexpr size_t kKeyFileSecretSize = 32;
// Size limits of the repository's small files: an intact one is far smaller (a few hundred
// bytes; refs/tags grows by about 40 bytes a tag). A larger one is damaged and is not read.
constexpr size_t kMaxConfigBytes = 64 << 10;
constexpr size_t kMaxKeySlotBytes = 64 << 10;
constexpr size_t kMaxRefBytes = 64 << 10;      // refs/main, refs/policy
constexpr size_t kMaxTagsRefBytes = 16 << 20;  // refs/tags

// The weakest scrypt parameters accepted without an explicit opt-in (allow_weak_kdf).
constexpr uint64_t kMinScryptN = uint64_t{1} << 17;
// The most a slot's scrypt may cost (about 128 * n * r bytes of memory; n * r * p block mixes):
// 8x the default's memory and 64x its work. A slot asking for more is refused as damaged before
// anything is allocated (a tampered slot could otherwise ask for 128 GiB), and none is written.
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;
constexpr uint64_t kMaxScryptWork = uint64_t{1} << 26;
// Whether params stay within kMaxScryptMemory and kMaxScryptWork (n, r, p at most 2^24, 64, 64).
bool ScryptWithinLimits(const crypto::ScryptParams& params);
// The cheap preset for tests; unsafe for real passphrases.
constexpr crypto::ScryptParams kTestScrypt{uint64_t{1} << 10, 8, 1};

// What unlocks a slot.
struct Credential {
  enum class Kind { kPassphrase, kKeyFile };
  Kind kind = Kind::kPassphrase;
  SecretBytes secret;  // passphrase bytes, or the key file's 32 secret bytes
};

// Reads a key file ("weightfs-key-v1 <64 hex digits>\n").
Result<Credential> LoadKeyFile(const std::string& path);
// Generates a new key file secret and writes it to path (mode 0600, must not exist).
Result<Credential> CreateKeyFile(const std::string& path);

struct RepoConfig {
  uint32_t format_version = kBaseFormatVersion;
  Bytes repo_id;  // 16 bytes
  ChunkerParams chunker;
  uint32_t frame_size = 64 * 1024;
  std::string created;  // UTC, ISO 8601
};

// Keys derived from the master secret.
struct DerivedKeys {
  SecretBytes content;     // seals objects
  SecretBytes id;          // object ids (HMAC)
  SecretBytes chunker;     // gear table seed
  SecretBytes config_mac;  // config and slot MACs
  SecretBytes refs;        // seals refs
};
Result<DerivedKeys> DeriveKeys(ByteView master, ByteView repo_id);

// Public, unauthenticated view of the config (for the format check before unlocking).
Result<RepoConfig> ParseConfig(ByteView data);
// Serializes with a MAC.
Result<Bytes> SerializeConfig(const RepoConfig& config, const SecretBytes& mac_key);
// Checks the MAC in data.
Status VerifyConfig(ByteView data, const SecretBytes& mac_key);

struct KeySlotInfo {
  uint32_t version = 1;  // 1: wraps the master secret; 2: wraps a key bundle (keyring.h)
  // v2: the key ids whose object keys the bundle holds (sorted); v1: none (the master secret
  // gives them all).
  std::optional<std::vector<uint32_t>> key_ids;
  std::string name;
  std::string role;
  std::string kind;             // "passphrase" or "keyfile"
  crypto::ScryptParams scrypt;  // for passphrase slots
};

// Validates a key slot name, which is also the slot's file name under keys/: 1-64 of
// [A-Za-z0-9._-], not starting with '.' or '-'. (A slot's role follows ValidateRoleName, names.h.)
Status ValidateSlotName(const std::string& name);

// Builds the slot file wrapping secret under credential: the master secret (a v1 slot), or, when
// key_ids is given, the key bundle holding exactly those key ids (a v2 slot, keyring.h).
Result<Bytes> WrapKeySlot(const std::string& name, const std::string& role,
                          const Credential& credential, const crypto::ScryptParams& scrypt,
                          ByteView repo_id, ByteView secret, const SecretBytes& mac_key,
                          const std::optional<std::vector<uint32_t>>& key_ids = std::nullopt);
// Parses a slot file (no secrets needed).
Result<KeySlotInfo> ParseKeySlot(ByteView data);
// Unwraps what the slot holds (the master secret, or a v2 slot's key bundle); kWrongKey if the
// credential does not open it.
Result<SecretBytes> UnwrapKeySlot(ByteView data, const Credential& credential, ByteView repo_id);
// Checks the slot's MAC under the master-derived key.
Status VerifyKeySlot(ByteView data, const SecretBytes& mac_key);

}  // namespace weightfs::repo
