// Replicas (replica.h): init copies config and key slots, copy sends exactly the missing objects,
// moves tags, policy and main, refuses diverged replicas and other repositories, and a copy that
// fails midway is completed by a rerun.
#include "weightfs/repo/replica.h"

#include <atomic>
#include <random>
#include <set>

#include "support/repo_fixtures.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using testing::AllObjects;
using testing::CommitFile;
using testing::FastInit;
using testing::Passphrase;
using testing::ReadContent;
using testing::SharedStore;

constexpr char kPass[] = "correct horse battery staple";

// Counts the objects put through it.
class CountingStore : public storage::FaultStore {
 public:
  explicit CountingStore(storage::ObjectStore* target) : FaultStore(target, storage::FaultPlan{}) {}
  Status Put(const ObjectId& id, ByteView data) override {
    puts++;
    return FaultStore::Put(id, data);
  }
  std::atomic<int> puts{0};
};

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(src_store_.get(), Passphrase(kPass), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(src_, src_store_.Open(Passphrase(kPass)));
    REPO_ASSERT_OK(InitReplica(*src_, dst_store_.get()));
  }

  // The replica, opened through a counting view of its store.
  std::unique_ptr<Repository> OpenDst(CountingStore** counter = nullptr) {
    auto store = std::make_unique<CountingStore>(dst_store_.get());
    if (counter) *counter = store.get();
    auto r = Repository::Open(std::move(store), Passphrase(kPass));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // The content of the file at path in the replica's latest snapshot.
  std::string ReadLatest(const Repository& repo, const std::string& path) {
    auto head = repo.ResolveVersion("latest");
    EXPECT_TRUE(head.ok()) << head.status().ToString();
    if (!head.ok()) return "";
    auto entry = LookupPath(repo, head->snapshot.root, path);
    EXPECT_TRUE(entry.ok()) << entry.status().ToString();
    if (!entry.ok()) return "";
    auto data = ReadContent(repo, entry->id);
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    return data.ok() ? std::string(AsString(*data)) : std::string();
  }

  SharedStore src_store_;
  SharedStore dst_store_;
  std::unique_ptr<Repository> src_;
};

TEST_F(ReplicaTest, InitCopiesConfigAndSlotsByteForByte) {
  for (const std::string name : {"config", "keys/admin"}) {
    auto a = src_store_.get()->ReadFile(name);
    auto b = dst_store_.get()->ReadFile(name);
    ASSERT_TRUE(a.ok() && b.ok() && *a && *b) << name;
    EXPECT_EQ(**a, **b) << name;
  }
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(dst->config().repo_id, src_->config().repo_id);
  EXPECT_FALSE(dst->refs().ReadMain()->value.head.has_value());
  // Not again, and not into a store that holds anything.
  EXPECT_CODE(InitReplica(*src_, dst_store_.get()), Code::kAlreadyExists);
  SharedStore with_object;
  REPO_ASSERT_OK(with_object.get()->Put(ObjectId(), AsBytes("x")));
  EXPECT_CODE(InitReplica(*src_, with_object.get()), Code::kAlreadyExists);
}

TEST_F(ReplicaTest, CopiesExactlyTheMissingObjects) {
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo one, CommitFile(src_.get(), "/a", AsBytes("one"), "1"));
  REPO_ASSERT_OK(CommitFile(src_.get(), "/b", AsBytes(std::string(300000, 'b')), "2").status());
  CountingStore* counter = nullptr;
  auto dst = OpenDst(&counter);
  ASSERT_NE(dst, nullptr);
  counter->puts = 0;  // the first open put the empty live tree

  CopyOptions first;
  first.versions = {one.id.Hex()};
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r1, CopyToReplica(src_.get(), dst.get(), first, nullptr));
  EXPECT_EQ(counter->puts.load(), static_cast<int>(r1.copied_objects));
  ASSERT_TRUE(r1.head.has_value());
  EXPECT_EQ(r1.head->id, one.id);
  EXPECT_EQ(ReadLatest(*dst, "/a"), "one");

  const auto before = AllObjects(dst_store_.get());
  counter->puts = 0;
  std::vector<CopyProgress> seen;
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r2,
                            CopyToReplica(src_.get(), dst.get(), CopyOptions{},
                                          [&](const CopyProgress& p) { seen.push_back(p); }));
  const auto after = AllObjects(dst_store_.get());
  // Only what the replica lacked was put, and every copied object is the source's, byte for byte.
  EXPECT_EQ(static_cast<size_t>(counter->puts.load()), after.size() - before.size());
  EXPECT_EQ(r2.copied_objects, after.size() - before.size());
  EXPECT_GT(r2.present_objects, 0u);
  const auto src_objects = AllObjects(src_store_.get());
  for (const auto& [id, bytes] : after) {
    auto it = src_objects.find(id);
    if (it != src_objects.end()) EXPECT_EQ(it->second, bytes) << id.Hex();
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().objects_done, r2.copied_objects);
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  EXPECT_EQ(ReadLatest(*dst, "/b"), std::string(300000, 'b'));
  EXPECT_EQ(dst->ListSnapshots()->size(), 2u);

  // Nothing is missing any more.
  counter->puts = 0;
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r3,
                            CopyToReplica(src_.get(), dst.get(), CopyOptions{}, nullptr));
  EXPECT_EQ(counter->puts.load(), 0);
  EXPECT_EQ(r3.copied_objects, 0u);
  EXPECT_FALSE(r3.main_moved);
}

