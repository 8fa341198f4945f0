// s3:// URLs, and the precedence of ResolveSettings: command line, environment, shared files,
// defaults; for the endpoint, region, addressing style and credentials.
#include "weightfs/storage/s3_config.h"

#include <gtest/gtest.h>

#include "storage/s3_config_test_util.h"

namespace weightfs::storage::s3 {
namespace {

using testing::FakeEnv;
using testing::HoldsNoSecret;
using testing::kSecret;
using testing::kToken;
using testing::SecretOf;
using testing::TokenOf;
using testing::WithEnvKeys;

TEST(S3UrlTest, RecognizesOnlyTheS3Scheme) {
  EXPECT_TRUE(IsS3Url("s3://bucket"));
  EXPECT_TRUE(IsS3Url("s3://"));
  EXPECT_FALSE(IsS3Url("S3://bucket"));
  EXPECT_FALSE(IsS3Url("s3:/bucket"));
  EXPECT_FALSE(IsS3Url("/srv/repo"));
  EXPECT_FALSE(IsS3Url(""));
}

TEST(S3UrlTest, ParsesBucketAndPrefix) {
  struct Case {
    const char* url;
    const char* bucket;
    const char* prefix;
    const char* canonical;
  };
  for (const Case& c : {
           Case{"s3://my-bucket", "my-bucket", "", "s3://my-bucket"},
           Case{"s3://my-bucket/", "my-bucket", "", "s3://my-bucket"},
           Case{"s3://my.bucket-1/models", "my.bucket-1", "models", "s3://my.bucket-1/models"},
           Case{"s3://abc/Models/v1.2_x-y/", "abc", "Models/v1.2_x-y", "s3://abc/Models/v1.2_x-y"},
           Case{"s3://a.b/..x/.y", "a.b", "..x/.y", "s3://a.b/..x/.y"},
       }) {
    WFS_ASSERT_OK_AND_ASSIGN(Location loc, ParseS3Url(c.url));
    EXPECT_EQ(loc.bucket, c.bucket) << c.url;
    EXPECT_EQ(loc.prefix, c.prefix) << c.url;
    EXPECT_EQ(loc.Url(), c.canonical) << c.url;
  }
  const std::string longest(63, 'b');
  EXPECT_TRUE(ParseS3Url("s3://" + longest).ok());
}

TEST(S3UrlTest, RefusesWhatS3Refuses) {
  for (const std::string& url :
       {std::string("/srv/repo"),       std::string("s3://"),
        std::string("s3:///prefix"),    std::string("s3://ab"),
        "s3://" + std::string(64, 'b'), std::string("s3://My-Bucket"),
        std::string("s3://-bucket"),    std::string("s3://bucket-"),
        std::string("s3://a..b"),       std::string("s3://192.168.1.10"),
        std::string("s3://bucket_x"),   std::string("s3://bucket//"),
        std::string("s3://bucket//x"),  std::string("s3://bucket/a//b"),
        std::string("s3://bucket/./x"), std::string("s3://bucket/a/.."),
        std::string("s3://bucket/a b"), std::string("s3://bucket/a?x=1"),
        std::string("s3://bucket/a#f"), std::string("s3://bucket/caf\xc3\xa9")}) {
    Result<Location> r = ParseS3Url(url);
    EXPECT_CODE(r, Code::kInvalidArgument) << url;
    EXPECT_NE(r.status().message().find("s3://"), std::string::npos) << r.status().ToString();
  }
}

// ---- credentials ----

TEST(S3SettingsTest, NoCredentialsIsPermissionDeniedNamingWhatWasLookedAt) {
  FakeEnv env;
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kPermissionDenied);
  const std::string m = r.status().message();
  EXPECT_NE(m.find("AWS_ACCESS_KEY_ID"), std::string::npos) << m;
  EXPECT_NE(m.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << m;
  EXPECT_NE(m.find("profile 'default'"), std::string::npos) << m;
  EXPECT_NE(m.find(env.Path("credentials")), std::string::npos) << m;
  EXPECT_NE(m.find(env.Path("config")), std::string::npos) << m;
}

TEST(S3SettingsTest, EnvironmentCredentials) {
  FakeEnv env;
  WithEnvKeys(env).Set("AWS_SESSION_TOKEN", kToken);
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(SecretOf(s), kSecret);
  EXPECT_EQ(TokenOf(s), kToken);
  EXPECT_EQ(s.credentials_source, "environment");
}

TEST(S3SettingsTest, EnvironmentCredentialsWinOverTheProfile) {
  FakeEnv env;
  env.Write("credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = x\n");
  WithEnvKeys(env);
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDENV");
  EXPECT_TRUE(s.credentials.session_token.empty());
}

TEST(S3SettingsTest, HalfTheEnvironmentKeysIsAnError) {
  FakeEnv a;
  a.Set("AWS_ACCESS_KEY_ID", "AKIDENV");
  Result<Settings> r = a.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos);
  FakeEnv b;
  b.Set("AWS_SECRET_ACCESS_KEY", kSecret);
  r = b.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("AWS_ACCESS_KEY_ID is not"), std::string::npos);
  EXPECT_TRUE(HoldsNoSecret(r.status()));
}

