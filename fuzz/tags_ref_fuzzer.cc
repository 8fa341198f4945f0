// Fuzzes DecodeTags: the plaintext of refs/tags (generation, then sorted name -> snapshot id).
#include <cstdlib>

#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  uint64_t generation = 0;
  auto tags = repo::DecodeTags(ByteView(data, size), &generation);
  if (!tags.ok()) return 0;
  uint64_t again_generation = 0;
  auto again = repo::DecodeTags(repo::EncodeTags(*tags, generation), &again_generation);
  if (!again.ok() || *again != *tags || again_generation != generation) std::abort();
  return 0;
}
