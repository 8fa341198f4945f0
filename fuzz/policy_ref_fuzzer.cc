// Fuzzes DecodePolicyRef: the plaintext of refs/policy (the current policy object's id).
#include "fuzz/round_trip.h"
#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  return fuzz::RoundTrip(ByteView(data, size), repo::DecodePolicyRef, repo::EncodePolicyRef);
}
