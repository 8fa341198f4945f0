// The tamper suite: every kind of corruption of a repository's files on disk (docs/design.md,
// guarantee 2) must be detected. For object corruption that means: `check --read-data` names the
// object, reading the affected file fails with kCorruption (never OK, never zeros), other files
// still read. Each case gets a fresh copy of a repository in a local store (real files in a temp
// dir).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/import_export.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using crypto::kObjectHeaderSize;
using crypto::ObjectCipher;
using testing::Passphrase;
using testing::TempDir;

constexpr char kPass[] = "tamper pass";
constexpr char kBig[] = "/models/big.bin";        // 300 KiB: one chunk of 5 frames
constexpr char kSecond[] = "/models/second.bin";  // 200 KiB
constexpr char kReadme[] = "/docs/readme.txt";    // never touched by an object corruption
constexpr char kExtra[] = "/docs/extra.txt";      // only in the second snapshot

// A local repository holding kBig, kSecond and kReadme (snapshot 1), then kExtra (snapshot 2).
class TamperTest : public ::testing::Test {
 protected:
  // The repository is built once (its fsyncs dominate the cost) and copied for every case.
  static void TearDownTestSuite() { template_.reset(); }

  void BuildTemplate() {
    template_ = std::make_unique<Template>();
    std::mt19937_64 rng(seed_);
    const std::string dir = template_->dir.Sub("repo");
    ASSERT_TRUE(std::filesystem::create_directory(dir));
    auto store = testing::LocalStoreAt(dir);
    ASSERT_NE(store, nullptr);
    REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kPass), testing::FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(auto repo, Repository::Open(std::move(store), Passphrase(kPass)));

