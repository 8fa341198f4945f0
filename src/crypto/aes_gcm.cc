// AES-256-GCM over one EVP_CIPHER_CTX per thread. This is on the path of every read, so the
// cipher is fetched once and each thread's context is reused: re-initialising an existing
// context with only a key and nonce skips the provider lookup and context allocation.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "crypto/openssl_util.h"
#include "weightfs/crypto/primitives.h"

namespace weightfs::crypto {

using internal::CipherCtxPtr;
using internal::OpenSslError;

namespace {

// EVP_CipherUpdate takes an int length.
constexpr size_t kMaxUpdate = size_t{1} << 30;

// This thread's context, with AES-256-GCM already selected.
Result<EVP_CIPHER_CTX*> ThreadContext() {
  thread_local CipherCtxPtr ctx;
  if (ctx == nullptr) {
    const EVP_CIPHER* cipher = internal::Aes256Gcm();
    if (cipher == nullptr) return internal::Missing("AES-256-GCM");
    CipherCtxPtr fresh(EVP_CIPHER_CTX_new());
    if (fresh == nullptr) return OpenSslError("AES-256-GCM: EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex2(fresh.get(), cipher, nullptr, nullptr, 1, nullptr) != 1) {
      return OpenSslError("AES-256-GCM: selecting the cipher");
    }
    ctx = std::move(fresh);
  }
  return ctx.get();
}

// Starts a seal (encrypt = 1) or open (encrypt = 0) on this thread's context.
Result<EVP_CIPHER_CTX*> Start(ByteView key, ByteView nonce, int encrypt) {
  if (key.size() != kAesKeySize) {
    return InvalidArgument("AES-256-GCM key has " + std::to_string(key.size()) + " bytes, not 32");
  }
  if (nonce.size() != kGcmNonceSize) {
    return InvalidArgument("AES-GCM nonce has " + std::to_string(nonce.size()) + " bytes, not 12");
  }
  ASSIGN_OR_RETURN(EVP_CIPHER_CTX * ctx, ThreadContext());
  // A null cipher keeps the selected one (and its default 12-byte IV length).
  if (EVP_CipherInit_ex2(ctx, nullptr, key.data(), nonce.data(), encrypt, nullptr) != 1) {
    return OpenSslError("AES-256-GCM: init");
  }
  return ctx;
}

// Feeds in to the context, writing to out (nullptr for additional data).
Status Update(EVP_CIPHER_CTX* ctx, ByteView in, uint8_t* out, const char* what) {
  for (size_t done = 0; done < in.size();) {
    size_t n = std::min(kMaxUpdate, in.size() - done);
    int len = 0;
    if (EVP_CipherUpdate(ctx, out == nullptr ? nullptr : out + done, &len, in.data() + done,
                         static_cast<int>(n)) != 1) {
      return OpenSslError(what);
    }
    // GCM is a stream mode: output keeps pace with input.
    if (out != nullptr && static_cast<size_t>(len) != n) {
      return Internal(std::string(what) + ": AES-GCM buffered output");
    }
    done += n;
  }
  return Status::Ok();
}

}  // namespace

Status AesGcmSealInto(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext,
                      uint8_t* out) {
  ASSIGN_OR_RETURN(EVP_CIPHER_CTX * ctx, Start(key, nonce, 1));
  RETURN_IF_ERROR(Update(ctx, aad, nullptr, "AES-256-GCM seal: additional data"));
  RETURN_IF_ERROR(Update(ctx, plaintext, out, "AES-256-GCM seal"));
  uint8_t* tag = out + plaintext.size();
  int len = 0;
  if (EVP_CipherFinal_ex(ctx, tag, &len) != 1 || len != 0) {
    return OpenSslError("AES-256-GCM seal: final");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagSize, tag) != 1) {
    return OpenSslError("AES-256-GCM seal: get tag");
  }
  return Status::Ok();
}

Status AesGcmOpenInto(ByteView key, ByteView nonce, ByteView aad, ByteView sealed, uint8_t* out) {
  if (sealed.size() < kGcmTagSize) {
    return Corruption("sealed data of " + std::to_string(sealed.size()) +
                      " bytes is shorter than the 16-byte tag");
  }
  ByteView ciphertext = sealed.first(sealed.size() - kGcmTagSize);
  // Copied because the ctrl interface takes a non-const pointer, and so that opening in place
  // (out == sealed.data()) cannot overwrite the tag before it is checked.
  uint8_t tag[kGcmTagSize];
  std::memcpy(tag, sealed.data() + ciphertext.size(), kGcmTagSize);

  ASSIGN_OR_RETURN(EVP_CIPHER_CTX * ctx, Start(key, nonce, 0));
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag) != 1) {
    return OpenSslError("AES-256-GCM open: set tag");
  }
  RETURN_IF_ERROR(Update(ctx, aad, nullptr, "AES-256-GCM open: additional data"));
  RETURN_IF_ERROR(Update(ctx, ciphertext, out, "AES-256-GCM open"));
  uint8_t final_block[16];
  int len = 0;
  if (EVP_CipherFinal_ex(ctx, final_block, &len) != 1) {
    // Never hand out plaintext that failed authentication.
    if (!ciphertext.empty()) OPENSSL_cleanse(out, ciphertext.size());
    internal::ClearOpenSslErrors();
    return Corruption("authentication failed");
  }
  return Status::Ok();
}

Result<Bytes> AesGcmSeal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext) {
  Bytes out(plaintext.size() + kGcmTagSize);
  RETURN_IF_ERROR(AesGcmSealInto(key, nonce, aad, plaintext, out.data()));
  return out;
}

Result<Bytes> AesGcmOpen(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
  if (sealed.size() < kGcmTagSize) {
    return Corruption("sealed data of " + std::to_string(sealed.size()) +
                      " bytes is shorter than the 16-byte tag");
  }
  Bytes out(sealed.size() - kGcmTagSize);
  RETURN_IF_ERROR(AesGcmOpenInto(key, nonce, aad, sealed, out.data()));
  return out;
}

}  // namespace weightfs::crypto
