// Chunker: gear tables, the cut rule, size limits and write-split independence.
#include "weightfs/repo/chunker.h"

#include "repo/chunker_test_util.h"

namespace weightfs::repo {
namespace {

using namespace chunker_test;  // NOLINT(google-build-using-namespace): the shared fixture

TEST(GearTableTest, DeterministicAndSeedDependent) {
  const GearTable a = TestGear(1);
  EXPECT_EQ(a, TestGear(1));
  EXPECT_NE(a, TestGear(2));
  Bytes seed(32, 1);
  seed[31] ^= 0x80;  // one bit
  const GearTable b = MakeGearTable(seed);
  int equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  EXPECT_EQ(equal, 0);
  // Lengths matter too: a zero byte appended is a different seed.
  EXPECT_NE(MakeGearTable(Bytes(31, 0)), MakeGearTable(Bytes(32, 0)));
  // Roughly balanced bits.
  int ones = 0;
  for (uint64_t v : a) ones += std::popcount(v);
  EXPECT_NEAR(ones, 256 * 32, 400);
}

// The gear table decides every cut point, so it is part of the format: if this changes, new
// chunks stop deduplicating against existing repositories.
TEST(GearTableTest, KnownAnswer) {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i);
  const GearTable t = MakeGearTable(seed);
  EXPECT_EQ(t[0], 7354956336302264744ULL);
  EXPECT_EQ(t[1], 14439921408770496067ULL);
  EXPECT_EQ(t[255], 8439824645542088079ULL);
  EXPECT_EQ(MakeGearTable({})[0], 4870134531018594177ULL);
}

// Likewise the cut rule (masks, min skip, normalization): pinned on fixed pseudo-random data.
TEST(ChunkerTest, KnownCutPoints) {
  std::mt19937_64 rng(42);  // the standard fixes mt19937_64's output
  Bytes data(8 << 20);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng() >> 56);
  ChunkOptions o;
  o.params = ChunkerParams{};
  const auto ends = Ends(ChunkAll(data, o));
  ASSERT_GE(ends.size(), 5u);
  EXPECT_EQ(std::vector<uint64_t>(ends.begin(), ends.begin() + 5),
            (std::vector<uint64_t>{713982, 1109833, 2106336, 3185114, 4569350}));
  EXPECT_EQ(ends.size(), 9u);
}

// The cut rule as chunker.cc's file comment states it, one byte at a time, with nothing carried
// between writes: the chunker (unrolled, resumed across writes) must find exactly these cuts.
std::vector<uint64_t> ReferenceEnds(ByteView data, const ChunkerParams& p, const GearTable& gear) {
  const int bits = std::countr_zero(p.avg_size);
  const uint64_t small = ~uint64_t{0} << (64 - (bits + 2));
  const uint64_t large = ~uint64_t{0} << (64 - (bits - 2));
  std::vector<uint64_t> ends;
  for (size_t start = 0; start < data.size();) {
    const size_t limit = std::min<size_t>(p.max_size, data.size() - start);
    size_t cut = limit;
    uint64_t h = 0;
    for (size_t i = p.min_size; i < limit; ++i) {
      h = (h << 1) + gear[data[start + i]];
      if ((h & (i < p.avg_size ? small : large)) == 0) {
        cut = i + 1;
        break;
      }
    }
    start += cut;
    ends.push_back(start);
  }
  return ends;
}

TEST(ChunkerTest, CutsFollowTheRuleByteForByte) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  // Random bytes, and bytes from a small alphabet (cuts cluster, also near lane boundaries).
  Bytes data = RandomBytes(rng, 24 << 20);
  for (size_t i = 12 << 20; i < data.size(); ++i) data[i] &= 3;
  for (const ChunkerParams& params : {kSmall, ChunkerParams{}, ChunkerParams{4096, 8192, 65536}}) {
    const std::vector<uint64_t> want = ReferenceEnds(data, params, TestGear());
    for (const SplitFn& split : {Whole(), Fixed(5000), RandomSplit(seed, 300000)}) {
      ChunkOptions o;
      o.params = params;
      o.split = split;
      EXPECT_EQ(Ends(ChunkAll(data, o)), want) << "avg " << params.avg_size;
    }
  }
}

