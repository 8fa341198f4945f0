// Fuzzes the policy loader (YAML from refs/policy's objects or a --policy file), then asks a
// policy that loaded a few questions.
#include <string>

#include "weightfs/policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = policy::Policy::Load(text, "fuzz.yaml");
  if (!policy.ok()) return 0;
  for (const char* role : {"admin", "reader", "guest"}) {
    for (const char* path : {"/", "/models/a.safetensors", "/.versions/x"}) {
      (void)(*policy)->Decide({role}, policy::Capability::kRead, path);
    }
  }
  return 0;
}
