// Chunker: resynchronisation after edits, average sizes, forced cuts, errors and throughput.
#include "weightfs/repo/chunker.h"

#include "repo/chunker_test_util.h"

namespace weightfs::repo {
namespace {

using namespace chunker_test;  // NOLINT(google-build-using-namespace): the shared fixture

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
