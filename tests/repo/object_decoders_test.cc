// The object decoders (DecodeFile, DecodeTree, DecodeSnapshot, DecodePolicy) called directly on
// untrusted plaintext: valid encodings round-trip; every truncation, trailing bytes, inflated
// length and count fields, and seeded random and mutated input are rejected with kCorruption (or
// kUnsupported for a newer encoding version), without crashing or allocating for what the input
// does not hold; what they accept survives a round trip through the encoder.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "support/alloc_probe.h"
#include "support/decoder_checks.h"
#include "support/random.h"
#include "support/status_util.h"
#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/repo/objects.h"

namespace weightfs::repo {
namespace {

using weightfs::testing::Decoder;
using weightfs::testing::DecoderContract;
using weightfs::testing::LittleEndian;
using weightfs::testing::RoundTripping;

ObjectId Id(uint8_t fill) { return *ObjectId::FromBytes(Bytes(ObjectId::kSize, fill)); }

TreeEntry Entry(const std::string& name, EntryType type, uint32_t mode) {
  TreeEntry e;
  e.name = name;
  e.type = type;
  e.mode = mode;
  return e;
}

// Truncations and trailing bytes are damage: kCorruption only. Random and inflated input may also
// read as a newer encoding version: kUnsupported.
const DecoderContract kDamaged{};
const DecoderContract kAnyInput{.rejections = {Code::kCorruption, Code::kUnsupported}};

std::vector<Bytes> Files() {
  FileObject v1{3 << 20, {{Id(1), 1 << 20, false}, {Id(2), 2 << 20, false}}};
  FileObject v2 = v1;
  v2.chunks.push_back(ChunkRef::Hole(uint64_t{1} << 40));
  v2.size += uint64_t{1} << 40;
  return {EncodeFile(v1), EncodeFile(v2), EncodeFile(FileObject{})};
}

TreeObject SampleTree() {
  TreeEntry link = Entry("latest", EntryType::kSymlink, 0777);
  link.size = 6;
  link.target = "models";
  TreeEntry dir = Entry("models", EntryType::kDirectory, 0755);
  dir.id = Id(3);
  TreeEntry weights = Entry("w.safetensors", EntryType::kFile, 0644);
  weights.size = 1 << 20;
  weights.mtime_ns = 1700000000000000000;
  weights.id = Id(4);
  weights.xattrs["user.origin"] = ToBytes("hub");
  weights.xattrs["user.z"] = Bytes{0, 1, 2};
  return TreeObject{{link, dir, weights}};
}

std::vector<Bytes> Trees() {
  TreeObject v1 = SampleTree();
  TreeObject v2 = v1;
  v2.entries[2].hole_bytes = 4096;
  TreeObject v3 = v2;
  v3.entries[2].has_owner = true;
  v3.entries[2].uid = 1000;
  v3.entries[2].gid = 100;
  v3.entries[2].link_group = 77;
  TreeEntry dev = Entry("zdev", EntryType::kCharDevice, 0600);
  dev.rdev = 0x0103;
  v3.entries.push_back(dev);
  v3.entries.push_back(Entry("zfifo", EntryType::kFifo, 0644));
  return {EncodeTree(v1), EncodeTree(v2), EncodeTree(v3), EncodeTree(TreeObject{})};
}

std::vector<Bytes> Snapshots() {
  SnapshotObject first;
  first.root = Id(5);
  first.seq = 1;
  first.time_ns = 1700000000000000000;
  first.author = "admin";
  first.message = "first";
  SnapshotObject second = first;
  second.parent = Id(6);
  second.policy = Id(7);
  second.seq = 2;
  second.time_ns = -1;
  second.message = std::string(300, 'm');
  second.signature = Bytes{9, 9, 9};
  return {EncodeSnapshot(first), EncodeSnapshot(second)};
}

std::vector<Bytes> Policies() {
  PolicyObject first;
  first.seq = 1;
  first.time_ns = 1700000000000000000;
  first.author = "admin";
  first.author_role = "admin";
  first.text = "version: 1\n";
  PolicyObject second = first;
  second.parent = Id(8);
  second.seq = 2;
  return {EncodePolicy(first), EncodePolicy(second), EncodePolicy(PolicyObject{})};
}

struct Codec {
  const char* name;
  Decoder decode;
  std::vector<Bytes> valid;
};

std::vector<Codec> Codecs() {
  return {{"file", RoundTripping(DecodeFile, EncodeFile), Files()},
          {"tree", RoundTripping(DecodeTree, EncodeTree), Trees()},
          {"snapshot", RoundTripping(DecodeSnapshot, EncodeSnapshot), Snapshots()},
          {"policy", RoundTripping(DecodePolicy, EncodePolicy), Policies()}};
}

TEST(ObjectDecodersTest, ValidEncodingsRoundTrip) {
  for (const Codec& c : Codecs()) {
    for (const Bytes& valid : c.valid) {
      EXPECT_TRUE(weightfs::testing::Decodes(c.decode, kDamaged, valid, true)) << c.name;
    }
  }
  // The decoded values are the encoded ones, not merely stable.
  WFS_ASSERT_OK_AND_ASSIGN(TreeObject tree, DecodeTree(Trees()[2]));
  ASSERT_EQ(tree.entries.size(), 5u);
  EXPECT_EQ(tree.entries[2].xattrs.at("user.z"), (Bytes{0, 1, 2}));
  EXPECT_EQ(tree.entries[2].link_group, 77u);
  EXPECT_EQ(tree.entries[3].rdev, 0x0103u);
  WFS_ASSERT_OK_AND_ASSIGN(FileObject file, DecodeFile(Files()[1]));
  EXPECT_EQ(file.HoleBytes(), uint64_t{1} << 40);
  WFS_ASSERT_OK_AND_ASSIGN(SnapshotObject snap, DecodeSnapshot(Snapshots()[1]));
  EXPECT_EQ(snap.parent, Id(6));
  EXPECT_EQ(snap.policy, Id(7));
  EXPECT_EQ(snap.time_ns, -1);
  WFS_ASSERT_OK_AND_ASSIGN(PolicyObject policy, DecodePolicy(Policies()[1]));
  EXPECT_EQ(policy.parent, Id(8));
  EXPECT_EQ(policy.text, "version: 1\n");
}

TEST(ObjectDecodersTest, EveryTruncationIsCorruption) {
  for (const Codec& c : Codecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid)
      weightfs::testing::ExpectTruncationsRejected(c.decode, kDamaged, valid);
  }
}

TEST(ObjectDecodersTest, TrailingBytesAreCorruption) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Codec& c : Codecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid) {
      weightfs::testing::ExpectTrailingBytesRejected(c.decode, kDamaged, valid, seed);
    }
  }
}

