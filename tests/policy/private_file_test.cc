// LoadPrivatePolicyFile: a policy file only root and this user can change loads; one that
// others could change (the file or a directory above it), that is not a regular file or that
// is too large is refused with kPermissionDenied saying why.
#include "weightfs/policy/private_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace weightfs::policy {
namespace {

constexpr char kPolicy[] =
    "version: 1\nroles:\n  admin:\n    rules:\n      - paths: [\"/**\"]\n        allow: [all]\n";

class PrivateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/wfs-private-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  std::string dir_;
};

TEST_F(PrivateFileTest, LoadsAPrivateFile) {
  auto p = LoadPrivatePolicyFile(Write("p.yaml", kPolicy, 0600));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE((*p)->HasRole("admin"));
}

TEST_F(PrivateFileTest, RefusesAFileOthersMayWrite) {
  const std::string path = Write("p.yaml", kPolicy, 0666);
  auto p = LoadPrivatePolicyFile(path);
  EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(p.status().message(),
            "policy file " + path +
                " is writable by group or others: whoever can change it could give themselves any "
                "role; chmod go-w it (owned by root or the mounting user)");
}

TEST_F(PrivateFileTest, RefusesADirectoryAboveOthersMayWrite) {
  const std::string sub = dir_ + "/open";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(sub.c_str(), 0777), 0);
  const std::string path = sub + "/p.yaml";
  std::ofstream(path) << kPolicy;
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto p = LoadPrivatePolicyFile(path);
  EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
  EXPECT_NE(p.status().message().find("the directory " + sub + " above the policy file"),
            std::string::npos)
      << p.status().message();
}

TEST_F(PrivateFileTest, RefusesWhatIsNotARegularFile) {
  const std::string sub = dir_ + "/d";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  auto p = LoadPrivatePolicyFile(sub);
  EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(p.status().message(), "policy file " + sub + " is not a regular file");
}

TEST_F(PrivateFileTest, RefusesAFileLargerThanAPolicy) {
  auto p = LoadPrivatePolicyFile(Write("big.yaml", std::string(kMaxPolicyBytes + 1, '#'), 0600));
  EXPECT_EQ(p.status().code(), Code::kPermissionDenied);
  EXPECT_NE(p.status().message().find("is larger than a policy may be"), std::string::npos);
}

TEST_F(PrivateFileTest, MissingFileIsAnError) {
  auto p = LoadPrivatePolicyFile(dir_ + "/none.yaml");
  EXPECT_FALSE(p.ok());
}

}  // namespace
}  // namespace weightfs::policy
