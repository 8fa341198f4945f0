// History tools (repo/history.h): tags, offline snapshots, log PATH and diff (down to
// safetensors tensors). In-memory stores and the cheap test KDF.
#include "weightfs/repo/history.h"

#include "repo/history_test_util.h"

namespace weightfs::repo {
namespace {

using namespace history_test;  // NOLINT(google-build-using-namespace): the shared fixture

// --- tags and snapshots ---

TEST(TagNameTest, Validation) {
  for (const char* good :
       {"v1", "release-2026.11", "a", "A_b.c-d", "deadbee", "v0123456789abcdef", "cafebabeX"}) {
    EXPECT_TRUE(ValidateTagName(good).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string(".hidden"), std::string("-x"), std::string("a/b"),
        std::string("a b"), std::string("deadbeef"), std::string("DEADBEEF01"),
        std::string("latest"), std::string("live"), std::string(129, 'a'),
        std::string("t\xc3\xa4g"), std::string("x\n")}) {
    Status s = ValidateTagName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_TRUE(ValidateTagName(std::string(128, 'x')).ok());
}

TEST_F(HistoryTest, TagsAreSetRefusedMovedAndDeleted) {
  SnapshotInfo s1 = Commit("/a", "one");
  SnapshotInfo s2 = Commit("/a", "two");
  REPO_ASSERT_OK(SetTag(repo_.get(), "v1", s1.id, false));
  REPO_EXPECT_OK(SetTag(repo_.get(), "v1", s1.id, false));  // same target: fine
  EXPECT_EQ(SetTag(repo_.get(), "v1", s2.id, false).code(), Code::kAlreadyExists);
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo r, repo_->ResolveVersion("v1"));
  EXPECT_EQ(r.id, s1.id);
  REPO_ASSERT_OK(SetTag(repo_.get(), "v1", s2.id, true));
  REPO_ASSERT_OK_AND_ASSIGN(r, repo_->ResolveVersion("v1"));
  EXPECT_EQ(r.id, s2.id);
  EXPECT_EQ(SetTag(repo_.get(), "bad/name", s1.id, false).code(), Code::kInvalidArgument);
  EXPECT_FALSE(
      SetTag(repo_.get(), "ghost", repo_->objects().EmptyTreeId(), false).ok());  // not a snapshot
  REPO_ASSERT_OK(DeleteTag(repo_.get(), "v1"));
  EXPECT_EQ(DeleteTag(repo_.get(), "v1").code(), Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  EXPECT_TRUE(tags.value.empty());
}

TEST_F(HistoryTest, SnapshotOfUnchangedTreeRecordsTheSameRoot) {
  SnapshotInfo s1 = Commit("/a", "one");
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s2, SnapshotLive(repo_.get(), {"again", "v2", false}));
  EXPECT_EQ(s2.snapshot.root, s1.snapshot.root);
  EXPECT_EQ(s2.snapshot.seq, 2u);
  EXPECT_EQ(s2.snapshot.parent, s1.id);
  EXPECT_EQ(s2.snapshot.message, "again");
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo tagged, repo_->ResolveVersion("v2"));
  EXPECT_EQ(tagged.id, s2.id);
  // A duplicate tag is refused before anything is written.
  EXPECT_EQ(SnapshotLive(repo_.get(), {"", "v2", false}).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(Chain().size(), 2u);
  EXPECT_EQ(SnapshotLive(repo_.get(), {"", "-bad", false}).status().code(), Code::kInvalidArgument);
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s3, SnapshotLive(repo_.get(), {"", "v2", true}));
  REPO_ASSERT_OK_AND_ASSIGN(tagged, repo_->ResolveVersion("v2"));
  EXPECT_EQ(tagged.id, s3.id);
  EXPECT_EQ(s3.snapshot.message, "snapshot");
}

TEST_F(HistoryTest, ResolveVersionOrLive) {
  SnapshotInfo s1 = Commit("/a", "one");
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  MainRef next = main.value;
  next.live_root = repo_->objects().EmptyTreeId();
  REPO_ASSERT_OK(repo_->refs().WriteMain(next, main.raw));
  REPO_ASSERT_OK_AND_ASSIGN(ResolvedVersion live, ResolveVersionOrLive(*repo_, "live"));
  EXPECT_EQ(live.root, repo_->objects().EmptyTreeId());
  EXPECT_FALSE(live.snapshot.has_value());
  REPO_ASSERT_OK_AND_ASSIGN(ResolvedVersion latest,
                            ResolveVersionOrLive(*repo_, s1.id.Hex().substr(0, 8)));
  EXPECT_EQ(latest.root, s1.snapshot.root);
  EXPECT_EQ(latest.label, s1.id.Hex().substr(0, 16));
  EXPECT_EQ(ResolveVersionOrLive(*repo_, "nope").status().code(), Code::kNotFound);
}

// --- log PATH ---

TEST_F(HistoryTest, SnapshotsTouchingAPath) {
  SnapshotInfo s1 = Commit("/a", "a1", "add a");
  SnapshotInfo s2 = Commit("/dir/b", "b1", "add b");
  SnapshotInfo s3 = Commit("/a", "a2", "change a");
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo s4, SnapshotLive(repo_.get(), {"nothing", "", false}));
  SnapshotInfo s5 = CommitAt(kMondayNs, "remove a", [&](const ObjectId& root) -> Result<ObjectId> {
    return RemoveTop(root, "a");
  });
  SnapshotInfo s6 = CommitAt(kMondayNs, "chmod b", [&](const ObjectId& root) -> Result<ObjectId> {
    ASSIGN_OR_RETURN(TreeEntry b, LookupPath(*repo_, root, "/dir/b"));
    b.mode = 0600;
    return PutAtPath(repo_.get(), root, {"dir", "b"}, b);
  });
  SnapshotInfo s7 = Commit("/a", "a1", "a is back");

