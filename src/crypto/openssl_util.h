// Private helpers shared by src/crypto/: RAII owners for OpenSSL objects, the one place where
// OpenSSL's error queue becomes a Status, and the algorithms fetched once per process.
// Everything here is thread-safe.
#pragma once

#include <openssl/core.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>
#include <string_view>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::crypto::internal {

// A stateless deleter that calls OpenSSL's free function F, as bssl::UniquePtr does.
template <auto F>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    F(p);
  }
};

using CipherPtr = std::unique_ptr<EVP_CIPHER, OpenSslDeleter<EVP_CIPHER_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD_free>>;
using MacPtr = std::unique_ptr<EVP_MAC, OpenSslDeleter<EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, OpenSslDeleter<EVP_MAC_CTX_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, OpenSslDeleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX_free>>;

// Returns Status(code, "<what>: <OpenSSL errors>") and empties this thread's error queue, so
// stale errors never leak into a later message.
Status OpenSslError(std::string_view what, Code code = Code::kInternal);
// Empties this thread's error queue (after an expected failure such as a tag mismatch).
void ClearOpenSslErrors();

// Algorithms fetched from the default library context on first use (thread-safe static
// initialisation) and kept for the life of the process. Each returns nullptr only if the loaded
// providers do not offer the algorithm; Missing() makes the Status for that case.
const EVP_CIPHER* Aes256Gcm();
const EVP_MD* Sha256Md();
EVP_MAC* HmacMac();
EVP_KDF* HkdfKdf();
EVP_KDF* ScryptKdf();
Status Missing(std::string_view algorithm);

// An octet-string parameter over v. Never carries a null pointer: OpenSSL 3.0 refuses one even
// for an empty value (the empty scrypt passphrase of RFC 7914, for instance).
OSSL_PARAM OctetParam(const char* key, ByteView v);

}  // namespace weightfs::crypto::internal
