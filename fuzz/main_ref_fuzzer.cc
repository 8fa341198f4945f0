// Fuzzes DecodeMain: the plaintext of refs/main (head snapshot and live root).
#include "fuzz/round_trip.h"
#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  return fuzz::RoundTrip(ByteView(data, size), repo::DecodeMain, repo::EncodeMain);
}