TEST(ChunkerParamsTest, Validate) {
  EXPECT_TRUE(ValidateChunkerParams(ChunkerParams{}).ok());
  EXPECT_TRUE(ValidateChunkerParams({64 * 1024, 64 * 1024, 64 * 1024}).ok());
  EXPECT_TRUE(ValidateChunkerParams({1 << 20, 1 << 24, 64 << 20}).ok());
  EXPECT_EQ(ValidateChunkerParams({2 << 20, 1 << 20, 4 << 20}).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateChunkerParams({256 << 10, 1 << 20, 512 << 10}).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateChunkerParams({256 << 10, 3 << 20, 4 << 20}).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateChunkerParams(kSmall).code(), Code::kInvalidArgument);  // min < 64 KiB
  EXPECT_EQ(ValidateChunkerParams({1 << 20, 1 << 20, 128 << 20}).code(), Code::kInvalidArgument);
}

TEST(ChunkerTest, EmptyStreamEmitsNothing) {
  EXPECT_TRUE(ChunkAll({}, {}).empty());
  ChunkOptions o;
  o.detect_safetensors = true;
  EXPECT_TRUE(ChunkAll({}, o).empty());
}

TEST(ChunkerTest, ShortStreamIsOneChunk) {
  const Bytes data = ToBytes("hello");
  const auto chunks = ChunkAll(data, {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], "hello");
}

TEST(ChunkerTest, SizesRespectedAndConcatenationIsInput) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 8 << 20);
  const auto chunks = ChunkAll(data, {});
  EXPECT_EQ(Concat(chunks), AsString(data));
  ExpectSizesRespected(chunks, kSmall);
  EXPECT_GT(chunks.size(), 8u << 20 >> 18);  // more than if every chunk had max size
}

TEST(ChunkerTest, MaxSizeCutsOnConstantData) {
  // Constant bytes: h converges to a fixed value, so either every position cuts or none does;
  // either way sizes stay within bounds.
  for (uint8_t b : {0, 1, 0xff}) {
    const Bytes data(3 << 20, b);
    const auto chunks = ChunkAll(data, {});
    EXPECT_EQ(Concat(chunks).size(), data.size());
    ExpectSizesRespected(chunks, kSmall);
  }
}

TEST(ChunkerTest, SameCutsWhateverTheWriteSplit) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 2 << 20);
  const std::vector<uint64_t> forced = {1000, 5000, 300000, 300001, 1 << 20};
  for (bool with_forced : {false, true}) {
    SCOPED_TRACE(with_forced ? "with forced cuts" : "content only");
    ChunkOptions o;
    if (with_forced) o.forced = forced;
    const auto expected = Ends(ChunkAll(data, o));
    for (auto [name, split] : std::vector<std::pair<std::string, SplitFn>>{
             {"1 byte", Fixed(1)},
             {"1000 bytes", Fixed(1000)},
             {"random up to 100K", RandomSplit(seed, 100000)},
             {"random up to 1M", RandomSplit(seed + 1, 1 << 20)},
             {"whole", Whole()}}) {
      SCOPED_TRACE(name);
      o.split = split;
      EXPECT_EQ(Ends(ChunkAll(data, o)), expected);
    }
  }
}

TEST(ChunkerTest, DifferentSeedsGiveDifferentCuts) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 4 << 20);
  ChunkOptions a, b;
  b.gear = TestGear(2);
  const auto ends_a = Ends(ChunkAll(data, a));
  const auto ends_b = Ends(ChunkAll(data, b));
  std::set<uint64_t> common(ends_a.begin(), ends_a.end());
  size_t shared = 0;
  for (uint64_t e : ends_b) shared += common.contains(e);
  // Only the end of the stream (and by rare chance a max_size cut) is shared.
  EXPECT_LE(shared, 3u) << "of " << ends_a.size() << " and " << ends_b.size() << " cuts";
}

}  // namespace
}  // namespace weightfs::repo
