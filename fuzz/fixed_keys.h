// The fixed test keys of the fuzz targets and their seed generator: seeds sealed or MACed with
// them open in the targets, so the fuzzer starts from inputs that reach the decoders behind the
// authentication. Never a real repository's keys.
#pragma once

#include <map>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/keys.h"

namespace weightfs::fuzz {

inline Bytes FixedBytes(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 7 * i);
  return b;
}
inline Bytes RepoId() { return FixedBytes(repo::kRepoIdSize, 0x11); }
inline SecretBytes MacKey() { return SecretBytes(FixedBytes(32, 0x22)); }
inline ObjectId FixedObjectId() { return *ObjectId::FromBytes(FixedBytes(ObjectId::kSize, 0x33)); }
inline repo::Credential KeyFileCredential() {
  repo::Credential c;
  c.kind = repo::Credential::Kind::kKeyFile;
  c.secret = SecretBytes(FixedBytes(repo::kKeyFileSecretSize, 0x44));
  return c;
}
inline crypto::ObjectCipher MakeCipher() {
  std::map<uint32_t, SecretBytes> keys;
  keys.emplace(1, SecretBytes(FixedBytes(32, 0x55)));
  return crypto::ObjectCipher(RepoId(), std::move(keys), 1);
}

}  // namespace weightfs::fuzz
