// The cryptographic primitives weightfs uses, over OpenSSL 3. Only src/crypto/ includes OpenSSL;
// everything else calls these functions. All functions are thread-safe. Failures carry OpenSSL's
// error queue in the Status message; an AEAD tag mismatch is kCorruption.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "weightfs/core/bytes.h"
#include "weightfs/core/secret.h"
#include "weightfs/core/status.h"

namespace weightfs::crypto {

constexpr size_t kAesKeySize = 32;
constexpr size_t kGcmNonceSize = 12;
constexpr size_t kGcmTagSize = 16;
constexpr size_t kSha256Size = 32;

Status FillRandom(std::span<uint8_t> out);
Result<Bytes> RandomBytes(size_t n);
Result<SecretBytes> RandomSecret(size_t n);

Result<Bytes> Sha256(ByteView data);
// HMAC-SHA-256 over the concatenation of parts (no copy of the parts is made).
Result<Bytes> HmacSha256(ByteView key, std::initializer_list<ByteView> parts);
// HKDF-SHA-256 (RFC 5869), extract and expand.
Result<SecretBytes> Hkdf(ByteView ikm, ByteView salt, ByteView info, size_t out_len);

struct ScryptParams {
  uint64_t n = uint64_t{1} << 17;  // CPU/memory cost, a power of two
  uint32_t r = 8;
  uint32_t p = 1;
};
// RFC 7914 scrypt. Memory use is about 128 * n * r bytes.
Result<SecretBytes> Scrypt(ByteView passphrase, ByteView salt, const ScryptParams& params,
                           size_t out_len);

// AES-256-GCM with a 12-byte nonce. Seal writes plaintext.size() + 16 bytes (ciphertext, tag)
// to out; Open reads sealed = ciphertext || tag and writes sealed.size() - 16 bytes to out.
Status AesGcmSealInto(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext, uint8_t* out);
Status AesGcmOpenInto(ByteView key, ByteView nonce, ByteView aad, ByteView sealed, uint8_t* out);
Result<Bytes> AesGcmSeal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext);
Result<Bytes> AesGcmOpen(ByteView key, ByteView nonce, ByteView aad, ByteView sealed);

// Constant-time comparison.
bool ConstantTimeEqual(ByteView a, ByteView b);

}  // namespace weightfs::crypto
