// The round-trip property of the repository's binary codecs, shared by the decoder tests and the
// fuzz targets (fuzz/round_trip.h): whatever decodes must survive a trip through the encoder
// (decode(encode(x)) succeeds and encodes to the same bytes). Free of gtest, so fuzz/ can use it.
#pragma once

#include "weightfs/core/bytes.h"

namespace weightfs::testing {

enum class RoundTripResult {
  kRejected,  // input does not decode
  kStable,    // it decodes, and its encoding decodes to something that encodes the same
  kBroken,    // it decodes, but its encoding does not decode, or re-encodes differently
};

template <typename Decode, typename Encode>
RoundTripResult CheckRoundTrip(ByteView input, Decode decode, Encode encode) {
  auto decoded = decode(input);
  if (!decoded.ok()) return RoundTripResult::kRejected;
  const Bytes encoded = encode(*decoded);
  auto again = decode(encoded);
  if (!again.ok() || encode(*again) != encoded) return RoundTripResult::kBroken;
  return RoundTripResult::kStable;
}

}  // namespace weightfs::testing
