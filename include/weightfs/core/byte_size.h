// Sizes written by people (command-line flags, config): "512M", "4G", "4GiB", "1048576".
// Thread-safe (a pure function).
#pragma once

#include <cstdint>
#include <string_view>

#include "weightfs/core/status.h"

namespace weightfs {

// A number with an optional unit K, M, G or T, powers of 1024 ("KiB", "Ki", "KB", "k" and the like
// say the same; "B" or nothing is bytes). kInvalidArgument saying the accepted forms for anything
// else, and for a size past 2^64 - 1.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace weightfs
