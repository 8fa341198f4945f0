// Checks for decoders of untrusted bytes (object plaintexts, refs, records, key slots, the config):
// fed truncated, oversized, mutated or random input, a decoder must return a status of one of the
// codes its contract allows (or accept the input, when what it accepts round-trips), must not
// crash, and must not ask for an absurd amount of memory (see alloc_probe.h).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "support/round_trip.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/status.h"

namespace weightfs::testing {

// A decoder under test: Ok when it accepts the input. A decoder that also checks what it accepted
// (a round trip) reports a broken check as kInternal, which no contract allows.
using Decoder = std::function<Status(ByteView)>;

// decode, with every accepted input checked by CheckRoundTrip against encode.
template <typename Decode, typename Encode>
Decoder RoundTripping(Decode decode, Encode encode) {
  return [decode, encode](ByteView input) -> Status {
    auto decoded = decode(input);
    if (!decoded.ok()) return decoded.status();
    if (CheckRoundTrip(input, decode, encode) != RoundTripResult::kStable) {
      return Internal("accepted input does not survive a round trip through the encoder");
    }
    return Status::Ok();
  };
}

// What a decoder's contract allows it to return for bad input.
struct DecoderContract {
  std::vector<Code> rejections = {Code::kCorruption};
  // Bytes an input may cost in allocations beyond this per input byte are absurd.
  size_t fixed_bytes = size_t{1} << 20;
  size_t bytes_per_input_byte = 64;
};

// Decodes input under an allocation probe. Success when the decoder accepted it (accept true) or
// rejected it with an allowed code (accept false), in both cases within the memory limit.
::testing::AssertionResult Decodes(const Decoder& decode, const DecoderContract& contract,
                                   ByteView input, bool accept);
// As Decodes, but either outcome is fine; only the code of a rejection and the memory matter.
::testing::AssertionResult DecodesSafely(const Decoder& decode, const DecoderContract& contract,
                                         ByteView input);

// valid decodes; every proper prefix of it shorter than accepted_from is rejected, the longer ones
// may decode (a JSON document without its final newline, say).
void ExpectTruncationsRejected(const Decoder& decode, const DecoderContract& contract,
                               ByteView valid, size_t accepted_from = SIZE_MAX);

// valid followed by trailing bytes (a zero, 0xff, a few KiB of random) is rejected.
void ExpectTrailingBytesRejected(const Decoder& decode, const DecoderContract& contract,
                                 ByteView valid, uint64_t seed);

// valid with every 1-, 4- and 8-byte window in turn overwritten with its largest value (so every
// length, count and size field at some point claims far more than the data holds) is decoded
// safely: rejected with an allowed code or accepted and round-tripping, within the memory limit.
void ExpectInflatedFieldsSafe(const Decoder& decode, const DecoderContract& contract,
                              ByteView valid);

// `count` inputs from seed, half random bytes of up to max_size, half mutations of the valid
// encodings (bytes flipped, cut, duplicated), are decoded safely. The seed is in every failure.
void ExpectRandomInputsSafe(const Decoder& decode, const DecoderContract& contract,
                            const std::vector<Bytes>& valid, uint64_t seed, int count,
                            size_t max_size = 512);

// A little-endian encoding of v in `width` bytes (1 to 8), for building hostile inputs.
Bytes LittleEndian(uint64_t v, size_t width);

}  // namespace weightfs::testing
