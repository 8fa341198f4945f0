// History tools (repo/history.h): tags, offline snapshots, log PATH, diff (down to safetensors
// tensors), restore, forget policies and garbage collection. In-memory stores (a local store
// where object mtimes must be set) and the cheap test KDF.
#include "weightfs/repo/history.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "support/repo_fixtures.h"
#include "support/safetensors_gen.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::repo {
namespace {

using testgen::GenTensor;
using testgen::MakeSafetensors;
using testing::AllObjects;
using testing::CommitFile;
using testing::FastInit;
using testing::FileEntry;
using testing::Passphrase;
using testing::RandomBytes;
using testing::ReadContent;
using testing::SharedStore;
using testing::TempDir;
using testing::TestSeed;
using testing::WriteContent;

constexpr char kPass[] = "correct horse battery staple";
constexpr int64_t kDayNs = 86400LL * 1000000000LL;
// 2026-01-05 00:00:00 UTC, a Monday.
constexpr int64_t kMondayNs = 1767571200LL * 1000000000LL;

ForgetPolicy Policy(int last, int daily, int weekly, bool tagged) {
  ForgetPolicy p;
  p.keep_last = last;
  p.keep_daily = daily;
  p.keep_weekly = weekly;
  p.keep_tagged = tagged;
  return p;
}

CheckOptions DeepCheck() {
  CheckOptions o;
  o.read_data = true;
  return o;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase(kPass)));
  }

  // Commits data at path and returns the snapshot.
  SnapshotInfo Commit(const std::string& path, const std::string& data,
                      const std::string& message = "c") {
    auto s = CommitFile(repo_.get(), path, AsBytes(data), message);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SnapshotInfo{};
  }

  // Commits a snapshot of a live tree changed by change(root), with the given time.
  SnapshotInfo CommitAt(int64_t time_ns, const std::string& message,
                        const std::function<Result<ObjectId>(const ObjectId&)>& change) {
    auto main = repo_->refs().ReadMain();
    EXPECT_TRUE(main.ok());
    auto root = change(main->value.live_root);
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    SnapshotObject s;
    s.root = *root;
    s.parent = main->value.head;
    s.seq = main->value.head_seq + 1;
    s.time_ns = time_ns;
    s.author = "admin";
    s.message = message;
    auto id = repo_->objects().PutObject(ObjectType::kSnapshot, EncodeSnapshot(s));
    EXPECT_TRUE(id.ok());
    MainRef next = main->value;
    next.head = *id;
    next.head_seq = s.seq;
    next.live_root = *root;
    next.generation++;
    EXPECT_TRUE(repo_->refs().WriteMain(next, main->raw).ok());
    return SnapshotInfo{*id, s};
  }

  // A snapshot at time_ns in which /f<i> holds content unique to it.
  SnapshotInfo CommitUniqueAt(int64_t time_ns, int i) {
    return CommitAt(time_ns, "s" + std::to_string(i),
                    [&](const ObjectId& root) -> Result<ObjectId> {
                      const std::string data = "content of snapshot " + std::to_string(i);
                      ASSIGN_OR_RETURN(ObjectId id, WriteContent(repo_.get(), AsBytes(data)));
                      return PutAtPath(repo_.get(), root, {"f" + std::to_string(i)},
                                       FileEntry(id, data.size()));
                    });
  }

  // A new root without top-level entry name.
  ObjectId RemoveTop(const ObjectId& root, const std::string& name) {
    auto tree = repo_->objects().LoadTree(root);
    EXPECT_TRUE(tree.ok());
    std::erase_if(tree->entries, [&](const TreeEntry& e) { return e.name == name; });
    auto id = repo_->objects().PutTree(*tree);
    EXPECT_TRUE(id.ok());
    return *id;
  }

  std::vector<ObjectId> Ids(const std::vector<SnapshotInfo>& snaps) {
    std::vector<ObjectId> out;
    out.reserve(snaps.size());
    for (const auto& s : snaps) out.push_back(s.id);
    return out;
  }

  std::vector<SnapshotInfo> Chain() {
    auto snaps = repo_->ListSnapshots();
    EXPECT_TRUE(snaps.ok()) << snaps.status().ToString();
    return snaps.ok() ? *snaps : std::vector<SnapshotInfo>{};
  }

  std::vector<std::string> Messages() {
    std::vector<std::string> out;
    for (const auto& s : Chain()) out.push_back(s.snapshot.message);
    return out;
  }

  SharedStore store_;
  std::unique_ptr<Repository> repo_;
};

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
  FileWriter w(repo, safetensors_cuts);
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