TEST(S3SettingsTest, EmptyVariablesCountAsUnset) {
  FakeEnv env;
  env.Set("AWS_ACCESS_KEY_ID", "").Set("AWS_SECRET_ACCESS_KEY", "").Set("AWS_REGION", "");
  env.Write("credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDFILE");
  EXPECT_EQ(s.region, "us-east-1");
}

// ---- region ----

TEST(S3SettingsTest, RegionPrecedence) {
  FakeEnv env;
  WithEnvKeys(env);
  env.Write("config", "[default]\nregion = eu-north-1\n");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.region, "eu-north-1");
  env.Set("AWS_DEFAULT_REGION", "ap-south-1");
  EXPECT_EQ(env.Resolve()->region, "ap-south-1");
  env.Set("AWS_REGION", "eu-west-3");
  EXPECT_EQ(env.Resolve()->region, "eu-west-3");
  Overrides o;
  o.region = "us-west-2";
  EXPECT_EQ(env.Resolve(o)->region, "us-west-2");
  FakeEnv bare;
  WithEnvKeys(bare);
  EXPECT_EQ(bare.Resolve()->region, "us-east-1");
}

TEST(S3SettingsTest, BadRegionNamesItsSource) {
  FakeEnv env;
  WithEnvKeys(env).Set("AWS_REGION", "eu west/1");
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("AWS_REGION"), std::string::npos) << r.status().ToString();
}

// ---- endpoint ----

TEST(S3SettingsTest, EndpointDefaultsToTheRegionsAwsEndpoint) {
  FakeEnv env;
  WithEnvKeys(env).Set("AWS_REGION", "eu-central-1");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.endpoint, "https://s3.eu-central-1.amazonaws.com");
  EXPECT_FALSE(s.path_style);
  env.Set("AWS_REGION", "cn-north-1");
  EXPECT_EQ(env.Resolve()->endpoint, "https://s3.cn-north-1.amazonaws.com.cn");
}

TEST(S3SettingsTest, EndpointPrecedence) {
  FakeEnv env;
  WithEnvKeys(env);
  env.Write("config",
            "[default]\nendpoint_url = http://profile.test:1\nservices = local\n"
            "[services local]\ns3 =\n  endpoint_url = http://services.test:2\n");
  EXPECT_EQ(env.Resolve()->endpoint, "http://services.test:2");
  env.Set("AWS_ENDPOINT_URL", "http://global.test:3");
  EXPECT_EQ(env.Resolve()->endpoint, "http://global.test:3");
  env.Set("AWS_ENDPOINT_URL_S3", "http://s3.test:4");
  EXPECT_EQ(env.Resolve()->endpoint, "http://s3.test:4");
  Overrides o;
  o.endpoint = "http://cli.test:5";
  EXPECT_EQ(env.Resolve(o)->endpoint, "http://cli.test:5");
  // Only the command line survives AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
  env.Set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
  EXPECT_EQ(env.Resolve()->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(env.Resolve(o)->endpoint, "http://cli.test:5");
}

TEST(S3SettingsTest, ProfileEndpointWithoutServicesSection) {
  FakeEnv env;
  WithEnvKeys(env);
  env.Write("config", "[default]\nendpoint_url = http://profile.test:1/\n");
  EXPECT_EQ(env.Resolve()->endpoint, "http://profile.test:1");
}

TEST(S3SettingsTest, EndpointIsNormalized) {
  FakeEnv env;
  WithEnvKeys(env);
  for (const auto& [given, want] : std::vector<std::pair<std::string, std::string>>{
           {"HTTP://127.0.0.1:9000/", "http://127.0.0.1:9000"},
           {"https://minio.internal", "https://minio.internal"},
           {"http://[::1]:9000", "http://[::1]:9000"},
           {"http://localhost:65535", "http://localhost:65535"}}) {
    Overrides o;
    o.endpoint = given;
    WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve(o));
    EXPECT_EQ(s.endpoint, want) << given;
  }
}

