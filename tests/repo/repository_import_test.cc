// Repository layer: import/export of local directory trees, stats and check.
#include "weightfs/repo/repository.h"

#include "repo/repository_test_util.h"

namespace weightfs::repo {
namespace {

using namespace repo_test;  // NOLINT(google-build-using-namespace): the shared fixture

// --- import / export ---

struct LocalNode {
  char type;  // 'f', 'd', 'l'
  uint32_t mode;
  int64_t mtime_ns;
  Bytes content;  // file content or symlink target
  std::map<std::string, Bytes> xattrs;
  bool operator==(const LocalNode&) const = default;
};

std::map<std::string, Bytes> UserXattrs(const std::string& path) {
  std::map<std::string, Bytes> out;
  char names[4096];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof(names));
  for (ssize_t pos = 0; n > 0 && pos < n;) {
    std::string name(names + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    if (name.rfind("user.", 0) != 0) continue;
    char value[4096];
    ssize_t len = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
    if (len >= 0) out[name] = Bytes(value, value + len);
  }
  return out;
}

// Everything below root (not root itself) that import/export must preserve, by relative path.
std::map<std::string, LocalNode> Snapshot(const std::string& root) {
  std::map<std::string, LocalNode> out;
  for (auto it = std::filesystem::recursive_directory_iterator(root);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const std::string p = it->path().string();
    struct stat st;
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    LocalNode n;
    n.mode = st.st_mode & 07777;
    n.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    n.xattrs = UserXattrs(p);
    if (S_ISLNK(st.st_mode)) {
      n.type = 'l';
      n.mode = 0;  // symlink modes are not meaningful on Linux
      n.content = ToBytes(std::filesystem::read_symlink(it->path()).string());
    } else if (S_ISDIR(st.st_mode)) {
      n.type = 'd';
    } else {
      n.type = 'f';
      n.content = testing::ReadLocalFile(p);
    }
    out[p.substr(root.size())] = std::move(n);
  }
  return out;
}

void SetMtime(const std::string& path, int64_t ns) {
  struct timespec ts[2];
  ts[0].tv_sec = ns / 1000000000;
  ts[0].tv_nsec = ns % 1000000000;
  ts[1] = ts[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// import reads files with O_DIRECT into the writer's page-aligned buffers (the pending chunk of
// a full buffer is moved so that the next read starts on a page): the chunks must be exactly
// those of the same bytes written in pieces, and export must give the bytes back, for files
// that span several 16 MiB buffers and end off a page boundary.
TEST_F(RepoTest, ImportedFilesChunkLikeWrittenOnes) {
  std::mt19937_64 rng(TestSeed());
  testing::TempDir tmp;
  for (size_t size : {size_t{(40 << 20) + 4097}, size_t{4095}, size_t{3 << 20}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Bytes data = RandomBytes(rng, size);
    const std::string src = tmp.Sub("f" + std::to_string(size) + ".bin");
    testing::WriteLocalFile(src, data);
    ImportStats stats;
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry entry, ImportPath(repo_.get(), src, "/", &stats, nullptr));
    REPO_ASSERT_OK_AND_ASSIGN(FileObject imported, repo_->objects().LoadFile(entry.id));
    FileWriter w(repo_.get(), kLegacyKeyId, true);
    for (size_t off = 0; off < size; off += 777777) {
      REPO_ASSERT_OK(w.Write(ByteView(data).subspan(off, std::min<size_t>(777777, size - off))));
    }
    REPO_ASSERT_OK_AND_ASSIGN(ObjectId written, w.Finish());
    EXPECT_EQ(imported.chunks, w.file().chunks);
    EXPECT_EQ(written, entry.id);
    const std::string dest = tmp.Sub("out" + std::to_string(size));
    uint64_t done = 0;
    REPO_ASSERT_OK(ExportEntry(*repo_, entry, dest, nullptr, &done));
    EXPECT_EQ(done, size);
    EXPECT_TRUE(testing::ReadLocalFile(dest) == data);
  }
}

TEST_F(RepoTest, ImportExportRoundTrip) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  TempDir tmp;
  const std::string src = tmp.Sub("src");
  namespace fs = std::filesystem;
  fs::create_directories(src + "/nested/deeper/deepest");
  fs::create_directories(src + "/empty dir");
  testing::WriteLocalFile(src + "/empty.bin", {});
  testing::WriteLocalFile(src + "/name with spaces.txt", AsBytes("spaces\n"));
  testing::WriteLocalFile(src + "/ünïcödé-файл-模型.bin", RandomBytes(rng, 1000));
  testing::WriteLocalFile(src + "/nested/deeper/deepest/weights.bin",
                          RandomBytes(rng, (1 << 20) + 12345));
  testing::WriteLocalFile(src + "/nested/exec.sh", AsBytes("#!/bin/sh\necho hi\n"));
  ASSERT_EQ(::symlink("nested/deeper/deepest/weights.bin", (src + "/link to weights").c_str()), 0);
  ASSERT_EQ(::symlink("/does/not/exist", (src + "/nested/dangling").c_str()), 0);
  ASSERT_EQ(::chmod((src + "/nested/exec.sh").c_str(), 0750), 0);
  ASSERT_EQ(::chmod((src + "/empty.bin").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((src + "/nested/deeper").c_str(), 0711), 0);
  const bool have_xattrs = ::setxattr((src + "/name with spaces.txt").c_str(), "user.weightfs.test",
                                      "value\0bin", 9, 0) == 0;
  if (have_xattrs) {
    ASSERT_EQ(::setxattr((src + "/nested").c_str(), "user.dir", "d", 1, 0), 0);
  } else {
    std::printf("note: %s does not support user.* xattrs (errno %d); xattrs not tested\n",
                src.c_str(), errno);
  }
  // Mtimes last (children first, since creating a child changes its directory's mtime).
  int64_t t = 1600000000'123456789;
  std::vector<std::string> all;
  for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator();
       ++it) {
    all.push_back(it->path().string());
  }
  std::sort(all.rbegin(), all.rend());
  for (const std::string& p : all) SetMtime(p, t += 1000000007);

  ImportStats stats;
  uint64_t progress_calls = 0;
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry entry, ImportPath(repo_.get(), src, "/", &stats,
                                                        [&](uint64_t) { ++progress_calls; }));
  EXPECT_EQ(entry.type, EntryType::kDirectory);
  EXPECT_EQ(stats.files, 5u);
  REPO_ASSERT_OK_AND_ASSIGN(uint64_t local_size, LocalSize(src));
  EXPECT_EQ(stats.bytes, local_size);
  EXPECT_EQ(stats.new_bytes, local_size);  // nothing to dedup against
  EXPECT_GT(progress_calls, 0u);

  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry sym, LookupPath(*repo_, entry.id, "/link to weights"));
  EXPECT_EQ(sym.type, EntryType::kSymlink);
  EXPECT_EQ(sym.target, "nested/deeper/deepest/weights.bin");
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry uni, LookupPath(*repo_, entry.id, "/ünïcödé-файл-模型.bin"));
  EXPECT_EQ(uni.size, 1000u);