// --- restore ---

TEST_F(HistoryTest, RestoreIsANewSnapshot) {
  SnapshotInfo v1 = Commit("/dir/a", "version one");
  Commit("/dir/b", "bee");
  SnapshotInfo s3 = Commit("/dir/a", "version two");
  REPO_ASSERT_OK(SetTag(repo_.get(), "v1", v1.id, false));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo r, RestoreToLive(repo_.get(), "v1", "dir/a"));
  EXPECT_EQ(r.snapshot.message, "restore /dir/a from " + v1.id.Hex().substr(0, 16));
  EXPECT_EQ(r.snapshot.parent, s3.id);
  EXPECT_EQ(r.snapshot.seq, 4u);
  // History is untouched; the live tree has a's old content and keeps b.
  std::vector<SnapshotInfo> chain = Chain();
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[1].id, s3.id);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_EQ(main.value.live_root, r.snapshot.root);
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry a, LookupPath(*repo_, main.value.live_root, "/dir/a"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, ReadContent(*repo_, a.id));
  EXPECT_EQ(AsString(content), "version one");
  EXPECT_TRUE(LookupPath(*repo_, main.value.live_root, "/dir/b").ok());

  // Everything: the root of v1 (b disappears).
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo all,
                            RestoreToLive(repo_.get(), v1.id.Hex().substr(0, 10), "/"));
  EXPECT_EQ(all.snapshot.root, v1.snapshot.root);
  EXPECT_EQ(Chain().size(), 5u);

  EXPECT_EQ(RestoreToLive(repo_.get(), "v1", "/dir/b").status().code(), Code::kNotFound);
  EXPECT_EQ(RestoreToLive(repo_.get(), "live", "/").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Chain().size(), 5u);
}

// --- forget ---

