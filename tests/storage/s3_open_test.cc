// Opening an S3 store: each way the bucket check can fail becomes a one-sentence error of the
// right code that says what to do (and holds no secret); URLs and signed paths of path-style and
// virtual-hosted requests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/s3_client.h"
#include "storage/s3_test_util.h"
#include "storage/storage_test_util.h"
#include "weightfs/storage/s3_store.h"

namespace weightfs::storage::s3 {
namespace {

class S3OpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::FakeS3Unavailable(); !why.empty()) GTEST_SKIP() << why;
    server_ = std::make_unique<testing::FakeS3>();
    ASSERT_EQ(server_->error(), "");
  }

  // Opens with the next request answered by an injected error; returns the status.
  Status OpenWithError(const std::string& error) {
    if (!error.empty()) {
      EXPECT_EQ(server_->Command("fault error 1 GET " + error), "ok");
    }
    auto store = S3Store::Open(server_->Options());
    Status s = store.status();
    EXPECT_EQ(s.message().find("fake-secret"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
    return s;
  }

  std::unique_ptr<testing::FakeS3> server_;
};

void ExpectMentions(const Status& s, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
  }
}

TEST_F(S3OpenTest, OpensAnExistingBucket) {
  WFS_EXPECT_OK(OpenWithError(""));
  auto store = S3Store::Open(server_->Options());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->conditional_writes(), ConditionalWrites::kUnknown);  // never probed
  EXPECT_EQ((*store)->location().Url(), "s3://bucket/repo");
}

TEST_F(S3OpenTest, RefusedCredentialsArePermissionDenied) {
  Status s = OpenWithError("403 InvalidAccessKeyId");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  ExpectMentions(s, {"InvalidAccessKeyId", "AWS_ACCESS_KEY_ID", "the test", "profile"});
  s = OpenWithError("403 SignatureDoesNotMatch");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  ExpectMentions(s, {"SignatureDoesNotMatch", "secret access key", "AWS_SECRET_ACCESS_KEY"});
  s = OpenWithError("403 AccessDenied");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  ExpectMentions(s, {"AccessDenied", "s3://bucket/repo", "AWS_ACCESS_KEY_ID"});
}

TEST_F(S3OpenTest, AnExpiredSessionTokenSaysToRefreshIt) {
  Status s = OpenWithError("400 ExpiredToken");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  ExpectMentions(s, {"ExpiredToken", "AWS_SESSION_TOKEN"});
}

TEST_F(S3OpenTest, ClockSkewSaysToFixTheClock) {
  Status s = OpenWithError("403 RequestTimeTooSkewed");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  ExpectMentions(s, {"clock", "RequestTimeTooSkewed"});
}

TEST_F(S3OpenTest, MissingBucketIsNotFound) {
  StoreOptions o = server_->Options();
  o.location.bucket = "other";
  auto store = S3Store::Open(std::move(o));
  ASSERT_CODE(store, Code::kNotFound);
  EXPECT_EQ(store.status().message(),
            "bucket other does not exist at " + server_->endpoint() + "; create it first");
}

TEST_F(S3OpenTest, WrongRegionNamesTheRightOne) {
  Status s = OpenWithError("301 PermanentRedirect eu-west-3");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  ExpectMentions(s,
                 {"bucket bucket is in region eu-west-3, not us-east-1", "--s3-region eu-west-3"});
  s = OpenWithError("400 AuthorizationHeaderMalformed ap-south-1");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  ExpectMentions(s, {"region ap-south-1", "AWS_REGION"});
}

TEST_F(S3OpenTest, OtherErrorsNameTheAnswer) {
  Status s = OpenWithError("400 InvalidBucketName");
  EXPECT_EQ(s.code(), Code::kIoError);
  ExpectMentions(s, {"400 InvalidBucketName", server_->endpoint()});
}

TEST(S3TargetTest, PathStyle) {
  Settings s;
  s.endpoint = "http://127.0.0.1:9000";
  s.path_style = true;
  Target t = BuildTarget(s, "bkt", "repo/objects/ab/ab01", {});
  EXPECT_EQ(t.host, "127.0.0.1:9000");
  EXPECT_EQ(t.signed_path, "/bkt/repo/objects/ab/ab01");
  EXPECT_EQ(t.url, "http://127.0.0.1:9000/bkt/repo/objects/ab/ab01");
  t = BuildTarget(s, "bkt", "", {{"list-type", "2"}, {"prefix", "a b/c+d"}, {"x", ""}});
  EXPECT_EQ(t.signed_path, "/bkt");
  EXPECT_EQ(t.url, "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%20b%2Fc%2Bd&x=");
}

TEST(S3TargetTest, VirtualHostedAndEncodedKeys) {
  Settings s;
  s.endpoint = "https://s3.eu-west-1.amazonaws.com";
  s.path_style = false;
  Target t = BuildTarget(s, "bkt", "p/a b+c~d", {});
  EXPECT_EQ(t.host, "bkt.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(t.signed_path, "/p/a b+c~d");  // the signer encodes it, once, as the URL has it
  EXPECT_EQ(t.url, "https://bkt.s3.eu-west-1.amazonaws.com/p/a%20b%2Bc~d");
  EXPECT_EQ(t.url.substr(t.url.find(".com") + 4), UriEncode(t.signed_path, true));
  t = BuildTarget(s, "bkt", "", {{"list-type", "2"}});
  EXPECT_EQ(t.signed_path, "/");
  EXPECT_EQ(t.url, "https://bkt.s3.eu-west-1.amazonaws.com/?list-type=2");
}

}  // namespace
}  // namespace weightfs::storage::s3