    const std::string src = template_->dir.Sub("src");
    std::filesystem::create_directories(src + "/models");
    std::filesystem::create_directories(src + "/docs");
    auto& content = template_->content;
    content[kBig] = testing::RandomBytes(rng, 300 * 1024);
    content[kSecond] = testing::RandomBytes(rng, 200 * 1024);
    content[kReadme] = ToBytes("this file is not affected by object corruption\n");
    for (const char* p : {kBig, kSecond, kReadme}) testing::WriteLocalFile(src + p, content[p]);
    ImportStats stats;
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry root, ImportPath(repo.get(), src, "/", &stats, nullptr));
    REPO_ASSERT_OK(
        repo->CommitSnapshot([&](const MainRef&) { return root.id; }, "import").status());
    content[kExtra] = ToBytes("extra");
    REPO_ASSERT_OK(testing::CommitFile(repo.get(), kExtra, content[kExtra], "extra").status());
    template_->ready = true;
  }

  void SetUp() override {
    seed_ = testing::TestSeed();
    if (!template_) BuildTemplate();
    ASSERT_TRUE(template_ && template_->ready) << "building the repository failed";
    content_ = template_->content;
    repo_dir_ = dir_.Sub("repo");
    std::filesystem::copy(template_->dir.Sub("repo"), repo_dir_,
                          std::filesystem::copy_options::recursive);
    Reopen();
    ASSERT_NE(repo_, nullptr);

    // Find the objects the cases corrupt.
    REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
    live_root_ = main.value.live_root;
    head_ = *main.value.head;
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry models, LookupPath(*repo_, live_root_, "/models"));
    models_tree_ = models.id;
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry big, LookupPath(*repo_, live_root_, kBig));
    big_file_ = big.id;
    REPO_ASSERT_OK_AND_ASSIGN(FileObject bf, repo_->objects().LoadFile(big.id));
    ASSERT_FALSE(bf.chunks.empty());
    big_chunk_ = bf.chunks[0];
    // The frame cases need a chunk of several frames.
    ASSERT_GE(ObjectCipher::FrameCount(big_chunk_.size), 3u)
        << "chunk of " << big_chunk_.size << " bytes";
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry second, LookupPath(*repo_, live_root_, kSecond));
    REPO_ASSERT_OK_AND_ASSIGN(FileObject sf, repo_->objects().LoadFile(second.id));
    second_chunk_ = sf.chunks[0].id;
    ASSERT_NE(second_chunk_, big_chunk_.id);
    for (const auto& [path, data] : content_) ExpectReadable(path);
  }

  void Reopen() {
    repo_.reset();
    auto r = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase(kPass));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }

  std::string ObjectPath(const ObjectId& id) const {
    return repo_dir_ + "/objects/" + id.Hex().substr(0, 2) + "/" + id.Hex();
  }
  Bytes ReadObjectFile(const ObjectId& id) const { return testing::ReadLocalFile(ObjectPath(id)); }
  void WriteObjectFile(const ObjectId& id, ByteView data) const {
    // Objects may be stored read-only; the attacker does not care.
    ::chmod(ObjectPath(id).c_str(), 0644);
    testing::WriteLocalFile(ObjectPath(id), data);
  }
  void FlipBit(const ObjectId& id, uint64_t byte, int bit) const {
    Bytes b = ReadObjectFile(id);
    ASSERT_LT(byte, b.size());
    b[byte] ^= static_cast<uint8_t>(1u << bit);
    WriteObjectFile(id, b);
  }

  // The file at path in the live tree, read through FileReader::ReadAt.
  Status ReadLive(const std::string& path, Bytes* out) const {
    ASSIGN_OR_RETURN(TreeEntry e, LookupPath(*repo_, live_root_, path));
    ASSIGN_OR_RETURN(FileObject f, repo_->objects().LoadFile(e.id));
    FileReader r(repo_.get(), std::move(f));
    return r.ReadAt(0, r.size(), out);
  }
  // The file at path exported to a local file (through ForEachPiece).
  Status ExportLive(const std::string& path, const std::string& dest) const {
    ASSIGN_OR_RETURN(TreeEntry e, LookupPath(*repo_, live_root_, path));
    uint64_t done = 0;
    return ExportEntry(*repo_, e, dest, nullptr, &done);
  }

  void ExpectReadable(const std::string& path) {
    SCOPED_TRACE("unaffected " + path);
    Bytes out;
    Status s = ReadLive(path, &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(out == content_.at(path));
    const std::string dest = dir_.Sub("out-" + std::to_string(exports_++));
    REPO_ASSERT_OK(ExportLive(path, dest));
    EXPECT_TRUE(testing::ReadLocalFile(dest) == content_.at(path));
  }

  void ExpectCorrupt(const std::string& path) {
    SCOPED_TRACE("affected " + path);
    Bytes out;
    Status s = ReadLive(path, &out);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    const std::string dest = dir_.Sub("out-" + std::to_string(exports_++));
    s = ExportLive(path, dest);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    // No file (and no torn partial file) is left under the name.
    EXPECT_FALSE(std::filesystem::exists(dest));
    EXPECT_FALSE(std::filesystem::exists(dest + ".weightfs-partial"));
  }

  // check names the object (any of ids) in at least one problem.
  void ExpectCheckReports(const std::vector<ObjectId>& ids, bool read_data = true) {
    CheckOptions o;
    o.read_data = read_data;
    auto r = CheckRepository(*repo_, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    bool named = false;
    for (const std::string& p : r->problems) {
      for (const ObjectId& id : ids) named |= p.find(id.Hex().substr(0, 12)) != std::string::npos;
    }
    EXPECT_TRUE(named) << "read_data=" << read_data
                       << ", problems: " << ::testing::PrintToString(r->problems);
  }

  // Runs the standard assertions for a corruption that hits kBig's chunk.
  void ExpectBigChunkDetected(const std::vector<ObjectId>& ids,
                              const std::vector<std::string>& affected = {kBig},
                              const std::vector<std::string>& intact = {kSecond, kReadme, kExtra}) {
    ExpectCheckReports(ids);
    for (const auto& p : affected) ExpectCorrupt(p);
    for (const auto& p : intact) ExpectReadable(p);
  }

  struct Template {
    TempDir dir;
    std::map<std::string, Bytes> content;
    bool ready = false;
  };
  static inline std::unique_ptr<Template> template_;

  TempDir dir_;
  uint64_t seed_ = 0;
  std::string repo_dir_;
  std::unique_ptr<Repository> repo_;
  std::map<std::string, Bytes> content_;
  ObjectId live_root_, head_, models_tree_, big_file_, second_chunk_;
  ChunkRef big_chunk_;
  int exports_ = 0;
};

// (a) Every bit of a chunk's 16-byte header (magic, version, type, reserved, key id).
TEST_F(TamperTest, ChunkHeaderBitFlips) {
  REPO_TRACE_SEED(seed_);
  const Bytes original = ReadObjectFile(big_chunk_.id);
  for (uint64_t byte = 0; byte < kObjectHeaderSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE("header byte " + std::to_string(byte) + " bit " + std::to_string(bit));
      FlipBit(big_chunk_.id, byte, bit);
      Bytes out;
      Status s = ReadLive(kBig, &out);
      EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
      auto whole = repo_->objects().GetObject(ObjectType::kChunk, big_chunk_.id);
      EXPECT_EQ(whole.status().code(), Code::kCorruption) << whole.status().ToString();
      ExpectCheckReports({big_chunk_.id});
      WriteObjectFile(big_chunk_.id, original);
    }
  }
  // One full round of the standard assertions on a representative flip.
  FlipBit(big_chunk_.id, 10, 3);  // key id
  ExpectBigChunkDetected({big_chunk_.id});
}

