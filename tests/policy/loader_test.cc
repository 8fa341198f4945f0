#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "policy_test_util.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using testing::FakeResolver;
using testing::kIssueExample;

std::string Allowed(const Policy& p, const Identity& who, Capability cap, const std::string& path) {
  FakeResolver resolver;
  std::vector<std::string> roles;
  for (const RoleGrant& g : p.RolesFor(who, resolver)) roles.push_back(g.role);
  Decision d = p.Decide(roles, cap, path);
  return std::string(d.allowed ? "allow" : "deny") + " by " + d.Reason();
}

TEST(LoaderTest, IssueExampleLoadsAndMeansWhatItSays) {
  Result<std::shared_ptr<const Policy>> r = Policy::Load(kIssueExample, "policy.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Policy& p = **r;
  EXPECT_FALSE(p.built_in());
  EXPECT_EQ(p.text(), kIssueExample);
  EXPECT_THAT(p.RoleNames(), ElementsAre("admin", "guest", "member"));
  EXPECT_TRUE(p.HasRole("member"));
  EXPECT_FALSE(p.HasRole("nobody"));
  EXPECT_EQ(p.default_role(), "guest");
  ASSERT_EQ(p.bindings().size(), 2u);
  EXPECT_EQ(p.bindings()[0].role, "admin");
  EXPECT_THAT(p.bindings()[0].users, ElementsAre("alice", "root"));
  EXPECT_EQ(p.bindings()[0].line, 20);
  EXPECT_THAT(p.bindings()[1].groups, ElementsAre("ml-team"));
  EXPECT_EQ(p.bindings()[1].line, 22);

  const Identity alice{1000, 100, {}}, root{0, 0, {}}, member{2000, 3000, {}}, other{2001, 100, {}};
  EXPECT_EQ(Allowed(p, alice, Capability::kAdmin, "/"), "allow by admin rule 1 (line 5)");
  EXPECT_EQ(Allowed(p, root, Capability::kDelete, "/private/x"), "allow by admin rule 1 (line 5)");
  EXPECT_EQ(Allowed(p, member, Capability::kRead, "/models/x"), "allow by member rule 1 (line 9)");
  EXPECT_EQ(Allowed(p, member, Capability::kCreate, "/team/x"), "allow by member rule 2 (line 11)");
  EXPECT_EQ(Allowed(p, member, Capability::kCreate, "/models/x"), "deny by no rule allows");
  EXPECT_EQ(Allowed(p, member, Capability::kRead, "/private/x"), "deny by member rule 3 (line 13)");
  EXPECT_EQ(Allowed(p, member, Capability::kSnapshot, "/team"), "allow by member rule 2 (line 11)");
  EXPECT_EQ(Allowed(p, other, Capability::kList, "/"), "allow by guest rule 1 (line 17)");
  EXPECT_EQ(Allowed(p, other, Capability::kRead, "/public/m.bin"),
            "allow by guest rule 1 (line 17)");
  EXPECT_EQ(Allowed(p, other, Capability::kRead, "/team/m.bin"), "deny by no rule allows");
  EXPECT_EQ(Allowed(p, other, Capability::kUpdate, "/public/m.bin"), "deny by no rule allows");
  EXPECT_TRUE(p.MayEverAllow("member", kWriteCapabilities));
  EXPECT_FALSE(p.MayEverAllow("guest", kWriteCapabilities));
}

struct BadCase {
  const char* what;
  std::string yaml;
  const char* prefix;   // "SOURCE:LINE:COLUMN:"
  const char* message;  // a part of the rest
};

// Builds a policy whose only role is "r" with the given rules text (indented under "rules:").
std::string WithRules(const std::string& rules) {
  return "version: 1\nroles:\n  r:\n    rules:\n" + rules;  // rules start at line 5
}

TEST(LoaderTest, ErrorsNameLineAndColumn) {
  const BadCase cases[] = {
      {"unclosed bracket", WithRules("      - paths: [\"/a\"\n        allow: [read]\n"),
       "p.yaml:6:9:", "YAML syntax error: end of sequence flow not found"},
      {"nesting too deep", std::string(3000, '['), "p.yaml:", "nesting is too deep"},
      {"unknown capability", WithRules("      - paths: [\"/a\"]\n        allow: [read, wirte]\n"),
       "p.yaml:6:23:",
       "unknown capability \"wirte\" (expected one of: list, read, create, update, delete, "
       "history, "
       "snapshot, admin, all)"},
      {"capability not a scalar", WithRules("      - paths: [\"/a\"]\n        allow: [[read]]\n"),
       "p.yaml:6:17:", "unknown capability"},
      {"pattern with ..",
       WithRules("      - paths: [\"/a\", \"/a/../b\"]\n        allow: [read]\n"),
       "p.yaml:5:23:", "\"..\""},
      {"pattern with **b", WithRules("      - paths:\n          - /x/**b\n        allow: [read]\n"),
       "p.yaml:6:13:", "whole segment"},
      {"relative pattern", WithRules("      - paths: [public]\n        allow: [read]\n"),
       "p.yaml:5:17:", "must start with /"},
      {"paths not a list", WithRules("      - paths: /a\n        allow: [read]\n"),
       "p.yaml:5:16:", "non-empty list"},
      {"empty paths", WithRules("      - paths: []\n        allow: [read]\n"),
       "p.yaml:5:16:", "non-empty list"},
      {"empty allow", WithRules("      - paths: [/a]\n        allow: []\n"),
       "p.yaml:6:16:", "non-empty list"},
      {"unknown top-level key", "version: 1\nroles: {r: {rules: []}}\nbindngs: []\n", "p.yaml:3:1:",
       "unknown key \"bindngs\" in the policy (expected one of: version, roles, bindings, "
       "default_role, scopes)"},
      {"unknown key in a rule", WithRules("      - paths: [/a]\n        alow: [read]\n"),
       "p.yaml:6:9:", R"(unknown key "alow" in rule 1 of role "r")"},
      {"allow and deny both",
       WithRules("      - paths: [/a]\n        allow: [read]\n        deny: [list]\n"),
       "p.yaml:7:9:", R"(both "allow" and "deny")"},
      {"neither allow nor deny", WithRules("      - paths: [/a]\n"),
       "p.yaml:5:9:", "needs \"allow"},
      {"role without rules", "version: 1\nroles:\n  r: {}\n", "p.yaml:3:6:", "no \"rules\" list"},
      {"bad role name", "version: 1\nroles:\n  \"a b\": {rules: []}\n",
       "p.yaml:3:3:", "bad role name"},
      {"undefined role in binding",
       "version: 1\nroles: {admin: {rules: []}}\nbindings:\n  - role: admn\n    users: [alice]\n",
       "p.yaml:4:11:",
       "binding names role \"admn\", which is not defined under roles (defined: admin)"},
      {"duplicate binding across bindings",
       "version: 1\nroles: {admin: {rules: []}}\nbindings:\n  - role: admin\n    users: [alice]\n"
       "  - role: admin\n    users: [bob, alice]\n",
       "p.yaml:7:18:", R"(user "alice" is bound to role "admin" twice (first at line 5))"},
      {"duplicate group in one binding",
       "version: 1\nroles: {admin: {rules: []}}\nbindings:\n  - role: admin\n    groups: [g, "
       "\"0042\", 42]\n",
       "p.yaml:5:25:", R"(group "42" is bound to role "admin" twice)"},
      {"binding naming nobody",
       "version: 1\nroles: {admin: {rules: []}}\nbindings:\n  - role: admin\n    users: []\n",
       "p.yaml:4:5:", "names nobody"},
      {"uid out of range",
       "version: 1\nroles: {admin: {rules: []}}\nbindings:\n  - role: admin\n    users: "
       "[4294967296]\n",
       "p.yaml:5:13:", "out of range"},
      {"duplicate role key",
       "version: 1\nroles:\n  r: {rules: []}\n  q: {rules: []}\n  r: {rules: []}\n",
       "p.yaml:5:3:", "role \"r\" is defined twice (first at line 3)"},
      {"duplicate top-level key", "version: 1\nroles: {r: {rules: []}}\nversion: 1\n",
       "p.yaml:3:1:", "duplicate key \"version\""},
      {"missing version", "roles: {r: {rules: []}}\n", "p.yaml:1:1:", "missing \"version: 1\""},
      {"version 2", "roles: {r: {rules: []}}\nversion: 2\n",
       "p.yaml:2:10:", "unsupported policy version 2"},
      {"version not a number", "version: one\nroles: {r: {rules: []}}\n",
       "p.yaml:1:10:", "the number 1"},
      {"missing roles", "version: 1\n", "p.yaml:1:1:", "missing \"roles\""},
      {"default_role undefined", "version: 1\nroles: {r: {rules: []}}\ndefault_role: guest\n",
       "p.yaml:3:15:", "default_role names role \"guest\""},
      {"default_role empty", "version: 1\nroles: {r: {rules: []}}\ndefault_role:\n",
       "p.yaml:3:1:", "must be a single value"},
      {"empty document", "", "p.yaml:1:1:", "the policy is empty"},
      {"comments only", "# nothing here\n", "p.yaml:1:1:", "the policy is empty"},
      {"not a mapping", "- version: 1\n", "p.yaml:1:1:", "must be a mapping"},
      {"two documents", "version: 1\nroles: {r: {rules: []}}\n---\nversion: 1\n",
       "p.yaml:4:1:", "one YAML document"},
      {"bad indentation", "version: 1\nroles:\n  r:\n    rules: []\n   x: 1\n",
       "p.yaml:5:4:", "YAML syntax error"},
      {"tab indentation", "version: 1\nroles:\n\tr: {rules: []}\n",
       "p.yaml:3:3:", "YAML syntax error"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    Result<std::shared_ptr<const Policy>> r = Policy::Load(c.yaml, "p.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), StartsWith(c.prefix));
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
  }
}

// A YAML alias bomb (one anchored rule of 2,000 patterns, 20,000 aliases to it)
// expanded to gigabytes; aliases are refused where they stand, before anything is expanded.
TEST(LoaderTest, RefusesYamlAliasesWithLineAndColumn) {
  const std::string small =
      "version: 1\n"
      "roles:\n"
      "  a:\n"
      "    rules:\n"
      "      - &r {paths: [\"/x\"], allow: [read]}\n"
      "  b:\n"
      "    rules: [*r]\n";
  auto p = Policy::Load(small, "p.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(p.status().message(),
              StartsWith("p.yaml:7:13: YAML aliases (*name) are not accepted"));

  std::string bomb = "version: 1\nroles:\n  a:\n    rules:\n      - &r\n        paths:\n";
  for (int i = 0; i < 2000; ++i) bomb += "          - /p" + std::to_string(i) + "\n";
  bomb += "        allow: [read]\n  b:\n    rules:\n";
  for (int i = 0; i < 20000; ++i) bomb += "      - *r\n";
  const auto start = std::chrono::steady_clock::now();
  p = Policy::Load(bomb, "bomb.yaml");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), StartsWith("bomb.yaml:2010:9: YAML aliases"));
  EXPECT_LT(seconds, 5.0);  // refused while parsing, not after expanding 40 million patterns

  // An anchor nobody refers to expands nothing and stays allowed.
  auto anchored = Policy::Load(
      "version: 1\nroles:\n  a:\n    rules:\n      - &r {paths: [\"/x\"], allow: [read]}\n",
      "p.yaml");
  EXPECT_TRUE(anchored.ok()) << anchored.status().message();
}

TEST(LoaderTest, RefusesOversizedText) {
  std::string big = "version: 1\nroles:\n  a:\n    rules: []\n";
  big += "#" + std::string(kMaxPolicyBytes, 'x') + "\n";
  auto p = Policy::Load(big, "big.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), StartsWith("big.yaml:1:1: the policy is"));
}

// Found by fuzz/policy_yaml_fuzzer.cc: on a "," outside brackets yaml-cpp 0.7 returns an empty
// document at the same place forever, so loading such a policy (a mount's SIGHUP reload, `policy
// check`) never returned. It is a syntax error where the comma stands.
TEST(LoaderTest, StrayCommaIsAnErrorNotAHang) {
  for (const auto& [yaml, prefix] : std::vector<std::pair<std::string, std::string>>{
           {",", "p.yaml:1:1: YAML syntax error"},
           {", a", "p.yaml:1:1: YAML syntax error"},
           {"- a\n,\n", "p.yaml:2:1: YAML syntax error"},
           {"version: 1\nroles: {r: {rules: []}}\n---\n- a\n,\n",
            "p.yaml:4:1: a policy file holds one YAML document"}}) {
    auto p = Policy::Load(yaml, "p.yaml");
    ASSERT_FALSE(p.ok()) << yaml;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(p.status().message(), StartsWith(prefix)) << yaml;
  }
}

TEST(LoaderTest, AcceptsIdsAsIntegersOrStringsAndRoleWithoutRules) {
  auto r = Policy::Load(
      "version: 1\nroles:\n  nobody: {rules: []}\n  r.1_x-Y: {rules: [{paths: [/a], allow: "
      "[read]}]}\n"
      "bindings:\n  - {role: r.1_x-Y, users: [1001, \"1002\"], groups: [0]}\n  - {role: nobody, "
      "users: [1001]}\n",
      "p.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT((*r)->bindings()[0].users, ElementsAre("1001", "1002"));
  FakeResolver resolver;
  std::vector<RoleGrant> g = (*r)->RolesFor({1002, 5, {}}, resolver);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].because, "uid 1002 (line 6)");
  g = (*r)->RolesFor({1001, 0, {}}, resolver);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].role, "nobody");
  EXPECT_EQ(g[1].role, "r.1_x-Y");
  EXPECT_TRUE((*r)->RolesFor({7, 7, {}}, resolver).empty());  // no default_role: no roles
}

