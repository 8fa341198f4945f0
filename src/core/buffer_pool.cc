#include "weightfs/core/buffer_pool.h"

namespace weightfs {
namespace {

// New buffers are rounded up to this, so that sizes that differ a little share buffers.
constexpr size_t kGranule = 256 << 10;

}  // namespace

UninitBuffer BufferPool::Take(size_t size) {
  {
    MutexLock lock(&mu_);
    // The smallest free buffer that holds size, if it wastes less than half of itself.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= size + size / 2 + kGranule) {
      UninitBuffer b = std::move(it->second);
      free_bytes_ -= it->first;
      free_.erase(it);
      b.SetSize(size);
      return b;
    }
  }
  UninitBuffer b = UninitBuffer::Mapped((size + kGranule - 1) / kGranule * kGranule);
  b.SetSize(size);
  return b;
}

void BufferPool::Give(UninitBuffer buffer) {
  const size_t cap = buffer.capacity();
  if (cap == 0) return;
  MutexLock lock(&mu_);
  // Full: make room by dropping the largest buffers (the rarest sizes), if that is enough.
  while (free_bytes_ + cap > max_free_ && !free_.empty() && std::prev(free_.end())->first >= cap) {
    auto last = std::prev(free_.end());
    free_bytes_ -= last->first;
    free_.erase(last);
  }
  if (free_bytes_ + cap > max_free_) return;
  free_bytes_ += cap;
  free_.emplace(cap, std::move(buffer));
}

size_t BufferPool::free_bytes() const {
  MutexLock lock(&mu_);
  return free_bytes_;
}

}  // namespace weightfs