// (b) Ciphertext of frame 1: only the range in frame 1 fails.
TEST_F(TamperTest, ChunkCiphertextBitFlipInFrame1) {
  REPO_TRACE_SEED(seed_);
  FlipBit(big_chunk_.id, ObjectCipher::FrameOffset(1) + 1000, 5);
  ExpectBigChunkDetected({big_chunk_.id});
  REPO_ASSERT_OK_AND_ASSIGN(FileObject f, repo_->objects().LoadFile(big_file_));
  FileReader r(repo_.get(), f);
  Bytes out;
  // Frame 0 is intact and still reads: detection is per frame, EIO for the affected range only.
  REPO_ASSERT_OK(r.ReadAt(0, crypto::kFrameSize, &out));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), content_[kBig].begin()));
  EXPECT_EQ(r.ReadAt(crypto::kFrameSize + 10, 1, &out).code(), Code::kCorruption);
  EXPECT_EQ(r.ReadAt(crypto::kFrameSize - 1, 2, &out).code(), Code::kCorruption);
  REPO_ASSERT_OK(r.ReadAt(2 * crypto::kFrameSize, crypto::kFrameSize, &out));
}

// (c) The GCM tag of frame 0 (its last 16 bytes).
TEST_F(TamperTest, ChunkTagBitFlip) {
  REPO_TRACE_SEED(seed_);
  FlipBit(big_chunk_.id, ObjectCipher::FrameOffset(1) - 7, 0);
  ExpectBigChunkDetected({big_chunk_.id});
}

// (d) A file object.
TEST_F(TamperTest, FileObjectBitFlip) {
  REPO_TRACE_SEED(seed_);
  FlipBit(big_file_, kObjectHeaderSize + 3, 1);
  ExpectBigChunkDetected({big_file_});
  EXPECT_EQ(repo_->objects().LoadFile(big_file_).status().code(), Code::kCorruption);
}

// (e) A directory's tree object: everything below it fails, the rest reads.
TEST_F(TamperTest, TreeObjectBitFlip) {
  REPO_TRACE_SEED(seed_);
  FlipBit(models_tree_, kObjectHeaderSize + 5, 6);
  ExpectBigChunkDetected({models_tree_}, {kBig, kSecond}, {kReadme, kExtra});
  EXPECT_EQ(repo_->objects().LoadTree(models_tree_).status().code(), Code::kCorruption);
  TreeEntry root;
  root.type = EntryType::kDirectory;
  root.mode = 0755;
  root.id = live_root_;
  uint64_t done = 0;
  EXPECT_EQ(ExportEntry(*repo_, root, dir_.Sub("whole"), nullptr, &done).code(), Code::kCorruption);
}

// (f) The head snapshot object: history fails, the live tree still reads.
TEST_F(TamperTest, SnapshotObjectBitFlip) {
  REPO_TRACE_SEED(seed_);
  FlipBit(head_, kObjectHeaderSize + 2, 2);
  ExpectBigChunkDetected({head_}, {}, {kBig, kSecond, kReadme, kExtra});
  EXPECT_EQ(repo_->ListSnapshots().status().code(), Code::kCorruption);
  EXPECT_EQ(repo_->ResolveVersion("latest").status().code(), Code::kCorruption);
  EXPECT_EQ(repo_->ResolveVersion(head_.Hex()).status().code(), Code::kCorruption);
}

// (g) Two chunk objects' files swapped: each is authenticated against its own id.
TEST_F(TamperTest, SwappedChunkObjects) {
  REPO_TRACE_SEED(seed_);
  const Bytes a = ReadObjectFile(big_chunk_.id);
  const Bytes b = ReadObjectFile(second_chunk_);
  WriteObjectFile(big_chunk_.id, b);
  WriteObjectFile(second_chunk_, a);
  ExpectBigChunkDetected({big_chunk_.id, second_chunk_}, {kBig, kSecond}, {kReadme, kExtra});
}

