// Helpers of the storage tests: deterministic object ids and data (a scratch directory and the
// status assertions come from the shared test support library).
#pragma once

#include <cstdint>

#include "support/files.h"
#include "support/status_util.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"

namespace weightfs::storage::testing {

using ::weightfs::testing::TempDir;

// An id whose first byte is `first` and whose remaining bytes derive from `n`, so tests can
// choose the fan-out directory and still make many distinct ids.
inline ObjectId TestId(uint8_t first, uint32_t n) {
  Bytes b(ObjectId::kSize);
  b[0] = first;
  for (size_t i = 1; i < b.size(); ++i) b[i] = static_cast<uint8_t>((n >> (8 * (i % 4))) + i);
  return ObjectId::FromBytes(b).value();
}

inline Bytes TestData(size_t size, uint32_t seed) {
  Bytes b(size);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& byte : b) {
    x = x * 1103515245u + 12345u;
    byte = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

}  // namespace weightfs::storage::testing
