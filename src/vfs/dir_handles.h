// DirHandles: the open directory handles of a mount (opendir to releasedir), shared by both
// trees so that handle numbers are unique. A handle is immutable once added.
// Thread-safe: mu_ is a leaf lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weightfs/core/mutex.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

struct DirHandle {
  // A live directory: ".", "..", then its children by name (attributes taken at readdir).
  std::vector<std::pair<std::string, NodeId>> entries;
  // Then entries whose attributes were taken at opendir, at offsets entries.size() on: a
  // .versions directory's whole listing, or the .versions entry of the live root.
  std::vector<DirEntry> fixed;
};

// The entries of h's fixed part from offset on, at most max_entries of them.
inline std::vector<DirEntry> FixedEntries(const DirHandle& h, uint64_t offset, size_t max_entries) {
  std::vector<DirEntry> out;
  const uint64_t base = h.entries.size();
  for (uint64_t i = std::max(offset, base); i - base < h.fixed.size() && out.size() < max_entries;
       ++i) {
    out.push_back(h.fixed[i - base]);
  }
  return out;
}

class DirHandles {
 public:
  // A new handle for h.
  uint64_t Add(DirHandle h) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    const uint64_t handle = next_++;
    handles_.emplace(handle, std::make_shared<const DirHandle>(std::move(h)));
    return handle;
  }
  // The handle's listing; null for a handle not open.
  std::shared_ptr<const DirHandle> Get(uint64_t handle) const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto it = handles_.find(handle);
    return it == handles_.end() ? nullptr : it->second;
  }
  void Release(uint64_t handle) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    handles_.erase(handle);
  }

 private:
  mutable Mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<const DirHandle>> handles_ GUARDED_BY(mu_);
  uint64_t next_ GUARDED_BY(mu_) = 1;
};

}  // namespace weightfs::vfs
