// Fuzzes the repository config: ParseConfig (read before any key is known) and VerifyConfig
// (its MAC, under a fixed key), then a round trip through SerializeConfig.
#include <cstdlib>

#include "fuzz/fixed_keys.h"
#include "weightfs/repo/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const ByteView input(data, size);
  const SecretBytes mac_key = fuzz::MacKey();
  const Status verified = repo::VerifyConfig(input, mac_key);
  auto config = repo::ParseConfig(input);
  if (!config.ok()) return 0;
  auto serialized = repo::SerializeConfig(*config, mac_key);
  if (!serialized.ok()) std::abort();
  auto again = repo::ParseConfig(*serialized);
  if (!again.ok() || again->repo_id != config->repo_id ||
      !repo::VerifyConfig(*serialized, mac_key).ok()) {
    std::abort();
  }
  // A config that verified is the one SerializeConfig writes for what it holds.
  if (verified.ok() && *serialized != Bytes(data, data + size)) std::abort();
  return 0;
}