TEST_F(HistoryTest, ForgetKeepLastRelinksAndKeepsNumbersGrowing) {
  std::vector<SnapshotInfo> s;
  s.reserve(5);
  for (int i = 0; i < 5; ++i) s.push_back(CommitUniqueAt(kMondayNs + i * 1000, i));
  REPO_ASSERT_OK(SetTag(repo_.get(), "old", s[1].id, false));
  REPO_ASSERT_OK(SetTag(repo_.get(), "kept", s[3].id, false));
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->refs().ReadMain());

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult dry, Forget(repo_.get(), Policy(2, 0, 0, false), true));
  EXPECT_EQ(dry.kept(), 2u);
  EXPECT_EQ(dry.forgotten(), 3u);
  REPO_ASSERT_OK_AND_ASSIGN(auto unchanged, repo_->refs().ReadMain());
  EXPECT_EQ(unchanged.raw, before.raw);

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(2, 0, 0, false), false));
  ASSERT_EQ(r.decisions.size(), 5u);
  EXPECT_EQ(r.decisions[0].reasons, (std::vector<std::string>{"head", "last"}));
  EXPECT_EQ(r.decisions[1].reasons, (std::vector<std::string>{"last"}));
  EXPECT_FALSE(r.decisions[2].keep);
  EXPECT_EQ(r.removed_tags, (std::vector<std::string>{"old"}));
  std::vector<SnapshotInfo> chain = Chain();
  ASSERT_EQ(chain.size(), 2u);
  // New objects, same content; the head is the old head's number + 1.
  EXPECT_EQ(chain[0].snapshot.seq, 6u);
  EXPECT_EQ(chain[1].snapshot.seq, 5u);
  EXPECT_EQ(chain[0].snapshot.parent, chain[1].id);
  EXPECT_FALSE(chain[1].snapshot.parent.has_value());
  EXPECT_EQ(chain[0].snapshot.root, s[4].snapshot.root);
  EXPECT_EQ(chain[1].snapshot.root, s[3].snapshot.root);
  EXPECT_EQ(chain[1].snapshot.time_ns, s[3].snapshot.time_ns);
  EXPECT_EQ(chain[1].snapshot.message, "s3");
  EXPECT_EQ(r.renamed.at(s[3].id), chain[1].id);
  ASSERT_TRUE(r.new_head.has_value());
  EXPECT_EQ(r.new_head->id, chain[0].id);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, repo_->refs().ReadMain());
  EXPECT_EQ(main.value.head_seq, 6u);
  EXPECT_EQ(main.value.live_root, before.value.live_root);
  REPO_ASSERT_OK_AND_ASSIGN(auto tags, repo_->refs().ReadTags());
  EXPECT_EQ(tags.value, (std::map<std::string, ObjectId>{{"kept", chain[1].id}}));
  // Id prefixes of the new snapshots resolve; the repository checks clean.
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo by_prefix,
                            repo_->ResolveVersion(chain[1].id.Hex().substr(0, 8)));
  EXPECT_EQ(by_prefix.id, chain[1].id);
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, {}));
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();

  // A second forget with nothing to drop changes nothing; a new commit continues the numbers.
  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult again, Forget(repo_.get(), Policy(2, 0, 0, false), false));
  EXPECT_EQ(again.forgotten(), 0u);
  EXPECT_FALSE(again.new_head.has_value());
  SnapshotInfo after = Commit("/x", "later");
  EXPECT_EQ(after.snapshot.seq, 7u);
  EXPECT_EQ(Chain().size(), 3u);
}

TEST_F(HistoryTest, ForgetKeepDailyAndWeekly) {
  // Newest first in the chain: two per day on some days, across three weeks.
  const std::vector<int64_t> times = {
      kMondayNs + 8 * 3600LL * 1000000000LL,                // week 2, Mon 08:00
      kMondayNs + 20 * 3600LL * 1000000000LL,               // week 2, Mon 20:00
      kMondayNs + kDayNs + 9 * 3600LL * 1000000000LL,       // week 2, Tue
      kMondayNs + 7 * kDayNs + 10 * 3600LL * 1000000000LL,  // week 3, Mon 10:00
      kMondayNs + 7 * kDayNs + 11 * 3600LL * 1000000000LL,  // week 3, Mon 11:00
      kMondayNs + 15 * kDayNs,                              // week 4, Tue 00:00
  };
  std::vector<SnapshotInfo> s;
  for (size_t i = 0; i < times.size(); ++i)
    s.push_back(CommitUniqueAt(times[i], static_cast<int>(i)));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult daily, Forget(repo_.get(), Policy(0, 3, 0, false), true));
  std::vector<bool> keep;
  for (const auto& d : daily.decisions) keep.push_back(d.keep);
  // Newest first: week 4 Tue (day 1), week 3 Mon 11:00 (day 2), 10:00 (same day), Tue (day 3), ...
  EXPECT_EQ(keep, (std::vector<bool>{true, true, false, true, false, false}));
  EXPECT_EQ(daily.decisions[1].reasons, (std::vector<std::string>{"daily 2026-01-12"}));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult weekly, Forget(repo_.get(), Policy(0, 0, 2, false), true));
  keep.clear();
  for (const auto& d : weekly.decisions) keep.push_back(d.keep);
  EXPECT_EQ(keep, (std::vector<bool>{true, true, false, false, false, false}));
  EXPECT_EQ(weekly.decisions[1].reasons, (std::vector<std::string>{"weekly 2026-W03"}));

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(1, 0, 3, false), false));
  EXPECT_EQ(r.kept(), 3u);
  std::vector<std::string> messages = Messages();
  EXPECT_EQ(messages, (std::vector<std::string>{"s5", "s4", "s2"}));
}

