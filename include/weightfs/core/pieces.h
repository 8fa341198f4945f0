// PieceList: the bytes of one read as a list of views into buffers that stay alive with it, so a
// reply can be sent straight from the buffers the data was decrypted into (writev, no gather).
// Not thread-safe.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "weightfs/core/bytes.h"

namespace weightfs {

class PieceList {
 public:
  // Appends view, which lives as long as owner does (null: the view is static or outlives the
  // list by contract). Empty views are dropped.
  void Add(ByteView view, std::shared_ptr<const void> owner) {
    if (view.empty()) return;
    pieces_.push_back(view);
    owners_.push_back(std::move(owner));
    size_ += view.size();
  }
  const std::vector<ByteView>& pieces() const { return pieces_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void Clear() {
    pieces_.clear();
    owners_.clear();
    size_ = 0;
  }
  // Appends every byte to *out (one memcpy per piece).
  void AppendTo(Bytes* out) const {
    const size_t old = out->size();
    out->resize(old + size_);
    uint8_t* p = out->data() + old;
    for (ByteView v : pieces_) {
      std::memcpy(p, v.data(), v.size());
      p += v.size();
    }
  }
  Bytes Gather() const {
    Bytes out;
    AppendTo(&out);
    return out;
  }

 private:
  std::vector<ByteView> pieces_;
  std::vector<std::shared_ptr<const void>> owners_;
  size_t size_ = 0;
};

}  // namespace weightfs
