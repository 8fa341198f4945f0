// PrepareMountAccess: what a mount enforces, decided before it starts: the built-in policy for
// an admin slot (read-write), read-only for a role that may write nowhere, and the refusals
// (an undefined role, a shared mount without bindings, a local override without an admin slot,
// an audit log that cannot be opened).
#include "weightfs/vfs/mount_access.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "weightfs/storage/memory_store.h"

namespace weightfs::vfs {
namespace {

class MountAccessTest : public ::testing::Test {
 protected:
  // A repository in memory whose policy is text (none when empty), unlocked with a slot of role.
  void Open(const std::string& role, const std::string& text) {
    auto store = storage::NewMemoryStore();
    repo::Credential c;
    c.kind = repo::Credential::Kind::kPassphrase;
    c.secret = SecretBytes(AsBytes(std::string("mount access test")));
    repo::InitOptions init;
    init.slot_name = "s";
    init.role = role;
    init.scrypt = repo::kTestScrypt;
    init.allow_weak_kdf = true;
    ASSERT_TRUE(repo::Repository::Init(store.get(), c, init).ok());
    auto r = repo::Repository::Open(std::move(store), c, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    repo_ = std::move(r).value();
    if (!text.empty()) {
      ASSERT_TRUE(repo_->policies().SetPolicy(text).ok());
    }
  }
  std::unique_ptr<repo::Repository> repo_;
};

constexpr char kReaderPolicy[] =
    "version: 1\nroles:\n  reader:\n    rules:\n      - paths: [\"/**\"]\n"
    "        allow: [list, read]\n";

TEST_F(MountAccessTest, BuiltInPolicyForAnAdminSlot) {
  ASSERT_NO_FATAL_FAILURE(Open("admin", ""));
  auto m = PrepareMountAccess(*repo_, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->read_only);
  EXPECT_EQ(m->policy_seq, 0u);
  ASSERT_NE(m->access, nullptr);
  EXPECT_EQ(m->access->options().mount_role, "admin");
  EXPECT_FALSE(m->access->options().per_caller);
}

TEST_F(MountAccessTest, ARoleThatMayWriteNowhereMountsReadOnly) {
  ASSERT_NO_FATAL_FAILURE(Open("reader", kReaderPolicy));
  auto m = PrepareMountAccess(*repo_, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->read_only);
  EXPECT_GT(m->policy_seq, 0u);
  EXPECT_NE(std::find(m->notes.begin(), m->notes.end(),
                      "role 'reader' may write nowhere: mounted read-only"),
            m->notes.end());
}

TEST_F(MountAccessTest, RefusesARoleThePolicyDoesNotDefine) {
  ASSERT_NO_FATAL_FAILURE(Open("writer", ""));
  auto m = PrepareMountAccess(*repo_, {});
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
  EXPECT_NE(m.status().message().find("key slot 's' has role 'writer', which the policy does "
                                      "not define"),
            std::string::npos)
      << m.status().message();
}

TEST_F(MountAccessTest, RefusesASharedMountWithoutBindings) {
  ASSERT_NO_FATAL_FAILURE(Open("admin", ""));
  MountAccessOptions o;
  o.allow_other = true;
  auto m = PrepareMountAccess(*repo_, o);
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_NE(m.status().message().find("the built-in policy has none"), std::string::npos)
      << m.status().message();
}

TEST_F(MountAccessTest, RefusesALocalPolicyWithoutAnAdminSlot) {
  ASSERT_NO_FATAL_FAILURE(Open("reader", kReaderPolicy));
  MountAccessOptions o;
  o.policy_file = "/nonexistent/policy.yaml";
  auto m = PrepareMountAccess(*repo_, o);
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(m.status().message(),
            "--policy needs a key slot whose role may administer; key slot 's' has role "
            "'reader'. Unlock with an admin slot (--slot NAME)");
}

TEST_F(MountAccessTest, AnAuditLogThatCannotBeOpenedIsAnError) {
  ASSERT_NO_FATAL_FAILURE(Open("admin", ""));
  MountAccessOptions o;
  o.audit_log = "/nonexistent/dir/audit.log";
  auto m = PrepareMountAccess(*repo_, o);
  EXPECT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("opening the audit log"), std::string::npos);
}

}  // namespace
}  // namespace weightfs::vfs