  using IdList = std::vector<ObjectId>;
  REPO_ASSERT_OK_AND_ASSIGN(auto a, SnapshotsTouching(*repo_, "/a"));
  EXPECT_EQ(Ids(a), (IdList{s7.id, s5.id, s3.id, s1.id}));
  REPO_ASSERT_OK_AND_ASSIGN(auto b, SnapshotsTouching(*repo_, "dir/b/"));
  EXPECT_EQ(Ids(b), (IdList{s6.id, s2.id}));
  REPO_ASSERT_OK_AND_ASSIGN(auto dir, SnapshotsTouching(*repo_, "/dir"));
  EXPECT_EQ(Ids(dir), (IdList{s6.id, s2.id}));
  REPO_ASSERT_OK_AND_ASSIGN(auto root, SnapshotsTouching(*repo_, "/"));
  EXPECT_EQ(Ids(root), (IdList{s7.id, s6.id, s5.id, s3.id, s2.id, s1.id}));  // not s4: same root
  REPO_ASSERT_OK_AND_ASSIGN(auto none, SnapshotsTouching(*repo_, "/nope"));
  EXPECT_TRUE(none.empty());
  REPO_ASSERT_OK_AND_ASSIGN(auto under_file, SnapshotsTouching(*repo_, "/a/x"));
  EXPECT_TRUE(under_file.empty());
  EXPECT_EQ(SnapshotsTouching(*repo_, "/../a").status().code(), Code::kInvalidArgument);
  (void)s4;
}

// --- diff ---

const FileChange* Find(const std::vector<FileChange>& changes, const std::string& path) {
  for (const auto& c : changes) {
    if (c.path == path) return &c;
  }
  return nullptr;
}

