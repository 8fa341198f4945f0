#include "weightfs/core/status.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "weightfs/core/bytes.h"
#include "weightfs/core/object_id.h"
#include "weightfs/core/secret.h"

namespace weightfs {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, ResultPropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().WithContext("ctx").message(), "ctx: odd");
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "x").code(), Code::kNotFound);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x").code(), Code::kNoSpace);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), Code::kIoError);
}

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x00, 0xab, 0xff, 0x10};
  EXPECT_EQ(ToHex(b), "00abff10");
  EXPECT_EQ(*FromHex("00ABff10"), b);
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
}

TEST(BytesTest, ReaderRefusesTruncatedInput) {
  Bytes b;
  PutU64(&b, 0x0102030405060708ull);
  PutLengthPrefixed(&b, AsBytes("hello"));
  Reader r(b);
  EXPECT_EQ(*r.U64(), 0x0102030405060708ull);
  EXPECT_EQ(*r.String(), "hello");
  EXPECT_TRUE(r.done());
  Bytes bad = {5, 0, 0, 0, 'a'};
  Reader r2(bad);
  EXPECT_EQ(r2.String().status().code(), Code::kCorruption);
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a(AsBytes("key material"));
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(AsString(b.view()), "key material");
  SecretBytes c = b.Clone();
  EXPECT_EQ(AsString(c.view()), "key material");
}

TEST(ObjectIdTest, HexRoundTrip) {
  std::string hex(64, 'a');
  ObjectId id = *ObjectId::FromHex(hex);
  EXPECT_EQ(id.Hex(), hex);
  EXPECT_FALSE(ObjectId::FromHex("abcd").ok());
  EXPECT_TRUE(ObjectId().IsZero());
}

}  // namespace
}  // namespace weightfs
