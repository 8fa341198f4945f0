#include "weightfs/repo/safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "support/safetensors_gen.h"
#include "weightfs/repo/chunker.h"

namespace weightfs::repo {
namespace {

using testgen::GenTensor;
using testgen::MakeSafetensors;
using testgen::SafetensorsPrefix;

constexpr ChunkerParams kSmall{16 * 1024, 64 * 1024, 256 * 1024};

uint64_t TestSeed() {
  const char* env = std::getenv("WEIGHTFS_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 0x5eed2026;
}
#define TRACE_SEED(seed) SCOPED_TRACE("seed=" + std::to_string(seed) + " (WEIGHTFS_TEST_SEED)")

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// ---- Header parsing ----

TEST(SafetensorsHeaderEndTest, Plausibility) {
  EXPECT_EQ(SafetensorsHeaderEnd(SafetensorsPrefix("{}")), 10u);
  EXPECT_EQ(SafetensorsHeaderEnd(SafetensorsPrefix("{\"a\":1}")), 15u);
  EXPECT_EQ(SafetensorsHeaderEnd(ByteView(SafetensorsPrefix("{}")).first(8)), std::nullopt);
  EXPECT_EQ(SafetensorsHeaderEnd({}), std::nullopt);
  EXPECT_EQ(SafetensorsHeaderEnd(SafetensorsPrefix("[]")), std::nullopt);
  EXPECT_EQ(SafetensorsHeaderEnd(SafetensorsPrefix(" {}")), std::nullopt);
  Bytes one = SafetensorsPrefix("{");
  EXPECT_EQ(SafetensorsHeaderEnd(one), std::nullopt);  // N = 1: cannot be a JSON object
  Bytes huge;
  PutU64(&huge, (100 << 20) + 1);
  huge.push_back('{');
  EXPECT_EQ(SafetensorsHeaderEnd(huge), std::nullopt);
  Bytes limit;
  PutU64(&limit, 100 << 20);
  limit.push_back('{');
  EXPECT_EQ(SafetensorsHeaderEnd(limit), 8u + (100 << 20));
  EXPECT_EQ(SafetensorsHeaderEnd(ToBytes("GGUF\x03\0\0\0\0\0")), std::nullopt);
}

TEST(SafetensorsParseTest, ValidHeader) {
  // Written out of order, with metadata and trailing padding as real files have.
  const std::string json = R"({"z.weight":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
                           R"("__metadata__":{"format":"pt"},)"
                           R"("a.bias":{"dtype":"F32","shape":[3],"data_offsets":[12,24]},)"
                           R"("scalar":{"dtype":"F64","shape":[],"data_offsets":[24,32]},)"
                           R"("empty":{"dtype":"F32","shape":[0,4],"data_offsets":[32,32]}}   )";
  Bytes file = SafetensorsPrefix(json);
  const uint64_t header_end = file.size();
  file.resize(file.size() + 32, 0xab);  // data after the header is ignored
  Result<SafetensorsHeader> h = ParseSafetensorsHeader(file);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->header_end, header_end);
  ASSERT_EQ(h->tensors.size(), 4u);
  EXPECT_EQ(h->tensors[0].name, "z.weight");
  EXPECT_EQ(h->tensors[0].dtype, "BF16");
  EXPECT_EQ(h->tensors[0].shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(h->tensors[0].begin, header_end);
  EXPECT_EQ(h->tensors[0].end, header_end + 12);
  EXPECT_EQ(h->tensors[1].name, "a.bias");
  EXPECT_EQ(h->tensors[1].begin, header_end + 12);
  EXPECT_EQ(h->tensors[2].name, "scalar");
  EXPECT_TRUE(h->tensors[2].shape.empty());
  EXPECT_EQ(h->tensors[3].name, "empty");
  EXPECT_EQ(h->tensors[3].begin, h->tensors[3].end);
}

TEST(SafetensorsParseTest, EmptyHeaderAndMetadataOnly) {
  Result<SafetensorsHeader> h = ParseSafetensorsHeader(SafetensorsPrefix("{}"));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->header_end, 10u);
  EXPECT_TRUE(h->tensors.empty());
  h = ParseSafetensorsHeader(SafetensorsPrefix(R"({"__metadata__":{"k":"v"}})"));
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->tensors.empty());
}

TEST(SafetensorsParseTest, GeneratorRoundTrip) {
  std::vector<GenTensor> tensors = {{"x", "F16", {2, 2}, Bytes(8, 1)},
                                    {"we\"ird\\name\n", "U8", {5}, Bytes(5, 2)}};
  const Bytes file = MakeSafetensors(tensors, {{"format", "pt"}});
  Result<SafetensorsHeader> h = ParseSafetensorsHeader(file);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->header_end % 8, 0u);
  ASSERT_EQ(h->tensors.size(), 2u);
  EXPECT_EQ(h->tensors[1].name, "we\"ird\\name\n");
  EXPECT_EQ(h->tensors[1].end, file.size());
  EXPECT_EQ(SafetensorsHeaderEnd(file), h->header_end);
}