// (h) A chunk truncated by one byte, and by its whole last frame (which leaves a sealed size that
// is valid for a shorter chunk: the last-frame flag and the file's chunk size catch it).
TEST_F(TamperTest, TruncatedChunkByOneByte) {
  REPO_TRACE_SEED(seed_);
  Bytes b = ReadObjectFile(big_chunk_.id);
  b.pop_back();
  WriteObjectFile(big_chunk_.id, b);
  ExpectBigChunkDetected({big_chunk_.id});
  ExpectCheckReports({big_chunk_.id}, /*read_data=*/false);
}

TEST_F(TamperTest, TruncatedChunkByOneFrame) {
  REPO_TRACE_SEED(seed_);
  Bytes b = ReadObjectFile(big_chunk_.id);
  const uint64_t frames = ObjectCipher::FrameCount(big_chunk_.size);
  b.resize(ObjectCipher::FrameOffset(frames - 1));
  WriteObjectFile(big_chunk_.id, b);
  ExpectBigChunkDetected({big_chunk_.id});
  ExpectCheckReports({big_chunk_.id}, /*read_data=*/false);
  // Through the whole-object path too (no size hint there).
  EXPECT_EQ(repo_->objects().GetObject(ObjectType::kChunk, big_chunk_.id).status().code(),
            Code::kCorruption);
}

// (i) Frames 0 and 1 exchanged within the chunk object.
TEST_F(TamperTest, ReorderedFrames) {
  REPO_TRACE_SEED(seed_);
  Bytes b = ReadObjectFile(big_chunk_.id);
  std::swap_ranges(b.begin() + ObjectCipher::FrameOffset(0),
                   b.begin() + ObjectCipher::FrameOffset(1),
                   b.begin() + ObjectCipher::FrameOffset(1));
  WriteObjectFile(big_chunk_.id, b);
  ExpectBigChunkDetected({big_chunk_.id});
}

// (j) A chunk replaced by zeros of the same size.
TEST_F(TamperTest, ZeroedChunk) {
  REPO_TRACE_SEED(seed_);
  WriteObjectFile(big_chunk_.id, Bytes(ReadObjectFile(big_chunk_.id).size(), 0));
  ExpectBigChunkDetected({big_chunk_.id});
}

// (k) A chunk deleted: corruption, never "not found".
TEST_F(TamperTest, DeletedChunk) {
  REPO_TRACE_SEED(seed_);
  ASSERT_EQ(::unlink(ObjectPath(big_chunk_.id).c_str()), 0);
  ExpectBigChunkDetected({big_chunk_.id});
  ExpectCheckReports({big_chunk_.id}, /*read_data=*/false);
}

// Objects of other kinds deleted: the tree and the file object.
TEST_F(TamperTest, DeletedTreeAndFileObjects) {
  REPO_TRACE_SEED(seed_);
  ASSERT_EQ(::unlink(ObjectPath(big_file_).c_str()), 0);
  ExpectBigChunkDetected({big_file_});
  ASSERT_EQ(::unlink(ObjectPath(models_tree_).c_str()), 0);
  ExpectBigChunkDetected({models_tree_}, {kBig, kSecond}, {kReadme, kExtra});
}

// (l) The config's chunker parameters changed (still valid JSON and valid parameters).
TEST_F(TamperTest, EditedConfigIsRefused) {
  const std::string path = repo_dir_ + "/config";
  std::string text(AsString(testing::ReadLocalFile(path)));
  const std::string from = "\"avg\": 1048576";
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, from.size(), "\"avg\": 524288");
  testing::WriteLocalFile(path, AsBytes(text));
  // The already-open repository's check reports it...
  CheckOptions o;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, o));
  bool mentioned = false;
  for (const auto& p : report.problems) mentioned |= p.find("config") != std::string::npos;
  EXPECT_TRUE(mentioned) << ::testing::PrintToString(report.problems);
  // ...and a new open is refused.
  repo_.reset();
  auto r = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase(kPass));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("config"), std::string::npos) << r.status().ToString();
}