TEST(ObjectDecodersTest, InflatedFieldsAreHandledSafely) {
  for (const Codec& c : Codecs()) {
    SCOPED_TRACE(c.name);
    for (const Bytes& valid : c.valid)
      weightfs::testing::ExpectInflatedFieldsSafe(c.decode, kAnyInput, valid);
  }
}

TEST(ObjectDecodersTest, RandomAndMutatedInputIsHandledSafely) {
  const uint64_t seed = weightfs::testing::TestSeed();
  for (const Codec& c : Codecs()) {
    SCOPED_TRACE(c.name);
    weightfs::testing::ExpectRandomInputsSafe(c.decode, kAnyInput, c.valid, seed, 4000);
  }
}

TEST(ObjectDecodersTest, UnknownEncodingVersions) {
  for (const Codec& c : Codecs()) {
    Bytes b = c.valid[0];
    b[0] = 0;
    EXPECT_CODE(c.decode(b), Code::kCorruption) << c.name;
    b[0] = 0xff;
    EXPECT_CODE(c.decode(b), Code::kUnsupported) << c.name;
  }
  EXPECT_CODE(DecodeFile(Bytes{3}), Code::kUnsupported);
  EXPECT_CODE(DecodeTree(Bytes{4}), Code::kUnsupported);
  EXPECT_CODE(DecodeSnapshot(Bytes{3}), Code::kUnsupported);
  EXPECT_CODE(DecodePolicy(Bytes{2}), Code::kUnsupported);
}

