#include "weightfs/repo/keys.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "repo/json_util.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {
namespace {

using nlohmann::json;

constexpr char kKeyFileMagic[] = "weightfs-key-v1";

// Strict: the file must be exactly what SerializeConfig / WrapKeySlot write (one JSON object,
// two-space indented, sorted keys, one final newline). nlohmann stops at a NUL byte and keeps the
// last of repeated keys, and the MAC covers the parsed fields, not the bytes, so without this
// trailing NULs, repeated keys or padding would pass unnoticed.
Result<json> ParseJson(ByteView data, const std::string& what) {
  const std::string_view text = AsString(data);
  if (text.find('\0') != std::string_view::npos)
    return Corruption(what + " is damaged: it holds NUL bytes");
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Corruption(what + " is not valid JSON: " + e.what());
  }
  if (!j.is_object() || j.dump(2) + "\n" != text) {
    return Corruption(
        what +
        " is damaged: it is not in the form weightfs writes (extra bytes, repeated keys or "
        "edited layout)");
  }
  return j;
}

template <typename T>
Result<T> Field(const json& j, const char* key, const std::string& what) {
  const auto wrong = [&] {
    return Corruption(what + ": field '" + key + "' missing or of the wrong type");
  };
  try {
    if constexpr (std::is_integral_v<T>) {
      std::optional<T> v = json_util::IntegerIn<T>(j.at(key));
      if (!v) return wrong();
      return *v;
    } else {
      return j.at(key).get<T>();
    }
  } catch (const json::exception& e) {
    return wrong();
  }
}

Result<Bytes> HexField(const json& j, const char* key, const std::string& what) {
  ASSIGN_OR_RETURN(std::string hex, Field<std::string>(j, key, what));
  auto b = FromHex(hex);
  if (!b.ok()) return Corruption(what + ": field '" + key + "' is not hex");
  return std::move(b).value();
}

// A bundle slot (v2) also binds the key ids it holds, so they cannot be edited either.
Bytes SlotAad(const std::string& name, const std::string& role, const std::string& kind,
              const crypto::ScryptParams& p, ByteView salt, ByteView repo_id,
              const std::optional<std::vector<uint32_t>>& key_ids) {
  Bytes aad = ToBytes(key_ids ? "weightfs keyslot v2" : "weightfs keyslot v1");
  PutBytes(&aad, repo_id);
  PutLengthPrefixed(&aad, AsBytes(name));
  PutLengthPrefixed(&aad, AsBytes(role));
  PutLengthPrefixed(&aad, AsBytes(kind));
  PutU64(&aad, p.n);
  PutU32(&aad, p.r);
  PutU32(&aad, p.p);
  PutLengthPrefixed(&aad, salt);
  if (key_ids) {
    PutU32(&aad, static_cast<uint32_t>(key_ids->size()));
    for (uint32_t id : *key_ids) PutU32(&aad, id);
  }
  return aad;
}

// A check value of the key-encryption key, stored in the slot: it tells a wrong passphrase (the
// check differs) from a damaged slot (the check matches but the wrap does not open, because its
// name, role, kind or KDF parameters were edited). It confirms a guess no better than the wrap
// itself does, and costs the same scrypt.
Result<std::string> KekCheck(const SecretBytes& kek) {
  ASSIGN_OR_RETURN(Bytes mac, crypto::HmacSha256(kek.view(), {AsBytes("weightfs kek check v1")}));
  mac.resize(16);
  return ToHex(mac);
}

Result<SecretBytes> DeriveKek(const Credential& c, const crypto::ScryptParams& p, ByteView salt) {
  if (c.kind == Credential::Kind::kPassphrase) {
    return crypto::Scrypt(c.secret.view(), salt, p, crypto::kAesKeySize);
  }
  return crypto::Hkdf(c.secret.view(), salt, AsBytes("weightfs keyfile kek v1"),
                      crypto::kAesKeySize);
}

const char* KindName(Credential::Kind k) {
  return k == Credential::Kind::kPassphrase ? "passphrase" : "keyfile";
}

// The MAC covers every field but "mac" itself, in nlohmann's canonical (sorted) dump.
Result<std::string> MacHex(json j, const SecretBytes& mac_key) {
  j.erase("mac");
  ASSIGN_OR_RETURN(Bytes mac, crypto::HmacSha256(mac_key.view(), {AsBytes(j.dump())}));
  return ToHex(mac);
}

