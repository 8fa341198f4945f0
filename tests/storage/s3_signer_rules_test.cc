// The signer's rules beyond the published vectors: percent-encoding, the canonical query and
// headers, S3's path handling (encoded once, never normalized), input checks, and that no
// secret reaches a returned header or an error message.
#include <gtest/gtest.h>

#include <ctime>

#include "storage/s3_signer_internal.h"
#include "support/status_util.h"
#include "weightfs/storage/s3_signer.h"

namespace weightfs::storage::s3 {
namespace {

using std::chrono::system_clock;

constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kSecret[] = "Zq9SecretAccessKeyThatMustNeverShowUp0001";
constexpr char kToken[] = "SessionTokenThatMustNeverShowUpInMessages0002";

Credentials Creds(std::string_view token = "") {
  return Credentials{"AKIDRULES", SecretBytes(AsBytes(kSecret)), SecretBytes(AsBytes(token))};
}

system_clock::time_point Noon() { return system_clock::from_time_t(1767268800); }  // 2026-01-01

SigningRequest Get(std::string path, HeaderList headers = {}) {
  return {"GET",    "bucket.s3.eu-west-1.amazonaws.com", std::move(path), {}, std::move(headers),
          kEmptySha};
}

std::string Find(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

TEST(S3UriEncodeTest, KeepsUnreservedAndEncodesTheRestUppercase) {
  EXPECT_EQ(UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b", false), "a%20b");
  EXPECT_EQ(UriEncode("a+b=c&d", false), "a%2Bb%3Dc%26d");
  EXPECT_EQ(UriEncode("100%", false), "100%25");
  EXPECT_EQ(UriEncode("!'()*$,;:@?#[]", false), "%21%27%28%29%2A%24%2C%3B%3A%40%3F%23%5B%5D");
  EXPECT_EQ(UriEncode("\xE1\x88\xB4", false), "%E1%88%B4");
  EXPECT_EQ(UriEncode(std::string_view("\x00\xff", 2), false), "%00%FF");
  EXPECT_EQ(UriEncode("", true), "");
}

TEST(S3UriEncodeTest, SlashKeptOnlyInPaths) {
  EXPECT_EQ(UriEncode("a/b/", true), "a/b/");
  EXPECT_EQ(UriEncode("a/b/", false), "a%2Fb%2F");
}

TEST(S3UriEncodeTest, EncodesOnceSoAPercentInAKeyStaysItself) {
  // "%20" in a key is three characters, not an encoded space.
  EXPECT_EQ(UriEncode("/a%20b", true), "/a%2520b");
}

TEST(S3SignerRulesTest, PathIsNotNormalized) {
  SigningRequest r = Get("/b/./x/../y//z e");
  r.headers.emplace_back("x-amz-date", "20260101T120000Z");
  WFS_ASSERT_OK_AND_ASSIGN(
      internal::Signed s, internal::SignHeaders(r, Creds(), "us-east-1", "s3", "20260101T120000Z"));
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find('\n', 4) + 1),
            "GET\n/b/./x/../y//z%20e\n");
}

TEST(S3SignerRulesTest, CanonicalQuerySortsByEncodedKeyThenValue) {
  EXPECT_EQ(internal::CanonicalQuery({}), "");
  EXPECT_EQ(internal::CanonicalQuery({{"b", "2"}, {"a", "z"}, {"a", "y"}, {"uploads", ""}}),
            "a=y&a=z&b=2&uploads=");
  // Uppercase sorts before lowercase (byte order), and sorting uses the encoded form.
  EXPECT_EQ(internal::CanonicalQuery({{"b", "1"}, {"B", "1"}, {"a b", "1"}}), "B=1&a%20b=1&b=1");
  EXPECT_EQ(internal::CanonicalQuery({{"prefix", "dir/sub dir/"}, {"list-type", "2"}}),
            "list-type=2&prefix=dir%2Fsub%20dir%2F");
}

TEST(S3SignerRulesTest, CanonicalHeadersTrimFoldLowercaseAndSort) {
  WFS_ASSERT_OK_AND_ASSIGN(internal::CanonicalHeaders h,
                           internal::Canonicalize({{"X-B", "\t two \t  words  "},
                                                   {"host", "h"},
                                                   {"x-a", "1"},
                                                   {"X-A", " 2 "},
                                                   {"Empty", "   "}}));
  EXPECT_EQ(h.block, "empty:\nhost:h\nx-a:1,2\nx-b:two words\n");
  EXPECT_EQ(h.signed_headers, "empty;host;x-a;x-b");
}

TEST(S3SignerRulesTest, CanonicalHeadersRefuseBadNamesAndControlCharacters) {
  EXPECT_CODE(internal::Canonicalize({{"bad name", "v"}}), Code::kInvalidArgument);
  EXPECT_CODE(internal::Canonicalize({{"", "v"}}), Code::kInvalidArgument);
  EXPECT_CODE(internal::Canonicalize({{"a:b", "v"}}), Code::kInvalidArgument);
  EXPECT_CODE(internal::Canonicalize({{"x", "a\r\nInjected: 1"}}), Code::kInvalidArgument);
  EXPECT_CODE(internal::Canonicalize({{"x", std::string("a\0b", 3)}}), Code::kInvalidArgument);
}

TEST(S3SignerRulesTest, AmzDateIsUtcToTheSecond) {
  WFS_ASSERT_OK_AND_ASSIGN(std::string d,
                           internal::AmzDate(Noon() + std::chrono::milliseconds(999)));
  EXPECT_EQ(d, "20260101T120000Z");
  EXPECT_CODE(internal::AmzDate(system_clock::from_time_t(-1)), Code::kInvalidArgument);
}

TEST(S3SignerRulesTest, SignV4AddsItsHeadersInOrder) {
  WFS_ASSERT_OK_AND_ASSIGN(HeaderList h, SignV4(Get("/k", {{"Range", "bytes=0-1"}}), Creds(),
                                                "eu-west-1", "s3", Noon()));
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>("x-amz-date", "20260101T120000Z")));
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>("x-amz-content-sha256", kEmptySha)));
  EXPECT_EQ(h[2].first, "Authorization");
  EXPECT_NE(h[2].second.find("Credential=AKIDRULES/20260101/eu-west-1/s3/aws4_request, "
                             "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                             "Signature="),
            std::string::npos)
      << h[2].second;
}

