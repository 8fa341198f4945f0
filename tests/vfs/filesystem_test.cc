// FileSystem without FUSE, over an in-memory repository: namespace operations and their error
// codes, file I/O, attributes, xattrs, directory reading, what a commit publishes (close/fsync
// views only: a file never closed is not in the committed tree), read-only mounts, node
// lifetime (Forget), and concurrent writers racing commits. The committed tree is inspected
// through refs/main and the repository's tree operations, and by mounting it again.
#include "weightfs/vfs/filesystem.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/repo_fixtures.h"
#include "support/status_util.h"
#include "vfs/versions.h"
#include "weightfs/repo/tree_ops.h"
#include "weightfs/storage/fault_store.h"

namespace weightfs::vfs {
namespace {

using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::RandomBytes;
using repo::testing::ReadContent;
using repo::testing::SharedStore;
using repo::testing::StoredBytes;
using repo::testing::TestSeed;

constexpr char kPass[] = "filesystem test";
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;

// What a path looks like, from a mounted FileSystem or from the committed tree.
struct Snap {
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  Bytes content;
  std::string target;
  std::map<std::string, Bytes> xattrs;
  bool operator==(const Snap&) const = default;
};
using SnapMap = std::map<std::string, Snap>;

std::string Describe(const SnapMap& m) {
  std::string out;
  for (const auto& [path, s] : m) {
    out += path +
           (s.type == NodeType::kDirectory ? "/"
            : s.type == NodeType::kSymlink ? " -> " + s.target
                                           : "") +
           " mode " + std::to_string(s.mode) + " size " + std::to_string(s.size) + " xattrs " +
           std::to_string(s.xattrs.size()) + "\n";
  }
  return out;
}

class FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo::InitOptions opts = FastInit();
    opts.chunker = repo::ChunkerParams{64 * 1024, 128 * 1024, 512 * 1024};
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase(kPass), opts));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
    ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  }
  void TearDown() override {
    if (fs_) REPO_EXPECT_OK(fs_->Shutdown());
    fs_.reset();
  }

  FsOptions Options() {
    FsOptions o;
    o.commit_interval_s = 3600;  // commits happen when a test asks for them
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_.push_back(line);
    };
    return o;
  }
  void Mount(FsOptions o) {
    if (fs_) REPO_ASSERT_OK(fs_->Shutdown());
    fs_.reset();
    REPO_ASSERT_OK_AND_ASSIGN(fs_, FileSystem::Create(repo_.get(), std::move(o)));
  }

  // Creates parent/name holding data, written in pieces, flushed and released.
  NodeId MakeFile(NodeId parent, const std::string& name, ByteView data, uint32_t mode = 0644,
                  FileSystem* fs = nullptr) {
    if (!fs) fs = fs_.get();
    auto created = fs->Create(c_, parent, name, mode, true);
    EXPECT_TRUE(created.ok()) << name << ": " << created.status().ToString();
    if (!created.ok()) return 0;
    const NodeId ino = created->first.attr.ino;
    const uint64_t h = created->second.handle;
    for (uint64_t off = 0; off < data.size(); off += 256 * kKiB) {
      const uint64_t n = std::min<uint64_t>(256 * kKiB, data.size() - off);
      auto w = fs->Write(c_, ino, h, off, data.subspan(off, n));
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      if (w.ok()) {
        EXPECT_EQ(*w, n);
      }
    }
    REPO_EXPECT_OK(fs->Flush(c_, ino, h));
    REPO_EXPECT_OK(fs->Release(ino, h));
    return ino;
  }
  NodeId MakeFile(NodeId parent, const std::string& name, const std::string& text) {
    return MakeFile(parent, name, AsBytes(text));
  }
  NodeId MakeDir(NodeId parent, const std::string& name, FileSystem* fs = nullptr) {
    if (!fs) fs = fs_.get();
    auto e = fs->Mkdir(c_, parent, name, 0755);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status().ToString();
    return e.ok() ? e->attr.ino : 0;
  }
  NodeId Ino(NodeId parent, const std::string& name, FileSystem* fs = nullptr) {
    if (!fs) fs = fs_.get();
    auto e = fs->Lookup(c_, parent, name);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status().ToString();
    return e.ok() ? e->attr.ino : 0;
  }
  // The whole content through open/read/release.
  Bytes ReadAll(NodeId ino, FileSystem* fs = nullptr) {
    if (!fs) fs = fs_.get();
    auto attr = fs->GetAttr(c_, ino);
    EXPECT_TRUE(attr.ok()) << attr.status().ToString();
    if (!attr.ok()) return {};
    auto h = fs->Open(c_, ino, false, false);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    if (!h.ok()) return {};
    auto data = fs->Read(c_, ino, h->handle, 0, attr->size + 4096);
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    REPO_EXPECT_OK(fs->Release(ino, h->handle));
    return data.ok() ? *data : Bytes{};
  }
  std::string ReadText(NodeId ino) {
    Bytes b = ReadAll(ino);
    return std::string(b.begin(), b.end());
  }

  // Every path of a mounted FileSystem, through OpenDir/ReadDir/Lookup/Read.
  void WalkFs(FileSystem* fs, NodeId dir, const std::string& prefix, SnapMap* out) {
    auto h = fs->OpenDir(c_, dir);
    ASSERT_TRUE(h.ok()) << prefix << ": " << h.status().ToString();
    REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> entries, fs->ReadDir(c_, dir, *h, 0));
    REPO_ASSERT_OK(fs->ReleaseDir(dir, *h));
    for (const DirEntry& d : entries) {
      if (d.name == "." || d.name == "..") continue;
      const std::string path = prefix + "/" + d.name;
      REPO_ASSERT_OK_AND_ASSIGN(EntryOut e, fs->Lookup(c_, dir, d.name));
      Snap s;
      s.type = e.attr.type;
      s.mode = e.attr.mode;
      s.size = e.attr.size;
      s.mtime_ns = e.attr.mtime_ns;
      REPO_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, fs->ListXattr(c_, e.attr.ino));
      for (const std::string& n : names) {
        REPO_ASSERT_OK_AND_ASSIGN(s.xattrs[n], fs->GetXattr(c_, e.attr.ino, n));
      }
      if (s.type == NodeType::kFile) s.content = ReadAll(e.attr.ino, fs);
      if (s.type == NodeType::kSymlink) {
        REPO_ASSERT_OK_AND_ASSIGN(s.target, fs->ReadLink(c_, e.attr.ino));
      }
      if (s.type == NodeType::kDirectory) s.size = 0;
      (*out)[path] = s;
      if (s.type == NodeType::kDirectory) {
        ASSERT_NO_FATAL_FAILURE(WalkFs(fs, e.attr.ino, path, out));
      }
    }
  }
  SnapMap WalkFs(FileSystem* fs) {
    SnapMap out;
    WalkFs(fs, kRootNode, "", &out);
    return out;
  }

  // Every path of the tree refs/main publishes.
  SnapMap Committed() {
    SnapMap out;
    auto main = repo_->refs().ReadMain();
    EXPECT_TRUE(main.ok()) << main.status().ToString();
    if (!main.ok()) return out;
    Status s = repo::WalkTree(
        *repo_, main->value.live_root, "", [&](const std::string& path, const repo::TreeEntry& e) {
          Snap snap;
          snap.type = e.type == repo::EntryType::kDirectory ? NodeType::kDirectory
                      : e.type == repo::EntryType::kSymlink ? NodeType::kSymlink
                                                            : NodeType::kFile;
          snap.mode = e.mode;
          snap.size = e.type == repo::EntryType::kDirectory ? 0 : e.size;
          snap.mtime_ns = e.mtime_ns;
          snap.xattrs = e.xattrs;
          snap.target = e.target;
          if (e.type == repo::EntryType::kFile) {
            ASSIGN_OR_RETURN(snap.content, ReadContent(*repo_, e.id));
          }
          out[path] = std::move(snap);
          return Status::Ok();
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  Result<repo::TreeEntry> CommittedEntry(const std::string& path) {
    ASSIGN_OR_RETURN(repo::Versioned<repo::MainRef> main, repo_->refs().ReadMain());
    return repo::LookupPath(*repo_, main.value.live_root, path);
  }
  std::string CommittedText(const std::string& path) {
    auto e = CommittedEntry(path);
    EXPECT_TRUE(e.ok()) << path << ": " << e.status().ToString();
    if (!e.ok()) return "";
    auto b = ReadContent(*repo_, e->id);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::string(b->begin(), b->end()) : "";
  }
  uint64_t Generation() {
    auto main = repo_->refs().ReadMain();
    EXPECT_TRUE(main.ok());
    return main.ok() ? main->value.generation : 0;
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<FileSystem> fs_;
  Caller c_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

// --- files ---

TEST_F(FileSystemTest, CreateWriteFlushReleaseThenLookupGetAttrRead) {
  auto created = fs_->Create(c_, kRootNode, "a.txt", 0640, true);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const NodeId ino = created->first.attr.ino;
  EXPECT_NE(ino, kRootNode);
  EXPECT_EQ(created->first.attr.type, NodeType::kFile);
  EXPECT_EQ(created->first.attr.size, 0u);
  EXPECT_EQ(created->first.attr.mode, 0640u);
  const uint64_t h = created->second.handle;
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t n, fs_->Write(c_, ino, h, 0, AsBytes("hello")));
  EXPECT_EQ(n, 5u);
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 5, AsBytes(", world")).status());
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("J")).status());
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Release(ino, h));

  REPO_ASSERT_OK_AND_ASSIGN(EntryOut e, fs_->Lookup(c_, kRootNode, "a.txt"));
  EXPECT_EQ(e.attr.ino, ino);
  EXPECT_EQ(e.attr.size, 12u);
  EXPECT_EQ(e.attr.mode, 0640u);
  EXPECT_EQ(e.attr.nlink, 1u);
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, ino));
  EXPECT_EQ(a.size, 12u);
  EXPECT_GT(a.mtime_ns, 0);
  EXPECT_EQ(ReadText(ino), "Jello, world");

  // Partial and past-the-end reads.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, false, false));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes part, fs_->Read(c_, ino, o.handle, 7, 100));
  EXPECT_EQ(std::string(part.begin(), part.end()), "world");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes none, fs_->Read(c_, ino, o.handle, 12, 100));
  EXPECT_TRUE(none.empty());
  REPO_ASSERT_OK(fs_->Release(ino, o.handle));

  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "missing"), Code::kNotFound);
  EXPECT_CODE(fs_->Create(c_, kRootNode, "a.txt", 0644, true), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Create(c_, kRootNode, "a/b", 0644, true), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Create(c_, kRootNode, std::string(256, 'n'), 0644, true), Code::kNameTooLong);
  EXPECT_CODE(fs_->GetAttr(c_, 9999), Code::kNotFound);
  // Without O_EXCL an existing file is opened, not replaced.
  REPO_ASSERT_OK_AND_ASSIGN(auto again, fs_->Create(c_, kRootNode, "a.txt", 0644, false));
  EXPECT_EQ(again.first.attr.ino, ino);
  EXPECT_EQ(again.first.attr.size, 12u);
  REPO_ASSERT_OK(fs_->Release(ino, again.second.handle));
  // Reading a directory as a file is refused.
  const NodeId d = MakeDir(kRootNode, "dir");
  EXPECT_CODE(fs_->Open(c_, d, false, false), Code::kIsDirectory);
}