TEST_F(ReplicaTest, CopiesTagsAndPolicy) {
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo one, CommitFile(src_.get(), "/a", AsBytes("one"), "1"));
  REPO_ASSERT_OK(SetTag(src_.get(), "v1", one.id, false));
  REPO_ASSERT_OK(src_->policies().SetPolicy("version: 1\n# first\n").status());
  REPO_ASSERT_OK(src_->policies().SetPolicy("version: 1\n# second\n").status());
  REPO_ASSERT_OK(CommitFile(src_.get(), "/a", AsBytes("two"), "2").status());
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);

  CopyOptions options;
  options.tags = true;
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r, CopyToReplica(src_.get(), dst.get(), options, nullptr));
  EXPECT_EQ(r.tags_added, 1);
  EXPECT_TRUE(r.policy_moved);
  EXPECT_EQ(dst->refs().ReadTags()->value.at("v1"), one.id);
  REPO_ASSERT_OK_AND_ASSIGN(auto policies, dst->policies().ListPolicies());
  ASSERT_EQ(policies.size(), 2u);
  EXPECT_EQ(policies.front().policy.text, "version: 1\n# second\n");
  // The anchor check of the replica's refs/policy passes.
  REPO_ASSERT_OK(dst->policies().ReadPolicy().status());

  // A tag that names another snapshot in the replica is refused, and nothing moves.
  REPO_ASSERT_OK(DeleteTag(src_.get(), "v1"));
  REPO_ASSERT_OK(SetTag(src_.get(), "v1", src_->ResolveVersion("latest")->id, false));
  EXPECT_CODE(CopyToReplica(src_.get(), dst.get(), options, nullptr), Code::kConflict);
  EXPECT_EQ(dst->refs().ReadTags()->value.at("v1"), one.id);
}

TEST_F(ReplicaTest, RefusesDivergedReplica) {
  REPO_ASSERT_OK(CommitFile(src_.get(), "/a", AsBytes("one"), "1").status());
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);
  REPO_ASSERT_OK(CopyToReplica(src_.get(), dst.get(), CopyOptions{}, nullptr).status());
  // Both record a snapshot of their own on top of the shared one.
  REPO_ASSERT_OK(CommitFile(src_.get(), "/a", AsBytes("source"), "s").status());
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo own, CommitFile(dst.get(), "/a", AsBytes("replica"), "r"));
  auto diverged = CopyToReplica(src_.get(), dst.get(), CopyOptions{}, nullptr);
  EXPECT_CODE(diverged, Code::kConflict);
  EXPECT_NE(diverged.status().message().find("diverged"), std::string::npos)
      << diverged.status().message();
  EXPECT_EQ(dst->refs().ReadMain()->value.head, own.id);
  EXPECT_EQ(ReadLatest(*dst, "/a"), "replica");

  // The other way round it is a fast-forward... of the source, which diverged too.
  EXPECT_CODE(CopyToReplica(dst.get(), src_.get(), CopyOptions{}, nullptr), Code::kConflict);
}

TEST_F(ReplicaTest, ReplicaAheadStaysAndOlderVersionsAreFine) {
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo one, CommitFile(src_.get(), "/a", AsBytes("one"), "1"));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo two, CommitFile(src_.get(), "/a", AsBytes("two"), "2"));
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);
  REPO_ASSERT_OK(CopyToReplica(src_.get(), dst.get(), CopyOptions{}, nullptr).status());
  CopyOptions older;
  older.versions = {one.id.Hex()};
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r, CopyToReplica(src_.get(), dst.get(), older, nullptr));
  EXPECT_FALSE(r.main_moved);
  EXPECT_EQ(r.head->id, two.id);
}

