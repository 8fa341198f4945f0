// Owners, groups, special files and device numbers in tree objects (POSIX
// completeness): tree encoding v3 carries them, and only a tree that uses one of them is written
// as v3, so every other tree keeps its v1 (or v2, holes) bytes and id; old trees read with no
// owner recorded.
#include <gtest/gtest.h>

#include "support/repo_fixtures.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {
namespace {

using testing::FileEntry;

ObjectId SomeId(uint8_t b) {
  Bytes raw(ObjectId::kSize, b);
  auto id = ObjectId::FromBytes(raw);
  EXPECT_TRUE(id.ok());
  return *id;
}

TreeObject TwoFiles() {
  TreeObject t;
  TreeEntry a = FileEntry(SomeId(1), 100);
  a.name = "a";
  TreeEntry b = FileEntry(SomeId(2), 200);
  b.name = "b";
  t.entries = {a, b};
  return t;
}

TreeEntry Special(const std::string& name, EntryType type, uint64_t rdev = 0) {
  TreeEntry e;
  e.name = name;
  e.type = type;
  e.mode = 0640;
  e.rdev = rdev;
  return e;
}

TEST(OwnerEncodingTest, TreeWithoutOwnersKeepsTheOldBytes) {
  TreeObject t = TwoFiles();
  const Bytes v1 = EncodeTree(t);
  EXPECT_EQ(v1[0], 1);
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject back, DecodeTree(v1));
  EXPECT_FALSE(back.entries[0].has_owner);
  EXPECT_EQ(back.entries, t.entries);
  t.entries[1].hole_bytes = 10;
  EXPECT_EQ(EncodeTree(t)[0], 2);  // holes alone: still v2
}

TEST(OwnerEncodingTest, OwnersRoundTripInV3) {
  TreeObject t = TwoFiles();
  t.entries[0].has_owner = true;
  t.entries[0].uid = 1001;
  t.entries[0].gid = 4294967294u;
  t.entries[1].hole_bytes = 50;  // v3 keeps v2's hole bytes
  const Bytes v3 = EncodeTree(t);
  EXPECT_EQ(v3[0], 3);
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject back, DecodeTree(v3));
  EXPECT_EQ(back.entries, t.entries);
  EXPECT_TRUE(back.entries[0].has_owner);
  EXPECT_FALSE(back.entries[1].has_owner);  // an entry without an owner stays so in a v3 tree
  // Adding the owner changes the tree's bytes (and so its id): no two trees share them.
  EXPECT_NE(v3, EncodeTree(TwoFiles()));
}

TEST(OwnerEncodingTest, SpecialFilesRoundTripInV3) {
  TreeObject t;
  t.entries = {Special("blk", EntryType::kBlockDevice, (8u << 8) | 1),
               Special("chr", EntryType::kCharDevice, 0x0103), Special("fifo", EntryType::kFifo),
               Special("sock", EntryType::kSocket)};
  const Bytes v3 = EncodeTree(t);
  EXPECT_EQ(v3[0], 3);  // a special type alone needs v3: older builds must not misread it
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject back, DecodeTree(v3));
  EXPECT_EQ(back.entries, t.entries);
  EXPECT_TRUE(IsSpecial(EntryType::kFifo));
  EXPECT_FALSE(IsSpecial(EntryType::kSymlink));
}

TEST(OwnerEncodingTest, LinkGroupsRoundTripInV3) {
  TreeObject t = TwoFiles();
  t.entries[0].link_group = 7;
  t.entries[1].link_group = 7;
  t.entries[1].id = t.entries[0].id;
  const Bytes v3 = EncodeTree(t);
  EXPECT_EQ(v3[0], 3);  // a link group alone needs v3
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject back, DecodeTree(v3));
  EXPECT_EQ(back.entries, t.entries);
  // A directory is never hard-linked.
  t.entries[0].type = EntryType::kDirectory;
  EXPECT_EQ(DecodeTree(EncodeTree(t)).status().code(), Code::kCorruption);
}

TEST(OwnerEncodingTest, MalformedV3IsCorruption) {
  TreeObject t;
  t.entries = {Special("fifo", EntryType::kFifo)};
  const Bytes good = EncodeTree(t);
  REPO_ASSERT_OK(DecodeTree(good).status());
  Bytes bad = good;
  bad.back() = 0x80;  // the last byte is the flags byte: an unknown flag
  EXPECT_EQ(DecodeTree(bad).status().code(), Code::kCorruption);
  // A device number on a FIFO.
  t.entries[0].rdev = 5;
  EXPECT_EQ(DecodeTree(EncodeTree(t)).status().code(), Code::kCorruption);
  // A special type in a v1 tree (v1 knows only files, directories and symlinks).
  TreeObject plain = TwoFiles();
  Bytes v1 = EncodeTree(plain);
  const size_t type_at = 1 + 8 + 4 + 1;  // version, count, name length, "a"
  ASSERT_EQ(v1[type_at], 1);
  v1[type_at] = 4;
  EXPECT_EQ(DecodeTree(v1).status().code(), Code::kCorruption);
  bad = good;
  bad[0] = 4;  // a newer encoding: unsupported, not corruption
  EXPECT_EQ(DecodeTree(bad).status().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace weightfs::repo