Status VerifyMac(ByteView data, const SecretBytes& mac_key, const std::string& what) {
  ASSIGN_OR_RETURN(json j, ParseJson(data, what));
  ASSIGN_OR_RETURN(Bytes stored, HexField(j, "mac", what));
  ASSIGN_OR_RETURN(std::string want_hex, MacHex(j, mac_key));
  ASSIGN_OR_RETURN(Bytes want, FromHex(want_hex));
  if (!crypto::ConstantTimeEqual(stored, want)) {
    return Corruption(what + " has been modified (its MAC does not match)");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSlotName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') {
    return InvalidArgument("invalid name '" + name +
                           "': use 1-64 letters, digits, '.', '_' or '-'");
  }
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return InvalidArgument("invalid name '" + name +
                             "': use 1-64 letters, digits, '.', '_' or '-'");
    }
  }
  return Status::Ok();
}

Result<Credential> LoadKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read key file " + path);
  std::string magic, hex;
  in >> magic >> hex;
  if (magic != kKeyFileMagic || hex.size() != 2 * kKeyFileSecretSize) {
    return InvalidArgument(path + " is not a weightfs key file");
  }
  auto bytes = FromHex(hex);
  if (!bytes.ok()) return InvalidArgument(path + " is not a weightfs key file");
  Credential c;
  c.kind = Credential::Kind::kKeyFile;
  c.secret = SecretBytes(*bytes);
  explicit_bzero(hex.data(), hex.size());
  explicit_bzero(bytes->data(), bytes->size());
  return c;
}

Result<Credential> CreateKeyFile(const std::string& path) {
  ASSIGN_OR_RETURN(SecretBytes secret, crypto::RandomSecret(kKeyFileSecretSize));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "creating key file " + path);
  std::string text = std::string(kKeyFileMagic) + " " + ToHex(secret.view()) + "\n";
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  explicit_bzero(text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) {
    ::close(fd);
    return ErrnoStatus(n < 0 ? err : EIO, "writing key file " + path);
  }
  if (::close(fd) != 0) return ErrnoStatus(errno, "closing key file " + path);
  Credential c;
  c.kind = Credential::Kind::kKeyFile;
  c.secret = std::move(secret);
  return c;
}

Result<DerivedKeys> DeriveKeys(ByteView master, ByteView repo_id) {
  DerivedKeys k;
  ASSIGN_OR_RETURN(k.content,
                   crypto::Hkdf(master, repo_id, AsBytes("weightfs content key v1"), 32));
  ASSIGN_OR_RETURN(k.id, crypto::Hkdf(master, repo_id, AsBytes("weightfs id key v1"), 32));
  ASSIGN_OR_RETURN(k.chunker,
                   crypto::Hkdf(master, repo_id, AsBytes("weightfs chunker seed v1"), 32));
  ASSIGN_OR_RETURN(k.config_mac,
                   crypto::Hkdf(master, repo_id, AsBytes("weightfs config mac v1"), 32));
  ASSIGN_OR_RETURN(k.refs, crypto::Hkdf(master, repo_id, AsBytes("weightfs refs key v1"), 32));
  return k;
}

Result<RepoConfig> ParseConfig(ByteView data) {
  const std::string what = "config";
  ASSIGN_OR_RETURN(json j, ParseJson(data, what));
  ASSIGN_OR_RETURN(std::string format, Field<std::string>(j, "format", what));
  if (format != "weightfs") return Corruption("config does not describe a weightfs repository");
  RepoConfig c;
  ASSIGN_OR_RETURN(c.format_version, Field<uint32_t>(j, "version", what));
  if (c.format_version > kFormatVersion) {
    return Unsupported("repository format v" + std::to_string(c.format_version) +
                       " is newer than this build of weightfs (v" + std::to_string(kFormatVersion) +
                       "); upgrade weightfs");
  }
  if (c.format_version < 1) return Corruption("config has invalid format version");
  ASSIGN_OR_RETURN(c.repo_id, HexField(j, "repo_id", what));
  if (c.repo_id.size() != kRepoIdSize) return Corruption("config has a repo id of the wrong size");
  if (!j.contains("chunker")) return Corruption("config has no chunker parameters");
  ASSIGN_OR_RETURN(c.chunker.min_size, Field<uint32_t>(j["chunker"], "min", what));
  ASSIGN_OR_RETURN(c.chunker.avg_size, Field<uint32_t>(j["chunker"], "avg", what));
  ASSIGN_OR_RETURN(c.chunker.max_size, Field<uint32_t>(j["chunker"], "max", what));
  ASSIGN_OR_RETURN(c.frame_size, Field<uint32_t>(j, "frame_size", what));
  if (c.frame_size != 64 * 1024) return Corruption("config has an unsupported frame size");
  ASSIGN_OR_RETURN(c.created, Field<std::string>(j, "created", what));
  if (Status s = ValidateChunkerParams(c.chunker); !s.ok())
    return Corruption("config: " + s.message());
  return c;
}

