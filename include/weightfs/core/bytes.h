// Byte buffers and the small helpers every layer uses on them: hex, little-endian encoding.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weightfs/core/status.h"

namespace weightfs {

// Byte buffers are plain std::vector<uint8_t>, whose copies and range inserts are one memmove
// (with a custom allocator, libstdc++ copies element by element). Hot paths that fill a large
// buffer at once use UninitBuffer instead.
using Bytes = std::vector<uint8_t>;

// A fixed-size buffer whose bytes start uninitialized: for data that pread or AES-GCM fill at
// once (no memset first). Mapped() makes one of pages of its own, returned to the system when
// freed: for long-lived pooled buffers, so that the process's memory is what they hold, not
// what a malloc arena kept (fresh mappings cost page faults: pool them). Move-only.
struct UninitBufferFree {
  size_t bytes = 0;  // of a mapping; 0: from new[]
  void operator()(uint8_t* p) const;
};

class UninitBuffer {
 public:
  UninitBuffer() = default;
  explicit UninitBuffer(size_t size) : data_(Allocate(size, false)), size_(size), capacity_(size) {}
  static UninitBuffer Mapped(size_t size) {
    UninitBuffer b;
    b.data_ = Allocate(size, true);
    b.size_ = b.capacity_ = size;
    return b;
  }
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> span() { return {data_.get(), size_}; }
  std::span<const uint8_t> view() const { return {data_.get(), size_}; }
  // Keeps the first n bytes (n <= size); the memory stays allocated.
  void Shrink(size_t n) { size_ = n < size_ ? n : size_; }
  // The allocated bytes; SetSize may grow the buffer up to them (for reuse).
  size_t capacity() const { return capacity_; }
  void SetSize(size_t n) { size_ = n < capacity_ ? n : capacity_; }

 private:
  using Free = UninitBufferFree;
  static std::unique_ptr<uint8_t[], Free> Allocate(size_t size, bool mapped);

  std::unique_ptr<uint8_t[], Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};
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
