#include "weightfs/repo/chunker.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace weightfs::repo {
namespace {

// Small sizes keep the tests fast while giving many chunks (below ValidateChunkerParams' limits,
// which the Chunker itself does not require).
constexpr ChunkerParams kSmall{16 * 1024, 64 * 1024, 256 * 1024};

// Seeded randomness: WEIGHTFS_TEST_SEED overrides the fixed default; the seed is in every
// failure message via SCOPED_TRACE.
uint64_t TestSeed() {
  const char* env = std::getenv("WEIGHTFS_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 0x5eed2026;
}
#define TRACE_SEED(seed) SCOPED_TRACE("seed=" + std::to_string(seed) + " (WEIGHTFS_TEST_SEED)")

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

GearTable TestGear(uint8_t tag = 1) {
  Bytes seed(32, tag);
  return MakeGearTable(seed);
}

// Returns the size of the next Write() given how many bytes remain.
using SplitFn = std::function<size_t(size_t remaining)>;
SplitFn Whole() {
  return [](size_t r) { return r; };
}
SplitFn Fixed(size_t n) {
  return [n](size_t r) { return std::min(n, r); };
}
SplitFn RandomSplit(uint64_t seed, size_t max) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng, max](size_t r) { return std::min<size_t>(r, 1 + (*rng)() % max); };
}

struct ChunkOptions {
  ChunkerParams params = kSmall;
  GearTable gear = TestGear();
  bool detect_safetensors = false;
  std::vector<uint64_t> forced;
  SplitFn split = Whole();
};

std::vector<std::string> ChunkAll(ByteView data, const ChunkOptions& o) {
  std::vector<std::string> chunks;
  Chunker chunker(o.params, o.gear, o.detect_safetensors, [&](ByteView c) {
    chunks.emplace_back(AsString(c));
    return Status::Ok();
  });
  for (uint64_t f : o.forced) chunker.AddForcedCut(f);
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t n = o.split(data.size() - pos);
    EXPECT_TRUE(chunker.Write(data.subspan(pos, n)).ok());
    pos += n;
  }
  EXPECT_TRUE(chunker.Finish().ok());
  EXPECT_EQ(chunker.bytes_written(), data.size());
  return chunks;
}

std::vector<uint64_t> Ends(const std::vector<std::string>& chunks) {
  std::vector<uint64_t> ends;
  ends.reserve(chunks.size());
  uint64_t off = 0;
  for (const std::string& c : chunks) ends.push_back(off += c.size());
  return ends;
}

std::string Concat(const std::vector<std::string>& chunks) {
  std::string all;
  for (const std::string& c : chunks) all += c;
  return all;
}

std::vector<size_t> Hashes(const std::vector<std::string>& chunks) {
  std::vector<size_t> h;
  h.reserve(chunks.size());
  for (const std::string& c : chunks) h.push_back(std::hash<std::string>{}(c));
  return h;
}

// Every chunk but the last and those ending at a forced cut lies within [min, max]; none is
// empty or longer than max.
void ExpectSizesRespected(const std::vector<std::string>& chunks, const ChunkerParams& p,
                          const std::set<uint64_t>& forced = {}) {
  uint64_t off = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const size_t n = chunks[i].size();
    off += n;
    ASSERT_GT(n, 0u) << "chunk " << i;
    ASSERT_LE(n, p.max_size) << "chunk " << i;
    if (i + 1 < chunks.size() && !forced.contains(off)) {
      ASSERT_GE(n, p.min_size) << "chunk " << i << " ending at " << off;
    }
  }
}

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

// Chunks of `edited` whose hash is not among those of `base`.
size_t NewChunks(const std::vector<std::string>& base, const std::vector<std::string>& edited) {
  const auto h = Hashes(base);
  std::unordered_set<size_t> known(h.begin(), h.end());
  size_t n = 0;
  for (size_t x : Hashes(edited)) n += !known.contains(x);
  return n;
}

