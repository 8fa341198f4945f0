#include "support/random.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace weightfs::testing {

uint64_t TestSeed(uint64_t default_seed) {
  const char* env = std::getenv("WEIGHTFS_TEST_SEED");
  const uint64_t seed = env != nullptr && *env ? std::strtoull(env, nullptr, 0) : default_seed;
  std::printf("[   SEED   ] WEIGHTFS_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

}  // namespace weightfs::testing
