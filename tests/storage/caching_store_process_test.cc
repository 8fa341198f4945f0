// CachingStore shared by several processes at once: forked children and this process read and
// write random objects through their own CachingStore on one cache directory over one local
// backing store, with a bound small enough that they evict each other's entries all the time,
// while `weightfs cache clear` runs again and again. Every read must return the right bytes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/storage_test_util.h"
#include "weightfs/storage/caching_store.h"
#include "weightfs/storage/local_store.h"

namespace weightfs::storage {
namespace {

using testing::TempDir;
using testing::TestData;
using testing::TestId;

constexpr uint32_t kObjects = 120;
constexpr uint64_t kMaxBytes = 1 << 20;

size_t ObjectSize(uint32_t i) { return 1 + (i * 7919u) % (64 << 10); }
ObjectId Id(uint32_t i) { return TestId(static_cast<uint8_t>(i % 16), i); }

// ops random operations through a CachingStore on cache_dir; "" when every read was right, else
// what went wrong.
std::string Work(const std::string& backing_dir, const std::string& cache_dir, uint32_t seed,
                 int ops) {
  auto backing = OpenLocalStore(backing_dir);
  if (!backing.ok()) return backing.status().ToString();
  auto cache = OpenCachingStore(std::shared_ptr<ObjectStore>(std::move(*backing)),
                                CacheOptions{cache_dir, kMaxBytes, {}});
  if (!cache.ok()) return cache.status().ToString();
  ObjectStore* store = cache->get();
  std::mt19937 rng(seed);
  std::vector<uint8_t> buf;
  for (int op = 0; op < ops; ++op) {
    const uint32_t i = rng() % kObjects;
    const Bytes want = TestData(ObjectSize(i), i);
    const std::string what = "op " + std::to_string(op) + " on object " + std::to_string(i);
    switch (rng() % 5) {
      case 0: {
        Status s = store->Put(Id(i), want);
        if (!s.ok()) return what + ": put: " + s.ToString();
        break;
      }
      case 1: {
        auto got = store->Get(Id(i));
        if (!got.ok()) return what + ": get: " + got.status().ToString();
        if (*got != want) return what + ": get returned other bytes";
        break;
      }
      case 2:
        if (store->DropCachedCopy(Id(i)) && rng() % 2 == 0) break;
        [[fallthrough]];
      default: {
        const uint64_t offset = rng() % want.size();
        buf.assign(1 + rng() % (want.size() - offset), 0);
        auto n = store->ReadInto(Id(i), offset, buf);
        if (!n.ok()) return what + ": read: " + n.status().ToString();
        if (*n != buf.size() ||
            !std::equal(buf.begin(), buf.end(), want.begin() + static_cast<ptrdiff_t>(offset)))
          return what + ": read returned other bytes";
      }
    }
  }
  return "";
}

// Runs fn in a child process; returns its pid. The child exits 0 when fn returns "", else prints
// the message and exits 1.
template <typename Fn>
pid_t Spawn(Fn fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    const std::string error = fn();
    if (!error.empty()) std::fprintf(stderr, "child %d: %s\n", ::getpid(), error.c_str());
    std::fflush(stderr);
    ::_exit(error.empty() ? 0 : 1);
  }
  return pid;
}

int WaitFor(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(CachingStoreProcessTest, ProcessesShareTheDirectoryWhileItIsCleared) {
  TempDir dir;
  const std::string backing_dir = dir.path() + "/backing";
  const std::string cache_dir = dir.path() + "/cache";
  std::filesystem::create_directories(backing_dir);
  {
    auto backing = OpenLocalStore(backing_dir);
    ASSERT_TRUE(backing.ok());
    for (uint32_t i = 0; i < kObjects; ++i) {
      WFS_ASSERT_OK((*backing)->Put(Id(i), TestData(ObjectSize(i), i)));
    }
  }
  constexpr int kOps = 1500;
  std::vector<pid_t> children;
  for (uint32_t c = 1; c <= 3; ++c) {
    children.push_back(Spawn([&, c] { return Work(backing_dir, cache_dir, c, kOps); }));
    ASSERT_GT(children.back(), 0);
  }
  // A child that runs `weightfs cache clear` on the directory over and over meanwhile.
  const pid_t clearer = Spawn([&]() -> std::string {
    for (int round = 0; round < 20; ++round) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        std::freopen("/dev/null", "w", stdout);  // its "removed N cached objects"
        ::execl(WEIGHTFS_BINARY, WEIGHTFS_BINARY, "cache", "clear", "--cache-dir",
                cache_dir.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      const int rc = WaitFor(pid);
      if (rc != 0) return "weightfs cache clear exited with " + std::to_string(rc);
      ::usleep(20000);
    }
    return "";
  });
  ASSERT_GT(clearer, 0);
  const std::string mine = Work(backing_dir, cache_dir, 99, kOps);
  EXPECT_EQ(mine, "");
  for (pid_t pid : children) EXPECT_EQ(WaitFor(pid), 0) << "a reader failed (see its stderr)";
  EXPECT_EQ(WaitFor(clearer), 0);

  // What is left is whole entries holding the right bytes, and not far past the bound: each of
  // the 4 processes rescans after adding an eighth of it (plus an object each).
  uint64_t entries = 0;
  for (uint32_t i = 0; i < kObjects; ++i) {
    const std::string path = cache_dir + "/objects/" + Id(i).Hex().substr(0, 2) + "/" + Id(i).Hex();
    if (!std::filesystem::exists(path)) continue;
    ++entries;
    auto fd = std::fopen(path.c_str(), "rb");
    ASSERT_NE(fd, nullptr);
    Bytes got(ObjectSize(i) + 1);
    got.resize(std::fread(got.data(), 1, got.size(), fd));
    std::fclose(fd);
    EXPECT_EQ(got, TestData(ObjectSize(i), i)) << "entry of object " << i;
  }
  auto stats = ScanCacheDir(cache_dir);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries, entries);
  EXPECT_LE(stats->bytes, kMaxBytes + 4 * kMaxBytes / 8 + 4 * (64 << 10));
  EXPECT_TRUE(std::filesystem::is_empty(cache_dir + "/tmp"));
}

}  // namespace
}  // namespace weightfs::storage
