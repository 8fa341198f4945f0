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
  // emit is called with each finished chunk, in order; the view is valid only during the call.
  // An error from emit stops the stream and is returned by Write/Finish (and every later call).
  using EmitFn = std::function<Status(ByteView chunk)>;

  // detect_safetensors: look at the stream's first bytes; if they are a safetensors header,
  // add forced cuts at the end of the header and at every tensor's start and end (nothing is
  // emitted until the whole header has arrived). params must have min <= avg <= max and avg a
  // power of two >= 64, else the constructor aborts; the repository limits of
  // ValidateChunkerParams are not required here, so tests can use small chunks.
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
  // Returns the length of the next chunk (from the pending chunk's start), or 0 if more data is
  // needed (unless at_end, when it returns all that is pending). Not const: it keeps the scan
  // position and hash so that small writes never rescan the pending bytes.
  size_t FindCut(bool at_end);
  Status EmitReady(bool at_end);
  void MaybeParseSafetensors();
  size_t pending() const { return buf_.size() - buf_off_; }

  ChunkerParams params_;
  const GearTable gear_;
  uint64_t mask_small_;  // stricter mask before avg_size (normalized chunking)
  uint64_t mask_large_;  // looser mask after avg_size
  bool detect_safetensors_;
  bool safetensors_done_ = false;
  uint64_t safetensors_header_end_ = 0;  // 0 until the first bytes are seen
  EmitFn emit_;
  Status error_;                 // the first error from emit_; sticky
  Bytes buf_;                    // buf_[0] is at stream offset buf_start_
  size_t buf_off_ = 0;           // the pending chunk starts at buf_[buf_off_]
  uint64_t buf_start_ = 0;
  size_t scan_pos_ = 0;          // bytes of the pending chunk already scanned...
  uint64_t hash_ = 0;            // ...and the gear hash after them
  uint64_t total_ = 0;
  std::set<uint64_t> forced_;    // absolute offsets
};

}  // namespace weightfs::repo
