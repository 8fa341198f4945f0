// Known answers for the SigV4 signer: the four examples of AWS's S3 page "Signature Calculations
// for the Authorization Header: Transferring Payload in a Single Chunk", and vectors of AWS's
// SigV4 test suite (as kept in awslabs/aws-c-auth tests/aws-signing-test-suite/v4). The suite's
// vectors sign no x-amz-content-sha256, which SignV4 always adds, so most are checked one level
// down (internal::SignHeaders); post-x-www-form-urlencoded signs it and goes through SignV4.
#include "weightfs/storage/s3_signer.h"

#include <gtest/gtest.h>

#include <ctime>

#include "storage/s3_signer_internal.h"
#include "support/status_util.h"

namespace weightfs::storage::s3 {
namespace {

using std::chrono::system_clock;

constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

system_clock::time_point At(int year, int month, int day, int hour, int min, int sec) {
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return system_clock::from_time_t(timegm(&tm));
}

Credentials Creds(std::string id, std::string_view secret, std::string_view token = "") {
  return Credentials{std::move(id), SecretBytes(AsBytes(secret)), SecretBytes(AsBytes(token))};
}

// ---- The S3 documentation's examples (service s3, 20130524T000000Z) ----

constexpr char kDocsSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kDocsHost[] = "examplebucket.s3.amazonaws.com";

struct DocsExample {
  SigningRequest request;
  std::string canonical_request;
  std::string request_hash;  // the last line of the string to sign
  std::string signed_headers;
  std::string signature;
};

// Checks SignV4's headers and, one level down with the same header set, the canonical request
// and the string to sign.
void CheckDocsExample(const DocsExample& ex) {
  const Credentials creds = Creds("AKIAIOSFODNN7EXAMPLE", kDocsSecret);
  WFS_ASSERT_OK_AND_ASSIGN(HeaderList added,
                           SignV4(ex.request, creds, "us-east-1", "s3", At(2013, 5, 24, 0, 0, 0)));
  const HeaderList want = {
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", ex.request.payload_sha256},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
       "SignedHeaders=" +
           ex.signed_headers + ", Signature=" + ex.signature}};
  EXPECT_EQ(added, want);

