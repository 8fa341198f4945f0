#include "weightfs/core/secret.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace weightfs {

Status LockInMemory(const void* data, size_t size) {
  if (size == 0) return Status::Ok();
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + size;
  if (::mlock(reinterpret_cast<const void*>(begin), end - begin) != 0) {
    return ErrnoStatus(errno, "locking key material in memory");
  }
  return Status::Ok();
}

}  // namespace weightfs
