// Randomness, hashing, MAC and key derivation. AES-GCM lives in aes_gcm.cc.
#include "weightfs/crypto/primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <string>

#include "crypto/openssl_util.h"

namespace weightfs::crypto {

using internal::KdfCtxPtr;
using internal::MacCtxPtr;
using internal::OctetParam;
using internal::OpenSslError;

namespace {

// Extra room scrypt may use beyond its two big buffers; see Scrypt().
constexpr uint64_t kScryptMemMargin = uint64_t{1} << 20;

}  // namespace

Status FillRandom(std::span<uint8_t> out) {
  // RAND_bytes takes an int length.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  for (size_t done = 0; done < out.size();) {
    size_t n = std::min(kMaxChunk, out.size() - done);
    if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
      return OpenSslError("RAND_bytes");
    }
    done += n;
  }
  return Status::Ok();
}

Result<Bytes> RandomBytes(size_t n) {
  Bytes out(n);
  RETURN_IF_ERROR(FillRandom(out));
  return out;
}

Result<SecretBytes> RandomSecret(size_t n) {
  SecretBytes out(n);
  RETURN_IF_ERROR(FillRandom(std::span<uint8_t>(out.data(), out.size())));
  return out;
}

Result<Bytes> Sha256(ByteView data) {
  const EVP_MD* md = internal::Sha256Md();
  if (md == nullptr) return internal::Missing("SHA256");
  Bytes out(kSha256Size);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    return OpenSslError("SHA-256");
  }
  if (len != kSha256Size) return Internal("SHA-256 gave " + std::to_string(len) + " bytes");
  return out;
}

Result<Bytes> HmacSha256(ByteView key, std::initializer_list<ByteView> parts) {
  EVP_MAC* mac = internal::HmacMac();
  if (mac == nullptr) return internal::Missing("HMAC");
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac));
  if (ctx == nullptr) return OpenSslError("HMAC-SHA-256: EVP_MAC_CTX_new");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // A null key pointer means "keep the previous key" to OpenSSL; an empty key must be non-null.
  static const uint8_t kEmptyKey = 0;
  const uint8_t* key_data = key.empty() ? &kEmptyKey : key.data();
  if (EVP_MAC_init(ctx.get(), key_data, key.size(), params) != 1) {
    return OpenSslError("HMAC-SHA-256: init");
  }
  for (ByteView part : parts) {
    if (part.empty()) continue;
    if (EVP_MAC_update(ctx.get(), part.data(), part.size()) != 1) {
      return OpenSslError("HMAC-SHA-256: update");
    }
  }
  Bytes out(kSha256Size);
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) {
    return OpenSslError("HMAC-SHA-256: final");
  }
  if (len != kSha256Size) return Internal("HMAC-SHA-256 gave " + std::to_string(len) + " bytes");
  return out;
}

// A fresh context per call: reusing one saves well under a microsecond, and OpenSSL 3.0's HKDF
// keeps stale state across calls (an empty info after a non-empty one reads a stale length).
Result<SecretBytes> Hkdf(ByteView ikm, ByteView salt, ByteView info, size_t out_len) {
  if (out_len == 0 || out_len > 255 * kSha256Size) {
    return InvalidArgument("HKDF-SHA-256 output length " + std::to_string(out_len) +
                           " is outside 1.." + std::to_string(255 * kSha256Size));
  }
  EVP_KDF* kdf = internal::HkdfKdf();
  if (kdf == nullptr) return internal::Missing("HKDF");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return OpenSslError("HKDF: EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OctetParam(OSSL_KDF_PARAM_KEY, ikm),
      OctetParam(OSSL_KDF_PARAM_SALT, salt),
      OctetParam(OSSL_KDF_PARAM_INFO, info),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(out_len);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return OpenSslError("HKDF-SHA-256");
  }
  return out;
}

Result<SecretBytes> Scrypt(ByteView passphrase, ByteView salt, const ScryptParams& params,
                           size_t out_len) {
  uint64_t n = params.n;
  uint64_t r = params.r;
  uint64_t p = params.p;
  if (n < 2 || (n & (n - 1)) != 0) {
    return InvalidArgument("scrypt N=" + std::to_string(n) + " is not a power of two above 1");
  }
  if (r == 0 || p == 0) return InvalidArgument("scrypt r and p must be positive");
  if (out_len == 0) return InvalidArgument("scrypt output length must be positive");
  // OpenSSL allocates 128*r*(N+2) bytes for V and 128*r*p for B and refuses to go past maxmem.
  // Its default maxmem (32 MiB) is below what N=2^17, r=8 needs, so set it from the parameters.
  const uint64_t kLimit = UINT64_MAX / 2;
  if (n + 2 > kLimit / (128 * r) || p > kLimit / (128 * r)) {
    return InvalidArgument("scrypt parameters need more memory than can be addressed");
  }
  uint64_t maxmem = 128 * r * (n + 2) + 128 * r * p + kScryptMemMargin;

  EVP_KDF* kdf = internal::ScryptKdf();
  if (kdf == nullptr) return internal::Missing("SCRYPT");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return OpenSslError("scrypt: EVP_KDF_CTX_new");
  uint32_t r32 = params.r;
  uint32_t p32 = params.p;
  OSSL_PARAM ossl_params[] = {
      OctetParam(OSSL_KDF_PARAM_PASSWORD, passphrase),
      OctetParam(OSSL_KDF_PARAM_SALT, salt),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(out_len);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), ossl_params) != 1) {
    return OpenSslError("scrypt (N=" + std::to_string(n) + ", r=" + std::to_string(r) +
                        ", p=" + std::to_string(p) + ")");
  }
  return out;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  // Lengths are public; only the contents are compared in constant time.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace weightfs::crypto
