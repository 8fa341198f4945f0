// Fuzzes DecodeSnapshot: the plaintext of a snapshot object, as an authenticated object decrypts
// to.
#include "fuzz/round_trip.h"
#include "weightfs/repo/objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  return fuzz::RoundTrip(ByteView(data, size), repo::DecodeSnapshot, repo::EncodeSnapshot);
}
