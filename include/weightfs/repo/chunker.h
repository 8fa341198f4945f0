// Content-defined chunking (FastCDC-style gear hash with normalized chunking) with forced cut
// points. A per-repository secret seed makes the gear table, so cut points reveal nothing about
// content to someone without the keys. Forced cuts (e.g. safetensors tensor boundaries) apply
// whatever the minimum chunk size, so an unchanged tensor always gives the same chunks.
// A Chunker is a stream: Write() any number of times, then Finish(). Not thread-safe.
// Two forms share one cut rule: CutFinder scans bytes in place and only says where chunks end
// (the data path uses it), Chunker wraps it with a callback per finished chunk.
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

// CutFinder: the cut rule alone, as a scanner over a stream's bytes wherever they lie (a file's
// dirty buffer, a read buffer); it never copies them. Feed the stream's bytes in order with
// Scan(); it says where each chunk ends. Forced cuts must be added before the scan reaches them.
// Not thread-safe.
class CutFinder {
 public:
  // params: min <= avg <= max, avg a power of two >= 64 (else aborts); see Chunker.
  CutFinder(const ChunkerParams& params, const GearTable& gear);

  // Scans data, the stream's next bytes, and returns how many of them belong to the pending
  // chunk. With *cut true the chunk ends after those bytes and the next one starts there;
  // with *cut false all of data was consumed and the chunk goes on.
  size_t Scan(ByteView data, bool* cut);
  // Adds a cut point at an absolute stream offset > position(); earlier ones are ignored.
  void AddForcedCut(uint64_t offset);
  // Starts a new chunk at stream offset (>= chunk_start()), forgetting the scan state.
  void Restart(uint64_t offset);

  uint64_t chunk_start() const { return start_; }
  // The stream offset of the next byte to scan.
  uint64_t position() const { return pos_; }

 private:
  size_t Limit() const;  // the pending chunk's largest length: max_size or the next forced cut

  ChunkerParams params_;
  GearTable gear_;
  uint64_t mask_small_;        // stricter mask before avg_size (normalized chunking)
  uint64_t mask_large_;        // looser mask after avg_size
  uint64_t start_ = 0;         // the pending chunk starts here...
  uint64_t pos_ = 0;           // ...and is scanned up to here
  uint64_t hash_ = 0;          // the gear hash of the bytes scanned past min_size
  std::set<uint64_t> forced_;  // absolute offsets > start_
};

// Chunker: a CutFinder with the emit interface. A chunk that lies inside one Write() is emitted
// straight from the caller's bytes; only a chunk that spans writes is gathered into a buffer.
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
  // Runs data (the stream's next bytes) through the finder, emitting every chunk it ends.
  Status Feed(ByteView data);
  Status Emit(ByteView chunk);

  CutFinder finder_;
  bool detecting_;  // still waiting for enough bytes to decide the safetensors cuts
  EmitFn emit_;
  Status error_;  // the first error from emit_; sticky
  Bytes buf_;     // the pending chunk's bytes (stream offsets [chunk_start, position))
  uint64_t total_ = 0;
};

}  // namespace weightfs::repo
