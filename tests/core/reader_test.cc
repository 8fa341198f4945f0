// Reader, the bounds-checked decoder every binary format goes through, and the hex decoders, fed
// valid, truncated, oversized and random input: reads fail with kCorruption once the input runs
// out, never read out of bounds, never allocate for a length the input does not hold.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "support/alloc_probe.h"
#include "support/decoder_checks.h"
#include "support/random.h"
#include "support/status_util.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"

namespace weightfs {
namespace {

using testing::AllocationProbe;
using testing::Decoder;
using testing::DecoderContract;
using testing::LittleEndian;

// One of each kind of field: what ReadAll below reads back.
Bytes Sample() {
  Bytes b;
  PutU8(&b, 0xab);
  PutU32(&b, 0x01020304);
  PutU64(&b, 0x1122334455667788);
  PutLengthPrefixed(&b, AsBytes("weights"));
  PutBytes(&b, AsBytes("raw!"));
  PutLengthPrefixed(&b, AsBytes(""));
  return b;
}

// Reads Sample's fields in order; Ok only when all are there, hold Sample's values and nothing
// follows them.
Status ReadAll(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t a, r.U8());
  ASSIGN_OR_RETURN(uint32_t b, r.U32());
  ASSIGN_OR_RETURN(uint64_t c, r.U64());
  ASSIGN_OR_RETURN(std::string d, r.String());
  ASSIGN_OR_RETURN(ByteView e, r.Raw(4));
  ASSIGN_OR_RETURN(ByteView f, r.LengthPrefixed());
  if (a != 0xab || b != 0x01020304 || c != 0x1122334455667788 || d != "weights" ||
      AsString(e) != "raw!" || !f.empty()) {
    return Internal("read back different values");
  }
  if (!r.done() || r.remaining() != 0) return Corruption("trailing bytes");
  return Status::Ok();
}

TEST(ReaderTest, ReadsWhatThePutFunctionsWrite) {
  const Bytes b = Sample();
  WFS_EXPECT_OK(ReadAll(b));
  // Little-endian, as documented.
  Reader r(b);
  ASSERT_TRUE(r.U8().ok());
  EXPECT_EQ(b[1], 0x04);
  EXPECT_EQ(b[4], 0x01);
  EXPECT_EQ(*r.U32(), 0x01020304u);
  EXPECT_EQ(r.remaining(), b.size() - 5);
}

TEST(ReaderTest, EveryTruncationIsCorruption) {
  const Bytes b = Sample();
  testing::ExpectTruncationsRejected(ReadAll, DecoderContract{}, b);
}

TEST(ReaderTest, EmptyInputFailsEveryReadWithoutMoving) {
  Reader r{ByteView()};
  EXPECT_TRUE(r.done());
  EXPECT_CODE(r.U8(), Code::kCorruption);
  EXPECT_CODE(r.U32(), Code::kCorruption);
  EXPECT_CODE(r.U64(), Code::kCorruption);
  EXPECT_CODE(r.Raw(1), Code::kCorruption);
  EXPECT_CODE(r.LengthPrefixed(), Code::kCorruption);
  EXPECT_CODE(r.String(), Code::kCorruption);
  EXPECT_TRUE(r.Raw(0).ok());
  EXPECT_TRUE(r.done());
}

TEST(ReaderTest, AShortReadFailsAndLeavesTheRestReadable) {
  const Bytes b = {1, 2, 3};
  Reader r(b);
  EXPECT_CODE(r.U32(), Code::kCorruption);
  EXPECT_CODE(r.U64(), Code::kCorruption);
  EXPECT_CODE(r.Raw(4), Code::kCorruption);
  EXPECT_EQ(r.remaining(), 3u);
  ASSERT_TRUE(r.Raw(3).ok());
  EXPECT_TRUE(r.done());
}

TEST(ReaderTest, HugeLengthsAreCorruptionWithoutAllocating) {
  for (uint32_t claimed : {4u, 1000u, 1u << 31, std::numeric_limits<uint32_t>::max()}) {
    SCOPED_TRACE("claimed length " + std::to_string(claimed));
    Bytes b = LittleEndian(claimed, 4);
    PutBytes(&b, AsBytes("abc"));
    AllocationProbe probe;
    Reader r(b);
    EXPECT_CODE(r.String(), Code::kCorruption);
    Reader again(b);
    EXPECT_CODE(again.LengthPrefixed(), Code::kCorruption);
    EXPECT_LT(probe.largest(), size_t{1} << 16);
  }
  const Bytes sample = Sample();
  Reader r(sample);
  EXPECT_CODE(r.Raw(std::numeric_limits<size_t>::max()), Code::kCorruption);
  EXPECT_CODE(r.Raw(std::numeric_limits<size_t>::max() - 1), Code::kCorruption);
  EXPECT_EQ(r.remaining(), sample.size());
}

// A program of reads driven by the input itself (as fuzz/reader_fuzzer.cc does): each byte picks
// the next read. Whatever the input, reads fail only with kCorruption, the position only moves
// forward, and no read hands out more than was left.
Status RunProgram(ByteView input) {
  Reader r(input);
  for (int step = 0; step < 64 && !r.done(); ++step) {
    const size_t before = r.remaining();
    auto op = r.U8();
    if (!op.ok()) return Internal("a byte is left but U8 failed");
    Status s;
    size_t handed_out = 0;
    switch (*op % 6) {
      case 0:
        s = r.U8().status();
        break;
      case 1:
        s = r.U32().status();
        break;
      case 2:
        s = r.U64().status();
        break;
      case 3: {
        auto v = r.Raw(*op / 6);
        s = v.status();
        if (v.ok()) handed_out = v->size();
        break;
      }
      case 4: {
        auto v = r.LengthPrefixed();
        s = v.status();
        if (v.ok()) handed_out = v->size();
        break;
      }
      default:
        s = r.String().status();
        break;
    }
    if (r.remaining() > before || handed_out > before) return Internal("read past the input");
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

TEST(ReaderTest, RandomProgramsStayInBounds) {
  const uint64_t seed = testing::TestSeed();
  testing::ExpectRandomInputsSafe(RunProgram, DecoderContract{}, {Sample()}, seed, 4000);
}

// The probe the decoder tests rely on sees allocations (where the build measures them at all).
TEST(AllocationProbeTest, SeesTheLargestAllocationOfItsThread) {
  if (!AllocationProbe::Available()) GTEST_SKIP() << "a sanitizer owns the allocator";
  AllocationProbe outer;
  {
    AllocationProbe inner;
    Bytes big(size_t{1} << 20);
    EXPECT_GE(inner.largest(), big.size());
    EXPECT_GE(inner.total(), big.size());
  }
  EXPECT_EQ(outer.largest(), 0u);
  Bytes small(100);
  EXPECT_GE(outer.largest(), small.size());
  EXPECT_LT(outer.largest(), size_t{1} << 20);
}

TEST(HexTest, DecodesBothCasesAndRoundTrips) {
  WFS_ASSERT_OK_AND_ASSIGN(Bytes b, FromHex("00ffAb7f"));
  EXPECT_EQ(b, (Bytes{0x00, 0xff, 0xab, 0x7f}));
  EXPECT_EQ(ToHex(b), "00ffab7f");
  WFS_ASSERT_OK_AND_ASSIGN(Bytes empty, FromHex(""));
  EXPECT_TRUE(empty.empty());
}

TEST(HexTest, RejectsOddLengthsAndNonHexDigits) {
  for (const char* bad : {"0", "abc", "0g", "g0", "  ", "0x12", "12\n"}) {
    EXPECT_CODE(FromHex(bad), Code::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_CODE(FromHex(std::string_view("ab\0d", 4)), Code::kInvalidArgument);
}

TEST(HexTest, ObjectIdsNeedExactly64HexDigits) {
  const std::string hex(64, 'a');
  WFS_ASSERT_OK_AND_ASSIGN(ObjectId id, ObjectId::FromHex(hex));
  EXPECT_EQ(id.Hex(), hex);
  EXPECT_CODE(ObjectId::FromHex(hex.substr(1)), Code::kInvalidArgument);
  EXPECT_CODE(ObjectId::FromHex(hex + "aa"), Code::kInvalidArgument);
  EXPECT_CODE(ObjectId::FromHex(std::string(63, 'a') + "z"), Code::kInvalidArgument);
  EXPECT_CODE(ObjectId::FromBytes(Bytes(31, 0)), Code::kCorruption);
  EXPECT_CODE(ObjectId::FromBytes(Bytes(33, 0)), Code::kCorruption);
}

TEST(HexTest, RandomStringsDecodeOrFailCleanly) {
  const uint64_t seed = testing::TestSeed();
  WFS_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const std::string alphabet = "0123456789abcdefABCDEFxg \n";
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 80, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    auto b = FromHex(s);
    if (b.ok()) {
      ASSERT_EQ(b->size() * 2, s.size()) << s;
      ASSERT_TRUE(FromHex(ToHex(*b)).ok()) << s;
    } else {
      ASSERT_EQ(b.status().code(), Code::kInvalidArgument) << s;
    }
    auto id = ObjectId::FromHex(s);
    if (id.ok()) {
      ASSERT_EQ(s.size(), 64u) << s;
    }
  }
}

}  // namespace
}  // namespace weightfs