TEST_F(ReplicaTest, RefusesLiveChangesInNoSnapshot) {
  REPO_ASSERT_OK(CommitFile(src_.get(), "/a", AsBytes("one"), "1").status());
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);
  REPO_ASSERT_OK_AND_ASSIGN(ObjectId tree, dst->objects().PutTree(TreeObject{}, "/"));
  REPO_ASSERT_OK(dst->refs().UpdateMain([&](MainRef* m) -> Result<bool> {
    TreeObject t;
    TreeEntry e;
    e.name = "x";
    e.type = EntryType::kDirectory;
    e.id = tree;
    t.entries.push_back(e);
    ASSIGN_OR_RETURN(m->live_root, dst->objects().PutTree(t, "/"));
    return true;
  }));
  auto r = CopyToReplica(src_.get(), dst.get(), CopyOptions{}, nullptr);
  EXPECT_CODE(r, Code::kConflict);
  EXPECT_NE(r.status().message().find("live tree"), std::string::npos) << r.status().message();
}

TEST_F(ReplicaTest, RefusesAnotherRepository) {
  SharedStore other_store;
  REPO_ASSERT_OK(Repository::Init(other_store.get(), Passphrase(kPass), FastInit()));
  REPO_ASSERT_OK_AND_ASSIGN(auto other, other_store.Open(Passphrase(kPass)));
  Status check = CheckIsReplica(*src_, other_store.get());
  EXPECT_CODE(check, Code::kInvalidArgument);
  EXPECT_NE(check.message().find("--replica-of"), std::string::npos) << check.message();
  EXPECT_CODE(CopyToReplica(src_.get(), other.get(), CopyOptions{}, nullptr),
              Code::kInvalidArgument);
  SharedStore empty;
  EXPECT_CODE(CheckIsReplica(*src_, empty.get()), Code::kNotFound);
  REPO_EXPECT_OK(CheckIsReplica(*src_, dst_store_.get()));
}

TEST_F(ReplicaTest, RefusesVersionsOutOfLine) {
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo one, CommitFile(src_.get(), "/a", AsBytes("one"), "1"));
  auto dst = OpenDst();
  ASSERT_NE(dst, nullptr);
  // A snapshot outside main's chain: recorded, then main put back.
  REPO_ASSERT_OK_AND_ASSIGN(auto main, src_->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo side, CommitFile(src_.get(), "/a", AsBytes("s"), "s"));
  REPO_ASSERT_OK(SetTag(src_.get(), "side", side.id, false));
  REPO_ASSERT_OK(src_->refs().UpdateMain([&](MainRef* m) -> Result<bool> {
    *m = main.value;
    return true;
  }));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotInfo two, CommitFile(src_.get(), "/a", AsBytes("two"), "2"));
  CopyOptions options;
  options.versions = {"side", two.id.Hex()};
  EXPECT_CODE(CopyToReplica(src_.get(), dst.get(), options, nullptr), Code::kInvalidArgument);
  options.versions = {one.id.Hex(), "latest"};
  REPO_EXPECT_OK(CopyToReplica(src_.get(), dst.get(), options, nullptr).status());
}

TEST_F(ReplicaTest, ACopyThatFailsMidwayIsCompletedByARerun) {
  const uint64_t seed = testing::TestSeed();
  REPO_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const Bytes big_bytes = testing::RandomBytes(rng, 2 << 20);
  const std::string big(AsString(big_bytes));
  REPO_ASSERT_OK(CommitFile(src_.get(), "/big", AsBytes(big), "1").status());
  REPO_ASSERT_OK(CommitFile(src_.get(), "/small", AsBytes("small"), "2").status());
  auto faulty = std::make_unique<storage::FaultStore>(dst_store_.get(), storage::FaultPlan{});
  storage::FaultStore* fault = faulty.get();
  REPO_ASSERT_OK_AND_ASSIGN(auto dst, Repository::Open(std::move(faulty), Passphrase(kPass)));
  storage::FaultPlan plan;
  plan.fail_writes_after = 4;  // the write lease, then three objects
  plan.fail_code = Code::kIoError;
  fault->SetPlan(plan);
  CopyOptions options;
  options.jobs = 3;
  EXPECT_CODE(CopyToReplica(src_.get(), dst.get(), options, nullptr), Code::kIoError);
  // Objects came, refs did not move.
  EXPECT_FALSE(dst->refs().ReadMain()->value.head.has_value());
  const size_t partial = AllObjects(dst_store_.get()).size();
  EXPECT_GT(partial, 1u);

  fault->SetPlan(storage::FaultPlan{});
  REPO_ASSERT_OK_AND_ASSIGN(CopyReport r, CopyToReplica(src_.get(), dst.get(), options, nullptr));
  EXPECT_EQ(r.present_objects + r.copied_objects, r.reachable_objects);
  EXPECT_GE(r.present_objects, partial - 1);  // the empty live tree may not be reachable
  EXPECT_TRUE(r.main_moved);
  EXPECT_EQ(ReadLatest(*dst, "/big"), big);
  EXPECT_EQ(ReadLatest(*dst, "/small"), "small");
  EXPECT_EQ(dst->ListSnapshots()->size(), 2u);
}

}  // namespace
}  // namespace weightfs::repo
