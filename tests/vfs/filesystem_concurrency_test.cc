// FileSystem without FUSE, over an in-memory repository (filesystem_fixture.h):
// concurrent writers racing commits.
#include "weightfs/vfs/filesystem.h"

#include <gtest/gtest.h>

#include "vfs/filesystem_fixture.h"

namespace weightfs::vfs {
namespace {

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

}  // namespace
}  // namespace weightfs::vfs