TEST(S3SettingsTest, MalformedEndpointsAreRefusedNamingTheSource) {
  FakeEnv env;
  WithEnvKeys(env);
  for (const char* bad :
       {"s3.amazonaws.com", "ftp://host", "http://", "http:///", "http://host/path",
        "http://host//", "http://host?x=1", "http://host#f", "http://host:0", "http://host:65536",
        "http://host:", "http://:9000", "http://ho st", "http://[::1", "http://[zz]:1"}) {
    env.Set("AWS_ENDPOINT_URL_S3", bad);
    Result<Settings> r = env.Resolve();
    EXPECT_CODE(r, Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("AWS_ENDPOINT_URL_S3"), std::string::npos)
        << r.status().ToString();
  }
}

TEST(S3SettingsTest, EndpointWithUserInformationIsNotRepeated) {
  FakeEnv env;
  WithEnvKeys(env);
  Overrides o;
  o.endpoint = std::string("https://user:") + kSecret + "@minio.test";
  Result<Settings> r = env.Resolve(o);
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_TRUE(HoldsNoSecret(r.status()));
  EXPECT_NE(r.status().message().find("--s3-endpoint"), std::string::npos);
}

// ---- addressing style ----

TEST(S3SettingsTest, PathStyleDefaultsByEndpoint) {
  FakeEnv env;
  WithEnvKeys(env);
  EXPECT_FALSE(env.Resolve()->path_style);
  for (const char* endpoint : {"http://127.0.0.1:9000", "https://storage.example.com",
                               "https://s3.amazonaws.com.evil.test"}) {
    env.Set("AWS_ENDPOINT_URL", endpoint);
    EXPECT_TRUE(env.Resolve()->path_style) << endpoint;
  }
  for (const char* endpoint : {"https://s3.eu-west-1.amazonaws.com", "https://S3.AMAZONAWS.COM:443",
                               "https://s3.cn-north-1.amazonaws.com.cn"}) {
    env.Set("AWS_ENDPOINT_URL", endpoint);
    EXPECT_FALSE(env.Resolve()->path_style) << endpoint;
  }
}

TEST(S3SettingsTest, PathStylePrecedence) {
  FakeEnv env;
  WithEnvKeys(env).Set("AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
  env.Write("config", "[default]\ns3 =\n    addressing_style = virtual\n");
  EXPECT_FALSE(env.Resolve()->path_style);
  Overrides o;
  o.path_style = true;
  EXPECT_TRUE(env.Resolve(o)->path_style);
  env.Write("config", "[default]\ns3 =\n\taddressing_style = auto\n");
  EXPECT_TRUE(env.Resolve()->path_style);
  env.Unset("AWS_ENDPOINT_URL");
  env.Write("config", "[default]\ns3 =\n  addressing_style = Path\n");
  EXPECT_TRUE(env.Resolve()->path_style);
  o.path_style = false;
  EXPECT_FALSE(env.Resolve(o)->path_style);
}

TEST(S3SettingsTest, UnknownAddressingStyleIsRefused) {
  FakeEnv env;
  WithEnvKeys(env);
  env.Write("config", "[default]\ns3 =\n  addressing_style = sideways\n");
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(env.Path("config")), std::string::npos);
}

}  // namespace
}  // namespace weightfs::storage::s3
