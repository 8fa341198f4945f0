// Error mapping of the POSIX helpers under the local store. ENOSPC cannot be provoked in a
// scratch directory without a tiny filesystem, but /dev/full fails every write with it.
#include "storage/posix_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "storage/storage_test_util.h"

namespace weightfs::storage {
namespace {

TEST(PosixIoTest, FullDiskBecomesNoSpaceNamingThePath) {
  auto fd = OpenFile("/dev/full", O_WRONLY);
  if (!fd.ok()) GTEST_SKIP() << "no /dev/full: " << fd.status().ToString();
  Status s = WriteAll(fd->get(), AsBytes("some bytes"), "objects/ab/0123");
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_EQ(s.message(), "writing objects/ab/0123: No space left on device");
}

TEST(PosixIoTest, OpenMissingIsNotFound) {
  auto fd = OpenFile("/nonexistent/weightfs/x", O_RDONLY);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Code::kNotFound);
  EXPECT_EQ(fd.status().message(), "opening /nonexistent/weightfs/x: No such file or directory");
}

TEST(PosixIoTest, OpenedDescriptorsAreCloseOnExec) {
  auto fd = OpenFile("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd.ok());
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(PosixIoTest, ReadsLoopToTheEnd) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/f";
  const Bytes data = testing::TestData(300000, 1);
  {
    auto fd = OpenFile(path, O_WRONLY | O_CREAT, 0644);
    ASSERT_TRUE(fd.ok());
    WFS_ASSERT_OK(WriteAll(fd->get(), data, path));
    WFS_ASSERT_OK(Fsync(fd->get(), path));
    WFS_ASSERT_OK(fd->Close(path));
    EXPECT_FALSE(fd->valid());
    WFS_EXPECT_OK(fd->Close(path));  // closing twice is a no-op
  }
  auto fd = OpenFile(path, O_RDONLY);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(*ReadToEnd(fd->get(), path), data);
  EXPECT_EQ(*PreadRange(fd->get(), 299990, 100, path), Bytes(data.end() - 10, data.end()));
  EXPECT_TRUE(PreadRange(fd->get(), 400000, 100, path)->empty());
  WFS_EXPECT_OK(FsyncPath(dir.path()));
}

TEST(PosixIoTest, TempNamesAreDistinctAndNeverValidStoreNames) {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) names.insert(TempFileName());
  EXPECT_EQ(names.size(), 1000u);
  EXPECT_EQ(names.begin()->rfind(".~tmp-", 0), 0u);
}

}  // namespace
}  // namespace weightfs::storage