  SigningRequest full = ex.request;
  full.headers.emplace_back("x-amz-date", "20130524T000000Z");
  full.headers.emplace_back("x-amz-content-sha256", ex.request.payload_sha256);
  WFS_ASSERT_OK_AND_ASSIGN(internal::Signed steps, internal::SignHeaders(full, creds, "us-east-1",
                                                                         "s3", "20130524T000000Z"));
  EXPECT_EQ(steps.canonical_request, ex.canonical_request);
  EXPECT_EQ(
      steps.string_to_sign,
      "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" + ex.request_hash);
  EXPECT_EQ(steps.signature, ex.signature);
}

TEST(S3SignerDocsTest, GetObjectWithRange) {
  CheckDocsExample({{"GET", kDocsHost, "/test.txt", {}, {{"Range", "bytes=0-9"}}, kEmptySha},
                    "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                    "x-amz-content-sha256:" +
                        std::string(kEmptySha) +
                        "\nx-amz-date:20130524T000000Z\n\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n" +
                        kEmptySha,
                    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
                    "host;range;x-amz-content-sha256;x-amz-date",
                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"});
}

TEST(S3SignerDocsTest, PutObjectWithStorageClass) {
  const std::string payload = Sha256Hex(AsBytes("Welcome to Amazon S3."));
  ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  // The key has a '$': the path is encoded once, to %24.
  CheckDocsExample(
      {{"PUT",
        kDocsHost,
        "/test$file.text",
        {},
        {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        payload},
       "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
       "host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:" +
           payload +
           "\nx-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
           "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" +
           payload,
       "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
       "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"});
}

TEST(S3SignerDocsTest, GetBucketLifecycle) {
  CheckDocsExample({{"GET", kDocsHost, "/", {{"lifecycle", ""}}, {}, kEmptySha},
                    "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
                    "x-amz-content-sha256:" +
                        std::string(kEmptySha) +
                        "\nx-amz-date:20130524T000000Z\n\n"
                        "host;x-amz-content-sha256;x-amz-date\n" +
                        kEmptySha,
                    "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
                    "host;x-amz-content-sha256;x-amz-date",
                    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"});
}

TEST(S3SignerDocsTest, GetBucketListObjects) {
  // Given out of order: the canonical query sorts them.
  CheckDocsExample({{"GET", kDocsHost, "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, kEmptySha},
                    "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
                    "x-amz-content-sha256:" +
                        std::string(kEmptySha) +
                        "\nx-amz-date:20130524T000000Z\n\n"
                        "host;x-amz-content-sha256;x-amz-date\n" +
                        kEmptySha,
                    "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
                    "host;x-amz-content-sha256;x-amz-date",
                    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"});
}

// ---- AWS's SigV4 test suite (service "service", 20150830T123600Z) ----

constexpr char kSuiteSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kSuiteHost[] = "example.amazonaws.com";
constexpr char kSuiteDate[] = "20150830T123600Z";
constexpr char kSuiteScope[] = "20150830/us-east-1/service/aws4_request";

struct SuiteVector {
  SigningRequest request;  // x-amz-date among the headers, as the vector signs it
  std::string canonical_request;
  std::string request_hash;
  std::string signature;
  std::string token = "";  // the session token, if any
};

void CheckSuiteVector(const SuiteVector& v) {
  const Credentials creds = Creds("AKIDEXAMPLE", kSuiteSecret, v.token);
  WFS_ASSERT_OK_AND_ASSIGN(
      internal::Signed steps,
      internal::SignHeaders(v.request, creds, "us-east-1", "service", kSuiteDate));
  EXPECT_EQ(steps.canonical_request, v.canonical_request);
  EXPECT_EQ(steps.string_to_sign, std::string("AWS4-HMAC-SHA256\n") + kSuiteDate + "\n" +
                                      kSuiteScope + "\n" + v.request_hash);
  EXPECT_EQ(steps.signature, v.signature);
  EXPECT_EQ(steps.authorization, std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") +
                                     kSuiteScope + ", SignedHeaders=" + steps.signed_headers +
                                     ", Signature=" + v.signature);
}

SigningRequest SuiteRequest(std::string method, HeaderList query, HeaderList headers = {}) {
  headers.emplace_back("X-Amz-Date", kSuiteDate);
  return {std::move(method), kSuiteHost, "/", std::move(query), std::move(headers), kEmptySha};
}

std::string SuiteCanonical(std::string_view method, std::string_view query,
                           std::string_view extra_headers = "", std::string_view extra_names = "") {
  return std::string(method) + "\n/\n" + std::string(query) + "\nhost:example.amazonaws.com\n" +
         std::string(extra_headers) + "x-amz-date:20150830T123600Z\n\nhost;" +
         std::string(extra_names) + "x-amz-date\n" + kEmptySha;
}

TEST(S3SignerSuiteTest, GetVanilla) {
  CheckSuiteVector({SuiteRequest("GET", {}), SuiteCanonical("GET", ""),
                    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"});
}

TEST(S3SignerSuiteTest, GetVanillaQueryOrderKeyCase) {
  CheckSuiteVector({SuiteRequest("GET", {{"Param2", "value2"}, {"Param1", "value1"}}),
                    SuiteCanonical("GET", "Param1=value1&Param2=value2"),
                    "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
                    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"});
}

TEST(S3SignerSuiteTest, GetVanillaQueryUnreserved) {
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  CheckSuiteVector({SuiteRequest("GET", {{unreserved, unreserved}}),
                    SuiteCanonical("GET", unreserved + "=" + unreserved),
                    "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
                    "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"});
}

TEST(S3SignerSuiteTest, GetVanillaUtf8Query) {
  CheckSuiteVector({SuiteRequest("GET", {{"\xE1\x88\xB4", "bar"}}),
                    SuiteCanonical("GET", "%E1%88%B4=bar"),
                    "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
                    "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"});
}

TEST(S3SignerSuiteTest, GetHeaderValueTrim) {
  CheckSuiteVector(
      {SuiteRequest("GET", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}),
       SuiteCanonical("GET", "", "my-header1:value1\nmy-header2:\"a b c\"\n",
                      "my-header1;my-header2;"),
       "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"});
}

TEST(S3SignerSuiteTest, GetHeaderKeyDuplicate) {
  CheckSuiteVector(
      {SuiteRequest("GET", {},
                    {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}),
       SuiteCanonical("GET", "", "my-header1:value2,value2,value1\n", "my-header1;"),
       "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"});
}

TEST(S3SignerSuiteTest, PostHeaderKeyCase) {
  SigningRequest request = SuiteRequest("POST", {});
  request.headers[0].first = "X-AMZ-DATE";  // any case signs the same
  CheckSuiteVector({request, SuiteCanonical("POST", ""),
                    "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
                    "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"});
}

TEST(S3SignerSuiteTest, PostStsHeaderBefore) {
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP"
      "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
      "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7"
      "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
      "scqKmlzm8"
      "FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  SigningRequest request = SuiteRequest("POST", {}, {{"X-Amz-Security-Token", token}});
  const std::string canonical =
      "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
      "x-amz-security-token:" +
      token + "\n\nhost;x-amz-date;x-amz-security-token\n" + kEmptySha;
  CheckSuiteVector({request, canonical,
                    "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
                    "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead", token});
}

// Signs x-amz-content-sha256 as S3 does, so SignV4 itself must reproduce it.
TEST(S3SignerSuiteTest, PostXWwwFormUrlencodedThroughSignV4) {
  const std::string payload = Sha256Hex(AsBytes("Param1=value1"));
  ASSERT_EQ(payload, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  const SigningRequest request{
      "POST",
      kSuiteHost,
      "/",
      {},
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Length", "13"}},
      payload};
  WFS_ASSERT_OK_AND_ASSIGN(
      HeaderList added, SignV4(request, Creds("AKIDEXAMPLE", kSuiteSecret), "us-east-1", "service",
                               At(2015, 8, 30, 12, 36, 0)));
  const HeaderList want = {
      {"x-amz-date", kSuiteDate},
      {"x-amz-content-sha256", payload},
      {"Authorization", std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") + kSuiteScope +
                            ", SignedHeaders=content-length;content-type;host;"
                            "x-amz-content-sha256;x-amz-date, Signature="
                            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"}};
  EXPECT_EQ(added, want);
}

// ---- The signing key (IAM guide's derivation example) ----

TEST(S3SignerTest, SigningKeyMatchesTheDerivationExample) {
  const SecretBytes secret(AsBytes(kSuiteSecret));
  WFS_ASSERT_OK_AND_ASSIGN(SecretBytes key,
                           internal::SigningKey(secret, "20120215", "us-east-1", "iam"));
  EXPECT_EQ(ToHex(key.view()), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

}  // namespace
}  // namespace weightfs::storage::s3
