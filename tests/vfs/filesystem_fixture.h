// The FileSystemTest fixture shared by the filesystem_*_test.cc files: a FileSystem without
// FUSE over an in-memory repository, helpers that create and read files, and snapshots of the
// mounted tree (WalkFs) and of the committed one (Committed) for comparing the two.
// The fixture is one class for all its test files (gtest requires one fixture type per suite);
// the constants are const, so each test file has its own copy.
#pragma once

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

inline std::string Describe(const SnapMap& m) {
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

}  // namespace weightfs::vfs