TEST_F(HistoryTest, DiffFilesDirectoriesAndTypes) {
  Commit("/keep", "same");
  Commit("/mod", "before");
  Commit("/gone", "bye");
  Commit("/becomes_dir", "file");
  Commit("/meta", "m");
  SnapshotInfo v1 = Commit("/old/x", "x");
  Commit("/mod", "after!!");
  SnapshotInfo v2 = CommitAt(kMondayNs, "big change", [&](const ObjectId& r) -> Result<ObjectId> {
    ObjectId root = RemoveTop(RemoveTop(RemoveTop(r, "gone"), "old"), "becomes_dir");
    ASSIGN_OR_RETURN(ObjectId f, WriteContent(repo_.get(), AsBytes("new")));
    ASSIGN_OR_RETURN(root, PutAtPath(repo_.get(), root, {"new", "deep", "n"}, FileEntry(f, 3)));
    ASSIGN_OR_RETURN(root, PutAtPath(repo_.get(), root, {"becomes_dir", "inner"}, FileEntry(f, 3)));
    ASSIGN_OR_RETURN(TreeEntry meta, LookupPath(*repo_, root, "/meta"));
    meta.mode = 0600;
    return PutAtPath(repo_.get(), root, {"meta"}, meta);
  });
  REPO_ASSERT_OK_AND_ASSIGN(auto d, DiffTrees(*repo_, v1.snapshot.root, v2.snapshot.root, "/"));
  std::vector<std::string> paths;
  paths.reserve(d.size());
  for (const auto& c : d) paths.push_back(std::string(ChangeKindName(c.kind)) + " " + c.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "type_changed /becomes_dir", "added /becomes_dir/inner", "removed /gone",
                       "metadata /meta", "modified /mod", "added /new", "added /new/deep",
                       "added /new/deep/n", "removed /old", "removed /old/x"}));
  const FileChange* mod = Find(d, "/mod");
  ASSERT_NE(mod, nullptr);
  EXPECT_EQ(mod->old_size, 6u);
  EXPECT_EQ(mod->new_size, 7u);
  EXPECT_FALSE(mod->safetensors);
  const FileChange* t = Find(d, "/becomes_dir");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->old_type, EntryType::kFile);
  EXPECT_EQ(t->new_type, EntryType::kDirectory);
  EXPECT_EQ(Find(d, "/keep"), nullptr);

  // Restricted to a path; the reverse direction swaps added and removed.
  REPO_ASSERT_OK_AND_ASSIGN(auto sub,
                            DiffTrees(*repo_, v2.snapshot.root, v1.snapshot.root, "/new"));
  ASSERT_EQ(sub.size(), 3u);
  EXPECT_EQ(sub[0].kind, ChangeKind::kRemoved);
  EXPECT_EQ(sub[2].path, "/new/deep/n");
  EXPECT_EQ(DiffTrees(*repo_, v1.snapshot.root, v2.snapshot.root, "/nowhere").status().code(),
            Code::kNotFound);
  REPO_ASSERT_OK_AND_ASSIGN(auto same, DiffTrees(*repo_, v1.snapshot.root, v1.snapshot.root, "/"));
  EXPECT_TRUE(same.empty());
}

std::vector<GenTensor> BaseModel(std::mt19937_64& rng) {
  return {GenTensor{"embed.weight", "F32", {64, 256}, RandomBytes(rng, 64 * 256 * 4)},
          GenTensor{"layer.0.weight", "F32", {256, 256}, RandomBytes(rng, 256 * 256 * 4)},
          GenTensor{"layer.1.weight", "F32", {256, 128}, RandomBytes(rng, 256 * 128 * 4)},
          GenTensor{"old.bias", "F32", {256}, RandomBytes(rng, 256 * 4)},
          GenTensor{"zero", "F32", {0}, {}}};
}

std::map<std::string, TensorChangeKind> TensorKinds(const FileChange& c) {
  std::map<std::string, TensorChangeKind> out;
  for (const auto& t : c.tensors) out[t.name] = t.kind;
  return out;
}

// Stores a file with or without the forced cuts at tensor boundaries.
ObjectId StoreFile(Repository* repo, const Bytes& data, bool safetensors_cuts) {
  FileWriter w(repo, kLegacyKeyId, safetensors_cuts);
  EXPECT_TRUE(w.Write(data).ok());
  auto id = w.Finish();
  EXPECT_TRUE(id.ok());
  return *id;
}

