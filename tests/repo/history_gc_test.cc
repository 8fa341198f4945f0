// History tools (repo/history.h): garbage collection (a local store where object mtimes must
// be set) and duration parsing.
#include "weightfs/repo/history.h"

#include "repo/history_test_util.h"

namespace weightfs::repo {
namespace {

using namespace history_test;  // NOLINT(google-build-using-namespace): the shared fixture

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
      ObjectId side_id,
      repo_->objects().PutObject(ObjectType::kSnapshot, EncodeSnapshot(side), kLegacyKeyId));
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
