// Fuzzes DecodeLeaseRecord: a gc lease (locks/lease-*), unauthenticated JSON in the repository.
#include <cstdlib>

#include "repo/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightfs;
  auto info = repo::DecodeLeaseRecord("locks/lease-fuzz", ByteView(data, size));
  if (!info.ok()) return 0;
  auto again = repo::DecodeLeaseRecord("locks/lease-fuzz", repo::EncodeLeaseRecord(*info));
  if (!again.ok() || again->pid != info->pid || again->since != info->since ||
      again->roots != info->roots || again->host != info->host || again->kind != info->kind) {
    std::abort();
  }
  return 0;
}