TEST_F(FileSystemTest, LargeFileRandomReadsAndReopen) {
  const uint64_t seed = TestSeed(0xf11e);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 3 * kMiB + 777);
  const NodeId ino = MakeFile(kRootNode, "big.bin", data);
  REPO_ASSERT_OK(fs_->Commit());
  for (int round = 0; round < 2; ++round) {
    REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, false, false));
    for (int i = 0; i < 50; ++i) {
      const uint64_t off = rng() % (data.size() + 100);
      const uint64_t len = rng() % (300 * kKiB);
      REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, ino, o.handle, off, len));
      const uint64_t want = off >= data.size() ? 0 : std::min<uint64_t>(len, data.size() - off);
      ASSERT_EQ(got.size(), want);
      ASSERT_TRUE(
          std::equal(got.begin(), got.end(),
                     data.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(off, data.size()))));
    }
    REPO_ASSERT_OK(fs_->Release(ino, o.handle));
  }
  EXPECT_TRUE(ReadAll(ino) == data);
  EXPECT_TRUE(Committed()["/big.bin"].content == data);
}

TEST_F(FileSystemTest, SmallDirtyBudgetSealsEarlyAndStaysCorrect) {
  FsOptions o = Options();
  o.dirty_budget = 1 * kMiB;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  const uint64_t seed = TestSeed(0xb0d9);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes data = RandomBytes(rng, 6 * kMiB);
  const uint64_t stored_before = StoredBytes(store_.get());
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "big", 0644, true));
  const NodeId ino = created.first.attr.ino;
  for (uint64_t off = 0; off < data.size(); off += 64 * kKiB) {
    REPO_ASSERT_OK(
        fs_->Write(c_, ino, created.second.handle, off, ByteView(data).subspan(off, 64 * kKiB))
            .status());
  }
  // Past the budget the decided chunks went to the store before any close.
  EXPECT_GT(StoredBytes(store_.get()) - stored_before, 4 * kMiB);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes mid, fs_->Read(c_, ino, created.second.handle, 2 * kMiB - 5, 10));
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), data.begin() + 2 * kMiB - 5));
  REPO_ASSERT_OK(fs_->Flush(c_, ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed()["/big"].content == data);
  EXPECT_TRUE(ReadAll(ino) == data);
}

// --- directories ---

TEST_F(FileSystemTest, MkdirRmdir) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(c_, kRootNode, "d", 0750));
  EXPECT_EQ(d.attr.type, NodeType::kDirectory);
  EXPECT_EQ(d.attr.mode, 0750u);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "d", 0755), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, std::string(256, 'x'), 0755), Code::kNameTooLong);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "..", 0755), Code::kInvalidArgument);
  MakeFile(d.attr.ino, "f", "x");
  const NodeId sub = MakeDir(d.attr.ino, "sub");
  EXPECT_NE(sub, 0u);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  EXPECT_CODE(fs_->Rmdir(c_, d.attr.ino, "f"), Code::kNotDirectory);
  EXPECT_CODE(fs_->Unlink(c_, d.attr.ino, "sub"), Code::kIsDirectory);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "nope"), Code::kNotFound);
  EXPECT_CODE(fs_->Mkdir(c_, Ino(d.attr.ino, "f"), "x", 0755), Code::kNotDirectory);
  REPO_ASSERT_OK(fs_->Unlink(c_, d.attr.ino, "f"));
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  REPO_ASSERT_OK(fs_->Rmdir(c_, d.attr.ino, "sub"));
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "d"));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "d"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed().empty()) << Describe(Committed());
}

