// Fuzzes the parsers of this machine's local state files (rollback detection): the head and
// policy records ("seq N\nkey HEX\n") and the tags record ("key value" lines).
#include <cstdlib>
#include <string>

#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* key : {"head", "id"}) {
    auto state = repo::ParseSeqState(text, key);
    if (!state) continue;
    // Writing what parsed the way weightfs does parses to the same values.
    const std::string written = "seq " + std::to_string(state->seq) + "\n" + key + " " +
                                (state->value.empty() ? "-" : state->value) + "\n";
    auto again = repo::ParseSeqState(written, key);
    if (!again || again->seq != state->seq || again->value != state->value) std::abort();
  }
  (void)repo::ParseStateLines(text);
  return 0;
}
