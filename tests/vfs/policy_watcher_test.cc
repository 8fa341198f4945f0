// PolicyWatcher: a new repository policy version, or a reloaded local policy file after SIGHUP,
// is swapped into the mount's AccessControl within a poll and on_change runs; a policy that
// does not define the mount's role is applied with a warning; a local file that fails to load
// on SIGHUP keeps the current policy.
#include "weightfs/vfs/policy_watcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "weightfs/storage/memory_store.h"

namespace weightfs::vfs {
namespace {

std::string PolicyText(const std::string& role, const std::string& caps) {
  return "version: 1\nroles:\n  " + role + ":\n    rules:\n      - paths: [\"/**\"]\n" +
         "        allow: [" + caps + "]\n";
}

// Waits up to 10 s for done().
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class PolicyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::NewMemoryStore();
    repo::Credential c;
    c.kind = repo::Credential::Kind::kPassphrase;
    c.secret = SecretBytes(AsBytes(std::string("policy watcher test")));
    repo::InitOptions init;
    init.scrypt = repo::kTestScrypt;
    init.allow_weak_kdf = true;
    ASSERT_TRUE(repo::Repository::Init(store.get(), c, init).ok());
    auto r = repo::Repository::Open(std::move(store), c, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    AccessControl::Options ao;
    ao.mount_role = "admin";
    access_ = std::make_shared<AccessControl>(policy::Policy::BuiltIn(), ao);
  }
  void TearDown() override {
    watcher_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void Start(const std::string& policy_file = "") {
    PolicyWatcher::Options o;
    o.policy_file = policy_file;
    auto ref = repo_->policies().ReadPolicy();
    ASSERT_TRUE(ref.ok());
    o.policy_ref = ref->raw;
    o.policy_seq = ref->value ? ref->value->policy.seq : 0;
    o.hangup = &hangup_;
    o.on_change = [this] { changes_++; };
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_.push_back(line);
    };
    o.poll_interval = std::chrono::milliseconds(10);
    watcher_ = std::make_unique<PolicyWatcher>(repo_.get(), access_, std::move(o));
  }
  bool Logged(const std::string& part) {
    std::lock_guard lock(log_mu_);
    for (const std::string& l : log_)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
  std::string PrivateFile(const std::string& text) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/wfs-watch-XXXXXX";
    EXPECT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    std::string path = dir_ + "/policy.yaml";
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), 0600), 0);
    return path;
  }

  std::unique_ptr<repo::Repository> repo_;
  std::shared_ptr<AccessControl> access_;
  std::atomic<bool> hangup_{false};
  std::atomic<int> changes_{0};
  std::mutex log_mu_;
  std::vector<std::string> log_;
  std::unique_ptr<PolicyWatcher> watcher_;
  std::string dir_;
};

TEST_F(PolicyWatcherTest, AppliesANewRepositoryPolicy) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const auto before = access_->policy();
  auto set = repo_->policies().SetPolicy(PolicyText("admin", "all"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_TRUE(Eventually([&] { return changes_.load() == 1; }));
  EXPECT_NE(access_->policy(), before);
  EXPECT_TRUE(access_->policy()->HasRole("admin"));
  EXPECT_TRUE(Logged("applied repository policy #" + std::to_string(set->policy.seq)));
  // Nothing new: nothing applied again.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(changes_.load(), 1);
}

TEST_F(PolicyWatcherTest, WarnsWhenTheMountsRoleIsNotDefined) {
  AccessControl::Options ao;
  ao.mount_role = "someone";
  access_ = std::make_shared<AccessControl>(policy::Policy::BuiltIn(), ao);
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(repo_->policies().SetPolicy(PolicyText("admin", "list, read")).ok());
  ASSERT_TRUE(Eventually([&] { return changes_.load() == 1; }));
  EXPECT_TRUE(Logged("does not define this mount's role 'someone': every request is now denied"));
  EXPECT_FALSE(access_->policy()->HasRole("someone"));
}

TEST_F(PolicyWatcherTest, ReloadsTheLocalFileOnHangupOnly) {
  const std::string path = PrivateFile(PolicyText("admin", "list, read"));
  ASSERT_NO_FATAL_FAILURE(Start(path));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(changes_.load(), 0);
  hangup_ = true;
  ASSERT_TRUE(Eventually([&] { return changes_.load() == 1; }));
  EXPECT_FALSE(hangup_.load());
  EXPECT_TRUE(Logged("applied the local policy " + path));
  // A repository policy is ignored while a local file is enforced.
  ASSERT_TRUE(repo_->policies().SetPolicy(PolicyText("admin", "all")).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(changes_.load(), 1);
}

TEST_F(PolicyWatcherTest, KeepsThePolicyWhenTheFileDoesNotLoad) {
  const std::string path = PrivateFile("version: 1\nroles: [\n");
  ASSERT_NO_FATAL_FAILURE(Start(path));
  const auto before = access_->policy();
  hangup_ = true;
  ASSERT_TRUE(Eventually([&] { return Logged("SIGHUP: keeping the current policy"); }));
  EXPECT_EQ(changes_.load(), 0);
  EXPECT_EQ(access_->policy(), before);
}

}  // namespace
}  // namespace weightfs::vfs
