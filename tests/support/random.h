// Seeded randomness for tests: every random test takes its seed from TestSeed and names it in its
// failure messages, so that a failing run can be replayed with WEIGHTFS_TEST_SEED.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "weightfs/core/bytes.h"

// Puts the seed into every failure message of the current scope.
#define WFS_TRACE_SEED(seed)                    \
  SCOPED_TRACE("seed=" + std::to_string(seed) + \
               " (rerun with WEIGHTFS_TEST_SEED=" + std::to_string(seed) + ")")

namespace weightfs::testing {

// The seed of a test's randomness: WEIGHTFS_TEST_SEED, else default_seed. Printed to stdout.
uint64_t TestSeed(uint64_t default_seed = 0x77f5eed);

// n bytes from rng.
Bytes RandomBytes(std::mt19937_64& rng, size_t n);

}  // namespace weightfs::testing
