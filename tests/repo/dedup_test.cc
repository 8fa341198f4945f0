// Deduplication across versions of a safetensors file (the default chunker parameters, i.e. the
// real config): a new version whose header grew (every tensor's offset shifts) and one tensor
// changed must cost about that tensor plus the header, not the file. Runs on an in-memory store;
// sizes are those of a small model (~256 MiB in 24 tensors).
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "support/safetensors_gen.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {
namespace {

using testgen::GenTensor;
using testing::Passphrase;
using testing::StoredBytes;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr char kChangedTensor[] = "model.layers.1.self_attn.q_proj.weight";

// BF16 tensors [rows, cols] of a 3-layer model with hidden size 2048: 24 tensors, 256 MiB + 16 KiB.
std::vector<GenTensor> ModelTensors(std::mt19937_64& rng) {
  std::vector<std::pair<std::string, std::vector<uint64_t>>> shapes;
  shapes.push_back({"model.embed_tokens.weight", {10240, 2048}});  // 40 MiB
  for (int layer = 0; layer < 3; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    shapes.push_back({p + "input_layernorm.weight", {2048}});         // 4 KiB
    shapes.push_back({p + "self_attn.q_proj.weight", {2048, 2048}});  // 8 MiB
    shapes.push_back({p + "self_attn.k_proj.weight", {512, 2048}});   // 2 MiB
    shapes.push_back({p + "self_attn.v_proj.weight", {512, 2048}});   // 2 MiB
    shapes.push_back({p + "self_attn.o_proj.weight", {2048, 2048}});  // 8 MiB
    shapes.push_back({p + "mlp.up_proj.weight", {5632, 2048}});       // 22 MiB
    shapes.push_back({p + "mlp.down_proj.weight", {2048, 5632}});     // 22 MiB
  }
  shapes.push_back({"model.norm.weight", {2048}});     // 4 KiB
  shapes.push_back({"lm_head.weight", {6144, 2048}});  // 24 MiB
  std::vector<GenTensor> out;
  for (auto& [name, shape] : shapes) {
    uint64_t elems = 1;
    for (uint64_t d : shape) elems *= d;
    out.push_back(GenTensor{name, "BF16", shape, testing::RandomBytes(rng, elems * 2)});
  }
  return out;
}

// Streams a safetensors file (header, then each tensor in 1 MiB writes) into a new file object,
// as an import would, without building the whole file in memory.
Result<ObjectId> ImportSafetensors(Repository* repo, const std::vector<GenTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata,
                                   FileObject* file, uint64_t* header_end) {
  const Bytes header = testgen::SafetensorsPrefix(testgen::SafetensorsJson(tensors, metadata));
  *header_end = header.size();
  FileWriter w(repo, kLegacyKeyId);
  RETURN_IF_ERROR(w.Write(header));
  for (const GenTensor& t : tensors) {
    for (size_t off = 0; off < t.data.size(); off += kMiB) {
      RETURN_IF_ERROR(
          w.Write(ByteView(t.data).subspan(off, std::min<size_t>(kMiB, t.data.size() - off))));
    }
  }
  ASSIGN_OR_RETURN(ObjectId id, w.Finish());
  *file = w.file();
  return id;
}

TEST(DedupTest, GrownHeaderAndOneChangedTensor) {
  const uint64_t seed = testing::TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();

  testing::SharedStore store;
  InitOptions options = testing::FastInit();
  ASSERT_EQ(options.chunker.avg_size, ChunkerParams{}.avg_size);  // the real chunker config
  REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase("dedup"), options));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, store.Open(Passphrase("dedup")));
  ASSERT_EQ(repo->config().chunker.max_size, 4 * kMiB);

  std::vector<GenTensor> tensors = ModelTensors(rng);
  uint64_t total = 0;
  for (const GenTensor& t : tensors) total += t.data.size();
  ASSERT_EQ(tensors.size(), 24u);
  ASSERT_EQ(total, 256 * kMiB + 16 * kKiB);

  // Version 1.
  const std::map<std::string, std::string> meta1 = {{"format", "pt"}};
  FileObject v1;
  uint64_t header1 = 0;
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId v1_id,
                            ImportSafetensors(repo.get(), tensors, meta1, &v1, &header1));
  const uint64_t stored1 = StoredBytes(store.get());
  EXPECT_GE(stored1, total);  // everything was new
  std::printf("v1: %llu bytes in %zu chunks, stored %llu bytes\n",
              static_cast<unsigned long long>(v1.size), v1.chunks.size(),
              static_cast<unsigned long long>(stored1));

  // Re-importing the identical file stores (almost) nothing.
  FileObject again;
  uint64_t header_again = 0;
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId again_id,
                            ImportSafetensors(repo.get(), tensors, meta1, &again, &header_again));
  EXPECT_EQ(again_id, v1_id);
  const uint64_t stored_again = StoredBytes(store.get());
  EXPECT_LT(stored_again - stored1, v1.size / 100);

  // Version 2: the header grows (so every tensor moves) and one 8 MiB tensor is rewritten.
  std::map<std::string, std::string> meta2 = meta1;
  meta2["training_run"] = "run-2026-03-01/step-120000";
  meta2["notes"] = std::string(300, 'n');
  uint64_t changed = 0;
  for (GenTensor& t : tensors) {
    if (t.name == kChangedTensor) {
      t.data = testing::RandomBytes(rng, t.data.size());
      changed = t.data.size();
    }
  }
  ASSERT_EQ(changed, 8 * kMiB);
  FileObject v2;
  uint64_t header2 = 0;
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId v2_id,
                            ImportSafetensors(repo.get(), tensors, meta2, &v2, &header2));
  ASSERT_NE(v2_id, v1_id);
  ASSERT_GT(header2, header1);  // every tensor's offset shifted
  const uint64_t stored2 = StoredBytes(store.get());
  const uint64_t growth = stored2 - stored_again;
  std::printf(
      "v2: header %llu -> %llu bytes, %zu chunks, growth %llu bytes (changed tensor %llu)\n",
      static_cast<unsigned long long>(header1), static_cast<unsigned long long>(header2),
      v2.chunks.size(), static_cast<unsigned long long>(growth),
      static_cast<unsigned long long>(changed));

  // What v2 may add. Forced cuts at the header's end and at every tensor's start and end make each
  // unchanged tensor's chunks independent of its offset, so the only new objects are:
  //   - the chunk(s) of the new header: header2 bytes;
  //   - the chunks of the changed tensor: `changed` bytes;
  //   - the new file object: exactly SealedSize(EncodeFile(v2)) bytes;
  //   - sealing overhead of those chunks: a 16-byte header per object and a 16-byte tag per
  //     64 KiB frame, i.e. at most 16 * (33 chunks + 1) + 16 * 130 frames < 3 KiB here
  //     (the 8 MiB tensor holds at most 33 chunks of >= 256 KiB, bar the last).
  // kSealSlack (16 KiB) covers the last item with room to spare, and it is far below the 256 KiB
  // minimum chunk: if a forced cut were missing, a chunk spanning the header's end or an edge of
  // the changed tensor would re-store unchanged tensor bytes (at least 256 KiB - header2 at the
  // header end alone), and the bound would fail.
  constexpr uint64_t kSealSlack = 16 * kKiB;
  const uint64_t file_object = crypto::ObjectCipher::SealedSize(EncodeFile(v2).size());
  const uint64_t bound = changed + header2 + file_object + kSealSlack;
  EXPECT_LE(growth, bound) << "file object " << file_object << " bytes";
  // And dedup must not be "broken the other way": the changed tensor really is stored.
  EXPECT_GE(growth, changed * 9 / 10);

  // Unchanged tensors map to exactly the same chunks in both versions.
  std::map<ObjectId, int> v1_chunks;
  for (const ChunkRef& c : v1.chunks) v1_chunks[c.id]++;
  uint64_t shared = 0;
  for (const ChunkRef& c : v2.chunks) {
    if (v1_chunks.contains(c.id)) shared += c.size;
  }
  EXPECT_EQ(shared, total - changed);

  // Both versions still read back (spot checks at the changed tensor and the end).
  FileReader r2(repo.get(), v2);
  uint64_t offset = header2;
  for (const GenTensor& t : tensors) {
    if (t.name == kChangedTensor || &t == &tensors.back()) {
      Bytes out;
      REPO_ASSERT_OK(r2.ReadAt(offset, t.data.size(), &out));
      EXPECT_TRUE(out == t.data) << t.name;
    }
    offset += t.data.size();
  }
  EXPECT_EQ(offset, v2.size);

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("dedup test: %.1f s for 3 imports of %llu MiB\n", secs,
              static_cast<unsigned long long>(total / kMiB));
}

}  // namespace
}  // namespace weightfs::repo