TEST_F(FileSystemTest, RmdirOfCommittedDirectoryLoadsItFirst) {
  const NodeId d = MakeDir(kRootNode, "d");
  MakeFile(d, "f", "data");
  MakeDir(kRootNode, "empty");
  REPO_ASSERT_OK(fs_->Commit());
  // A fresh mount has not loaded d: rmdir must still see its child.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "d"), Code::kNotEmpty);
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "empty"));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.size(), 2u) << Describe(m);
  EXPECT_EQ(m["/d/f"].content, ToBytes("data"));
}

TEST_F(FileSystemTest, ReadDirOffsets) {
  const NodeId d = MakeDir(kRootNode, "d");
  const std::vector<std::string> names = {"alpha", "beta", "delta", "epsilon", "gamma", "zeta"};
  // Created out of order; listed in name order.
  for (const char* n : {"gamma", "alpha", "zeta", "beta", "epsilon"}) MakeFile(d, n, n);
  MakeDir(d, "delta");
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t h, fs_->OpenDir(c_, d));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> all, fs_->ReadDir(c_, d, h, 0));
  ASSERT_EQ(all.size(), names.size() + 2);
  EXPECT_EQ(all[0].name, ".");
  EXPECT_EQ(all[0].attr.ino, d);
  EXPECT_EQ(all[1].name, "..");
  EXPECT_EQ(all[1].attr.ino, kRootNode);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(all[i + 2].name, names[i]);
    EXPECT_EQ(all[i + 2].attr.type, names[i] == "delta" ? NodeType::kDirectory : NodeType::kFile);
  }
  // Continuing from any entry's next_offset gives exactly the rest.
  for (size_t k = 0; k < all.size(); ++k) {
    SCOPED_TRACE("continuing after entry " + std::to_string(k));
    REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> rest,
                              fs_->ReadDir(c_, d, h, all[k].next_offset));
    ASSERT_EQ(rest.size(), all.size() - k - 1);
    for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].name, all[k + 1 + i].name);
  }
  // Entries removed after opendir are skipped, not returned stale.
  REPO_ASSERT_OK(fs_->Unlink(c_, d, "beta"));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> after, fs_->ReadDir(c_, d, h, 0));
  EXPECT_EQ(after.size(), all.size() - 1);
  for (const DirEntry& e : after) EXPECT_NE(e.name, "beta");
  REPO_ASSERT_OK(fs_->ReleaseDir(d, h));
  EXPECT_CODE(fs_->ReadDir(c_, d, h, 0), Code::kInvalidArgument);

  // The root: "." and ".." are both the root.
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t rh, fs_->OpenDir(c_, kRootNode));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> root, fs_->ReadDir(c_, kRootNode, rh, 0));
  ASSERT_EQ(root.size(), 3u);
  EXPECT_EQ(root[1].attr.ino, kRootNode);
  EXPECT_EQ(root[2].name, "d");
  REPO_ASSERT_OK(fs_->ReleaseDir(kRootNode, rh));
  EXPECT_CODE(fs_->OpenDir(c_, Ino(d, "alpha")), Code::kNotDirectory);
}

// --- unlink, rename, symlinks ---

TEST_F(FileSystemTest, UnlinkWhileOpenKeepsReading) {
  const NodeId ino = MakeFile(kRootNode, "f", "still here");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, ino, true, false));
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "f"));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "f"), Code::kNotFound);
  EXPECT_CODE(fs_->Unlink(c_, kRootNode, "f"), Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, ino));
  EXPECT_EQ(a.nlink, 0u);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_TRUE(Committed().empty());
  // The open handle reads (and writes) the unlinked file; nothing of it reaches the tree.
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, ino, o.handle, 0, 100));
  EXPECT_EQ(std::string(got.begin(), got.end()), "still here");
  REPO_ASSERT_OK(fs_->Write(c_, ino, o.handle, 10, AsBytes("!")).status());
  REPO_ASSERT_OK_AND_ASSIGN(got, fs_->Read(c_, ino, o.handle, 0, 100));
  EXPECT_EQ(std::string(got.begin(), got.end()), "still here!");
  REPO_ASSERT_OK(fs_->Flush(c_, ino, o.handle));
  // A new file of the same name is a different node.
  const NodeId other = MakeFile(kRootNode, "f", "new");
  EXPECT_NE(other, ino);
  REPO_ASSERT_OK(fs_->Release(ino, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m["/f"].content, ToBytes("new"));
}

TEST_F(FileSystemTest, RenameOverExistingFile) {
  const NodeId a = MakeFile(kRootNode, "a", "AAA");
  const NodeId b = MakeFile(kRootNode, "b", "BBBBB");
  // The victim stays readable through a handle opened before the rename.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut ob, fs_->Open(c_, b, false, false));
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", 0));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "a"), Code::kNotFound);
  EXPECT_EQ(Ino(kRootNode, "b"), a);
  EXPECT_EQ(ReadText(a), "AAA");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes old, fs_->Read(c_, b, ob.handle, 0, 100));
  EXPECT_EQ(std::string(old.begin(), old.end()), "BBBBB");
  REPO_ASSERT_OK(fs_->Release(b, ob.handle));
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  ASSERT_EQ(m.size(), 1u) << Describe(m);
  EXPECT_EQ(m["/b"].content, ToBytes("AAA"));
  // Renaming onto itself is a no-op.
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "b", kRootNode, "b", 0));
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "AAA");
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "nope", kRootNode, "x", 0), Code::kNotFound);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "b", kRootNode, "x", 2), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "b", kRootNode, "x/y", 0), Code::kInvalidArgument);
}

TEST_F(FileSystemTest, RenameNoReplace) {
  MakeFile(kRootNode, "a", "A");
  MakeFile(kRootNode, "b", "B");
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", FileSystem::kRenameNoReplace),
              Code::kAlreadyExists);
  EXPECT_EQ(ReadText(Ino(kRootNode, "a")), "A");
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "B");
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "c", FileSystem::kRenameNoReplace));
  EXPECT_EQ(ReadText(Ino(kRootNode, "c")), "A");
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "a"), Code::kNotFound);
}

TEST_F(FileSystemTest, RenameDirectories) {
  const NodeId d = MakeDir(kRootNode, "d");
  const NodeId e = MakeDir(d, "e");
  MakeFile(e, "f", "deep");
  const NodeId full = MakeDir(kRootNode, "full");
  MakeFile(full, "x", "x");
  MakeDir(kRootNode, "empty");
  MakeFile(kRootNode, "file", "file");

  // A directory cannot move below itself.
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", e, "d2", 0), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", d, "d2", 0), Code::kInvalidArgument);
  // Onto a non-empty directory, onto a file, a file onto a directory.
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", kRootNode, "full", 0), Code::kNotEmpty);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "d", kRootNode, "file", 0), Code::kNotDirectory);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "file", kRootNode, "empty", 0), Code::kIsDirectory);
  // Onto an empty directory: replaces it.
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "d", kRootNode, "empty", 0));
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, "d"), Code::kNotFound);
  EXPECT_EQ(Ino(kRootNode, "empty"), d);
  // Across directories, and the ".." of a moved directory follows it.
  REPO_ASSERT_OK(fs_->Rename(c_, d, "e", full, "e", 0));
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t h, fs_->OpenDir(c_, e));
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<DirEntry> ents, fs_->ReadDir(c_, e, h, 0));
  REPO_ASSERT_OK(fs_->ReleaseDir(e, h));
  ASSERT_GE(ents.size(), 2u);
  EXPECT_EQ(ents[1].attr.ino, full);
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  std::vector<std::string> paths;
  for (const auto& [p, s] : m) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{"/empty", "/file", "/full", "/full/e", "/full/e/f",
                                             "/full/x"}))
      << Describe(m);
  EXPECT_EQ(m["/full/e/f"].content, ToBytes("deep"));
}

