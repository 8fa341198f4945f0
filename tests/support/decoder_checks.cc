#include "support/decoder_checks.h"

#include <algorithm>
#include <random>

#include "support/alloc_probe.h"
#include "support/random.h"

namespace weightfs::testing {
namespace {

std::string Describe(ByteView input) {
  const size_t shown = std::min<size_t>(input.size(), 48);
  return std::to_string(input.size()) + " bytes: " + ToHex(input.first(shown)) +
         (shown < input.size() ? "..." : "");
}

::testing::AssertionResult Check(const Decoder& decode, const DecoderContract& contract,
                                 ByteView input, int want /* 1 accept, 0 reject, -1 either */) {
  Status s;
  size_t allocated = 0;
  {
    AllocationProbe probe;
    s = decode(input);
    allocated = probe.total();
  }
  const size_t limit = contract.fixed_bytes + contract.bytes_per_input_byte * input.size();
  if (allocated > limit) {
    return ::testing::AssertionFailure() << "decoding allocated " << allocated << " bytes (limit "
                                         << limit << ") for " << Describe(input);
  }
  if (s.ok()) {
    if (want == 0) {
      return ::testing::AssertionFailure() << "accepted malformed input " << Describe(input);
    }
    return ::testing::AssertionSuccess();
  }
  if (want == 1) {
    return ::testing::AssertionFailure()
           << "rejected valid input (" << s.ToString() << ") " << Describe(input);
  }
  const auto& codes = contract.rejections;
  if (std::find(codes.begin(), codes.end(), s.code()) == codes.end()) {
    return ::testing::AssertionFailure()
           << "rejected with " << CodeName(s.code()) << " (" << s.ToString()
           << "), which the contract does not allow, " << Describe(input);
  }
  return ::testing::AssertionSuccess();
}

Bytes Mutate(std::mt19937_64& rng, Bytes b) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits && !b.empty(); ++i) {
    const size_t at = rng() % b.size();
    switch (rng() % 4) {
      case 0:  // flip one byte
        b[at] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      case 1:  // cut the rest
        b.resize(at);
        break;
      case 2:  // duplicate a piece
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin(),
                 b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + rng() % 16)));
        break;
      default:  // overwrite a few bytes with random ones
        for (size_t j = at; j < std::min(b.size(), at + 1 + rng() % 8); ++j) {
          b[j] = static_cast<uint8_t>(rng());
        }
        break;
    }
  }
  return b;
}

}  // namespace

::testing::AssertionResult Decodes(const Decoder& decode, const DecoderContract& contract,
                                   ByteView input, bool accept) {
  return Check(decode, contract, input, accept ? 1 : 0);
}

::testing::AssertionResult DecodesSafely(const Decoder& decode, const DecoderContract& contract,
                                         ByteView input) {
  return Check(decode, contract, input, -1);
}

void ExpectTruncationsRejected(const Decoder& decode, const DecoderContract& contract,
                               ByteView valid, size_t accepted_from) {
  EXPECT_TRUE(Decodes(decode, contract, valid, true));
  for (size_t n = 0; n < valid.size(); ++n) {
    const ByteView prefix = valid.first(n);
    if (n >= accepted_from) {
      EXPECT_TRUE(DecodesSafely(decode, contract, prefix)) << "prefix of " << n << " bytes";
    } else {
      EXPECT_TRUE(Decodes(decode, contract, prefix, false)) << "prefix of " << n << " bytes";
    }
  }
}

void ExpectTrailingBytesRejected(const Decoder& decode, const DecoderContract& contract,
                                 ByteView valid, uint64_t seed) {
  WFS_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  for (const Bytes& tail : {Bytes{0}, Bytes{0xff}, Bytes(8, 0), RandomBytes(rng, 4096)}) {
    Bytes input(valid.begin(), valid.end());
    PutBytes(&input, tail);
    EXPECT_TRUE(Decodes(decode, contract, input, false)) << tail.size() << " trailing bytes";
  }
}

void ExpectInflatedFieldsSafe(const Decoder& decode, const DecoderContract& contract,
                              ByteView valid) {
  for (size_t width : {1, 4, 8}) {
    for (size_t at = 0; at + width <= valid.size(); ++at) {
      Bytes input(valid.begin(), valid.end());
      std::fill_n(input.begin() + static_cast<std::ptrdiff_t>(at), width, 0xff);
      EXPECT_TRUE(DecodesSafely(decode, contract, input))
          << width << " bytes of 0xff at offset " << at;
    }
  }
}

void ExpectRandomInputsSafe(const Decoder& decode, const DecoderContract& contract,
                            const std::vector<Bytes>& valid, uint64_t seed, int count,
                            size_t max_size) {
  WFS_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const Bytes input = i % 2 == 0 || valid.empty() ? RandomBytes(rng, rng() % (max_size + 1))
                                                    : Mutate(rng, valid[rng() % valid.size()]);
    EXPECT_TRUE(DecodesSafely(decode, contract, input)) << "input " << i;
    if (::testing::Test::HasFailure()) return;  // one reported input is enough to replay
  }
}

Bytes LittleEndian(uint64_t v, size_t width) {
  Bytes out;
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return out;
}

}  // namespace weightfs::testing
