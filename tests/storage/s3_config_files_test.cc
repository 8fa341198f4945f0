// The shared files ~/.aws/credentials and ~/.aws/config: profiles, the INI syntax AWS tools
// accept, broken files, and that no message holds a secret.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/aws_ini.h"
#include "storage/s3_config_test_util.h"
#include "weightfs/storage/s3_config.h"

namespace weightfs::storage::s3 {
namespace {

using testing::FakeEnv;
using testing::HoldsNoSecret;
using testing::kSecret;
using testing::kToken;
using testing::SecretOf;
using testing::TokenOf;
using testing::WithEnvKeys;

std::string Keys(const std::string& id, const std::string& secret = kSecret) {
  return "aws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n";
}

TEST(S3ProfileTest, DefaultProfileFromTheCredentialsFile) {
  FakeEnv env;
  env.Write("credentials", "[default]\n" + Keys("AKIDDEF") + "aws_session_token=" + kToken + "\n");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDDEF");
  EXPECT_EQ(SecretOf(s), kSecret);
  EXPECT_EQ(TokenOf(s), kToken);
  EXPECT_EQ(s.credentials_source, "profile 'default' in " + env.Path("credentials"));
  EXPECT_TRUE(HoldsNoSecret(Status(Code::kInternal, s.credentials_source)));
}

TEST(S3ProfileTest, NamedProfileUsesBareNamesInCredentialsAndProfilePrefixInConfig) {
  FakeEnv env;
  env.Write("credentials", "[default]\n" + Keys("AKIDDEF") + "[work]\n" + Keys("AKIDWORK") +
                               "[profile other]\n" + Keys("AKIDWRONG"));
  env.Write("config",
            "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-northeast-1\n"
            "[other]\nregion = sa-east-1\n");
  WFS_ASSERT_OK_AND_ASSIGN(Settings def, env.Resolve());
  EXPECT_EQ(def.credentials.access_key_id, "AKIDDEF");
  EXPECT_EQ(def.region, "eu-west-1");
  env.Set("AWS_PROFILE", "work");
  WFS_ASSERT_OK_AND_ASSIGN(Settings work, env.Resolve());
  EXPECT_EQ(work.credentials.access_key_id, "AKIDWORK");
  EXPECT_EQ(work.region, "ap-northeast-1");
  EXPECT_EQ(work.credentials_source, "profile 'work' in " + env.Path("credentials"));
  // "[profile other]" in credentials and "[other]" in config are not the profile "other".
  env.Set("AWS_PROFILE", "other");
  Result<Settings> other = env.Resolve();
  ASSERT_CODE(other, Code::kInvalidArgument);
  EXPECT_NE(other.status().message().find("AWS_PROFILE names the profile 'other'"),
            std::string::npos)
      << other.status().ToString();
}

TEST(S3ProfileTest, ProfileDefaultInConfigIsTheDefaultProfile) {
  FakeEnv env;
  WithEnvKeys(env);
  env.Write("config", "[profile default]\nregion = eu-south-1\n");
  EXPECT_EQ(env.Resolve()->region, "eu-south-1");
}

TEST(S3ProfileTest, MissingNamedProfileIsAnErrorEvenWithEnvironmentKeys) {
  FakeEnv env;
  WithEnvKeys(env).Set("AWS_PROFILE", "nosuch");
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(env.Path("credentials") + " nor " + env.Path("config")),
            std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("unset AWS_PROFILE"), std::string::npos);
}

TEST(S3ProfileTest, KeysInTheConfigFileCountAfterTheCredentialsFile) {
  FakeEnv env;
  env.Write("config", "[profile p]\n" + Keys("AKIDCONF"));
  env.Set("AWS_PROFILE", "p");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDCONF");
  EXPECT_EQ(s.credentials_source, "profile 'p' in " + env.Path("config"));
  env.Write("credentials", "[p]\n" + Keys("AKIDCRED"));
  EXPECT_EQ(env.Resolve()->credentials.access_key_id, "AKIDCRED");
}

TEST(S3ProfileTest, FileVariablesMoveTheFiles) {
  FakeEnv env;
  env.Write("credentials", "[default]\n" + Keys("AKIDHOME"));
  const std::string creds =
      env.Write(env.home() + "/elsewhere-creds", "[default]\n" + Keys("AKIDX"));
  const std::string config =
      env.Write(env.home() + "/elsewhere-config", "[default]\nregion=il-central-1\n");
  env.Set("AWS_SHARED_CREDENTIALS_FILE", creds).Set("AWS_CONFIG_FILE", "~/elsewhere-config");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDX");
  EXPECT_EQ(s.region, "il-central-1");
  EXPECT_EQ(s.credentials_source, "profile 'default' in " + creds);
  (void)config;
}

TEST(S3ProfileTest, HalfAProfilesKeysIsAnErrorWithoutTheSecret) {
  FakeEnv env;
  env.Write("credentials", std::string("[default]\naws_secret_access_key = ") + kSecret + "\n");
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no aws_access_key_id"), std::string::npos);
  EXPECT_TRUE(HoldsNoSecret(r.status()));
  env.Write("credentials", "[default]\naws_access_key_id = AKID\n");
  EXPECT_CODE(env.Resolve(), Code::kInvalidArgument);
}

TEST(S3ProfileTest, RoleProfilesGetAHint) {
  FakeEnv env;
  env.Write("config", "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n");
  Result<Settings> r = env.Resolve();
  ASSERT_CODE(r, Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("export-credentials"), std::string::npos);
}

TEST(S3IniTest, CommentsBlanksCaseAndLineEndings) {
  FakeEnv env;
  env.Write("credentials",
            "# a comment\r\n; another\r\n\r\n  [ default ]   # trailing comment\r\n"
            "AWS_Access_Key_ID=AKIDINI ; key comment\r\n"
            "  aws_secret_access_key   =   " +
                std::string(kSecret) + "   \r\n");
  env.Write("config", "[default]\nregion = us-west-1 # where\n[sso-session s]\nregion = x\n");
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, env.Resolve());
  EXPECT_EQ(s.credentials.access_key_id, "AKIDINI");
  EXPECT_EQ(SecretOf(s), kSecret);
  EXPECT_EQ(s.region, "us-west-1");
}