// Inserting bytes near the start changes the first chunk or few; the rest is the same sequence.
TEST(ChunkerTest, ResyncsAfterInsertionNearStart) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 4 << 20);
  const auto base = ChunkAll(data, {});
  const auto hb = Hashes(base);
  ASSERT_GT(base.size(), 40u);
  for (size_t at : {size_t{0}, size_t{1000}, size_t{20000}}) {
    for (size_t len : {1, 100, 5000}) {
      SCOPED_TRACE("insert " + std::to_string(len) + " bytes at " + std::to_string(at));
      Bytes edited = data;
      const Bytes extra = RandomBytes(rng, len);
      edited.insert(edited.begin() + at, extra.begin(), extra.end());
      const auto chunks = ChunkAll(edited, {});
      EXPECT_EQ(Concat(chunks), AsString(edited));
      const auto he = Hashes(chunks);
      const size_t n = std::min(hb.size(), he.size());
      size_t same_prefix = 0, same_suffix = 0;
      while (same_prefix < n && hb[same_prefix] == he[same_prefix]) ++same_prefix;
      while (same_suffix < n - same_prefix &&
             hb[hb.size() - 1 - same_suffix] == he[he.size() - 1 - same_suffix]) {
        ++same_suffix;
      }
      // Usually one chunk differs; when the edit moves a cut, the two chains of cuts run apart
      // for a few chunks (each step meets again with probability about 1/2) before meeting.
      const size_t changed = hb.size() - same_prefix - same_suffix;
      EXPECT_LE(changed, 12u);
      EXPECT_LE(same_prefix, 1u);                   // the edit is in the first chunk or the second
      EXPECT_EQ(NewChunks(chunks, base), changed);  // all the rest is reused, in order
    }
  }
}

// Over many independent random edits, few chunks are lost on average.
TEST(ChunkerTest, ResyncsAfterRandomEdits) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 4 << 20);
  const auto base = ChunkAll(data, {});
  constexpr int kEdits = 40;
  size_t total_lost = 0, max_lost = 0;
  for (int i = 0; i < kEdits; ++i) {
    const size_t at = rng() % data.size();
    const size_t len = 1 + rng() % 5000;
    Bytes edited = data;
    const char* kind = "";
    switch (rng() % 3) {
      case 0: {
        kind = "insert";
        const Bytes extra = RandomBytes(rng, len);
        edited.insert(edited.begin() + at, extra.begin(), extra.end());
        break;
      }
      case 1:
        kind = "delete";
        edited.erase(edited.begin() + at, edited.begin() + std::min(at + len, edited.size()));
        break;
      default:
        kind = "overwrite";
        for (size_t k = at; k < std::min(at + len, edited.size()); ++k) edited[k] ^= 0xa5;
    }
    SCOPED_TRACE(std::string(kind) + " " + std::to_string(len) + " at " + std::to_string(at));
    const auto chunks = ChunkAll(edited, {});
    EXPECT_EQ(Concat(chunks), AsString(edited));
    const size_t lost = NewChunks(chunks, base);
    EXPECT_LE(lost, 15u);
    total_lost += lost;
    max_lost = std::max(max_lost, lost);
  }
  const double mean = static_cast<double>(total_lost) / kEdits;
  std::printf("[ info ] %.2f old chunks lost per edit on average (max %zu) of %zu\n", mean,
              max_lost, base.size());
  // About 1.3 expected; with no resync it would be about half of all chunks (~30).
  EXPECT_LE(mean, 2.5);
}

void ExpectAverageNear(const ChunkerParams& p, size_t total, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, total);
  ChunkOptions o;
  o.params = p;
  const auto chunks = ChunkAll(data, o);
  ExpectSizesRespected(chunks, p);
  const double mean = static_cast<double>(total) / static_cast<double>(chunks.size());
  std::printf("[ info ] %zu chunks, mean %.0f bytes (avg_size %u)\n", chunks.size(), mean,
              p.avg_size);
  EXPECT_GT(mean, p.avg_size * 0.5);
  EXPECT_LT(mean, p.avg_size * 2.0);
}

TEST(ChunkerTest, AverageSizeSmallParams) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  ExpectAverageNear(kSmall, 32 << 20, seed);
}

TEST(ChunkerTest, AverageSizeDefaultParams) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  ExpectAverageNear(ChunkerParams{}, 32 << 20, seed);
}

TEST(ChunkerTest, ForcedCutsAreExact) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 4 << 20);
  ChunkOptions o;
  // Close together, right after one another, below min, beyond max apart, and past the end.
  o.forced = {1, 2, 100, 16384, 16385, 50000, 700000, 700010, 2000000, 4 << 20, 5 << 20};
  for (int i = 0; i < 20; ++i) o.forced.push_back(rng() % data.size());
  const auto chunks = ChunkAll(data, o);
  EXPECT_EQ(Concat(chunks), AsString(data));
  const auto ends = Ends(chunks);
  const std::set<uint64_t> end_set(ends.begin(), ends.end());
  const std::set<uint64_t> forced(o.forced.begin(), o.forced.end());
  for (uint64_t f : forced) {
    if (f <= data.size()) {
      EXPECT_TRUE(end_set.contains(f)) << "no cut at forced offset " << f;
    }
  }
  ExpectSizesRespected(chunks, kSmall, forced);
}

