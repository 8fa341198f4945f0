// Fuzzes ParseLockRecord: who holds locks/writer or locks/gc (unauthenticated JSON in the
// repository, read by every mount and gc that finds the lock taken).
#include <optional>

#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  const repo::LockRecord r = repo::ParseLockRecord(Bytes(data, data + size));
  (void)r;
  return 0;
}