// A fresh mount loads a directory only when its children are needed. Changing such a directory
// itself (moving it, its mode, times or xattrs) must not publish it as empty.
TEST_F(FileSystemTest, ChangingAnUnloadedDirectoryKeepsItsContent) {
  const NodeId d = MakeDir(kRootNode, "d");
  const NodeId sub = MakeDir(d, "sub");
  MakeFile(sub, "f", "payload");
  REPO_ASSERT_OK(fs_->SetXattr(c_, sub, "user.k", AsBytes("v"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  const SnapMap original = Committed();
  ASSERT_EQ(original.size(), 3u);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  const ObjectId original_root = main.value.live_root;

  struct Case {
    const char* what;
    std::function<Status(NodeId d_ino)> change;
  };
  const std::vector<Case> cases = {
      {"rename", [&](NodeId) { return fs_->Rename(c_, kRootNode, "d", kRootNode, "moved", 0); }},
      {"chmod",
       [&](NodeId ino) {
         SetAttrRequest r;
         r.set_mode = true;
         r.mode = 0700;
         return fs_->SetAttr(c_, ino, r).status();
       }},
      {"utimes",
       [&](NodeId ino) {
         SetAttrRequest r;
         r.set_mtime = true;
         r.mtime_ns = 42;
         return fs_->SetAttr(c_, ino, r).status();
       }},
      {"setxattr",
       [&](NodeId ino) { return fs_->SetXattr(c_, ino, "user.new", AsBytes("1"), false, false); }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    // Each case starts from the original tree in a fresh mount.
    ASSERT_NO_FATAL_FAILURE(Mount(Options()));
    fs_.reset();
    REPO_ASSERT_OK_AND_ASSIGN(auto cur, repo_->refs().ReadMain());
    repo::MainRef next = cur.value;
    next.live_root = original_root;
    next.generation++;
    REPO_ASSERT_OK(repo_->refs().WriteMain(next, cur.raw));
    ASSERT_NO_FATAL_FAILURE(Mount(Options()));
    const NodeId di = Ino(kRootNode, "d");
    REPO_ASSERT_OK(k.change(di));
    REPO_ASSERT_OK(fs_->Commit());
    SnapMap m = Committed();
    const std::string top = std::string(k.what) == "rename" ? "/moved" : "/d";
    EXPECT_EQ(m.size(), 3u) << Describe(m);
    EXPECT_EQ(m[top + "/sub/f"].content, ToBytes("payload")) << Describe(m);
    EXPECT_EQ(m[top + "/sub"].xattrs["user.k"], ToBytes("v"));
  }
}

TEST_F(FileSystemTest, SymlinkReadLink) {
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut l, fs_->Symlink(c_, kRootNode, "link", "../some/target"));
  EXPECT_EQ(l.attr.type, NodeType::kSymlink);
  EXPECT_EQ(l.attr.size, std::string("../some/target").size());
  REPO_ASSERT_OK_AND_ASSIGN(std::string t, fs_->ReadLink(c_, l.attr.ino));
  EXPECT_EQ(t, "../some/target");
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "link", "x"), Code::kAlreadyExists);
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "empty", ""), Code::kInvalidArgument);
  const NodeId f = MakeFile(kRootNode, "f", "x");
  EXPECT_CODE(fs_->ReadLink(c_, f), Code::kInvalidArgument);
  EXPECT_CODE(fs_->Open(c_, l.attr.ino, false, false), Code::kInvalidArgument);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/link"));
  EXPECT_EQ(e.type, repo::EntryType::kSymlink);
  EXPECT_EQ(e.target, "../some/target");
  // And back through a fresh mount.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  REPO_ASSERT_OK_AND_ASSIGN(std::string t2, fs_->ReadLink(c_, Ino(kRootNode, "link")));
  EXPECT_EQ(t2, "../some/target");
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "link"));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_CODE(CommittedEntry("/link"), Code::kNotFound);
}

// --- attributes ---

TEST_F(FileSystemTest, SetAttrModeMtimeSize) {
  const NodeId f = MakeFile(kRootNode, "f", "0123456789");
  SetAttrRequest mode;
  mode.set_mode = true;
  mode.mode = 0100600;  // only the permission bits are kept
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->SetAttr(c_, f, mode));
  EXPECT_EQ(a.mode, 0600u);
  SetAttrRequest mtime;
  mtime.set_mtime = true;
  mtime.mtime_ns = 1234567890123456789;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, mtime));
  EXPECT_EQ(a.mtime_ns, 1234567890123456789);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/f"));
  EXPECT_EQ(e.mode, 0600u);
  EXPECT_EQ(e.mtime_ns, 1234567890123456789);

  // truncate(2) on a closed file: shrink, then grow with zeros; each is committed as is.
  SetAttrRequest shrink;
  shrink.set_size = true;
  shrink.size = 4;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, shrink));
  EXPECT_EQ(a.size, 4u);
  EXPECT_NE(a.mtime_ns, 1234567890123456789) << "a truncate moves mtime";
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "0123");
  SetAttrRequest grow;
  grow.set_size = true;
  grow.size = 8;
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, grow));
  EXPECT_EQ(a.size, 8u);
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), std::string("0123\0\0\0\0", 8));
  EXPECT_EQ(ReadText(f), std::string("0123\0\0\0\0", 8));

  // ftruncate on an open file is published at its close.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, false));
  SetAttrRequest zero;
  zero.set_size = true;
  zero.size = 0;
  REPO_ASSERT_OK(fs_->SetAttr(c_, f, zero).status());
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f").size(), 8u);
  REPO_ASSERT_OK(fs_->Flush(c_, f, o.handle));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "");

  SetAttrRequest owner;
  owner.set_uid = true;
  owner.uid = 4242;
  Caller stranger = c_;
  stranger.uid = 4242;
  EXPECT_CODE(fs_->SetAttr(stranger, f, owner),
              Code::kNotPermitted);                     // EPERM, as chown(2) by a non-owner
  REPO_EXPECT_OK(fs_->SetAttr(c_, f, owner).status());  // root gives files away
  EXPECT_EQ(fs_->GetAttr(c_, f)->uid, 4242u);
  const NodeId d = MakeDir(kRootNode, "d");
  EXPECT_CODE(fs_->SetAttr(c_, d, zero), Code::kIsDirectory);
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut l, fs_->Symlink(c_, kRootNode, "l", "t"));
  EXPECT_CODE(fs_->SetAttr(c_, l.attr.ino, zero), Code::kInvalidArgument);
  // A directory's mode reaches the tree too.
  SetAttrRequest dmode;
  dmode.set_mode = true;
  dmode.mode = 0700;
  REPO_ASSERT_OK(fs_->SetAttr(c_, d, dmode).status());
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/d"));
  EXPECT_EQ(e.mode, 0700u);
}

TEST_F(FileSystemTest, OpenTruncateAndFallocate) {
  const NodeId f = MakeFile(kRootNode, "f", "old content");
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, true));
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 0u);
  REPO_ASSERT_OK(fs_->Fallocate(c_, f, 0, 100));
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 100u);
  REPO_ASSERT_OK(fs_->Fallocate(c_, f, 0, 10));  // never shrinks
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.size, 100u);
  // Until the close, the committed view is the old content.
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), "old content");
  REPO_ASSERT_OK(fs_->Flush(c_, f, o.handle));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/f"), std::string(100, '\0'));
}