  const std::string dest = tmp.Sub("dest");
  uint64_t done = 0;
  REPO_ASSERT_OK(ExportEntry(*repo_, entry, dest, nullptr, &done));
  EXPECT_EQ(done, local_size);
  const auto want = Snapshot(src);
  const auto got = Snapshot(dest);
  EXPECT_EQ(want.size(), got.size());
  for (const auto& [path, node] : want) {
    SCOPED_TRACE(path);
    auto it = got.find(path);
    ASSERT_NE(it, got.end());
    EXPECT_EQ(it->second.type, node.type);
    EXPECT_EQ(it->second.mode, node.mode);
    EXPECT_EQ(it->second.mtime_ns, node.mtime_ns);
    EXPECT_TRUE(it->second.content == node.content);
    EXPECT_EQ(it->second.xattrs, node.xattrs);
  }
  if (have_xattrs) {
    EXPECT_EQ(got.at("/name with spaces.txt").xattrs.at("user.weightfs.test"),
              Bytes({'v', 'a', 'l', 'u', 'e', 0, 'b', 'i', 'n'}));
  }
  struct stat a, b;
  ASSERT_EQ(::stat(src.c_str(), &a), 0);
  ASSERT_EQ(::stat(dest.c_str(), &b), 0);
  EXPECT_EQ(a.st_mode & 07777, b.st_mode & 07777);
  EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
  EXPECT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);

  // Exporting again over the existing tree replaces files and leaves no partial files.
  REPO_ASSERT_OK(ExportEntry(*repo_, entry, dest, nullptr, &done));
  EXPECT_EQ(Snapshot(dest).size(), want.size());

  // A single file imports and exports too.
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry single, ImportPath(repo_.get(), src + "/nested/exec.sh",
                                                         "/exec.sh", &stats, nullptr));
  EXPECT_EQ(single.type, EntryType::kFile);
  EXPECT_EQ(single.mode, 0750u);
  REPO_ASSERT_OK(ExportEntry(*repo_, single, tmp.Sub("exec-copy.sh"), nullptr, &done));
  EXPECT_EQ(testing::ReadLocalFile(tmp.Sub("exec-copy.sh")), ToBytes("#!/bin/sh\necho hi\n"));

  // A FIFO imports as a FIFO entry (nothing is read from it) and exports as a FIFO again.
  ASSERT_EQ(::mkfifo(tmp.Sub("fifo").c_str(), 0640), 0);
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry fifo,
                            ImportPath(repo_.get(), tmp.Sub("fifo"), "/fifo", &stats, nullptr));
  EXPECT_EQ(fifo.type, EntryType::kFifo);
  EXPECT_EQ(fifo.mode, 0640u);
  REPO_ASSERT_OK(ExportEntry(*repo_, fifo, tmp.Sub("fifo-copy"), nullptr, &done));
  struct stat st;
  ASSERT_EQ(::lstat(tmp.Sub("fifo-copy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// --- stats and check ---

TEST_F(RepoTest, ComputeStatsCounts) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes x = RandomBytes(rng, 100 * 1024);
  const Bytes y = RandomBytes(rng, 50 * 1024);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId xid, WriteContent(repo_.get(), x));
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId yid, WriteContent(repo_.get(), y));
  REPO_ASSERT_OK(repo_
                     ->CommitSnapshot(
                         [&](const MainRef& m) -> Result<ObjectId> {
                           ASSIGN_OR_RETURN(ObjectId r, PutAtPath(repo_.get(), m.live_root, {"a"},
                                                                  FileEntry(xid, x.size())));
                           ASSIGN_OR_RETURN(r, PutAtPath(repo_.get(), r, {"dir", "b"},
                                                         FileEntry(xid, x.size())));
                           return PutAtPath(repo_.get(), r, {"c"}, FileEntry(yid, y.size()));
                         },
                         "first")
                     .status());
  REPO_ASSERT_OK_AND_ASSIGN(RepoStats s1, ComputeStats(*repo_));
  EXPECT_EQ(s1.snapshots, 1u);
  EXPECT_EQ(s1.live_files, 3u);
  EXPECT_EQ(s1.live_bytes, 250u * 1024);
  EXPECT_EQ(s1.logical_bytes, 250u * 1024);  // the live tree is the latest snapshot
  EXPECT_EQ(s1.unique_bytes, 150u * 1024);   // /a and /dir/b share their chunks
  uint64_t objects = 0, stored = 0;
  REPO_ASSERT_OK(store_.get()->ForEach([&](const ObjectId&, uint64_t size) {
    ++objects;
    stored += size;
    return Status::Ok();
  }));
  EXPECT_EQ(s1.objects, objects);
  EXPECT_EQ(s1.stored_bytes, stored);
  EXPECT_DOUBLE_EQ(s1.dedup_ratio, static_cast<double>(s1.logical_bytes) / s1.stored_bytes);

  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo second, CommitFile(repo_.get(), "/d", y, "second"));
  REPO_ASSERT_OK_AND_ASSIGN(RepoStats s2, ComputeStats(*repo_));
  EXPECT_EQ(s2.snapshots, 2u);
  EXPECT_EQ(s2.live_files, 4u);
  EXPECT_EQ(s2.live_bytes, 300u * 1024);
  EXPECT_EQ(s2.logical_bytes, (250u + 300u) * 1024);
  EXPECT_EQ(s2.unique_bytes, 150u * 1024);

  // Live changes not yet in a snapshot count on their own.
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  MainRef m = main.value;
  REPO_ASSERT_OK_AND_ASSIGN(m.live_root,
                            PutAtPath(repo_.get(), m.live_root, {"e"}, FileEntry(yid, y.size())));
  REPO_ASSERT_OK(repo_->refs().WriteMain(m, main.raw));
  REPO_ASSERT_OK_AND_ASSIGN(RepoStats s3, ComputeStats(*repo_));
  EXPECT_EQ(s3.live_files, 5u);
  EXPECT_EQ(s3.logical_bytes, (350u + 250u + 300u) * 1024);
}

