// AccessControl on its own: roles from bindings or default_role, the mount role's ceiling,
// private mounts, the audit log and policy swaps (access_fixture.h).
#include "weightfs/vfs/access.h"

#include <gtest/gtest.h>

#include "vfs/access_fixture.h"

namespace weightfs::vfs {
namespace {

// --- AccessControl on its own ---

TEST_F(AccessTest, AuditLinesForDenialsAndWithAuditAllForAllows) {
  auto ac = Access("admin");
  EXPECT_FALSE(ac->Check(kGus, C::kRead, "/private/x", "open"));
  EXPECT_TRUE(ac->Check(kGus, C::kRead, "/public/a", "open"));  // not audited
  EXPECT_FALSE(ac->Peek(kGus, C::kRead, "/private/y"));         // never audited
  EXPECT_FALSE(ac->Check(kGus, C::kRead, "/public/secret.bin", "open"));
  EXPECT_FALSE(ac->Check(Caller{4242, 100, 9, {}}, C::kDelete, "/public/a", "unlink"));
  auto lines = TakeAudit();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(std::regex_match(lines[0]["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << lines[0];
  EXPECT_EQ(lines[0],
            nlohmann::json::parse(R"({"time":)" + lines[0]["time"].dump() +
                                  R"(,"uid":1003,"user":"gus","role":"guest","op":"open",)"
                                  R"("capability":"read","path":"/private/x","decision":"deny",)"
                                  R"("rule":"no rule allows"})"));
  EXPECT_EQ(lines[1].size(), 9u);
  EXPECT_EQ(lines[1]["rule"].get<std::string>().rfind("guest rule 2 (line ", 0), 0u) << lines[1];
  EXPECT_TRUE(lines[2]["user"].is_null());  // a uid the resolver does not know
  EXPECT_EQ(lines[2]["uid"], 4242);
  EXPECT_EQ(lines[2]["op"], "unlink");

  auto all = Access("admin", true, kPolicy, /*audit_all=*/true);
  Caller both = kAlice;
  both.gid = 3000;  // admin by name and member by group
  EXPECT_TRUE(all->Check(both, C::kAdmin, "/", "policy"));
  EXPECT_TRUE(all->Peek(both, C::kRead, "/x"));
  lines = TakeAudit();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_EQ(lines[0]["role"], "admin,member");
  EXPECT_EQ(lines[0]["rule"].get<std::string>().rfind("admin rule 1 (line ", 0), 0u) << lines[0];
}

// Straight from AccessControl: roles by user name, group, supplementary group, numeric id and
// default_role; the mount role's ceiling; a policy without default_role; a private mount.
struct DecisionCase {
  const char* mount_role;
  bool per_caller, default_role;  // default_role: kPolicy as is, else without its default_role line
  Caller caller;
  C cap;
  const char* path;
  bool allowed;
  const char *role = nullptr, *rule = nullptr;  // a denial's audited roles and its rule's start
};

TEST_F(AccessTest, RolesFromBindingsCappedByTheMountRole) {
  const Caller stranger{4242, 4242, 1, {}};
  const DecisionCase cases[] = {
      {"member", true, true, kAlice, C::kRead, "/private/x", false, "admin",
       "mount role member: no rule allows"},
      {"member", true, true, kAlice, C::kCreate, "/team/x", true},
      {"member", true, true, kCarol, C::kCreate, "/team/x", true},
      {"member", true, true, kNum, C::kCreate, "/team/x", true},
      {"member", true, true, kGus, C::kRead, "/public/model.bin", true},
      {"member", true, true, kGus, C::kRead, "/public/secret.bin", false, "guest",
       "guest rule 2 (line "},
      {"member", true, true, kDave, C::kRead, "/private/x", false, "historian",
       "mount role member: "},
      {"admin", true, true, stranger, C::kRead, "/public/x", true},
      {"admin", true, false, stranger, C::kList, "/", false, "(none)", "no role"},
      {"admin", true, false, kGus, C::kRead, "/public/model.bin", false, "(none)", "no role"},
      {"admin", true, false, kBob, C::kList, "/", true},
      {"member", false, true, kAlice, C::kRead, "/private/x", false, "member", "no rule allows"},
      {"member", false, true, kGus, C::kCreate, "/team/x", true},
      {"member", false, true, stranger, C::kCreate, "/team/x", true},
      {"member", false, true, stranger, C::kUpdate, "/public/x", false, "member", "no rule allows"},
  };
  for (const DecisionCase& k : cases) {
    SCOPED_TRACE(std::string(k.mount_role) + (k.per_caller ? " per caller" : " private") + " uid " +
                 std::to_string(k.caller.uid) + " " + policy::CapabilityName(k.cap) + " " + k.path);
    auto ac = Access(k.mount_role, k.per_caller, k.default_role ? kPolicy : NoDefault());
    EXPECT_EQ(ac->Check(k.caller, k.cap, k.path, "op"), k.allowed);
    const auto lines = TakeAudit();
    ASSERT_EQ(lines.size(), k.allowed ? 0u : 1u);  // denials only
    if (k.allowed) continue;
    EXPECT_EQ(lines[0]["role"], k.role);
    EXPECT_EQ(lines[0]["rule"].get<std::string>().rfind(k.rule, 0), 0u) << lines[0];
  }
  EXPECT_FALSE(Access("member")->MayEver(kAlice, policy::Bit(C::kAdmin)));
  EXPECT_TRUE(Access("admin")->MayEver(kAlice, policy::Bit(C::kAdmin)));
  EXPECT_TRUE(Access("member")->MayEver(kBob, policy::Bit(C::kHistory)));
  EXPECT_FALSE(Access("member")->MayEver(kGus, policy::Bit(C::kHistory)));
  EXPECT_FALSE(
      Access("admin")->MayEver(kGus, policy::kWriteCapabilities & ~policy::Bit(C::kCreate)));
  EXPECT_TRUE(Access("member", false)->MayEver(kGus, policy::Bit(C::kHistory)));
  EXPECT_FALSE(Access("admin", true, NoDefault())->MayEver(kGus, policy::kAllCapabilities));
}

TEST_F(AccessTest, SetPolicyAppliesToTheNextDecision) {
  AccessControl::Options o = Access("admin")->options();
  o.role_cache_s = 3600;  // a cached role must not outlive its policy
  AccessControl ac(Load(kPolicy), o);
  EXPECT_TRUE(ac.Check(kBob, C::kCreate, "/team/x", "create"));
  EXPECT_FALSE(ac.Check(kBob, C::kRead, "/private/x", "open"));
  auto fewer =
      Load(Replace(kPolicy, "allow: [create, update, delete, snapshot]", "allow: [update]"));
  ac.SetPolicy(fewer);
  EXPECT_EQ(ac.policy(), fewer);
  EXPECT_FALSE(ac.Check(kBob, C::kCreate, "/team/x", "create"));
  EXPECT_TRUE(ac.Check(kBob, C::kUpdate, "/team/x", "open"));
  ac.SetPolicy(
      Load(Replace(kPolicy, "users: [alice]}", "users: [alice, bob]}")));  // bob's roles change
  EXPECT_TRUE(ac.Check(kBob, C::kRead, "/private/x", "open"));
  ac.SetPolicy(policy::Policy::BuiltIn());  // no bindings, no default role
  EXPECT_FALSE(ac.Check(kBob, C::kList, "/", "lookup"));
}

TEST_F(AccessTest, RepositoryPolicyOrTheBuiltInOne) {
  REPO_ASSERT_OK_AND_ASSIGN(auto p, LoadRepositoryPolicy(*repo_));
  EXPECT_TRUE(p->built_in());
  REPO_ASSERT_OK(repo_->policies().SetPolicy(kPolicy).status());
  REPO_ASSERT_OK_AND_ASSIGN(p, LoadRepositoryPolicy(*repo_));
  EXPECT_FALSE(p->built_in());
  EXPECT_EQ(p->text(), kPolicy);
  REPO_ASSERT_OK(repo_->policies().SetPolicy("version: 1\nroles: [oops\n").status());
  auto bad = LoadRepositoryPolicy(*repo_);
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_NE(bad.status().message().find("repository policy #2"), std::string::npos)
      << bad.status().ToString();
}

}  // namespace
}  // namespace weightfs::vfs
