// The mount table reader: octal unescaping of path fields, including malformed escapes (which
// must come through as they are, never throw), and the fields of a mountinfo line.
#include "weightfs/fuse/mount_table.h"

#include <gtest/gtest.h>

#include <string>

namespace weightfs::fuse {
namespace {

TEST(UnescapeMountFieldTest, DecodesTheKernelsEscapes) {
  EXPECT_EQ(UnescapeMountField("/mnt/a\\040b"), "/mnt/a b");
  EXPECT_EQ(UnescapeMountField("/mnt/tab\\011x\\012y\\134z"), "/mnt/tab\tx\ny\\z");
  EXPECT_EQ(UnescapeMountField("/mnt/end\\040"), "/mnt/end ");
  EXPECT_EQ(UnescapeMountField("\\000"), std::string(1, '\0'));
  EXPECT_EQ(UnescapeMountField("\\377"), std::string(1, '\xff'));
}

TEST(UnescapeMountFieldTest, LeavesPlainFieldsAlone) {
  EXPECT_EQ(UnescapeMountField(""), "");
  EXPECT_EQ(UnescapeMountField("/"), "/");
  EXPECT_EQ(UnescapeMountField("/srv/weights"), "/srv/weights");
}

TEST(UnescapeMountFieldTest, KeepsMalformedEscapesWithoutThrowing) {
  EXPECT_EQ(UnescapeMountField("\\"), "\\");
  EXPECT_EQ(UnescapeMountField("/a\\"), "/a\\");
  EXPECT_EQ(UnescapeMountField("/a\\04"), "/a\\04");    // too short
  EXPECT_EQ(UnescapeMountField("/a\\0x1"), "/a\\0x1");  // not octal
  EXPECT_EQ(UnescapeMountField("/a\\089"), "/a\\089");  // 8 and 9 are not octal digits
  EXPECT_EQ(UnescapeMountField("/a\\777"), "/a\\777");  // more than a byte
  EXPECT_EQ(UnescapeMountField("/a\\xyz"), "/a\\xyz");
  EXPECT_EQ(UnescapeMountField("\\\\040"), "\\ ");  // a lone backslash, then an escape
}

TEST(ParseMountInfoLineTest, ReadsDeviceAndUnescapedMountPoint) {
  MountInfoLine m;
  ASSERT_TRUE(ParseMountInfoLine(
      "36 35 0:52 / /tmp/my\\040mount rw,nosuid shared:1 - fuse.weightfs weightfs:/r rw", &m));
  EXPECT_EQ(m.device, "0:52");
  EXPECT_EQ(m.mount_point, "/tmp/my mount");
}

TEST(ParseMountInfoLineTest, RefusesShortLines) {
  MountInfoLine m;
  EXPECT_FALSE(ParseMountInfoLine("", &m));
  EXPECT_FALSE(ParseMountInfoLine("36 35 0:52 /", &m));
}

TEST(MountedDeviceTest, FindsTheRootAndNotAMissingPath) {
  EXPECT_FALSE(MountedDevice("/").empty());
  EXPECT_TRUE(IsMountPoint("/"));
  EXPECT_FALSE(IsMountPoint("/no/such/weightfs/mount/point"));
}

TEST(OnWeightfsMountTest, OtherFileSystemsAndMissingPathsAreNot) {
  EXPECT_FALSE(OnWeightfsMount("/proc"));
  EXPECT_FALSE(OnWeightfsMount("/no/such/weightfs/path"));
}

}  // namespace
}  // namespace weightfs::fuse
