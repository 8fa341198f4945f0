// Reading the header of a safetensors file: an 8-byte little-endian header length N, then N
// bytes of JSON {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the tensor data; offsets are relative to the end of the header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::repo {

struct TensorInfo {
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // absolute file offsets (header included)
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_end = 0;          // 8 + N: where tensor data starts
  std::vector<TensorInfo> tensors;  // sorted by begin
};

// How many first bytes SafetensorsHeaderEnd needs: the length and the JSON's opening brace.
inline constexpr size_t kSafetensorsProbeSize = 9;

// Header length from the first 8 bytes, if it is plausible for a safetensors file (the JSON
// must start with '{' and fit in 100 MiB). std::nullopt means "not safetensors", also when
// fewer than kSafetensorsProbeSize bytes are given.
std::optional<uint64_t> SafetensorsHeaderEnd(ByteView first_bytes);

// Parses a complete header (the file's first header_end bytes). kInvalidArgument when the bytes
// are not a well-formed safetensors header.
Result<SafetensorsHeader> ParseSafetensorsHeader(ByteView header_bytes);

// The forced cut points of a stream that may be a safetensors file (the end of the header and
// every tensor's start and end), decided from the stream's first bytes. The one detector that
// the chunker, FileWriter and the mount's files share, so that all of them cut a file alike.
struct SafetensorsCutProbe {
  bool decided = false;  // false: call again once `needed` first bytes exist
  uint64_t needed = 0;
  std::vector<uint64_t> cuts;  // sorted, unique; empty when the stream is not safetensors
};
// prefix: the stream's first bytes (all that exist so far, or at least `needed` of a previous
// probe). at_end: the stream has no more bytes, so a header cut short means "not safetensors".
SafetensorsCutProbe ProbeSafetensorsCuts(ByteView prefix, bool at_end);

}  // namespace weightfs::repo