TEST_F(FileSystemTest, Xattrs) {
  const NodeId f = MakeFile(kRootNode, "f", "x");
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.a", AsBytes("1"), false, false));
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.b", AsBytes(""), true, false));
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.a", AsBytes("2"), true, false), Code::kAlreadyExists);
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.c", AsBytes("2"), false, true), Code::kNotFound);
  REPO_ASSERT_OK(fs_->SetXattr(c_, f, "user.a", AsBytes("22"), false, true));
  EXPECT_CODE(fs_->SetXattr(c_, f, "trusted.x", AsBytes("1"), false, false), Code::kUnsupported);
  EXPECT_CODE(fs_->SetXattr(c_, f, "security.selinux", AsBytes("1"), false, false),
              Code::kUnsupported);
  EXPECT_CODE(fs_->SetXattr(c_, f, "user.big", Bytes(64 * kKiB + 1, 'v'), false, false),
              Code::kNoSpace);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes v, fs_->GetXattr(c_, f, "user.a"));
  EXPECT_EQ(v, ToBytes("22"));
  EXPECT_CODE(fs_->GetXattr(c_, f, "user.none"), Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, fs_->ListXattr(c_, f));
  EXPECT_EQ(names, (std::vector<std::string>{"user.a", "user.b"}));
  const NodeId d = MakeDir(kRootNode, "d");
  REPO_ASSERT_OK(fs_->SetXattr(c_, d, "user.dir", AsBytes("yes"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/f"));
  EXPECT_EQ(e.xattrs.size(), 2u);
  EXPECT_EQ(e.xattrs["user.a"], ToBytes("22"));
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/d"));
  EXPECT_EQ(e.xattrs["user.dir"], ToBytes("yes"));

  REPO_ASSERT_OK(fs_->RemoveXattr(c_, f, "user.a"));
  EXPECT_CODE(fs_->RemoveXattr(c_, f, "user.a"), Code::kNotFound);
  EXPECT_CODE(fs_->GetXattr(c_, f, "user.a"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(e, CommittedEntry("/f"));
  EXPECT_EQ(e.xattrs.size(), 1u);
  EXPECT_EQ(e.xattrs.count("user.b"), 1u);
  // A fresh mount sees them.
  ASSERT_NO_FATAL_FAILURE(Mount(Options()));
  REPO_ASSERT_OK_AND_ASSIGN(names, fs_->ListXattr(c_, Ino(kRootNode, "f")));
  EXPECT_EQ(names, (std::vector<std::string>{"user.b"}));
  REPO_ASSERT_OK_AND_ASSIGN(v, fs_->GetXattr(c_, Ino(kRootNode, "d"), "user.dir"));
  EXPECT_EQ(v, ToBytes("yes"));
}

// --- commits ---

TEST_F(FileSystemTest, CommitThenSecondMountSeesExactlyTheCommittedState) {
  const uint64_t seed = TestSeed(0xc0);
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const NodeId models = MakeDir(kRootNode, "models");
  const NodeId m1 = MakeDir(models, "m1");
  MakeFile(m1, "weights.bin", RandomBytes(rng, 700 * kKiB), 0600);
  MakeFile(m1, "config.json", AsBytes("{\"a\": 1}"));
  MakeFile(kRootNode, "empty", AsBytes(""));
  REPO_ASSERT_OK(fs_->Symlink(c_, models, "latest", "m1").status());
  REPO_ASSERT_OK(fs_->SetXattr(c_, m1, "user.origin", AsBytes("hub"), false, false));
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_GT(Generation(), gen);
  // A commit with nothing new does not touch refs/main.
  const uint64_t gen2 = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(Generation(), gen2);

  const SnapMap live = WalkFs(fs_.get());
  const SnapMap committed = Committed();
  EXPECT_EQ(committed.size(), 6u) << Describe(committed);
  EXPECT_TRUE(live == committed) << "live:\n"
                                 << Describe(live) << "committed:\n"
                                 << Describe(committed);

  // Changes after the commit are not seen by a second mount until committed.
  MakeFile(kRootNode, "later", AsBytes("later"));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo2, store_.Open(Passphrase(kPass)));
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
    const SnapMap seen = WalkFs(fs2.get());
    EXPECT_TRUE(seen == committed) << "second mount:\n"
                                   << Describe(seen) << "committed:\n"
                                   << Describe(committed);
    REPO_ASSERT_OK(fs2->Shutdown());
  }
  REPO_ASSERT_OK(fs_->Commit());
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
    const SnapMap seen = WalkFs(fs2.get());
    EXPECT_EQ(seen.size(), committed.size() + 1);
    EXPECT_EQ(seen.count("/later"), 1u);
    EXPECT_TRUE(seen == Committed());
    EXPECT_TRUE(seen == WalkFs(fs_.get()));
    REPO_ASSERT_OK(fs2->Shutdown());
  }
}

TEST_F(FileSystemTest, UnflushedFileIsNotCommitted) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "partial", 0644, true));
  const NodeId ino = created.first.attr.ino;
  const uint64_t h = created.second.handle;
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("half of it")).status());
  MakeFile(kRootNode, "done", "closed");
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.count("/partial"), 0u) << "a file never closed reached the committed tree";
  EXPECT_EQ(m.count("/done"), 1u);
  // A restart at this point (a crash: no shutdown) sees the same.
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto repo2, store_.Open(Passphrase(kPass)));
    FsOptions ro = Options();
    ro.read_only = true;
    REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), ro));
    EXPECT_CODE(fs2->Lookup(c_, kRootNode, "partial"), Code::kNotFound);
  }
  // After its close it is.
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "half of it");
  // Later writes without a close leave the committed view as of the last close.
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 0, AsBytes("HALF")).status());
  REPO_ASSERT_OK(fs_->Write(c_, ino, h, 10, AsBytes(" and more")).status());
  MakeDir(kRootNode, "another-change");
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "half of it");
  EXPECT_EQ(ReadText(ino), "HALF of it and more");
  REPO_ASSERT_OK(fs_->Flush(c_, ino, h));
  REPO_ASSERT_OK(fs_->Release(ino, h));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(CommittedText("/partial"), "HALF of it and more");
}

TEST_F(FileSystemTest, CreatedEmptyFileAppearsAtClose) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "touched", 0644, true));
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_CODE(CommittedEntry("/touched"), Code::kNotFound);
  REPO_ASSERT_OK(fs_->Flush(c_, created.first.attr.ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(created.first.attr.ino, created.second.handle));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/touched"));
  EXPECT_EQ(e.type, repo::EntryType::kFile);
  EXPECT_EQ(e.size, 0u);
}

TEST_F(FileSystemTest, FsyncCommitsImmediately) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "f", 0644, true));
  const NodeId ino = created.first.attr.ino;
  REPO_ASSERT_OK(fs_->Write(c_, ino, created.second.handle, 0, AsBytes("durable")).status());
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Fsync(c_, ino));
  EXPECT_GT(Generation(), gen);
  EXPECT_EQ(CommittedText("/f"), "durable");
  // Still open: more writes, fsync again.
  REPO_ASSERT_OK(fs_->Write(c_, ino, created.second.handle, 7, AsBytes("!")).status());
  REPO_ASSERT_OK(fs_->Fsync(c_, ino));
  EXPECT_EQ(CommittedText("/f"), "durable!");
  REPO_ASSERT_OK(fs_->Release(ino, created.second.handle));
  // fsync on a directory commits too.
  MakeDir(kRootNode, "d");
  REPO_ASSERT_OK(fs_->FsyncDir(c_, kRootNode));
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/d"));
  EXPECT_EQ(e.type, repo::EntryType::kDirectory);
}

