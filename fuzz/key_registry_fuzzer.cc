// Fuzzes DecodeKeyRegistry: the plaintext of refs/keys (the key ids of a repository's scopes).
#include "fuzz/round_trip.h"
#include "weightfs/repo/keyring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  return fuzz::RoundTrip(ByteView(data, size), repo::DecodeKeyRegistry, repo::EncodeKeyRegistry);
}