TEST_F(HistoryTest, ForgetKeepTaggedKeepsAndRemapsTags) {
  std::vector<SnapshotInfo> s;
  s.reserve(4);
  for (int i = 0; i < 4; ++i) s.push_back(CommitUniqueAt(kMondayNs + i * 1000, i));
  REPO_ASSERT_OK(SetTag(repo_.get(), "first", s[0].id, false));
  REPO_ASSERT_OK(SetTag(repo_.get(), "also-first", s[0].id, false));
  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult r, Forget(repo_.get(), Policy(1, 0, 0, true), false));
  EXPECT_EQ(r.kept(), 2u);
  EXPECT_TRUE(r.removed_tags.empty());
  EXPECT_EQ(r.decisions[3].reasons, (std::vector<std::string>{"tagged also-first first"}));
  EXPECT_EQ(Messages(), (std::vector<std::string>{"s3", "s0"}));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo first, repo_->ResolveVersion("first"));
  EXPECT_EQ(first.id, Chain()[1].id);
  EXPECT_EQ(first.snapshot.root, s[0].snapshot.root);

  EXPECT_EQ(Forget(repo_.get(), {}, false).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Forget(repo_.get(), Policy(-1, 0, 0, false), false).status().code(),
            Code::kInvalidArgument);
}

// --- gc ---