TEST_F(FileSystemTest, ShutdownSealsOpenFiles) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created, fs_->Create(c_, kRootNode, "open", 0644, true));
  REPO_ASSERT_OK(
      fs_->Write(c_, created.first.attr.ino, created.second.handle, 0, AsBytes("at unmount"))
          .status());
  REPO_ASSERT_OK(fs_->Shutdown());
  EXPECT_EQ(CommittedText("/open"), "at unmount");
  REPO_ASSERT_OK(fs_->Shutdown());  // idempotent
}

TEST_F(FileSystemTest, BackgroundCommitThread) {
  FsOptions o = Options();
  o.commit_interval_s = 0.01;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  fs_->Start();
  MakeFile(kRootNode, "f", "by the loop");
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    seen = CommittedEntry("/f").ok();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << "the commit thread did not publish a closed file within 5 s";
  REPO_ASSERT_OK(fs_->Shutdown());
}

// --- read-only ---

TEST_F(FileSystemTest, ReadOnlyRefusesEveryChange) {
  const NodeId d = MakeDir(kRootNode, "d");
  MakeFile(d, "f", "content");
  MakeDir(kRootNode, "empty");
  REPO_ASSERT_OK(fs_->Symlink(c_, kRootNode, "l", "d/f").status());
  REPO_ASSERT_OK(fs_->SetXattr(c_, d, "user.k", AsBytes("v"), false, false));
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());
  FsOptions o = Options();
  o.read_only = true;
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  EXPECT_TRUE(fs_->read_only());

  const NodeId rd = Ino(kRootNode, "d");
  const NodeId rf = Ino(rd, "f");
  EXPECT_CODE(fs_->Create(c_, kRootNode, "new", 0644, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Create(c_, rd, "f", 0644, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Mkdir(c_, kRootNode, "new", 0755), Code::kReadOnly);
  EXPECT_CODE(fs_->Symlink(c_, kRootNode, "new", "t"), Code::kReadOnly);
  EXPECT_CODE(fs_->Unlink(c_, rd, "f"), Code::kReadOnly);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, "empty"), Code::kReadOnly);
  EXPECT_CODE(fs_->Rename(c_, rd, "f", kRootNode, "g", 0), Code::kReadOnly);
  SetAttrRequest mode;
  mode.set_mode = true;
  mode.mode = 0600;
  EXPECT_CODE(fs_->SetAttr(c_, rf, mode), Code::kReadOnly);
  SetAttrRequest size;
  size.set_size = true;
  size.size = 0;
  EXPECT_CODE(fs_->SetAttr(c_, rf, size), Code::kReadOnly);
  SetAttrRequest mtime;
  mtime.set_mtime = true;
  mtime.mtime_ns = 5;
  EXPECT_CODE(fs_->SetAttr(c_, rf, mtime), Code::kReadOnly);
  EXPECT_CODE(fs_->Open(c_, rf, true, false), Code::kReadOnly);
  EXPECT_CODE(fs_->Open(c_, rf, false, true), Code::kReadOnly);
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o2, fs_->Open(c_, rf, false, false));
  EXPECT_CODE(fs_->Write(c_, rf, o2.handle, 0, AsBytes("x")), Code::kReadOnly);
  EXPECT_CODE(fs_->Fallocate(c_, rf, 0, 100), Code::kReadOnly);
  EXPECT_CODE(fs_->SetXattr(c_, rd, "user.k", AsBytes("w"), false, false), Code::kReadOnly);
  EXPECT_CODE(fs_->SetXattr(c_, rd, "user.new", AsBytes("w"), false, false), Code::kReadOnly);
  EXPECT_CODE(fs_->RemoveXattr(c_, rd, "user.k"), Code::kReadOnly);
  // Reading works, and flush/fsync/commit change nothing.
  REPO_ASSERT_OK_AND_ASSIGN(Bytes got, fs_->Read(c_, rf, o2.handle, 0, 100));
  EXPECT_EQ(got, ToBytes("content"));
  REPO_EXPECT_OK(fs_->Flush(c_, rf, o2.handle));
  REPO_EXPECT_OK(fs_->Fsync(c_, rf));
  REPO_EXPECT_OK(fs_->Release(rf, o2.handle));
  REPO_EXPECT_OK(fs_->FsyncDir(c_, rd));
  REPO_EXPECT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(std::string t, fs_->ReadLink(c_, Ino(kRootNode, "l")));
  EXPECT_EQ(t, "d/f");
  REPO_ASSERT_OK_AND_ASSIGN(Bytes xv, fs_->GetXattr(c_, rd, "user.k"));
  EXPECT_EQ(xv, ToBytes("v"));
  const SnapMap seen = WalkFs(fs_.get());
  EXPECT_EQ(seen.size(), 4u) << Describe(seen);
  REPO_ASSERT_OK(fs_->Shutdown());
  REPO_ASSERT_OK_AND_ASSIGN(auto after, repo_->refs().ReadMain());
  EXPECT_EQ(after.raw, before.raw) << "a read-only mount rewrote refs/main";
}

// --- node lifetime ---

TEST_F(FileSystemTest, ForgetDropsUnlinkedNodes) {
  REPO_ASSERT_OK_AND_ASSIGN(auto created,
                            fs_->Create(c_, kRootNode, "f", 0644, true));  // nlookup 1
  const NodeId f = created.first.attr.ino;
  REPO_ASSERT_OK(fs_->Flush(c_, f, created.second.handle));
  REPO_ASSERT_OK(fs_->Release(f, created.second.handle));
  EXPECT_EQ(Ino(kRootNode, "f"), f);  // nlookup 2
  // A linked node survives the kernel forgetting it (it reloads on the next lookup).
  fs_->Forget(f, 2);
  REPO_ASSERT_OK(fs_->GetAttr(c_, f).status());
  EXPECT_EQ(Ino(kRootNode, "f"), f);  // nlookup 1
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "f"));
  REPO_ASSERT_OK(fs_->GetAttr(c_, f).status());  // the kernel still holds it
  fs_->Forget(f, 1);
  EXPECT_CODE(fs_->GetAttr(c_, f), Code::kNotFound);

  // An open handle keeps an unlinked, forgotten node until the release.
  REPO_ASSERT_OK_AND_ASSIGN(auto g, fs_->Create(c_, kRootNode, "g", 0644, true));
  const NodeId gi = g.first.attr.ino;
  REPO_ASSERT_OK(fs_->Unlink(c_, kRootNode, "g"));
  fs_->Forget(gi, 1);
  REPO_ASSERT_OK(fs_->GetAttr(c_, gi).status());
  REPO_ASSERT_OK(fs_->Write(c_, gi, g.second.handle, 0, AsBytes("tmp")).status());
  REPO_ASSERT_OK(fs_->Release(gi, g.second.handle));
  EXPECT_CODE(fs_->GetAttr(c_, gi), Code::kNotFound);

  // A removed directory too.
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut d, fs_->Mkdir(c_, kRootNode, "d", 0755));
  REPO_ASSERT_OK(fs_->Rmdir(c_, kRootNode, "d"));
  REPO_ASSERT_OK(fs_->GetAttr(c_, d.attr.ino).status());
  fs_->Forget(d.attr.ino, 1);
  EXPECT_CODE(fs_->GetAttr(c_, d.attr.ino), Code::kNotFound);
  // A rename victim too.
  MakeFile(kRootNode, "a", "a");
  const NodeId b = MakeFile(kRootNode, "b", "b");
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "a", kRootNode, "b", 0));
  REPO_ASSERT_OK(fs_->GetAttr(c_, b).status());
  fs_->Forget(b, 1);
  EXPECT_CODE(fs_->GetAttr(c_, b), Code::kNotFound);
  // Forgetting more than was looked up, or an unknown node, is harmless.
  fs_->Forget(9999, 3);
  fs_->Forget(Ino(kRootNode, "b"), 100);
  EXPECT_EQ(ReadText(Ino(kRootNode, "b")), "a");
  REPO_ASSERT_OK(fs_->Commit());
  SnapMap m = Committed();
  EXPECT_EQ(m.size(), 1u) << Describe(m);
}

