// Content-defined chunking (FastCDC-style gear hash with normalized chunking) with forced cut
// points. A per-repository secret seed makes the gear table, so cut points reveal nothing about
// content to someone without the keys. Forced cuts (e.g. safetensors tensor boundaries) apply
// whatever the minimum chunk size, so an unchanged tensor always gives the same chunks.
// A Chunker is a stream: Write() any number of times, then Finish(). Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <set>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::repo {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // a power of two
  uint32_t max_size = 4 * 1024 * 1024;
};

// Checks min <= avg <= max, avg a power of two, 64 KiB <= min, max <= 64 MiB.
Status ValidateChunkerParams(const ChunkerParams& params);

using GearTable = std::array<uint64_t, 256>;
// Derives the gear table from a secret seed (any length, normally 32 bytes) deterministically.
GearTable MakeGearTable(ByteView seed);

class Chunker {
 public:
  // emit is called with each finished chunk, in order; an error from emit stops the stream
  // and is returned by Write/Finish.
  using EmitFn = std::function<Status(ByteView chunk)>;

  // detect_safetensors: look at the stream's first bytes; if they are a safetensors header,
  // add forced cuts at the end of the header and at every tensor's start and end.
  Chunker(const ChunkerParams& params, const GearTable& gear, bool detect_safetensors, EmitFn emit);

  // Adds a cut point at an absolute stream offset not yet emitted. Offsets at or before the
  // start of the pending chunk are ignored.
  void AddForcedCut(uint64_t offset);

  Status Write(ByteView data);
  // Emits what is pending (possibly a chunk shorter than min_size). An empty stream emits
  // nothing.
  Status Finish();

  uint64_t bytes_written() const { return total_; }

 private:
  // Returns the length of the next chunk in buf_ (from its start), or 0 if more data is needed
  // (unless at_end, when it returns buf_.size()).
  size_t FindCut(bool at_end) const;
  Status EmitReady(bool at_end);
  void MaybeParseSafetensors();

  ChunkerParams params_;
  const GearTable gear_;
  uint64_t mask_small_;  // stricter mask before avg_size (normalized chunking)
  uint64_t mask_large_;  // looser mask after avg_size
  bool detect_safetensors_;
  bool safetensors_done_ = false;
  EmitFn emit_;
  Bytes buf_;                    // pending bytes, starting at stream offset buf_start_
  uint64_t buf_start_ = 0;
  uint64_t total_ = 0;
  std::set<uint64_t> forced_;    // absolute offsets
};

}  // namespace weightfs::repo
