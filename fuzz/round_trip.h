// The shape most fuzz targets share: decode the input; whatever decodes must survive a round trip
// through the encoder (tests/support/round_trip.h, which the decoder tests check too), else abort
// so that libFuzzer reports the input.
#pragma once

#include <cstdlib>

#include "tests/support/round_trip.h"

namespace weightfs::fuzz {

template <typename Decode, typename Encode>
int RoundTrip(ByteView input, Decode decode, Encode encode) {
  if (testing::CheckRoundTrip(input, decode, encode) == testing::RoundTripResult::kBroken) {
    std::abort();
  }
  return 0;
}

}  // namespace weightfs::fuzz