TEST(S3SignerRulesTest, SessionTokenIsSentAndSigned) {
  WFS_ASSERT_OK_AND_ASSIGN(HeaderList with,
                           SignV4(Get("/k"), Creds(kToken), "us-east-1", "s3", Noon()));
  WFS_ASSERT_OK_AND_ASSIGN(HeaderList without,
                           SignV4(Get("/k"), Creds(), "us-east-1", "s3", Noon()));
  ASSERT_EQ(with.size(), 4u);
  EXPECT_EQ(Find(with, "x-amz-security-token"), kToken);
  EXPECT_EQ(Find(without, "x-amz-security-token"), "<absent>");
  EXPECT_NE(Find(with, "Authorization")
                .find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
  EXPECT_NE(Find(with, "Authorization"), Find(without, "Authorization"));
}

TEST(S3SignerRulesTest, EveryInputChangesTheSignature) {
  auto sig = [](const SigningRequest& r, std::string_view region = "us-east-1") {
    Result<HeaderList> h = SignV4(r, Creds(), region, "s3", Noon());
    return h.ok() ? Find(*h, "Authorization") : h.status().ToString();
  };
  const std::string base = sig(Get("/k"));
  SigningRequest r = Get("/k");
  r.payload_sha256 = "UNSIGNED-PAYLOAD";
  EXPECT_NE(sig(r), base);
  EXPECT_NE(sig(Get("/K")), base);
  EXPECT_NE(sig(Get("/k", {{"if-match", "\"e\""}})), base);
  EXPECT_NE(sig(Get("/k"), "us-east-2"), base);
  r = Get("/k");
  r.query = {{"versionId", "1"}};
  EXPECT_NE(sig(r), base);
  EXPECT_EQ(sig(Get("/k")), base);
}

TEST(S3SignerRulesTest, HeadersTheSignerSetsAreRefused) {
  for (const char* name :
       {"Host", "X-Amz-Date", "x-amz-content-sha256", "X-Amz-Security-Token", "authorization"}) {
    Result<HeaderList> r = SignV4(Get("/k", {{name, "v"}}), Creds(), "us-east-1", "s3", Noon());
    EXPECT_CODE(r, Code::kInvalidArgument) << name;
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().ToString();
  }
}

// Malformed requests, each signed with a secret and a token that must not appear in the error.
std::vector<Status> BadRequests() {
  std::vector<Status> out;
  auto sign = [&out](const SigningRequest& r, const Credentials& c,
                     std::string_view region = "us-east-1") {
    out.push_back(SignV4(r, c, region, "s3", Noon()).status());
  };
  SigningRequest r = Get("/k");
  r.method = "get";
  sign(r, Creds(kToken));
  sign(Get("k"), Creds(kToken));
  r = Get("/k");
  r.host = "";
  sign(r, Creds(kToken));
  r = Get("/k");
  r.payload_sha256 = kSecret;
  sign(r, Creds(kToken));
  sign(Get("/k", {{"x-secret", std::string(kSecret) + "\n"}}), Creds(kToken));
  sign(Get("/k", {{kSecret + std::string(" "), "v"}}), Creds(kToken));
  sign(Get("/k"), Creds(kToken), "us east");
  sign(Get("/k"), Creds(std::string(kToken) + "\r\n"));
  Credentials no_id = Creds(kToken);
  no_id.access_key_id = "";
  sign(Get("/k"), no_id);
  sign(Get("/k"), Credentials{"AKIDRULES", SecretBytes(), SecretBytes(AsBytes(kToken))});
  return out;
}

TEST(S3SignerRulesTest, MalformedRequestsAreInvalidArgumentsWithoutSecrets) {
  const std::vector<Status> errors = BadRequests();
  ASSERT_EQ(errors.size(), 10u);
  for (const Status& s : errors) {
    EXPECT_CODE(s, Code::kInvalidArgument);
    EXPECT_EQ(s.message().find("Zq9Secret"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("SessionToken"), std::string::npos) << s.message();
  }
}

TEST(S3SignerRulesTest, ReturnedHeadersHoldNoSecret) {
  WFS_ASSERT_OK_AND_ASSIGN(HeaderList h,
                           SignV4(Get("/k"), Creds(kToken), "us-east-1", "s3", Noon()));
  for (const auto& [name, value] : h) {
    EXPECT_EQ(value.find("Zq9Secret"), std::string::npos) << name;
    EXPECT_EQ(value.find(ToHex(AsBytes(kSecret))), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace weightfs::storage::s3
