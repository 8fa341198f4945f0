// ParseByteSize of the command line: weightfs::ParseByteSize naming the flag.
#include "weightfs/core/byte_size.h"
#include "cli/common.h"

namespace weightfs::cli {

Result<uint64_t> ParseByteSize(const std::string& text, const std::string& flag) {
  auto n = weightfs::ParseByteSize(text);
  if (!n.ok()) return InvalidArgument(flag + ": " + n.status().message());
  return n;
}

}  // namespace weightfs::cli
