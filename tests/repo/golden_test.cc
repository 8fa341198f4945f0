// The format v1 golden fixture (tests/golden/v1, made once by tests/golden/make_golden.sh with the
// real binary) must open and read byte-exact forever. A failure here means the on-disk format
// changed: that needs a format version bump and a new fixture, not an edit of this test.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/crypto/primitives.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/import_export.h"
#include "weightfs/repo/repository.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using testing::Passphrase;
using testing::TempDir;

constexpr char kFixture[] = WEIGHTFS_SOURCE_DIR "/tests/golden/v1";
constexpr char kPassphrase[] = "golden-passphrase";  // a test fixture, not a secret
constexpr char kRepoId[] = "e72e524bf9e84cdf66bb7f9812f818a3";
constexpr char kSnapshot1[] = "66007aa97d66f0d1d4879051196de6255c45de696acd7a0e41093098290a77cd";
constexpr char kSnapshot2[] = "1c11075b9cc45fc40a178b95bcb0c21b285fd279b019820f8941bd990bab2b2a";
constexpr int64_t kSec = 1000000000;

struct Expected {
  EntryType type;
  uint32_t mode;
  uint64_t size;
  int64_t mtime_ns;
  std::string sha256_or_target;  // file content hash, or symlink target
};

// The tree of snapshot 1, as made by make_golden.sh.
std::map<std::string, Expected> Snapshot1Tree() {
  const int64_t t = 1700000000 * kSec;
  return {
      {"/blob.bin",
       {EntryType::kFile, 0644, 70000, t,
        "c0ee3d75b5c48bca2bad6910a1425b61759d186b275a800729e9a4e0a1988228"}},
      {"/config.json",
       {EntryType::kFile, 0644, 51, 1700000123 * kSec,
        "a081d9e77d297287d946c181bc20cb78e71c677e25fd5ca50736199c7492ea21"}},
      {"/empty.txt",
       {EntryType::kFile, 0644, 0, t,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
      {"/latest", {EntryType::kSymlink, 0777, 17, t, "model.safetensors"}},
      {"/model.safetensors",
       {EntryType::kFile, 0644, 176, t,
        "e62191643d39a9a2632fd07e00f8b6af5493e8507e5d708c7a95fc5df6bee50d"}},
      {"/name with spaces.txt",
       {EntryType::kFile, 0600, 16, t,
        "a6b74e8cbb5985486077a3b4aba2942cdc150c6299c0860b25f485e9e4a7f110"}},
      {"/nested", {EntryType::kDirectory, 0750, 0, t, ""}},
      {"/nested/deeper", {EntryType::kDirectory, 0755, 0, t, ""}},
      {"/nested/deeper/notes.md",
       {EntryType::kFile, 0644, 13, t,
        "c405224089df733978512858a09b609084fbf9b573714c3eab171d103175bf70"}},
  };
}

// Snapshot 2 replaced /config.json.
std::map<std::string, Expected> Snapshot2Tree() {
  auto tree = Snapshot1Tree();
  tree["/config.json"] = {EntryType::kFile, 0644, 52, 1700086400 * kSec,
                          "848d4958371e35b497ddddb8acebb0e76adece5992cc7684972fb6af4a558979"};
  return tree;
}

std::string Sha256Hex(ByteView data) {
  auto h = crypto::Sha256(data);
  return h.ok() ? ToHex(*h) : "sha256 failed: " + h.status().ToString();
}

class GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::is_directory(kFixture)) << kFixture;
    // A copy, so nothing the test (or a buggy Open) does can change the committed fixture.
    repo_dir_ = dir_.Sub("v1");
    std::filesystem::copy(kFixture, repo_dir_, std::filesystem::copy_options::recursive);
    auto r = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase(kPassphrase));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
  }

  void ExpectTree(const ObjectId& root, const std::map<std::string, Expected>& want) {
    std::map<std::string, TreeEntry> got;
    REPO_ASSERT_OK(WalkTree(*repo_, root, "/", [&](const std::string& path, const TreeEntry& e) {
      got[path] = e;
      return Status::Ok();
    }));
    std::vector<std::string> got_paths, want_paths;
    for (const auto& [p, e] : got) got_paths.push_back(p);
    for (const auto& [p, e] : want) want_paths.push_back(p);
    EXPECT_EQ(got_paths, want_paths);
    for (const auto& [path, w] : want) {
      SCOPED_TRACE(path);
      auto it = got.find(path);
      if (it == got.end()) continue;
      const TreeEntry& e = it->second;
      EXPECT_EQ(e.type, w.type);
      EXPECT_EQ(e.mode, w.mode);
      EXPECT_EQ(e.size, w.size);
      EXPECT_EQ(e.mtime_ns, w.mtime_ns);
      EXPECT_TRUE(e.xattrs.empty());
      if (w.type == EntryType::kSymlink) {
        EXPECT_EQ(e.target, w.sha256_or_target);
      }
      if (w.type != EntryType::kFile) continue;
      REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*repo_, e.id));
      EXPECT_EQ(content.size(), w.size);
      EXPECT_EQ(Sha256Hex(content), w.sha256_or_target);
    }
  }

  TempDir dir_;
  std::string repo_dir_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(GoldenTest, ConfigAndKeySlots) {
  EXPECT_EQ(repo_->config().format_version, 1u);
  EXPECT_EQ(ToHex(repo_->config().repo_id), kRepoId);
  EXPECT_EQ(repo_->config().chunker.min_size, 256u * 1024);
  EXPECT_EQ(repo_->config().chunker.avg_size, 1024u * 1024);
  EXPECT_EQ(repo_->config().chunker.max_size, 4u * 1024 * 1024);
  EXPECT_EQ(repo_->config().frame_size, 64u * 1024);
  EXPECT_EQ(repo_->slot_name(), "admin");
  EXPECT_EQ(repo_->role(), "admin");
  REPO_ASSERT_OK_AND_ASSIGN(auto slots, repo_->key_slots().ListKeySlots());
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].kind, "passphrase");
  EXPECT_EQ(slots[0].scrypt.n, kTestScrypt.n);
  EXPECT_TRUE(repo_->key_slots().VerifyMetadata().empty())
      << ::testing::PrintToString(repo_->key_slots().VerifyMetadata());
  auto wrong = Repository::Open(testing::LocalStoreAt(repo_dir_), Passphrase("not-golden"));
  EXPECT_EQ(wrong.status().code(), Code::kWrongKey);
}

