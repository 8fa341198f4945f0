// S3Store's requests as a server that checks SigV4 signatures sees them (fake_s3.py --verify):
// signed paths, queries (continuation tokens with '+', '/' and '='), copy headers and payload
// hashes match what is sent, and refused credentials, secrets and regions become clear errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/s3_test_util.h"
#include "storage/storage_test_util.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::storage::s3 {
namespace {

using storage::testing::TestData;
using storage::testing::TestId;

class S3SignedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::FakeS3Unavailable(); !why.empty()) GTEST_SKIP() << why;
    server_ = std::make_unique<testing::FakeS3>(
        std::vector<std::string>{"--verify", "AKIDFAKE:fake-secret", "--region", "us-east-1"});
    ASSERT_EQ(server_->error(), "");
  }
  std::unique_ptr<testing::FakeS3> server_;
};

TEST_F(S3SignedTest, EveryKindOfRequestIsSignedAsSent) {
  auto store = S3Store::Open(server_->Options("deep/prefix.x"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  S3Store& s = **store;
  auto probed = s.ProbeConditionalWrites();
  ASSERT_TRUE(probed.ok()) << probed.status().ToString();
  ASSERT_EQ(server_->Command("pagesize 2"), "ok");
  for (uint32_t i = 0; i < 5; ++i) WFS_ASSERT_OK(s.Put(TestId(0x40, i), TestData(1000 + i, i)));
  int listed = 0;
  WFS_ASSERT_OK(s.ForEach([&](const ObjectId&, uint64_t) {
    ++listed;
    return Status::Ok();
  }));
  EXPECT_EQ(listed, 5);
  auto range = s.GetRange(TestId(0x40, 1), 10, 20);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  const Bytes data = TestData(1001, 1);
  EXPECT_EQ(*range, Bytes(data.begin() + 10, data.begin() + 30));
  WFS_ASSERT_OK(s.Touch(TestId(0x40, 2)));
  WFS_ASSERT_OK(s.Delete(TestId(0x40, 3)));
  WFS_ASSERT_OK(s.WriteFile("refs/tags/v1.0_rc-2", AsBytes("x")));
  WFS_ASSERT_OK(s.CompareAndSwapFile("refs/tags/v1.0_rc-2", ToBytes("x"), AsBytes("y")));
  auto names = s.ListFiles("refs/tags");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, std::vector<std::string>{"refs/tags/v1.0_rc-2"});
  WFS_ASSERT_OK(s.DeleteFile("refs/tags/v1.0_rc-2"));
}

TEST_F(S3SignedTest, AWrongSecretIsSignatureDoesNotMatch) {
  StoreOptions o = server_->Options();
  o.settings.credentials.secret_access_key = SecretBytes(AsBytes("not-the-secret"));
  auto store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kPermissionDenied);
  EXPECT_NE(store.status().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(store.status().message().find("not-the-secret"), std::string::npos);
}

TEST_F(S3SignedTest, AnUnknownKeyIsInvalidAccessKeyId) {
  StoreOptions o = server_->Options();
  o.settings.credentials.access_key_id = "AKIDOTHER";
  auto store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kPermissionDenied);
  EXPECT_NE(store.status().message().find("InvalidAccessKeyId"), std::string::npos);
}

TEST_F(S3SignedTest, AWrongRegionNamesTheBucketsRegion) {
  StoreOptions o = server_->Options();
  o.settings.region = "eu-west-1";
  auto store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kInvalidArgument);
  EXPECT_NE(store.status().message().find("is in region us-east-1, not eu-west-1"),
            std::string::npos)
      << store.status().message();
}

}  // namespace
}  // namespace weightfs::storage::s3