TEST(LoaderTest, WarnsAboutUnknownNames) {
  auto r = Policy::Load(
      "version: 1\nroles: {r: {rules: []}}\nbindings:\n  - role: r\n    users: [alice, bob, 1234]\n"
      "    groups: [ml-team, ghosts]\n",
      "p.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  FakeResolver resolver;
  EXPECT_THAT(
      (*r)->Warnings(resolver),
      ElementsAre(
          "p.yaml:5:20: warning: user \"bob\" is not known on this machine; the binding "
          "applies once it exists",
          "p.yaml:6:23: warning: group \"ghosts\" is not known on this machine; the binding "
          "applies once it exists"));
  resolver.users["bob"] = 1001;
  resolver.groups["ghosts"] = 4000;
  EXPECT_TRUE((*r)->Warnings(resolver).empty());
}

TEST(LoaderTest, BuiltInRoundTrips) {
  std::shared_ptr<const Policy> builtin = Policy::BuiltIn();
  EXPECT_TRUE(builtin->built_in());
  EXPECT_THAT(builtin->RoleNames(), ElementsAre("admin"));
  EXPECT_TRUE(builtin->bindings().empty());
  EXPECT_FALSE(builtin->default_role().has_value());
  Decision d = builtin->Decide({"admin"}, Capability::kAdmin, "/");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.Reason(), "admin rule 1 (built-in)");

  auto loaded = Policy::Load(builtin->text(), "builtin.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_FALSE((*loaded)->built_in());
  EXPECT_EQ((*loaded)->RoleNames(), builtin->RoleNames());
  EXPECT_EQ((*loaded)->default_role(), builtin->default_role());
  EXPECT_TRUE((*loaded)->bindings().empty());
  for (const char* role : {"admin", "member", "guest"}) {
    for (const char* path : {"/", "/a", "/private/x/y"}) {
      for (int c = 0; c < kCapabilityCount; ++c) {
        auto cap = static_cast<Capability>(c);
        EXPECT_EQ(builtin->Decide({role}, cap, path).allowed,
                  (*loaded)->Decide({role}, cap, path).allowed)
            << role << " " << CapabilityName(cap) << " " << path;
      }
    }
  }
  for (CapabilitySet caps : {kWriteCapabilities, kAllCapabilities, Bit(Capability::kAdmin)}) {
    EXPECT_EQ(builtin->MayEverAllow("admin", caps), (*loaded)->MayEverAllow("admin", caps));
  }
}

std::shared_ptr<const Policy> LoadConfig(const std::string& name) {
  std::ifstream in(std::filesystem::path(WEIGHTFS_SOURCE_DIR) / "config" / name);
  std::stringstream text;
  text << in.rdbuf();
  auto r = Policy::Load(text.str(), name);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : nullptr;
}

TEST(LoaderTest, ShippedConfigsMeanWhatTheirCommentsSay) {
  const Identity alice{1000, 100, {}}, member{2000, 3000, {}}, admin_in_team{1000, 3000, {}},
      stranger{2001, 100, {}};
  auto team = LoadConfig("policy-team.yaml");
  ASSERT_NE(team, nullptr);
  EXPECT_EQ(Allowed(*team, alice, Capability::kRead, "/private/x").substr(0, 5), "allow");
  EXPECT_EQ(Allowed(*team, admin_in_team, Capability::kRead, "/private/x").substr(0, 5), "allow");
  EXPECT_EQ(Allowed(*team, member, Capability::kRead, "/private/x"), "deny by no rule allows");
  EXPECT_EQ(Allowed(*team, member, Capability::kCreate, "/public/m.safetensors").substr(0, 5),
            "allow");
  EXPECT_EQ(Allowed(*team, member, Capability::kSnapshot, "/").substr(0, 5), "allow");
  EXPECT_EQ(Allowed(*team, member, Capability::kAdmin, "/"), "deny by no rule allows");
  EXPECT_EQ(Allowed(*team, stranger, Capability::kRead, "/public/m.safetensors").substr(0, 5),
            "allow");
  EXPECT_EQ(Allowed(*team, stranger, Capability::kRead, "/public/x/drafts/m").substr(0, 10),
            "deny by gu");
  EXPECT_EQ(Allowed(*team, stranger, Capability::kRead, "/team/m"), "deny by no rule allows");

  auto single = LoadConfig("policy-single-user.yaml");
  ASSERT_NE(single, nullptr);
  EXPECT_EQ(Allowed(*single, alice, Capability::kAdmin, "/").substr(0, 5), "allow");
  EXPECT_EQ(Allowed(*single, stranger, Capability::kList, "/"), "deny by no rule allows");

  auto share = LoadConfig("policy-readonly-share.yaml");
  ASSERT_NE(share, nullptr);
  EXPECT_FALSE(share->default_role().has_value());
  EXPECT_FALSE(share->MayEverAllow(
      "reader", kWriteCapabilities | Bit(Capability::kSnapshot) | Bit(Capability::kAdmin)));
  EXPECT_TRUE(share->MayEverAllow("reader", Bit(Capability::kRead)));
  EXPECT_EQ(Allowed(*share, stranger, Capability::kList, "/"), "deny by no rule allows");
}

TEST(LoaderTest, ShippedConfigsLoad) {
  const std::filesystem::path dir = std::filesystem::path(WEIGHTFS_SOURCE_DIR) / "config";
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto r = Policy::Load(text.str(), entry.path().filename().string());
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE((*r)->MayEverAllow("admin", kAllCapabilities));
    ++loaded;
  }
  EXPECT_GE(loaded, 3);
}

}  // namespace
}  // namespace weightfs::policy
