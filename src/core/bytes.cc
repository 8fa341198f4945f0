#include "weightfs/core/bytes.h"

#include <sys/mman.h>

#include <new>

namespace weightfs {

void UninitBufferFree::operator()(uint8_t* p) const {
  if (bytes > 0) {
    ::munmap(p, bytes);
  } else {
    delete[] p;
  }
}

std::unique_ptr<uint8_t[], UninitBuffer::Free> UninitBuffer::Allocate(size_t size, bool mapped) {
  if (size == 0) return {nullptr, Free{}};
  if (mapped) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return {static_cast<uint8_t*>(p), Free{size}};
  }
  return {new uint8_t[size], Free{}};
}

std::string ToHex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgument("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("not a hex string: '" + std::string(hex) + "'");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

void PutU8(Bytes* out, uint8_t v) { out->push_back(v); }
void PutU32(Bytes* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(Bytes* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutBytes(Bytes* out, ByteView v) { out->insert(out->end(), v.begin(), v.end()); }
void PutLengthPrefixed(Bytes* out, ByteView v) {
  PutU32(out, static_cast<uint32_t>(v.size()));
  PutBytes(out, v);
}

Result<ByteView> Reader::Raw(size_t n) {
  if (n > remaining()) return Corruption("truncated record");
  ByteView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}
Result<uint8_t> Reader::U8() {
  ASSIGN_OR_RETURN(ByteView v, Raw(1));
  return v[0];
}
Result<uint32_t> Reader::U32() {
  ASSIGN_OR_RETURN(ByteView v, Raw(4));
  uint32_t r = 0;
  for (int i = 3; i >= 0; --i) r = r << 8 | v[i];
  return r;
}
Result<uint64_t> Reader::U64() {
  ASSIGN_OR_RETURN(ByteView v, Raw(8));
  uint64_t r = 0;
  for (int i = 7; i >= 0; --i) r = r << 8 | v[i];
  return r;
}
Result<ByteView> Reader::LengthPrefixed() {
  ASSIGN_OR_RETURN(uint32_t n, U32());
  return Raw(n);
}

}  // namespace weightfs