TEST(S3IniTest, HashWithoutABlankBeforeItIsPartOfTheValue) {
  WFS_ASSERT_OK_AND_ASSIGN(AwsFile f, ParseAwsFile("[a]\nk = v#1;2\nlater = 1\nlater = 2\n",
                                                   AwsFileKind::kCredentials, "f"));
  ASSERT_NE(f.Profile("a"), nullptr);
  EXPECT_EQ(f.Profile("a")->at("k"), "v#1;2");
  EXPECT_EQ(f.Profile("a")->at("later"), "2");
  EXPECT_EQ(f.Profile("b"), nullptr);
}

TEST(S3IniTest, NestedKeysOnlyUnderAnEmptyValue) {
  WFS_ASSERT_OK_AND_ASSIGN(
      AwsFile f, ParseAwsFile("[default]\ns3 =\n  addressing_style = path\n  max_concurrent = 4\n"
                              "region = r\n  indented = top\n",
                              AwsFileKind::kConfig, "f"));
  const AwsSection* p = f.Profile("default");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->at("s3.addressing_style"), "path");
  EXPECT_EQ(p->at("s3.max_concurrent"), "4");
  EXPECT_EQ(p->at("indented"), "top");
  EXPECT_EQ(p->count("region.indented"), 0u);
}

