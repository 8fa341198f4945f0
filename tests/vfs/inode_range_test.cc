// InodeRouter and the directory handles' fixed entries: which tree serves a request, from the
// inode numbers alone, and how a listing continues past its live entries into the ones taken at
// opendir.
#include "vfs/inode_range.h"

#include <gtest/gtest.h>

#include "vfs/dir_handles.h"

namespace weightfs::vfs {
namespace {

TEST(InodeRouterTest, VersionsRangeGoesToTheView) {
  InodeRouter router(true);
  EXPECT_EQ(router.SpaceOf(kRootNode), NodeSpace::kLive);
  EXPECT_EQ(router.SpaceOf(kVersionsBase - 1), NodeSpace::kLive);
  EXPECT_EQ(router.SpaceOf(kVersionsBase), NodeSpace::kVersions);
  EXPECT_EQ(router.SpaceOf(kVersionsBase + 12345), NodeSpace::kVersions);
}

TEST(InodeRouterTest, DotVersionsInTheRootIsTheViewsTop) {
  InodeRouter router(true);
  EXPECT_EQ(router.SpaceOfChild(kRootNode, kVersionsName), NodeSpace::kVersions);
  EXPECT_EQ(router.SpaceOfChild(kRootNode, "models"), NodeSpace::kLive);
  // Only in the root: a live subdirectory may hold an entry named .versions.
  EXPECT_EQ(router.SpaceOfChild(7, kVersionsName), NodeSpace::kLive);
  EXPECT_EQ(router.SpaceOfChild(kVersionsBase + 1, "abc"), NodeSpace::kVersions);
}

TEST(InodeRouterTest, WithoutTheViewEverythingIsLive) {
  InodeRouter router(false);
  EXPECT_FALSE(router.versions_enabled());
  EXPECT_EQ(router.SpaceOf(kVersionsBase), NodeSpace::kLive);
  EXPECT_EQ(router.SpaceOfChild(kRootNode, kVersionsName), NodeSpace::kLive);
}

DirEntry Named(const std::string& name, uint64_t next) {
  DirEntry e;
  e.name = name;
  e.next_offset = next;
  return e;
}

TEST(DirHandlesTest, FixedEntriesFollowTheLiveOnes) {
  DirHandle h;
  h.entries = {{".", 1}, {"..", 1}, {"a", 2}};
  h.fixed = {Named(kVersionsName, 4)};
  ASSERT_EQ(FixedEntries(h, 0, 10).size(), 1u);
  EXPECT_EQ(FixedEntries(h, 0, 10)[0].name, kVersionsName);
  EXPECT_EQ(FixedEntries(h, 3, 10).size(), 1u);
  EXPECT_TRUE(FixedEntries(h, 4, 10).empty());  // already read
  EXPECT_TRUE(FixedEntries(h, 0, 0).empty());   // no room
}

TEST(DirHandlesTest, HandlesAreUniqueAndReleased) {
  DirHandles handles;
  DirHandle h;
  h.fixed = {Named(".", 1), Named("..", 2), Named("x", 3)};
  const uint64_t a = handles.Add(h);
  const uint64_t b = handles.Add(h);
  EXPECT_NE(a, b);
  auto got = handles.Get(a);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(FixedEntries(*got, 1, 10).size(), 2u);
  handles.Release(a);
  EXPECT_EQ(handles.Get(a), nullptr);
  EXPECT_NE(handles.Get(b), nullptr);
}

}  // namespace
}  // namespace weightfs::vfs