// (m) Another slot's role edited: that slot no longer opens, and check (run with the first slot)
// names it.
TEST_F(TamperTest, EditedSecondSlotRole) {
  REPO_ASSERT_OK(
      repo_->key_slots().AddKeySlot("second", "reader", Passphrase("second pass"), kTestScrypt));
  const std::string path = repo_dir_ + "/keys/second";
  std::string text(AsString(testing::ReadLocalFile(path)));
  const std::string from = R"("role": "reader")";
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, from.size(), R"("role": "admin")");
  testing::WriteLocalFile(path, AsBytes(text));

  Reopen();  // with the first slot
  ASSERT_NE(repo_, nullptr);
  EXPECT_EQ(repo_->slot_name(), "admin");
  CheckOptions o;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, o));
  bool named = false;
  for (const auto& p : report.problems) named |= p.find("second") != std::string::npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(report.problems);
  // The edited slot does not grant the new role: it does not open at all, and its own passphrase
  // is told that the slot is damaged, not that the passphrase is wrong.
  auto r = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase("second pass"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("key slot 'second'"), std::string::npos)
      << r.status().ToString();
  // The data is unaffected.
  for (const auto& [p, d] : content_) ExpectReadable(p);
}

// (n) refs/main edited, or replaced by another ref's bytes.
TEST_F(TamperTest, EditedMainRef) {
  const std::string path = repo_dir_ + "/refs/main";
  const Bytes original = testing::ReadLocalFile(path);
  ASSERT_FALSE(original.empty());
  for (size_t byte : {size_t{0}, size_t{5}, original.size() / 2, original.size() - 1}) {
    SCOPED_TRACE("refs/main byte " + std::to_string(byte));
    Bytes b = original;
    b[byte] ^= 0x10;
    testing::WriteLocalFile(path, b);
    auto main = repo_->refs().ReadMain();
    ASSERT_FALSE(main.ok());
    EXPECT_EQ(main.status().code(), Code::kCorruption) << main.status().ToString();
    REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, CheckOptions{}));
    bool named = false;
    for (const auto& p : report.problems) named |= p.find("refs/main") != std::string::npos;
    EXPECT_TRUE(named) << ::testing::PrintToString(report.problems);
    auto reopened = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase(kPass));
    EXPECT_EQ(reopened.status().code(), Code::kCorruption) << reopened.status().ToString();
  }
  // Truncated, and the sealed bytes of refs/tags in its place (the name is bound).
  testing::WriteLocalFile(path, ByteView(original).subspan(0, original.size() - 1));
  EXPECT_EQ(repo_->refs().ReadMain().status().code(), Code::kCorruption);
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  REPO_ASSERT_OK(repo_->refs().WriteTags({{"t", head_}}, tags.raw));
  testing::WriteLocalFile(path, testing::ReadLocalFile(repo_dir_ + "/refs/tags"));
  EXPECT_EQ(repo_->refs().ReadMain().status().code(), Code::kCorruption);
  testing::WriteLocalFile(path, original);
  REPO_EXPECT_OK(repo_->refs().ReadMain().status());
}

// refs/tags edited: reported, tags do not resolve.
TEST_F(TamperTest, EditedTagsRef) {
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  REPO_ASSERT_OK(repo_->refs().WriteTags({{"v1", head_}}, tags.raw));
  const std::string path = repo_dir_ + "/refs/tags";
  Bytes b = testing::ReadLocalFile(path);
  b[b.size() / 2] ^= 1;
  testing::WriteLocalFile(path, b);
  EXPECT_EQ(repo_->refs().ReadTags().status().code(), Code::kCorruption);
  EXPECT_EQ(repo_->ResolveVersion("v1").status().code(), Code::kCorruption);
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, CheckOptions{}));
  bool named = false;
  for (const auto& p : report.problems) named |= p.find("refs/tags") != std::string::npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(report.problems);
}

// A chunk object replaced by an older chunk's bytes moved from another path (the "replay"
// variant of a swap, with the original kept too).
TEST_F(TamperTest, ChunkReplacedByCopyOfAnother) {
  REPO_TRACE_SEED(seed_);
  WriteObjectFile(big_chunk_.id, ReadObjectFile(second_chunk_));
  ExpectBigChunkDetected({big_chunk_.id}, {kBig}, {kSecond, kReadme, kExtra});
  ExpectCheckReports({big_chunk_.id}, /*read_data=*/false);  // the sizes differ too
}

}  // namespace
}  // namespace weightfs::repo