TEST_F(FileSystemTest, StatFs) {
  REPO_ASSERT_OK_AND_ASSIGN(StatFsOut s, fs_->StatFs(c_));
  EXPECT_EQ(s.name_max, 255u);
  FsOptions o = Options();
  o.statfs = []() -> Result<StatFsOut> {
    StatFsOut out;
    out.blocks = 1000;
    out.blocks_free = 10;
    return out;
  };
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  REPO_ASSERT_OK_AND_ASSIGN(s, fs_->StatFs(c_));
  EXPECT_EQ(s.blocks, 1000u);
  EXPECT_EQ(s.blocks_free, 10u);
}

// --- concurrency ---

TEST_F(FileSystemTest, ConcurrentWritersAndCommits) {
  const uint64_t seed = TestSeed(0xc0c0);
  REPO_TRACE_SEED(seed);
  FsOptions o = Options();
  o.commit_interval_s = 0.005;  // the background loop races the explicit commits too
  o.dirty_budget = 2 * kMiB;    // and idle seals happen under the writers
  ASSERT_NO_FATAL_FAILURE(Mount(o));
  fs_->Start();

  constexpr int kThreads = 4;
  constexpr int kFiles = 24;
  std::vector<std::map<std::string, Bytes>> expected(kThreads);
  std::vector<std::string> errors(kThreads);
  std::atomic<bool> done{false};
  std::atomic<int> commits{0};
  std::string commit_error;

  auto writer = [&](int t) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(t));
    auto fail = [&](const std::string& what, const Status& s) {
      if (errors[t].empty()) errors[t] = what + ": " + s.ToString();
    };
    const std::string dir_name = "t" + std::to_string(t);
    auto dir = fs_->Mkdir(c_, kRootNode, dir_name, 0755);
    if (!dir.ok()) return fail("mkdir", dir.status());
    const NodeId d = dir->attr.ino;
    for (int i = 0; i < kFiles && errors[t].empty(); ++i) {
      const std::string final_name = "f" + std::to_string(i);
      // Every third file is saved the atomic way: a temporary name, then a rename.
      const bool via_tmp = i % 3 == 0;
      const std::string name = via_tmp ? final_name + ".tmp" : final_name;
      Bytes data = RandomBytes(rng, rng() % (600 * kKiB));
      auto created = fs_->Create(c_, d, name, 0644, true);
      if (!created.ok()) return fail("create " + name, created.status());
      const NodeId ino = created->first.attr.ino;
      const uint64_t h = created->second.handle;
      for (uint64_t off = 0; off < data.size();) {
        const uint64_t n = std::min<uint64_t>(1 + rng() % (128 * kKiB), data.size() - off);
        auto w = fs_->Write(c_, ino, h, off, ByteView(data).subspan(off, n));
        if (!w.ok()) return fail("write", w.status());
        off += n;
      }
      // Some files are patched in place and flushed twice.
      if (i % 4 == 1 && !data.empty()) {
        if (Status s = fs_->Flush(c_, ino, h); !s.ok()) return fail("flush", s);
        const uint64_t off = rng() % data.size();
        Bytes patch = RandomBytes(rng, 1 + rng() % 5000);
        auto w = fs_->Write(c_, ino, h, off, patch);
        if (!w.ok()) return fail("patch", w.status());
        if (data.size() < off + patch.size()) data.resize(off + patch.size());
        std::copy(patch.begin(), patch.end(), data.begin() + static_cast<ptrdiff_t>(off));
      }
      if (Status s = fs_->Flush(c_, ino, h); !s.ok()) return fail("flush", s);
      if (Status s = fs_->Release(ino, h); !s.ok()) return fail("release", s);
      if (via_tmp) {
        if (Status s = fs_->Rename(c_, d, name, d, final_name, 0); !s.ok())
          return fail("rename", s);
      }
      // Some are removed again.
      if (i % 5 == 4) {
        if (Status s = fs_->Unlink(c_, d, final_name); !s.ok()) return fail("unlink", s);
        continue;
      }
      expected[t]["/" + dir_name + "/" + final_name] = std::move(data);
    }
  };
  std::thread committer([&] {
    while (!done.load()) {
      Status s = fs_->Commit();
      if (!s.ok() && commit_error.empty()) commit_error = s.ToString();
      commits++;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> writers;
  writers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) writers.emplace_back(writer, t);
  for (std::thread& w : writers) w.join();
  done = true;
  committer.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "writer " << t;
  EXPECT_EQ(commit_error, "");
  EXPECT_GT(commits.load(), 0);
  REPO_ASSERT_OK(fs_->Commit());

  SnapMap want;
  for (int t = 0; t < kThreads; ++t) {
    Snap dir;
    dir.type = NodeType::kDirectory;
    want["/t" + std::to_string(t)] = dir;
    for (const auto& [path, data] : expected[t]) {
      Snap f;
      f.size = data.size();
      f.content = data;
      want[path] = f;
    }
  }
  // Compare what matters (type, size, content); modes and times are checked elsewhere.
  auto strip = [](SnapMap m) {
    for (auto& [p, s] : m) {
      s.mode = 0;
      s.mtime_ns = 0;
    }
    return m;
  };
  const SnapMap committed = strip(Committed());
  EXPECT_EQ(committed.size(), want.size());
  EXPECT_TRUE(committed == want) << "committed:\n"
                                 << Describe(committed) << "expected:\n"
                                 << Describe(want);
  const SnapMap live = strip(WalkFs(fs_.get()));
  EXPECT_TRUE(live == want) << "live:\n" << Describe(live);
  REPO_ASSERT_OK(fs_->Shutdown());
  // A fresh repository handle and mount agree.
  REPO_ASSERT_OK_AND_ASSIGN(auto repo2, store_.Open(Passphrase(kPass)));
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
  EXPECT_TRUE(strip(WalkFs(fs2.get())) == want);
  REPO_ASSERT_OK(fs2->Shutdown());
  std::lock_guard lock(log_mu_);
  for (const std::string& line : log_) EXPECT_EQ(line.find("failed"), std::string::npos) << line;
}

// --- POSIX details, holes, a final commit that fails ---

TEST_F(FileSystemTest, NamesLongerThan255BytesAreNameTooLongNotNotFound) {
  const std::string long_name(256, 'a');
  MakeFile(kRootNode, "ok", "x");
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, long_name),
              Code::kNameTooLong);  // stat, truncate, chmod...
  EXPECT_CODE(fs_->Unlink(c_, kRootNode, long_name), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rmdir(c_, kRootNode, long_name), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, long_name, kRootNode, "b", 0), Code::kNameTooLong);
  EXPECT_CODE(fs_->Rename(c_, kRootNode, "ok", kRootNode, long_name, 0), Code::kNameTooLong);
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, std::string(255, 'a')), Code::kNotFound);
  EXPECT_CODE(fs_->Lookup(c_, kRootNode, VersionsView::kName + std::string(250, 'x')),
              Code::kNameTooLong);
}

