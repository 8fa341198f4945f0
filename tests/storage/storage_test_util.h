// Helpers shared by the storage tests: a scratch directory and deterministic object ids.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"

namespace weightfs::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/weightfs-storage-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

#define WFS_ASSERT_OK(expr)                                         \
  do {                                                              \
    const ::weightfs::Status wfs_s_ = (expr);                       \
    ASSERT_TRUE(wfs_s_.ok()) << #expr << ": " << wfs_s_.ToString(); \
  } while (0)

#define WFS_EXPECT_OK(expr)                                         \
  do {                                                              \
    const ::weightfs::Status wfs_s_ = (expr);                       \
    EXPECT_TRUE(wfs_s_.ok()) << #expr << ": " << wfs_s_.ToString(); \
  } while (0)