// Every object reachable from the refs, found independently of CollectGarbage.
std::set<ObjectId> Reachable(const Repository& repo) {
  std::set<ObjectId> out;
  auto add_tree = [&](const ObjectId& root) {
    out.insert(root);
    Status s = WalkTree(repo, root, "/", [&](const std::string&, const TreeEntry& e) {
      if (e.type == EntryType::kSymlink) return Status::Ok();
      out.insert(e.id);
      if (e.type == EntryType::kFile) {
        ASSIGN_OR_RETURN(FileObject f, repo.objects().LoadFile(e.id));
        for (const ChunkRef& c : f.chunks) out.insert(c.id);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  };
  auto main = repo.refs().ReadMain();
  EXPECT_TRUE(main.ok());
  add_tree(main->value.live_root);
  auto snaps = repo.ListSnapshots();
  EXPECT_TRUE(snaps.ok());
  for (const auto& s : *snaps) {
    out.insert(s.id);
    add_tree(s.snapshot.root);
  }
  auto tags = repo.refs().ReadTags();
  EXPECT_TRUE(tags.ok());
  for (const auto& [name, id] : tags->value) {
    out.insert(id);
    auto snap = repo.objects().LoadSnapshot(id);
    EXPECT_TRUE(snap.ok());
    add_tree(snap->root);
  }
  return out;
}

std::set<ObjectId> Keys(const std::map<ObjectId, Bytes>& objects) {
  std::set<ObjectId> out;
  for (const auto& [id, b] : objects) out.insert(id);
  return out;
}

// Chunk ids of every file below root.
std::set<ObjectId> ChunksOf(const Repository& repo, const ObjectId& root) {
  std::set<ObjectId> out;
  Status s = WalkTree(repo, root, "/", [&](const std::string&, const TreeEntry& e) {
    if (e.type != EntryType::kFile) return Status::Ok();
    ASSIGN_OR_RETURN(FileObject f, repo.objects().LoadFile(e.id));
    for (const ChunkRef& c : f.chunks) out.insert(c.id);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST_F(HistoryTest, GcAfterForgetFreesExactlyWhatOnlyForgottenSnapshotsUsed) {
  const uint64_t seed = TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  // Shared content in every snapshot; each snapshot also adds and later replaces its own.
  std::vector<SnapshotInfo> s;
  const Bytes shared = RandomBytes(rng, 300000);
  ASSERT_TRUE(CommitFile(repo_.get(), "/shared.bin", shared, "shared").ok());
  for (int i = 0; i < 5; ++i) {
    auto snap = CommitFile(repo_.get(), "/scratch.bin", RandomBytes(rng, 200000 + i),
                           "v" + std::to_string(i));
    ASSERT_TRUE(snap.ok());
    s.push_back(*snap);
  }
  std::set<ObjectId> forgotten_only;
  for (int i = 0; i < 3; ++i) {
    for (const ObjectId& c : ChunksOf(*repo_, s[i].snapshot.root)) forgotten_only.insert(c);
  }
  std::set<ObjectId> kept_chunks = ChunksOf(*repo_, s[3].snapshot.root);
  for (const ObjectId& c : ChunksOf(*repo_, s[4].snapshot.root)) kept_chunks.insert(c);
  for (const ObjectId& c : kept_chunks) forgotten_only.erase(c);
  ASSERT_GE(forgotten_only.size(), 3u);

  REPO_ASSERT_OK_AND_ASSIGN(ForgetResult fr, Forget(repo_.get(), Policy(2, 0, 0, false), false));
  EXPECT_EQ(fr.forgotten(), 4u);  // "shared" and v0..v2

  const std::set<ObjectId> before = Keys(AllObjects(store_.get()));
  const std::set<ObjectId> reachable = Reachable(*repo_);
  std::set<ObjectId> expected_gone;
  std::set_difference(before.begin(), before.end(), reachable.begin(), reachable.end(),
                      std::inserter(expected_gone, expected_gone.end()));

  // Dry run: same figures, nothing deleted.
  GcOptions dry;
  dry.grace_seconds = 0;
  dry.dry_run = true;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport dr, CollectGarbage(repo_.get(), dry));
  EXPECT_EQ(dr.deleted_objects, expected_gone.size());
  EXPECT_EQ(Keys(AllObjects(store_.get())), before);
  EXPECT_FALSE(store_.get()->ReadFile("locks/writer")->has_value());

  GcOptions real;
  real.grace_seconds = 0;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(repo_.get(), real));
  EXPECT_EQ(r.deleted_objects, expected_gone.size());
  EXPECT_EQ(r.deleted_bytes, dr.deleted_bytes);
  EXPECT_EQ(r.objects, before.size());
  EXPECT_EQ(r.reachable_objects, reachable.size());
  const std::set<ObjectId> after = Keys(AllObjects(store_.get()));
  EXPECT_EQ(after, reachable);
  for (const ObjectId& c : forgotten_only) EXPECT_EQ(after.count(c), 0u) << c.Hex();
  for (const ObjectId& c : kept_chunks) EXPECT_EQ(after.count(c), 1u) << c.Hex();
  for (const SnapshotInfo& old : s) EXPECT_EQ(after.count(old.id), 0u);  // replaced or forgotten
  EXPECT_FALSE(store_.get()->ReadFile("locks/writer")->has_value());     // the lock was released

  // Every kept version reads back; the repository checks clean with its data authenticated.
  CheckOptions deep;
  deep.read_data = true;
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo_, deep));
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();
  for (const SnapshotInfo& kept : Chain()) {
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e, LookupPath(*repo_, kept.snapshot.root, "/scratch.bin"));
    REPO_ASSERT_OK_AND_ASSIGN(Bytes content, ReadContent(*repo_, e.id));
    EXPECT_EQ(content.size(), e.size);
  }
  // A second run finds nothing.
  REPO_ASSERT_OK_AND_ASSIGN(GcReport again, CollectGarbage(repo_.get(), real));
  EXPECT_EQ(again.deleted_objects, 0u);
  EXPECT_EQ(again.unreachable_objects, 0u);
}

TEST_F(HistoryTest, GcGraceKeepsYoungObjects) {
  for (int i = 0; i < 3; ++i) CommitUniqueAt(kMondayNs + i, i);
  REPO_ASSERT_OK(Forget(repo_.get(), Policy(1, 0, 0, false), false).status());
  const auto before = AllObjects(store_.get());
  GcOptions options;  // the default grace: everything was written just now
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(repo_.get(), options));
  EXPECT_GT(r.unreachable_objects, 0u);
  EXPECT_EQ(r.young_objects, r.unreachable_objects);
  EXPECT_EQ(r.deleted_objects, 0u);
  EXPECT_EQ(AllObjects(store_.get()), before);
  // Two days later the same objects are past the grace.
  options.now_seconds = NowSeconds() + 2 * 86400;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport later, CollectGarbage(repo_.get(), options));
  EXPECT_EQ(later.young_objects, 0u);
  EXPECT_EQ(later.deleted_objects, r.unreachable_objects);
}