TEST_F(GoldenTest, SnapshotsAndContents) {
  REPO_ASSERT_OK_AND_ASSIGN(auto snaps, repo_->ListSnapshots());
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[0].id.Hex(), kSnapshot2);
  EXPECT_EQ(snaps[0].snapshot.seq, 2u);
  EXPECT_EQ(snaps[0].snapshot.message, "golden: second config");
  EXPECT_EQ(snaps[0].snapshot.author, "admin");
  EXPECT_EQ(snaps[1].id.Hex(), kSnapshot1);
  EXPECT_EQ(snaps[1].snapshot.seq, 1u);
  EXPECT_EQ(snaps[1].snapshot.message, "golden: first import");
  EXPECT_FALSE(snaps[1].snapshot.parent.has_value());
  EXPECT_FALSE(snaps[0].snapshot.policy.has_value());
  EXPECT_TRUE(snaps[0].snapshot.signature.empty());
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_EQ(main.value.live_root, snaps[0].snapshot.root);
  EXPECT_EQ(main.value.head_seq, 2u);
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo by_prefix,
                            repo_->ResolveVersion(std::string(kSnapshot1).substr(0, 8)));
  EXPECT_EQ(by_prefix.id.Hex(), kSnapshot1);

  {
    SCOPED_TRACE("snapshot 1");
    ExpectTree(snaps[1].snapshot.root, Snapshot1Tree());
  }
  {
    SCOPED_TRACE("snapshot 2");
    ExpectTree(snaps[0].snapshot.root, Snapshot2Tree());
  }

  // The safetensors file was cut at its header's end and at each tensor's boundaries.
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry st,
                            LookupPath(*repo_, main.value.live_root, "/model.safetensors"));
  REPO_ASSERT_OK_AND_ASSIGN(FileObject sf, repo_->objects().LoadFile(st.id));
  std::vector<uint32_t> sizes;
  for (const ChunkRef& c : sf.chunks) sizes.push_back(c.size);
  EXPECT_EQ(sizes, (std::vector<uint32_t>{152, 16, 8}));
  // Unchanged files are shared between the snapshots.
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry b1, LookupPath(*repo_, snaps[1].snapshot.root, "/blob.bin"));
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry b2, LookupPath(*repo_, snaps[0].snapshot.root, "/blob.bin"));
  EXPECT_EQ(b1.id, b2.id);
  // Format v1 trees record no owners, and written again (as a mount does with a directory it
  // did not change) they keep their v1 bytes and so their id (tree encoding v3 is only for
  // trees that use its fields).
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject root, repo_->objects().LoadTree(snaps[0].snapshot.root));
  for (const TreeEntry& e : root.entries) {
    EXPECT_FALSE(e.has_owner) << e.name;
    EXPECT_EQ(e.link_group, 0u) << e.name;
  }
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId again, repo_->objects().PutTree(root, "/"));
  EXPECT_EQ(again, snaps[0].snapshot.root);
}

TEST_F(GoldenTest, ExportsByteExact) {
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  TreeEntry root;
  root.type = EntryType::kDirectory;
  root.mode = 0755;
  root.id = main.value.live_root;
  const std::string out = dir_.Sub("export");
  uint64_t done = 0;
  REPO_ASSERT_OK(ExportEntry(*repo_, root, out, nullptr, &done));
  for (const auto& [path, w] : Snapshot2Tree()) {
    SCOPED_TRACE(path);
    if (w.type == EntryType::kFile) {
      EXPECT_EQ(Sha256Hex(testing::ReadLocalFile(out + path)), w.sha256_or_target);
    } else if (w.type == EntryType::kSymlink) {
      EXPECT_EQ(std::filesystem::read_symlink(out + path).string(), w.sha256_or_target);
    } else {
      EXPECT_TRUE(std::filesystem::is_directory(out + path));
    }
  }
}

TEST_F(GoldenTest, CheckFindsNoProblems) {
  CheckOptions o;
  o.read_data = true;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport r, CheckRepository(*repo_, o));
  EXPECT_TRUE(r.problems.empty()) << ::testing::PrintToString(r.problems);
  EXPECT_EQ(r.snapshots, 2u);
  EXPECT_EQ(r.trees, 4u);
  EXPECT_EQ(r.files, 7u);
  EXPECT_EQ(r.chunks, 8u);
}

}  // namespace
}  // namespace weightfs::repo
