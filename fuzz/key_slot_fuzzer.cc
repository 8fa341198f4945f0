// Fuzzes a key slot (keys/<name>, unauthenticated JSON): ParseKeySlot, VerifyKeySlot under a fixed
// MAC key, and UnwrapKeySlot with a fixed key-file credential (a key file needs no scrypt, so a
// slot's stored scrypt parameters cannot make an iteration slow; passphrase slots stop at the
// credential kind check, which is where a wrong credential stops them too).
#include "fuzz/fixed_keys.h"
#include "weightfs/repo/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const ByteView input(data, size);
  (void)repo::ParseKeySlot(input);
  (void)repo::VerifyKeySlot(input, fuzz::MacKey());
  (void)repo::UnwrapKeySlot(input, fuzz::KeyFileCredential(), fuzz::RepoId());
  return 0;
}