TEST_F(FileSystemTest, DirectoryLinkCountIsTwoPlusSubdirectories) {
  auto nlink = [&](NodeId ino, FileSystem* fs) -> uint32_t {
    auto a = fs->GetAttr(c_, ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->nlink : 0;
  };
  const NodeId d = MakeDir(kRootNode, "d");
  EXPECT_EQ(nlink(d, fs_.get()), 2u);
  const NodeId a = MakeDir(d, "a");
  MakeDir(d, "b");
  MakeFile(d, "file", "not a directory");
  EXPECT_EQ(nlink(d, fs_.get()), 4u);  // mkdir d d/a d/b; stat -c %h d
  EXPECT_EQ(nlink(a, fs_.get()), 2u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 3u);
  // rename moves a link; rmdir drops one; a directory replaced by a rename drops one.
  MakeDir(kRootNode, "e");
  REPO_ASSERT_OK(fs_->Rename(c_, d, "a", kRootNode, "a2", 0));
  EXPECT_EQ(nlink(d, fs_.get()), 3u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 5u);
  REPO_ASSERT_OK(fs_->Rename(c_, kRootNode, "e", d, "b", 0));
  EXPECT_EQ(nlink(d, fs_.get()), 3u);
  EXPECT_EQ(nlink(kRootNode, fs_.get()), 4u);
  REPO_ASSERT_OK(fs_->Rmdir(c_, d, "b"));
  EXPECT_EQ(nlink(d, fs_.get()), 2u);
  MakeDir(d, "c1");
  MakeDir(d, "c2");
  MakeDir(d, "c3");
  REPO_ASSERT_OK(fs_->Commit());
  // A second mount counts from the stored trees, before and without listing them.
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo_.get(), Options()));
  EXPECT_EQ(nlink(kRootNode, fs2.get()), 4u);  // d, a2, and 2
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut le, fs2->Lookup(c_, kRootNode, "d"));
  EXPECT_EQ(le.attr.nlink, 5u);
  EXPECT_EQ(nlink(le.attr.ino, fs2.get()), 5u);
  REPO_ASSERT_OK(fs2->Shutdown());
}

TEST_F(FileSystemTest, TruncateToTheSameSizeChangesNoTime) {
  const NodeId f = MakeFile(kRootNode, "f", "0123456789");
  SetAttrRequest t;
  t.set_mtime = true;
  t.mtime_ns = 1000000000;
  REPO_ASSERT_OK_AND_ASSIGN(Attr before, fs_->SetAttr(c_, f, t));
  const uint64_t gen = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  SetAttrRequest same;
  same.set_size = true;
  same.size = 10;
  REPO_ASSERT_OK_AND_ASSIGN(Attr after, fs_->SetAttr(c_, f, same));
  EXPECT_EQ(after.size, 10u);
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_EQ(after.ctime_ns, before.ctime_ns);
  // Nothing changed, so nothing is committed either.
  const uint64_t gen2 = Generation();
  REPO_ASSERT_OK(fs_->Commit());
  EXPECT_EQ(Generation(), gen2);
  EXPECT_GE(gen2, gen);
  // The same through an open handle (ftruncate).
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, true, false));
  REPO_ASSERT_OK_AND_ASSIGN(after, fs_->SetAttr(c_, f, same));
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_EQ(after.ctime_ns, before.ctime_ns);
  REPO_ASSERT_OK(fs_->Release(f, o.handle));
  // A real change still moves both.
  SetAttrRequest shrink;
  shrink.set_size = true;
  shrink.size = 3;
  REPO_ASSERT_OK_AND_ASSIGN(after, fs_->SetAttr(c_, f, shrink));
  EXPECT_GT(after.mtime_ns, before.mtime_ns);
  EXPECT_GT(after.ctime_ns, before.ctime_ns);
}

TEST_F(FileSystemTest, TerabyteTruncateIsAHoleWithoutBlocks) {
  constexpr uint64_t kTiB = uint64_t{1} << 40;
  const NodeId f = MakeFile(kRootNode, "sparse", "data");
  REPO_ASSERT_OK_AND_ASSIGN(Attr a, fs_->GetAttr(c_, f));
  EXPECT_EQ(a.blocks, 1u);
  SetAttrRequest grow;
  grow.set_size = true;
  grow.size = kTiB;
  const auto start = std::chrono::steady_clock::now();
  REPO_ASSERT_OK_AND_ASSIGN(a, fs_->SetAttr(c_, f, grow));  // truncate -s 1T, sealed at once
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(a.size, kTiB);
  EXPECT_EQ(a.blocks, 1u);  // the 4 bytes of data; the hole holds no blocks
  REPO_ASSERT_OK(fs_->Commit());
  REPO_ASSERT_OK_AND_ASSIGN(repo::TreeEntry e, CommittedEntry("/sparse"));
  EXPECT_EQ(e.size, kTiB);
  EXPECT_EQ(e.hole_bytes, kTiB - 4);
  REPO_ASSERT_OK_AND_ASSIGN(repo::FileObject file, repo_->objects().LoadFile(e.id));
  ASSERT_EQ(file.chunks.size(), 2u);
  EXPECT_TRUE(file.chunks[1] == repo::ChunkRef::Hole(kTiB - 4));

  // SEEK_DATA / SEEK_HOLE on an open handle.
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut o, fs_->Open(c_, f, false, false));
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 0, true).value(), std::optional<uint64_t>(4));
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 4, false).value(), std::nullopt);
  EXPECT_EQ(fs_->SeekDataOrHole(c_, f, 2, false).value(), std::optional<uint64_t>(2));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes far, fs_->Read(c_, f, o.handle, kTiB - 4096, 8192));
  EXPECT_EQ(far, Bytes(4096, 0));
  REPO_ASSERT_OK(fs_->Release(f, o.handle));

  // Another mount reports the same blocks from the tree entry, without loading the file.
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo_.get(), Options()));
  REPO_ASSERT_OK_AND_ASSIGN(EntryOut le, fs2->Lookup(c_, kRootNode, "sparse"));
  EXPECT_EQ(le.attr.size, kTiB);
  EXPECT_EQ(le.attr.blocks, 1u);
  REPO_ASSERT_OK(fs2->Shutdown());
}

// Issue #10 item 3: a file closed, then the disk fills before the commit: the final commit
// fails, and nothing may be dropped; once space returns, calling Shutdown again commits it.
TEST_F(FileSystemTest, FailedFinalCommitIsRetriedNotDropped) {
  auto fault_owned = std::make_unique<storage::FaultStore>(store_.get(), storage::FaultPlan{});
  storage::FaultStore* fault = fault_owned.get();
  REPO_ASSERT_OK_AND_ASSIGN(auto repo2,
                            repo::Repository::Open(std::move(fault_owned), Passphrase(kPass)));
  REPO_ASSERT_OK_AND_ASSIGN(auto fs2, FileSystem::Create(repo2.get(), Options()));
  MakeFile(kRootNode, "closed.bin", AsBytes("written and closed before the disk filled"), 0644,
           fs2.get());
  storage::FaultPlan full;
  full.fail_writes_after = 0;
  full.fail_code = Code::kNoSpace;
  fault->SetPlan(full);
  EXPECT_CODE(fs2->Shutdown(), Code::kNoSpace);
  EXPECT_CODE(CommittedEntry("/closed.bin"), Code::kNotFound);
  EXPECT_CODE(fs2->Shutdown(), Code::kNoSpace);  // still full: still failing, never "done"
  fault->SetPlan(storage::FaultPlan{});          // space is back
  REPO_ASSERT_OK(fs2->Shutdown());
  EXPECT_EQ(CommittedText("/closed.bin"), "written and closed before the disk filled");
  REPO_ASSERT_OK(fs2->Shutdown());  // idempotent once done
}

}  // namespace
}  // namespace weightfs::vfs
