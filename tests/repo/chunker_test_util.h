// Shared by the chunker_*_test.cc files: seeded random data, gear tables, write splits and
// helpers that chunk a buffer and check the result.
#pragma once

#include "weightfs/repo/chunker.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace weightfs::repo::chunker_test {

// Small sizes keep the tests fast while giving many chunks (below ValidateChunkerParams' limits,
// which the Chunker itself does not require).
inline constexpr ChunkerParams kSmall{16 * 1024, 64 * 1024, 256 * 1024};

// Seeded randomness: WEIGHTFS_TEST_SEED overrides the fixed default; the seed is in every
// failure message via SCOPED_TRACE.
inline uint64_t TestSeed() {
  const char* env = std::getenv("WEIGHTFS_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 0x5eed2026;
}
#define TRACE_SEED(seed) SCOPED_TRACE("seed=" + std::to_string(seed) + " (WEIGHTFS_TEST_SEED)")

inline Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

inline GearTable TestGear(uint8_t tag = 1) {
  Bytes seed(32, tag);
  return MakeGearTable(seed);
}

// Returns the size of the next Write() given how many bytes remain.
using SplitFn = std::function<size_t(size_t remaining)>;
inline SplitFn Whole() {
  return [](size_t r) { return r; };
}
inline SplitFn Fixed(size_t n) {
  return [n](size_t r) { return std::min(n, r); };
}
inline SplitFn RandomSplit(uint64_t seed, size_t max) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng, max](size_t r) { return std::min<size_t>(r, 1 + (*rng)() % max); };
}

struct ChunkOptions {
  ChunkerParams params = kSmall;
  GearTable gear = TestGear();
  bool detect_safetensors = false;
  std::vector<uint64_t> forced;
  SplitFn split = Whole();
};

inline std::vector<std::string> ChunkAll(ByteView data, const ChunkOptions& o) {
  std::vector<std::string> chunks;
  Chunker chunker(o.params, o.gear, o.detect_safetensors, [&](ByteView c) {
    chunks.emplace_back(AsString(c));
    return Status::Ok();
  });
  for (uint64_t f : o.forced) chunker.AddForcedCut(f);
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t n = o.split(data.size() - pos);
    EXPECT_TRUE(chunker.Write(data.subspan(pos, n)).ok());
    pos += n;
  }
  EXPECT_TRUE(chunker.Finish().ok());
  EXPECT_EQ(chunker.bytes_written(), data.size());
  return chunks;
}

inline std::vector<uint64_t> Ends(const std::vector<std::string>& chunks) {
  std::vector<uint64_t> ends;
  ends.reserve(chunks.size());
  uint64_t off = 0;
  for (const std::string& c : chunks) ends.push_back(off += c.size());
  return ends;
}

inline std::string Concat(const std::vector<std::string>& chunks) {
  std::string all;
  for (const std::string& c : chunks) all += c;
  return all;
}

inline std::vector<size_t> Hashes(const std::vector<std::string>& chunks) {
  std::vector<size_t> h;
  h.reserve(chunks.size());
  for (const std::string& c : chunks) h.push_back(std::hash<std::string>{}(c));
  return h;
}

// Every chunk but the last and those ending at a forced cut lies within [min, max]; none is
// empty or longer than max.
inline void ExpectSizesRespected(const std::vector<std::string>& chunks, const ChunkerParams& p,
                                 const std::set<uint64_t>& forced = {}) {
  uint64_t off = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const size_t n = chunks[i].size();
    off += n;
    ASSERT_GT(n, 0u) << "chunk " << i;
    ASSERT_LE(n, p.max_size) << "chunk " << i;
    if (i + 1 < chunks.size() && !forced.contains(off)) {
      ASSERT_GE(n, p.min_size) << "chunk " << i << " ending at " << off;
    }
  }
}

}  // namespace weightfs::repo::chunker_test
