// SecretBytes: key material. Move-only, never printed, wiped from memory when destroyed.
// Wiping uses explicit_bzero (glibc), which the compiler may not optimise away; core stays free
// of OpenSSL. Pages are not mlock'ed per value: per-object keys are made on every read, where
// an mlock/munlock pair per key would cost more than the decryption, and munlock does not nest.
// Not thread-safe; a value is owned by one thread at a time.
#pragma once

#include <string.h>  // NOLINT(modernize-deprecated-headers): explicit_bzero, not in <cstring>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n) : data_(n, 0) {}
  explicit SecretBytes(ByteView from) : data_(from.begin(), from.end()) {}
  ~SecretBytes() { Wipe(); }

  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      data_ = std::move(other.data_);
      other.data_.clear();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // An explicit copy, so copies of keys are visible in the code.
  SecretBytes Clone() const { return SecretBytes(view()); }

  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  ByteView view() const { return ByteView(data_.data(), data_.size()); }

 private:
  void Wipe() {
    if (!data_.empty()) explicit_bzero(data_.data(), data_.size());
  }
  std::vector<uint8_t> data_;
};

// Keeps the pages holding [data, data + size) in RAM (mlock(2)) so long-lived key material is never
// written to swap. For keys that live as long as the process (the daemon's repository keys):
// the pages stay locked until it exits, since munlock does not nest and would unlock neighbours.
// Fails (with errno's message) when RLIMIT_MEMLOCK does not allow it.
Status LockInMemory(const void* data, size_t size);

}  // namespace weightfs
