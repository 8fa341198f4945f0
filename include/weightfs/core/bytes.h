// Byte buffers and the small helpers every layer uses on them: hex, little-endian encoding.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weightfs/core/status.h"

namespace weightfs {

// An allocator that leaves new elements uninitialized on resize(n) / Bytes(n): buffers that
// pread or AES-GCM fill at once are not zeroed first (that memset was a tenth of a read's CPU).
// Pass a value (resize(n, 0), Bytes(n, 0)) where zeros are wanted.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using Bytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsString(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string ToHex(ByteView data);
// Accepts lowercase or uppercase hex of even length.
Result<Bytes> FromHex(std::string_view hex);

void PutU8(Bytes* out, uint8_t v);
void PutU32(Bytes* out, uint32_t v);
void PutU64(Bytes* out, uint64_t v);
void PutBytes(Bytes* out, ByteView v);
// Length-prefixed (u32) bytes / string.
void PutLengthPrefixed(Bytes* out, ByteView v);

// Sequential little-endian decoder over a buffer; every read fails with kCorruption once the
// input runs out, so decoders of untrusted data never read out of bounds.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  Result<uint8_t> U8();
  Result<uint32_t> U32();
  Result<uint64_t> U64();
  Result<ByteView> Raw(size_t n);
  Result<ByteView> LengthPrefixed();
  Result<std::string> String() {
    ASSIGN_OR_RETURN(ByteView v, LengthPrefixed());
    return std::string(AsString(v));
  }
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace weightfs
