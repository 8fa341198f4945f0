// Fuzzes the safetensors header parser (a weight file's first bytes decide where its chunks are
// cut): SafetensorsHeaderEnd, ParseSafetensorsHeader and ProbeSafetensorsCuts.
#include <cstdlib>

#include "weightfs/repo/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const ByteView input(data, size);
  (void)repo::SafetensorsHeaderEnd(input);
  if (auto header = repo::ParseSafetensorsHeader(input); header.ok()) {
    for (size_t i = 0; i < header->tensors.size(); ++i) {
      const auto& t = header->tensors[i];
      // Documented: sorted by begin, offsets absolute and past the header.
      if (t.begin > t.end || t.begin < header->header_end) std::abort();
      if (i > 0 && header->tensors[i - 1].begin > t.begin) std::abort();
    }
  }
  for (bool at_end : {false, true}) {
    const repo::SafetensorsCutProbe probe = repo::ProbeSafetensorsCuts(input, at_end);
    if (at_end && !probe.decided) std::abort();
    for (size_t i = 1; i < probe.cuts.size(); ++i) {
      if (probe.cuts[i - 1] >= probe.cuts[i]) std::abort();  // documented: sorted, unique
    }
  }
  return 0;
}
