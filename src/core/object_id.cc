#include "weightfs/core/object_id.h"

#include <algorithm>

namespace weightfs {

Result<ObjectId> ObjectId::FromBytes(ByteView b) {
  if (b.size() != kSize)
    return Corruption("object id has " + std::to_string(b.size()) + " bytes, not 32");
  ObjectId id;
  std::copy(b.begin(), b.end(), id.bytes_.begin());
  return id;
}

Result<ObjectId> ObjectId::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize)
    return InvalidArgument("object id must be 64 hex digits: '" + std::string(hex) + "'");
  ASSIGN_OR_RETURN(Bytes b, weightfs::FromHex(hex));
  return FromBytes(b);
}

bool ObjectId::IsZero() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace weightfs