// A count far beyond what the input holds is refused before anything is reserved for it.
TEST(ObjectDecodersTest, HugeCountsAreCorruptionWithoutAllocating) {
  for (uint64_t n : {uint64_t{2}, uint64_t{1} << 32, std::numeric_limits<uint64_t>::max()}) {
    SCOPED_TRACE("count " + std::to_string(n));
    for (uint8_t version : {1, 2}) {
      Bytes file{version};
      PutU64(&file, 1 << 20);
      PutU64(&file, n);
      PutBytes(&file, Bytes(40, 1));
      weightfs::testing::AllocationProbe probe;
      EXPECT_CODE(DecodeFile(file), Code::kCorruption);
      EXPECT_LT(probe.largest(), size_t{1} << 16);
    }
    for (uint8_t version : {1, 2, 3}) {
      Bytes tree{version};
      PutU64(&tree, n);
      PutBytes(&tree, Bytes(70, 1));
      weightfs::testing::AllocationProbe probe;
      EXPECT_CODE(DecodeTree(tree), Code::kCorruption);
      EXPECT_LT(probe.largest(), size_t{1} << 16);
    }
  }
}

// The tree entry's xattr count and every string length claim more than the input holds.
TEST(ObjectDecodersTest, HugeLengthsAreCorruptionWithoutAllocating) {
  TreeObject one{{SampleTree().entries[2]}};
  const Bytes tree = EncodeTree(one);
  // version, count, then the name's length.
  const size_t name_len_at = 1 + 8;
  const size_t xattr_count_at = name_len_at + 4 + one.entries[0].name.size() + 1 + 4 + 8 + 8;
  for (size_t at : {name_len_at, xattr_count_at}) {
    Bytes b = tree;
    const Bytes huge = LittleEndian(std::numeric_limits<uint32_t>::max(), 4);
    std::copy(huge.begin(), huge.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    weightfs::testing::AllocationProbe probe;
    EXPECT_CODE(DecodeTree(b), Code::kCorruption) << "u32 max at " << at;
    EXPECT_LT(probe.largest(), size_t{1} << 16);
  }
  Bytes snap = Snapshots()[0];
  snap.resize(snap.size() - 4);  // the signature's length
  PutU32(&snap, std::numeric_limits<uint32_t>::max());
  EXPECT_CODE(DecodeSnapshot(snap), Code::kCorruption);
}

TEST(ObjectDecodersTest, FilePiecesMustAddUpWithoutOverflow) {
  FileObject f{10, {{Id(1), 4, false}, {Id(2), 5, false}}};
  EXPECT_CODE(DecodeFile(EncodeFile(f)), Code::kCorruption);  // 9 != 10
  const uint64_t half = uint64_t{1} << 63;
  FileObject wrap{0, {ChunkRef::Hole(half), ChunkRef::Hole(half)}};  // sums to 0 mod 2^64
  EXPECT_CODE(DecodeFile(EncodeFile(wrap)), Code::kCorruption);
  FileObject empty_hole{0, {ChunkRef::Hole(0)}};
  EXPECT_CODE(DecodeFile(EncodeFile(empty_hole)), Code::kCorruption);
  FileObject empty_chunk{0, {{Id(1), 0, false}}};
  EXPECT_CODE(DecodeFile(EncodeFile(empty_chunk)), Code::kCorruption);
  Bytes unknown_piece = EncodeFile(FileObject{8, {ChunkRef::Hole(8)}});
  unknown_piece[17] = 3;  // the piece's kind, after version, size and count
  EXPECT_CODE(DecodeFile(unknown_piece), Code::kCorruption);
}

TEST(ObjectDecodersTest, TreeEntriesMustBeWellFormed) {
  const auto rejected = [](const TreeObject& t, const char* why) {
    EXPECT_CODE(DecodeTree(EncodeTree(t)), Code::kCorruption) << why;
  };
  TreeObject t = SampleTree();
  std::swap(t.entries[0], t.entries[1]);
  rejected(t, "unsorted");
  t = SampleTree();
  t.entries[1].name = t.entries[0].name;
  rejected(t, "repeated name");
  for (const char* name : {"", ".", "..", "a/b"}) {
    t = SampleTree();
    t.entries[0].name = name;
    rejected(t, "invalid name");
  }
  t = SampleTree();
  t.entries[0].name = std::string(256, 'n');
  rejected(t, "name too long");
  t = SampleTree();
  t.entries[0].type = static_cast<EntryType>(9);
  rejected(t, "unknown type");
  t = SampleTree();
  t.entries[2].hole_bytes = t.entries[2].size + 1;
  rejected(t, "more hole bytes than size");
  t = SampleTree();
  t.entries[2].rdev = 5;
  rejected(t, "device number on a file");
  t = SampleTree();
  t.entries[1].link_group = 5;
  rejected(t, "link group on a directory");
  // Special types exist only from v3 on: a v1 tree naming one is damaged.
  Bytes v1 = EncodeTree(SampleTree());
  const size_t type_at = 1 + 8 + 4 + t.entries[0].name.size();
  v1[type_at] = static_cast<uint8_t>(EntryType::kFifo);
  EXPECT_CODE(DecodeTree(v1), Code::kCorruption);
  // v3's flags byte (the last byte of an entry with no owner, device or link) has 3 known bits.
  TreeObject fifo{{Entry("f", EntryType::kFifo, 0644)}};
  Bytes v3 = EncodeTree(fifo);
  v3.back() = 8;
  EXPECT_CODE(DecodeTree(v3), Code::kCorruption);
}

// The encoders write presence flags as 0 or 1 and xattrs sorted and unique: anything else was
// not written by weightfs and is damage, not a second spelling of the same object.
TEST(ObjectDecodersTest, FlagsAreZeroOrOneAndXattrsSortedAndUnique) {
  Bytes snap = Snapshots()[1];  // has a parent, a policy and a 3-byte signature
  snap[1 + ObjectId::kSize] = 2;
  EXPECT_CODE(DecodeSnapshot(snap), Code::kCorruption) << "has_parent 2";
  snap = Snapshots()[1];
  snap[snap.size() - 3 - 4 - ObjectId::kSize - 1] = 2;
  EXPECT_CODE(DecodeSnapshot(snap), Code::kCorruption) << "has_policy 2";
  Bytes policy = Policies()[1];
  policy[1] = 0xff;
  EXPECT_CODE(DecodePolicy(policy), Code::kCorruption) << "has_parent 255";

  TreeEntry e = Entry("f", EntryType::kFile, 0644);
  e.xattrs = {{"user.a", Bytes{1}}, {"user.b", Bytes{2}}};
  const Bytes tree = EncodeTree(TreeObject{{e}});
  WFS_ASSERT_OK(DecodeTree(tree).status());
  std::string text(AsString(tree));
  const size_t b_at = text.find("user.b");
  ASSERT_NE(b_at, std::string::npos);
  for (char key : {'a', '0'}) {  // repeated; unsorted
    Bytes bad = tree;
    bad[b_at + 5] = static_cast<uint8_t>(key);
    EXPECT_CODE(DecodeTree(bad), Code::kCorruption) << "second xattr user." << key;
  }
}

}  // namespace
}  // namespace weightfs::repo
