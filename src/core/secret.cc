#include "weightfs/core/secret.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace weightfs {

Status LockInMemory(const void* data, size_t size) {
  if (size == 0) return Status::Ok();
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // mlock wants a page-aligned start: lock from the start of data's first page.
  const size_t lead = reinterpret_cast<uintptr_t>(data) & (page - 1);
  if (::mlock(static_cast<const uint8_t*>(data) - lead, size + lead) != 0) {
    return ErrnoStatus(errno, "locking key material in memory");
  }
  return Status::Ok();
}

}  // namespace weightfs