// On disk, with some unreachable objects aged by hand: only those past the grace go.
TEST(HistoryLocalTest, GcGraceDecidesByObjectMtime) {
  TempDir dir;
  auto store = testing::LocalStoreAt(dir.path());
  ASSERT_NE(store, nullptr);
  storage::ObjectStore* raw = store.get();
  REPO_ASSERT_OK(Repository::Init(raw, Passphrase(kPass), FastInit()));
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, Repository::Open(std::move(store), Passphrase(kPass)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(CommitFile(repo.get(), "/f", AsBytes("content " + std::to_string(i)), "c").ok());
  }
  REPO_ASSERT_OK(Forget(repo.get(), Policy(1, 0, 0, false), false).status());
  const std::set<ObjectId> reachable = Reachable(*repo);
  std::vector<ObjectId> unreachable;
  REPO_ASSERT_OK(repo->store()->ForEach([&](const ObjectId& id, uint64_t) {
    if (reachable.count(id) == 0) unreachable.push_back(id);
    return Status::Ok();
  }));
  ASSERT_GE(unreachable.size(), 4u);
  // Age every other unreachable object by three hours.
  std::set<ObjectId> aged;
  const auto three_hours_ago = static_cast<time_t>(NowSeconds() - 3 * 3600);
  for (size_t i = 0; i < unreachable.size(); i += 2) {
    const std::string hex = unreachable[i].Hex();
    const std::string path = dir.path() + "/objects/" + hex.substr(0, 2) + "/" + hex;
    struct timeval tv[2] = {{three_hours_ago, 0}, {three_hours_ago, 0}};
    ASSERT_EQ(::utimes(path.c_str(), tv), 0) << path;
    aged.insert(unreachable[i]);
  }
  GcOptions options;
  REPO_ASSERT_OK_AND_ASSIGN(options.grace_seconds, ParseDurationSeconds("2h"));
  REPO_ASSERT_OK_AND_ASSIGN(GcReport r, CollectGarbage(repo.get(), options));
  EXPECT_EQ(r.deleted_objects, aged.size());
  EXPECT_EQ(r.young_objects, unreachable.size() - aged.size());
  for (const ObjectId& id : unreachable) {
    REPO_ASSERT_OK_AND_ASSIGN(bool present, repo->store()->Contains(id));
    EXPECT_EQ(present, aged.count(id) == 0) << id.Hex();
  }
  REPO_ASSERT_OK_AND_ASSIGN(CheckReport report, CheckRepository(*repo, DeepCheck()));
  EXPECT_TRUE(report.problems.empty()) << report.problems.front();
}