Result<Bytes> SerializeConfig(const RepoConfig& c, const SecretBytes& mac_key) {
  json j;
  j["format"] = "weightfs";
  j["version"] = c.format_version;
  j["repo_id"] = ToHex(c.repo_id);
  j["chunker"] = {
      {"min", c.chunker.min_size}, {"avg", c.chunker.avg_size}, {"max", c.chunker.max_size}};
  j["frame_size"] = c.frame_size;
  j["created"] = c.created;
  ASSIGN_OR_RETURN(j["mac"], MacHex(j, mac_key));
  return ToBytes(j.dump(2) + "\n");
}

Status VerifyConfig(ByteView data, const SecretBytes& mac_key) {
  return VerifyMac(data, mac_key, "config");
}

Result<Bytes> WrapKeySlot(const std::string& name, const std::string& role,
                          const Credential& credential, const crypto::ScryptParams& scrypt,
                          ByteView repo_id, ByteView secret, const SecretBytes& mac_key,
                          const std::optional<std::vector<uint32_t>>& key_ids) {
  RETURN_IF_ERROR(ValidateSlotName(name));
  RETURN_IF_ERROR(ValidateRoleName(role));
  crypto::ScryptParams p =
      credential.kind == Credential::Kind::kPassphrase ? scrypt : crypto::ScryptParams{0, 0, 0};
  ASSIGN_OR_RETURN(Bytes salt, crypto::RandomBytes(32));
  ASSIGN_OR_RETURN(Bytes nonce, crypto::RandomBytes(crypto::kGcmNonceSize));
  ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(credential, p, salt));
  const char* kind = KindName(credential.kind);
  Bytes aad = SlotAad(name, role, kind, p, salt, repo_id, key_ids);
  ASSIGN_OR_RETURN(Bytes wrapped, crypto::AesGcmSeal(kek.view(), nonce, aad, secret));
  json j;
  j["version"] = key_ids ? 2 : 1;
  if (key_ids) j["key_ids"] = *key_ids;
  j["name"] = name;
  j["role"] = role;
  j["kind"] = kind;
  j["kdf"] = {
      {"algorithm", credential.kind == Credential::Kind::kPassphrase ? "scrypt" : "hkdf-sha256"},
      {"n", p.n},
      {"r", p.r},
      {"p", p.p},
      {"salt", ToHex(salt)}};
  j["nonce"] = ToHex(nonce);
  j["wrapped"] = ToHex(wrapped);
  ASSIGN_OR_RETURN(j["check"], KekCheck(kek));
  ASSIGN_OR_RETURN(j["mac"], MacHex(j, mac_key));
  return ToBytes(j.dump(2) + "\n");
}

Result<KeySlotInfo> ParseKeySlot(ByteView data) {
  const std::string what = "key slot";
  ASSIGN_OR_RETURN(json j, ParseJson(data, what));
  KeySlotInfo info;
  if (j.contains("version")) {
    ASSIGN_OR_RETURN(info.version, Field<uint32_t>(j, "version", what));
  }
  if (info.version == 2) {
    std::vector<uint32_t> ids;
    if (!j.contains("key_ids") || !j["key_ids"].is_array())
      return Corruption("key slot has no key_ids list");
    for (const json& id : j["key_ids"]) {
      std::optional<uint32_t> v = json_util::IntegerIn<uint32_t>(id);
      if (!v || (!ids.empty() && *v <= ids.back()) || ids.size() > kMaxScopedRoots)
        return Corruption("key slot has a bad key_ids list");
      ids.push_back(*v);
    }
    info.key_ids = std::move(ids);
  } else if (info.version != 1) {
    return info.version > 2 ? Unsupported("key slot v" + std::to_string(info.version) +
                                          " is newer than this build of weightfs; upgrade it")
                            : Corruption("key slot has an invalid version");
  }
  ASSIGN_OR_RETURN(info.name, Field<std::string>(j, "name", what));
  ASSIGN_OR_RETURN(info.role, Field<std::string>(j, "role", what));
  ASSIGN_OR_RETURN(info.kind, Field<std::string>(j, "kind", what));
  if (info.kind != "passphrase" && info.kind != "keyfile")
    return Corruption("key slot has unknown kind");
  if (!j.contains("kdf")) return Corruption("key slot has no kdf");
  ASSIGN_OR_RETURN(info.scrypt.n, Field<uint64_t>(j["kdf"], "n", what));
  ASSIGN_OR_RETURN(info.scrypt.r, Field<uint32_t>(j["kdf"], "r", what));
  ASSIGN_OR_RETURN(info.scrypt.p, Field<uint32_t>(j["kdf"], "p", what));
  return info;
}

