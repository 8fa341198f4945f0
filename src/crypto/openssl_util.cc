#include "crypto/openssl_util.h"

#include <openssl/err.h>
#include <openssl/params.h>

#include <string>

namespace weightfs::crypto::internal {
namespace {

// A fetch that fails leaves errors on the queue of whichever thread ran it first; drop them so
// they do not show up in an unrelated message later.
template <typename T>
T* Fetched(T* algorithm) {
  if (algorithm == nullptr) ERR_clear_error();
  return algorithm;
}

}  // namespace

Status OpenSslError(std::string_view what, Code code) {
  std::string message(what);
  bool first = true;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    message += first ? ": " : "; ";
    message += buf;
    first = false;
  }
  if (first) message += ": (no OpenSSL error reported)";
  return {code, std::move(message)};
}

void ClearOpenSslErrors() { ERR_clear_error(); }

const EVP_CIPHER* Aes256Gcm() {
  static const CipherPtr cipher(Fetched(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr)));
  return cipher.get();
}

const EVP_MD* Sha256Md() {
  static const MdPtr md(Fetched(EVP_MD_fetch(nullptr, "SHA256", nullptr)));
  return md.get();
}

EVP_MAC* HmacMac() {
  static const MacPtr mac(Fetched(EVP_MAC_fetch(nullptr, "HMAC", nullptr)));
  return mac.get();
}

EVP_KDF* HkdfKdf() {
  static const KdfPtr kdf(Fetched(EVP_KDF_fetch(nullptr, "HKDF", nullptr)));
  return kdf.get();
}

EVP_KDF* ScryptKdf() {
  static const KdfPtr kdf(Fetched(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr)));
  return kdf.get();
}

Status Missing(std::string_view algorithm) {
  return Internal(std::string(algorithm) + " is not available from the loaded OpenSSL providers");
}

OSSL_PARAM OctetParam(const char* key, ByteView v) {
  static unsigned char kEmpty = 0;
  void* data = v.empty() ? &kEmpty : const_cast<uint8_t*>(v.data());
  return OSSL_PARAM_construct_octet_string(key, data, v.size());
}

}  // namespace weightfs::crypto::internal