TEST(SafetensorsParseTest, Errors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"malformed JSON", R"({"a":{"dtype":"F32",)"},
      {"trailing garbage", R"({} x)"},
      {"not an object", R"([1,2])"},
      {"entry not an object", R"({"a":[1,2]})"},
      {"missing dtype", R"({"a":{"shape":[1],"data_offsets":[0,4]}})"},
      {"dtype not a string", R"({"a":{"dtype":3,"shape":[1],"data_offsets":[0,4]}})"},
      {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,4]}})"},
      {"shape not an array", R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})"},
      {"negative dimension", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"},
      {"fractional dimension", R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"},
      {"missing offsets", R"({"a":{"dtype":"F32","shape":[1]}})"},
      {"one offset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})"},
      {"three offsets", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})"},
      {"negative offset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}})"},
      {"string offset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}})"},
      {"begin after end", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"},
      {"offset overflows",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})"},
      {"offset beyond u64",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}})"},
  };
  for (const auto& [what, json] : cases) {
    Result<SafetensorsHeader> h = ParseSafetensorsHeader(SafetensorsPrefix(json));
    ASSERT_FALSE(h.ok()) << what;
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument) << what;
    EXPECT_NE(h.status().message().find("safetensors"), std::string::npos)
        << what << ": " << h.status().message();
  }
}

TEST(SafetensorsParseTest, Truncated) {
  const Bytes full = SafetensorsPrefix(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})");
  for (size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{20}, full.size() - 1}) {
    Result<SafetensorsHeader> h = ParseSafetensorsHeader(ByteView(full).first(n));
    ASSERT_FALSE(h.ok()) << n;
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument);
    EXPECT_NE(h.status().message().find("truncated"), std::string::npos) << h.status().message();
  }
  Bytes huge;
  PutU64(&huge, uint64_t{1} << 62);
  huge.push_back('{');
  EXPECT_EQ(ParseSafetensorsHeader(huge).status().code(), Code::kInvalidArgument);
}

// ---- Chunking safetensors files ----

std::vector<std::string> ChunkFile(ByteView data, bool detect, size_t write_size = SIZE_MAX) {
  std::vector<std::string> chunks;
  Chunker chunker(kSmall, MakeGearTable(Bytes(32, 7)), detect, [&](ByteView c) {
    chunks.emplace_back(AsString(c));
    return Status::Ok();
  });
  for (size_t pos = 0; pos < data.size(); pos += write_size) {
    EXPECT_TRUE(chunker.Write(data.subspan(pos, std::min(write_size, data.size() - pos))).ok());
  }
  EXPECT_TRUE(chunker.Finish().ok());
  return chunks;
}

struct Span {
  uint64_t begin, end;
  std::string bytes;
};

std::vector<Span> Spans(const std::vector<std::string>& chunks) {
  std::vector<Span> spans;
  uint64_t off = 0;
  for (const std::string& c : chunks) {
    spans.push_back({off, off + c.size(), c});
    off += c.size();
  }
  return spans;
}

void ExpectCutsAtBoundaries(const std::vector<Span>& spans, const SafetensorsHeader& h) {
  std::set<uint64_t> ends;
  for (const Span& s : spans) ends.insert(s.end);
  EXPECT_TRUE(ends.contains(h.header_end));
  for (const TensorInfo& t : h.tensors) {
    EXPECT_TRUE(t.begin == 0 || ends.contains(t.begin)) << t.name << " begins at " << t.begin;
    EXPECT_TRUE(ends.contains(t.end)) << t.name << " ends at " << t.end;
  }
}

std::vector<GenTensor> VariedTensors(std::mt19937_64& rng) {
  // Sizes below min_size (16K), between, and beyond max_size (256K); one empty.
  const std::vector<size_t> sizes = {100, 3000,  20000, 300000, 500,   1200000,
                                     8,   70000, 0,     150000, 600000};
  std::vector<GenTensor> tensors;
  for (size_t i = 0; i < sizes.size(); ++i) {
    tensors.push_back({"model.layers." + std::to_string(i) + ".weight",
                       "BF16",
                       {sizes[i] / 2, 2},
                       RandomBytes(rng, sizes[i])});
  }
  return tensors;
}