TEST(ChunkerTest, ContentAfterForcedCutChunksIndependentlyOfWhatPrecedes) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes tail = RandomBytes(rng, 2 << 20);
  std::vector<std::string> tails;
  for (size_t prefix_len : {size_t{0}, size_t{7}, size_t{20000}, size_t{300001}}) {
    Bytes data = RandomBytes(rng, prefix_len);
    data.insert(data.end(), tail.begin(), tail.end());
    ChunkOptions o;
    o.forced = {prefix_len};
    o.split = RandomSplit(seed + prefix_len, 70000);
    const auto chunks = ChunkAll(data, o);
    const auto ends = Ends(chunks);
    std::vector<std::string> after;
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (ends[i] > prefix_len) after.push_back(chunks[i]);
    }
    if (tails.empty()) {
      tails = after;
    } else {
      EXPECT_EQ(after, tails) << "prefix " << prefix_len;
    }
  }
}

TEST(ChunkerTest, LateForcedCutSameAsEarly) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 3 << 20);
  for (int trial = 0; trial < 20; ++trial) {
    // Write a prefix, then add a cut somewhere in the pending (possibly already scanned)
    // bytes or beyond them, then write the rest.
    const size_t written = 1 + rng() % (data.size() - 1);
    std::vector<std::string> chunks;
    uint64_t emitted = 0;
    Chunker chunker(kSmall, TestGear(), false, [&](ByteView c) {
      chunks.emplace_back(AsString(c));
      emitted += c.size();
      return Status::Ok();
    });
    ASSERT_TRUE(chunker.Write(ByteView(data).first(written)).ok());
    if (emitted + 1 >= data.size()) continue;
    const uint64_t cut = emitted + 1 + rng() % (data.size() - emitted - 1);
    chunker.AddForcedCut(cut);
    chunker.AddForcedCut(emitted);  // at or before the pending chunk's start: ignored
    ASSERT_TRUE(chunker.Write(ByteView(data).subspan(written)).ok());
    ASSERT_TRUE(chunker.Finish().ok());

    ChunkOptions o;
    o.forced = {cut};
    EXPECT_EQ(Ends(chunks), Ends(ChunkAll(data, o)))
        << "wrote " << written << ", cut at " << cut << " after " << emitted << " emitted";
  }
}

TEST(ChunkerTest, EmitErrorStopsTheStream) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 2 << 20);
  int calls = 0;
  Chunker chunker(kSmall, TestGear(), false,
                  [&](ByteView) { return ++calls == 2 ? IoError("disk full") : Status::Ok(); });
  Status s = chunker.Write(data);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(chunker.Write(data).code(), Code::kIoError);
  EXPECT_EQ(chunker.Finish().code(), Code::kIoError);
  EXPECT_EQ(calls, 2);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Not a timed assertion: prints the chunking speed for the record.
TEST(ChunkerTest, Throughput) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 128 << 20);
  const GearTable gear = TestGear();
  for (size_t write_size : {size_t{128} << 10, size_t{1} << 20, data.size()}) {
    size_t chunks = 0;
    uint64_t bytes = 0;
    Chunker chunker(ChunkerParams{}, gear, true, [&](ByteView c) {
      ++chunks;
      bytes += c.size();
      return Status::Ok();
    });
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuSeconds();
    for (size_t pos = 0; pos < data.size(); pos += write_size) {
      ASSERT_TRUE(
          chunker.Write(ByteView(data).subspan(pos, std::min(write_size, data.size() - pos))).ok());
    }
    ASSERT_TRUE(chunker.Finish().ok());
    const double cpu_secs = ThreadCpuSeconds() - cpu_start;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(bytes, data.size());
    const double mbps = static_cast<double>(data.size()) / secs / 1e6;
    // CPU time is the steadier figure on a busy machine.
    std::printf(
        "[ info ] chunker: %zu MiB in %zu KiB writes: %.0f MB/s wall, %.0f MB/s of CPU time "
        "(%zu chunks)\n",
        data.size() >> 20, write_size >> 10, mbps,
        static_cast<double>(data.size()) / cpu_secs / 1e6, chunks);
    RecordProperty("MBps_write_" + std::to_string(write_size >> 10) + "KiB",
                   std::to_string(static_cast<int>(mbps)));
  }
}

}  // namespace
}  // namespace weightfs::repo