TEST(S3IniTest, BrokenFilesNameFileAndLineButNoContent) {
  struct Case {
    std::string text;
    size_t line;
  };
  for (const Case& c :
       {Case{"[default]\n" + std::string(kSecret) + "\n", 2},
        Case{"aws_secret_access_key = " + std::string(kSecret) + "\n", 1}, Case{"[default\n", 1},
        Case{"[]\n", 1}, Case{"[default] " + std::string(kSecret) + "\n", 1},
        Case{"[default]\n = " + std::string(kSecret) + "\n", 2}}) {
    FakeEnv env;
    const std::string path = env.Write("credentials", c.text);
    Result<Settings> r = env.Resolve();
    ASSERT_CODE(r, Code::kInvalidArgument) << c.text;
    EXPECT_EQ(r.status().message().rfind(path + " line " + std::to_string(c.line) + ": ", 0), 0u)
        << r.status().ToString();
    EXPECT_TRUE(HoldsNoSecret(r.status()));
  }
}

TEST(S3IniTest, UnreadableFileIsAnErrorNamingTheVariable) {
  FakeEnv env;
  WithEnvKeys(env);
  // A directory where the config file should be: opening succeeds, reading fails.
  ASSERT_EQ(::mkdir(env.Path("config").c_str(), 0700), 0);
  Result<Settings> r = env.Resolve();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("AWS_CONFIG_FILE"), std::string::npos)
      << r.status().ToString();
}

TEST(S3IniTest, NoHomeMeansNoFiles) {
  Environment env{[](const std::string& name) -> std::optional<std::string> {
                    if (name == "AWS_ACCESS_KEY_ID") return "AKIDNOHOME";
                    if (name == "AWS_SECRET_ACCESS_KEY") return kSecret;
                    return std::nullopt;
                  },
                  ""};
  WFS_ASSERT_OK_AND_ASSIGN(Settings s, ResolveSettings({}, env));
  EXPECT_EQ(s.credentials.access_key_id, "AKIDNOHOME");
  Result<Settings> none = ResolveSettings({}, Environment{});
  ASSERT_CODE(none, Code::kPermissionDenied);
  EXPECT_NE(none.status().message().find("no home directory"), std::string::npos);
}

TEST(S3IniTest, ProcessEnvironmentReadsTheRealEnvironment) {
  ASSERT_EQ(::setenv("WEIGHTFS_S3_CONFIG_TEST", "v1", 1), 0);
  Environment env = ProcessEnvironment();
  EXPECT_EQ(env.get("WEIGHTFS_S3_CONFIG_TEST"), std::optional<std::string>("v1"));
  EXPECT_EQ(env.get("WEIGHTFS_S3_CONFIG_TEST_UNSET"), std::nullopt);
  EXPECT_FALSE(env.home.empty());
  ::unsetenv("WEIGHTFS_S3_CONFIG_TEST");
}

// Every failure of a setup that holds planted secrets: none of them may be quoted.
TEST(S3SettingsSecretsTest, NoMessageHoldsASecret) {
  std::vector<Status> errors;
  auto add = [&errors](const FakeEnv& env, const Overrides& o = {}) {
    errors.push_back(env.Resolve(o).status());
  };
  FakeEnv a;
  a.Set("AWS_SECRET_ACCESS_KEY", kSecret).Set("AWS_SESSION_TOKEN", kToken);
  add(a);
  FakeEnv b;
  WithEnvKeys(b).Set("AWS_SESSION_TOKEN", kToken).Set("AWS_REGION", "x/y");
  add(b);
  FakeEnv c;
  c.Write("credentials", "[default]\naws_session_token = " + std::string(kToken) + "\n" +
                             "aws_secret_access_key = " + kSecret + "\n");
  add(c);
  FakeEnv d;
  d.Write("config",
          std::string("[default]\nendpoint_url = http://u:") + kSecret + "@h\n" + Keys("AKID"));
  add(d);
  FakeEnv e;
  WithEnvKeys(e).Set("AWS_PROFILE", "none");
  add(e);
  ASSERT_EQ(errors.size(), 5u);
  for (const Status& s : errors) {
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(HoldsNoSecret(s));
  }
}

}  // namespace
}  // namespace weightfs::storage::s3
