// ObjectStore::TryLock: the kernel-released locks of the local store (flock on a hidden lock
// file), which the writer lock, gc and leases are built on; other stores have none.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "storage/storage_test_util.h"
#include "weightfs/storage/local_store.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::storage {
namespace {

using testing::TempDir;

std::unique_ptr<ObjectStore> Open(const std::string& dir) {
  auto s = OpenLocalStore(dir);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

TEST(FileLockTest, ExclusiveAndSharedLocksAcrossOpensAndProcesses) {
  TempDir dir;
  auto a = Open(dir.path());
  auto b = Open(dir.path());
  auto held = a->TryLock("locks/writer", /*shared=*/false);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  // Another open of the lock (in this process or another) is refused at once, never waits.
  EXPECT_EQ(b->TryLock("locks/writer", false).status().code(), Code::kBusy);
  EXPECT_EQ(b->TryLock("locks/writer", true).status().code(), Code::kBusy);
  const pid_t child = ::fork();
  if (child == 0) {
    auto c = OpenLocalStore(dir.path());
    ::_exit(c.ok() && (*c)->TryLock("locks/writer", false).status().code() == Code::kBusy ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The lock file is no named file.
  auto names = a->ListFiles("locks");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
  held->reset();
  auto shared1 = a->TryLock("locks/writer", true);
  auto shared2 = b->TryLock("locks/writer", true);
  EXPECT_TRUE(shared1.ok() && shared2.ok());
  EXPECT_EQ(a->TryLock("locks/writer", false).status().code(), Code::kBusy);
}

TEST(FileLockTest, ALockHeldByADeadProcessIsFree) {
  TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) {
    auto c = OpenLocalStore(dir.path());
    if (!c.ok()) ::_exit(1);
    auto l = (*c)->TryLock("locks/lease-1", false);
    if (!l.ok()) ::_exit(2);
    (void)l->release();  // never released: the process dies holding it
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto store = Open(dir.path());
  auto l = store->TryLock("locks/lease-1", false);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_TRUE((*l)->RemoveFile().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/locks/lease-1.~lock"));
}

TEST(FileLockTest, StoresWithoutKernelLocksSaySo) {
  auto m = NewMemoryStore();
  EXPECT_EQ(m->TryLock("locks/writer", false).status().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace weightfs::storage
