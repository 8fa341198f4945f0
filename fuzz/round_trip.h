// The shape most fuzz targets share: decode the input; whatever decodes must survive a round trip
// through the encoder (decode(encode(x)) succeeds and encodes to the same bytes), else abort so
// that libFuzzer reports the input.
#pragma once

#include <cstdlib>

#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::fuzz {

template <typename Decode, typename Encode>
int RoundTrip(ByteView input, Decode decode, Encode encode) {
  auto decoded = decode(input);
  if (!decoded.ok()) return 0;
  const Bytes encoded = encode(*decoded);
  auto again = decode(encoded);
  if (!again.ok() || encode(*again) != encoded) std::abort();
  return 0;
}

}  // namespace weightfs::fuzz