void CheckTensorDiff(Repository* repo, bool safetensors_cuts) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  std::vector<GenTensor> base = BaseModel(rng);
  std::vector<GenTensor> next = base;
  next[1].data[12345] ^= 1;  // layer.0: content
  next[2].dtype = "F16";     // layer.1: dtype (same bytes)
  next[2].shape = {256, 256};
  next.erase(next.begin() + 3);                                                // old.bias: removed
  next.push_back(GenTensor{"new.bias", "F32", {128}, RandomBytes(rng, 512)});  // added
  const Bytes a = MakeSafetensors(base, {{"format", "pt"}});
  const Bytes b = MakeSafetensors(next, {{"format", "pt"}});
  ObjectId fa = StoreFile(repo, a, safetensors_cuts), fb = StoreFile(repo, b, safetensors_cuts);
  auto ra = PutAtPath(repo, repo->objects().EmptyTreeId(), {"m", "model.safetensors"},
                      FileEntry(fa, a.size()));
  auto rb = PutAtPath(repo, repo->objects().EmptyTreeId(), {"m", "model.safetensors"},
                      FileEntry(fb, b.size()));
  ASSERT_TRUE(ra.ok() && rb.ok());
  REPO_ASSERT_OK_AND_ASSIGN(auto d, DiffTrees(*repo, *ra, *rb, "/"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, "/m/model.safetensors");
  EXPECT_EQ(d[0].kind, ChangeKind::kModified);
  EXPECT_TRUE(d[0].safetensors);
  EXPECT_TRUE(d[0].header_changed);
  EXPECT_EQ(TensorKinds(d[0]),
            (std::map<std::string, TensorChangeKind>{{"layer.0.weight", TensorChangeKind::kContent},
                                                     {"layer.1.weight", TensorChangeKind::kLayout},
                                                     {"new.bias", TensorChangeKind::kAdded},
                                                     {"old.bias", TensorChangeKind::kRemoved}}));
  for (const auto& tc : d[0].tensors) {
    if (tc.name == "layer.1.weight") {
      EXPECT_EQ(tc.old_dtype, "F32");
      EXPECT_EQ(tc.new_dtype, "F16");
      EXPECT_EQ(tc.new_shape, (std::vector<uint64_t>{256, 256}));
    }
  }
  // Without tensors: only the file.
  REPO_ASSERT_OK_AND_ASSIGN(auto plain,
                            DiffTrees(*repo, *ra, *rb, "/m/model.safetensors", {.tensors = false}));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_FALSE(plain[0].safetensors);
}

TEST_F(HistoryTest, DiffNamesChangedTensorsByChunkIds) { CheckTensorDiff(repo_.get(), true); }

// Chunks cut by content only (as a file written through a mount at random offsets could be):
// the covering chunks differ for unchanged tensors too, and the bytes decide.
TEST_F(HistoryTest, DiffNamesChangedTensorsWithoutTensorCuts) {
  CheckTensorDiff(repo_.get(), false);
}

TEST_F(HistoryTest, DiffOfAHeaderOnlyChangeNamesNoTensor) {
  std::mt19937_64 rng(7);
  std::vector<GenTensor> base = BaseModel(rng);
  const Bytes a = MakeSafetensors(base, {{"format", "pt"}});
  const Bytes b = MakeSafetensors(base, {{"format", "pt"}, {"note", "fine-tuned"}});
  auto sa = CommitFile(repo_.get(), "/model.safetensors", a, "a");
  auto sb = CommitFile(repo_.get(), "/model.safetensors", b, "b");
  ASSERT_TRUE(sa.ok() && sb.ok());
  REPO_ASSERT_OK_AND_ASSIGN(auto d, DiffTrees(*repo_, sa->snapshot.root, sb->snapshot.root, "/"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].safetensors);
  EXPECT_TRUE(d[0].header_changed);
  EXPECT_TRUE(d[0].tensors.empty());
  // A file that is safetensors in one version only is compared as a file.
  auto sc = CommitFile(repo_.get(), "/model.safetensors", AsBytes("not a model"), "c");
  ASSERT_TRUE(sc.ok());
  REPO_ASSERT_OK_AND_ASSIGN(d, DiffTrees(*repo_, sb->snapshot.root, sc->snapshot.root, "/"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].safetensors);
}

TEST_F(HistoryTest, DiffAgainstTheLiveTree) {
  SnapshotInfo s1 = Commit("/a", "one");
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId f, WriteContent(repo_.get(), AsBytes("two!")));
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  MainRef next = main.value;
  REPO_ASSERT_OK_AND_ASSIGN(next.live_root,
                            PutAtPath(repo_.get(), main.value.live_root, {"a"}, FileEntry(f, 4)));
  REPO_ASSERT_OK(repo_->refs().WriteMain(next, main.raw));
  REPO_ASSERT_OK_AND_ASSIGN(ResolvedVersion live, ResolveVersionOrLive(*repo_, "live"));
  REPO_ASSERT_OK_AND_ASSIGN(auto d, DiffTrees(*repo_, s1.snapshot.root, live.root, "/"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, ChangeKind::kModified);
  EXPECT_EQ(d[0].new_size, 4u);
}

}  // namespace
}  // namespace weightfs::repo