TEST(SafetensorsChunkingTest, UnchangedTensorsDedupWhenHeaderGrowsAndATensorChanges) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  std::vector<GenTensor> tensors = VariedTensors(rng);
  const Bytes file_a = MakeSafetensors(tensors, {{"format", "pt"}});

  constexpr size_t kChanged = 3;
  for (size_t i = 1000; i < tensors[kChanged].data.size(); i += 97000) {
    tensors[kChanged].data[i] ^= 0x5a;
  }
  const Bytes file_b =
      MakeSafetensors(tensors, {{"format", "pt"}, {"note", std::string(1234, 'x')}});

  Result<SafetensorsHeader> ha = ParseSafetensorsHeader(file_a);
  Result<SafetensorsHeader> hb = ParseSafetensorsHeader(file_b);
  ASSERT_TRUE(ha.ok() && hb.ok());
  ASSERT_GT(hb->header_end, ha->header_end);  // all data shifted

  const auto spans_a = Spans(ChunkFile(file_a, true));
  const auto spans_b = Spans(ChunkFile(file_b, true, 65537));
  ExpectCutsAtBoundaries(spans_a, *ha);
  ExpectCutsAtBoundaries(spans_b, *hb);

  std::unordered_set<std::string> known;
  for (const Span& s : spans_a) known.insert(s.bytes);

  const TensorInfo& changed = hb->tensors[kChanged];
  ASSERT_EQ(changed.name, "model.layers.3.weight");
  uint64_t new_bytes = 0;
  for (const Span& s : spans_b) {
    const bool is_new = !known.contains(s.bytes);
    if (is_new) new_bytes += s.bytes.size();
    const bool in_header = s.begin < hb->header_end;
    const bool in_changed = s.begin < changed.end && changed.begin < s.end;
    if (!in_header && !in_changed) {
      EXPECT_FALSE(is_new) << "chunk [" << s.begin << ", " << s.end
                           << ") of an unchanged tensor did not dedup";
    }
  }
  EXPECT_LE(new_bytes, hb->header_end + (changed.end - changed.begin));
  EXPECT_GT(new_bytes, hb->header_end);  // the edit is seen
}

TEST(SafetensorsChunkingTest, SameCutsWhateverTheWriteSplit) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes file = MakeSafetensors(VariedTensors(rng));
  const auto whole = ChunkFile(file, true);
  EXPECT_EQ(ChunkFile(file, true, 1), whole);
  EXPECT_EQ(ChunkFile(file, true, 5), whole);
  EXPECT_EQ(ChunkFile(file, true, 4096), whole);
  EXPECT_NE(ChunkFile(file, false), whole);  // detection did something
}

TEST(SafetensorsChunkingTest, HeaderLongerThanMaxChunk) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes file = MakeSafetensors(VariedTensors(rng), {{"big", std::string(600000, 'm')}});
  Result<SafetensorsHeader> h = ParseSafetensorsHeader(file);
  ASSERT_TRUE(h.ok());
  ASSERT_GT(h->header_end, kSmall.max_size);
  const auto chunks = ChunkFile(file, true, 10000);
  std::string all;
  for (const auto& c : chunks) {
    EXPECT_LE(c.size(), kSmall.max_size);
    all += c;
  }
  EXPECT_EQ(all, AsString(file));
  ExpectCutsAtBoundaries(Spans(chunks), *h);
}

TEST(SafetensorsChunkingTest, LookalikesAreChunkedByContent) {
  const uint64_t seed = TestSeed();
  TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes body = RandomBytes(rng, 1 << 20);
  std::vector<std::pair<std::string, Bytes>> files;
  // Plausible length and brace, then garbage instead of JSON.
  Bytes bad_json = SafetensorsPrefix("{ not json at all, but 40 bytes long....");
  bad_json.insert(bad_json.end(), body.begin(), body.end());
  files.emplace_back("bad JSON", bad_json);
  // Valid JSON that is not a safetensors header.
  Bytes wrong_schema = SafetensorsPrefix(R"({"a": 1})");
  wrong_schema.insert(wrong_schema.end(), body.begin(), body.end());
  files.emplace_back("wrong schema", wrong_schema);
  // A header that claims more bytes than the file has.
  Bytes truncated;
  PutU64(&truncated, 50 << 20);
  truncated.push_back('{');
  truncated.insert(truncated.end(), body.begin(), body.end());
  files.emplace_back("header longer than the file", truncated);
  // A real file cut off inside its header.
  const Bytes real = MakeSafetensors(VariedTensors(rng), {{"pad", std::string(5000, 'p')}});
  files.emplace_back("cut inside the header", Bytes(real.begin(), real.begin() + 3000));
  files.emplace_back("8 bytes", Bytes(real.begin(), real.begin() + 8));

  for (const auto& [what, file] : files) {
    SCOPED_TRACE(what);
    const auto plain = ChunkFile(file, false);
    for (size_t write_size : {size_t{1}, size_t{777}, SIZE_MAX}) {
      const auto detected = ChunkFile(file, true, write_size);
      EXPECT_EQ(detected, plain);
    }
  }
}

}  // namespace
}  // namespace weightfs::repo