TEST_F(HistoryTest, GcNextToALiveWriterNeedsALongGraceOrForce) {
  for (int i = 0; i < 3; ++i) CommitUniqueAt(kMondayNs + i, i);
  REPO_ASSERT_OK(Forget(repo_.get(), Policy(1, 0, 0, false), false).status());
  std::string note;
  // This process stands in for a running read-write mount.
  REPO_ASSERT_OK_AND_ASSIGN(auto mount_lock,
                            WriterLock::Acquire(store_.get(), "/mnt/w", ::getpid(), &note));
  const auto before = AllObjects(store_.get());
  GcOptions options;
  options.grace_seconds = 0;
  auto refused = CollectGarbage(repo_.get(), options);
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_NE(refused.status().message().find("--force"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(AllObjects(store_.get()), before);
  // A dry run only warns.
  options.dry_run = true;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport dry, CollectGarbage(repo_.get(), options));
  EXPECT_FALSE(dry.note.empty());
  // A grace of an hour or more runs (and keeps these young objects).
  options.dry_run = false;
  options.grace_seconds = 3600;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport graced, CollectGarbage(repo_.get(), options));
  EXPECT_EQ(graced.deleted_objects, 0u);
  EXPECT_FALSE(graced.note.empty());
  options.grace_seconds = 0;
  options.force = true;
  REPO_ASSERT_OK_AND_ASSIGN(GcReport forced, CollectGarbage(repo_.get(), options));
  EXPECT_GT(forced.deleted_objects, 0u);
  // The mount's lock is untouched.
  REPO_ASSERT_OK_AND_ASSIGN(auto held, store_.get()->ReadFile("locks/writer"));
  EXPECT_TRUE(held.has_value());
  REPO_EXPECT_OK(mount_lock->Release());
}

TEST_F(HistoryTest, GcAbortsWithoutDeletingWhenMarkingFails) {
  for (int i = 0; i < 3; ++i) CommitUniqueAt(kMondayNs + i, i);
  REPO_ASSERT_OK(Forget(repo_.get(), Policy(1, 0, 0, false), false).status());
  // A repository whose objects read back corrupted: marking cannot finish.
  auto fault = std::make_unique<storage::FaultStore>(store_.get(), storage::FaultPlan{});
  storage::FaultStore* faults = fault.get();
  REPO_ASSERT_OK_AND_ASSIGN(auto repo, Repository::Open(std::move(fault), Passphrase(kPass)));
  storage::FaultPlan corrupt;
  corrupt.corrupt_reads = true;
  faults->SetPlan(corrupt);
  const auto before = AllObjects(store_.get());
  GcOptions options;
  options.grace_seconds = 0;
  auto r = CollectGarbage(repo.get(), options);
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_EQ(AllObjects(store_.get()), before);
  EXPECT_FALSE(store_.get()->ReadFile("locks/writer")->has_value());  // released on the error path
}

TEST_F(HistoryTest, GcKeepsWhatOnlyATagReaches) {
  SnapshotInfo s1 = Commit("/a", "tagged content");
  Commit("/a", "newer content");
  // A tag on a snapshot outside the main chain (its objects reachable only through the tag).
  SnapshotObject side = s1.snapshot;
  side.message = "side";
  side.parent.reset();
  side.seq = 1;
  REPO_ASSERT_OK_AND_ASSIGN(
      ObjectId side_id, repo_->objects().PutObject(ObjectType::kSnapshot, EncodeSnapshot(side)));
  REPO_ASSERT_OK(SetTag(repo_.get(), "side", side_id, false));
  REPO_ASSERT_OK(Forget(repo_.get(), Policy(1, 0, 0, false), false).status());
  GcOptions options;
  options.grace_seconds = 0;
  REPO_ASSERT_OK(CollectGarbage(repo_.get(), options).status());
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo tagged, repo_->ResolveVersion("side"));
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry a, LookupPath(*repo_, tagged.snapshot.root, "/a"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, ReadContent(*repo_, a.id));
  EXPECT_EQ(AsString(content), "tagged content");
}

TEST(DurationTest, Parse) {
  EXPECT_EQ(*ParseDurationSeconds("0"), 0);
  EXPECT_EQ(*ParseDurationSeconds("45s"), 45);
  EXPECT_EQ(*ParseDurationSeconds("30m"), 1800);
  EXPECT_EQ(*ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(*ParseDurationSeconds("7d"), 7 * 86400);
  EXPECT_EQ(*ParseDurationSeconds("1w"), 7 * 86400);
  for (const char* bad : {"", "h", "5", "-1h", "1.5h", "2x", "1h30m", "99999999999999d"}) {
    EXPECT_EQ(ParseDurationSeconds(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace weightfs::repo