TEST_F(RepoTest, CheckHealthyRepository) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes big = RandomBytes(rng, 3 << 20);
  REPO_ASSERT_OK(CommitFile(repo_.get(), "/m/big.bin", big, "one").status());
  REPO_ASSERT_OK(CommitFile(repo_.get(), "/m/small.txt", AsBytes("small"), "two").status());
  REPO_ASSERT_OK(repo_->key_slots().AddKeySlot("reader", "reader", Passphrase("r"), kTestScrypt));
  REPO_ASSERT_OK_AND_ASSIGN(auto list, repo_->ListSnapshots());
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  REPO_ASSERT_OK(repo_->refs().WriteTags({{"first", list.back().id}}, tags.raw));
  for (bool read_data : {false, true}) {
    SCOPED_TRACE(read_data ? "read_data" : "sizes only");
    CheckOptions o;
    o.read_data = read_data;
    uint64_t last_progress = 0;
    o.progress = [&](uint64_t b) { last_progress = b; };
    REPO_ASSERT_OK_AND_ASSIGN(CheckReport r, CheckRepository(*repo_, o));
    EXPECT_TRUE(r.problems.empty()) << ::testing::PrintToString(r.problems);
    EXPECT_EQ(r.snapshots, 2u);
    EXPECT_EQ(r.files, 2u);
    EXPECT_EQ(r.trees, 4u);  // each snapshot's root and /m
    EXPECT_EQ(r.chunk_bytes, big.size() + 5);
    EXPECT_GE(r.chunks, 2u);
    if (read_data) {
      EXPECT_EQ(last_progress, big.size() + 5);
    }
  }
}

}  // namespace
}  // namespace weightfs::repo