Result<SecretBytes> UnwrapKeySlot(ByteView data, const Credential& credential, ByteView repo_id) {
  ASSIGN_OR_RETURN(KeySlotInfo info, ParseKeySlot(data));
  if (info.kind != KindName(credential.kind)) {
    return WrongKey("slot '" + info.name + "' is opened by a " + info.kind);
  }
  ASSIGN_OR_RETURN(json j, ParseJson(data, "key slot"));
  if (!j.contains("kdf")) return Corruption("key slot has no kdf");
  ASSIGN_OR_RETURN(Bytes salt, HexField(j["kdf"], "salt", "key slot"));
  ASSIGN_OR_RETURN(Bytes nonce, HexField(j, "nonce", "key slot"));
  ASSIGN_OR_RETURN(Bytes wrapped, HexField(j, "wrapped", "key slot"));
  // A bundle: three keys, a count, and per key id an id and two keys (keyring.h).
  const size_t plain_size =
      info.key_ids ? 1 + 3 * 32 + 4 + info.key_ids->size() * (4 + 2 * 32) : kMasterSize;
  if (nonce.size() != crypto::kGcmNonceSize || wrapped.size() != plain_size + crypto::kGcmTagSize) {
    return Corruption("key slot '" + info.name + "' is malformed");
  }
  if (info.kind == "passphrase") {
    // Refuse absurd stored parameters before spending memory on them (a tampered slot).
    if (info.scrypt.n < 2 || (info.scrypt.n & (info.scrypt.n - 1)) != 0 ||
        !ScryptWithinLimits(info.scrypt)) {
      return Corruption("key slot '" + info.name + "' has invalid scrypt parameters (n " +
                        std::to_string(info.scrypt.n) + ", r " + std::to_string(info.scrypt.r) +
                        ", p " + std::to_string(info.scrypt.p) +
                        "; weightfs writes at most 1 GiB of memory and 64x the default work)");
    }
  }
  crypto::ScryptParams p = info.kind == "passphrase" ? info.scrypt : crypto::ScryptParams{0, 0, 0};
  ASSIGN_OR_RETURN(SecretBytes kek, DeriveKek(credential, p, salt));
  // Slots written before the check value existed have none: then a wrap that does not open
  // reads as a wrong secret, as it always did.
  std::optional<std::string> check;
  if (j.contains("check")) {
    ASSIGN_OR_RETURN(check, Field<std::string>(j, "check", "key slot"));
  }
  if (check) {
    ASSIGN_OR_RETURN(std::string want, KekCheck(kek));
    if (!crypto::ConstantTimeEqual(AsBytes(*check), AsBytes(want))) {
      return WrongKey("slot '" + info.name + "' does not open with this " + info.kind);
    }
  }
  Bytes aad = SlotAad(info.name, info.role, info.kind, p, salt, repo_id, info.key_ids);
  SecretBytes master(plain_size);
  Status s = crypto::AesGcmOpenInto(kek.view(), nonce, aad, wrapped, master.data());
  if (!s.ok()) {
    if (s.code() == Code::kCorruption && check) {
      return Corruption(
          "key slot '" + info.name + "' is damaged: the " + info.kind +
          " is right, but the slot's name, role, kind, KDF parameters or wrapped key were changed");
    }
    if (s.code() == Code::kCorruption) {
      return WrongKey("slot '" + info.name + "' does not open with this " + info.kind);
    }
    return s;
  }
  return master;
}

Status VerifyKeySlot(ByteView data, const SecretBytes& mac_key) {
  return VerifyMac(data, mac_key, "key slot");
}

bool ScryptWithinLimits(const crypto::ScryptParams& params) {
  const uint64_t n = params.n, r = params.r, p = params.p;
  if (n > (uint64_t{1} << 24) || r == 0 || r > 64 || p == 0 || p > 64) return false;
  return 128 * n * r <= kMaxScryptMemory &&
         n * r * p <= kMaxScryptWork;  // no overflow at these sizes
}

}  // namespace weightfs::repo
