// ObjectId: the 32-byte id of a repository object (a keyed MAC of its type and plaintext).
// A strong type so ids are not confused with other byte strings. Value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "weightfs/core/bytes.h"

namespace weightfs {

class ObjectId {
 public:
  static constexpr size_t kSize = 32;

  ObjectId() { bytes_.fill(0); }
  static Result<ObjectId> FromBytes(ByteView b);
  static Result<ObjectId> FromHex(std::string_view hex);

  ByteView bytes() const { return ByteView(bytes_.data(), bytes_.size()); }
  std::string Hex() const { return ToHex(bytes()); }
  bool IsZero() const;

  // clang-tidy 14 mistakes the 0 that a defaulted <=> compares with for a null pointer.
  auto operator<=>(const ObjectId&) const = default;  // NOLINT(modernize-use-nullptr)
  bool operator==(const ObjectId&) const = default;

 private:
  std::array<uint8_t, kSize> bytes_;
};

struct ObjectIdHash {
  size_t operator()(const ObjectId& id) const {
    size_t h;
    std::memcpy(&h, id.bytes().data(), sizeof(h));
    return h;
  }
};

}  // namespace weightfs
