// Policy::UniformFor: whether a path decides the same for every caller a shared mount can have
// (which lets the kernel cache its entry for everybody). Checked on hand-picked cases and against
// brute force over every role set on random policies.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "policy_test_util.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

constexpr CapabilitySet kSee = Bit(Capability::kList) | Bit(Capability::kRead);

std::shared_ptr<const Policy> MustLoad(const std::string& text) {
  auto p = Policy::Load(text, "test.yaml");
  if (!p.ok()) ADD_FAILURE() << p.status().message() << "\n" << text;
  return p.ok() ? *p : Policy::BuiltIn();
}

std::string WithoutDefaultRole(const std::string& text) {
  const size_t at = text.find("default_role:");
  return text.substr(0, at);
}

TEST(UniformTest, IssueExample) {
  auto p = MustLoad(testing::kIssueExample);
  EXPECT_EQ(p->reachable_roles(), (std::vector<std::string>{"admin", "guest", "member"}));
  EXPECT_FALSE(p->reachable_empty());
  // Mounted with the admin slot: everybody sees /, /public and below.
  EXPECT_TRUE(p->UniformFor("admin", kSee, "/"));
  EXPECT_TRUE(p->UniformFor("admin", kSee, "/public"));
  EXPECT_TRUE(p->UniformFor("admin", kSee, "/public/a/b.safetensors"));
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/publicity"));     // guest: no
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/team/x"));        // guest: no
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/private/plan"));  // member: deny, admin: allow
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/private"));
  // A member slot caps everybody: /private is denied to all, so it is the same for all.
  EXPECT_TRUE(p->UniformFor("member", kSee, "/private/plan"));
  EXPECT_FALSE(p->UniformFor("member", kSee, "/team/x"));
  // A guest slot: only / and /public exist for anybody.
  EXPECT_TRUE(p->UniformFor("guest", kSee, "/team/x"));
  EXPECT_TRUE(p->UniformFor("guest", kSee, "/public/x"));
  // Writing differs, but only the capabilities asked about count.
  EXPECT_FALSE(p->UniformFor("admin", Bit(Capability::kCreate), "/public/x"));
  EXPECT_TRUE(p->UniformFor("admin", 0, "/team/x"));
}

TEST(UniformTest, CallerWithoutRoleIsDenied) {
  auto p = MustLoad(WithoutDefaultRole(testing::kIssueExample));
  EXPECT_EQ(p->reachable_roles(), (std::vector<std::string>{"admin", "member"}));
  EXPECT_TRUE(p->reachable_empty());
  // admin and member both see /public, but a user bound to nothing sees nothing.
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/public/x"));
  EXPECT_FALSE(p->UniformFor("admin", kSee, "/"));
  // Denied to every role: the same for everybody.
  auto q = MustLoad(R"yaml(version: 1
roles:
  a:
    rules:
      - paths: ["/x/**"]
        allow: [list, read]
  b:
    rules:
      - paths: ["/x/**"]
        allow: [list, read]
bindings:
  - role: a
    users: [alice]
  - role: b
    users: [olga]
)yaml");
  EXPECT_TRUE(q->UniformFor("a", kSee, "/y"));
  EXPECT_FALSE(q->UniformFor("a", kSee, "/x/1"));
}

TEST(UniformTest, WildcardsAndDenies) {
  auto p = MustLoad(R"yaml(version: 1
roles:
  a:
    rules:
      - paths: ["/**"]
        allow: [list]
      - paths: ["/m/*"]
        allow: [read]
      - paths: ["/s/*"]
        deny: [list]
  b:
    rules:
      - paths: ["/**"]
        allow: [list]
      - paths: ["/m/**"]
        allow: [read]
bindings:
  - role: a
    users: [alice]
default_role: b
)yaml");
  // Mounted with b's slot (b caps nothing that matters here).
  EXPECT_TRUE(p->UniformFor("b", kSee, "/m/f"));
  EXPECT_FALSE(p->UniformFor("b", kSee, "/m/d/f"));  // "*" is one segment: a may not read it
  EXPECT_TRUE(p->UniformFor("b", Bit(Capability::kList), "/m/d/f"));
  EXPECT_FALSE(p->UniformFor("b", Bit(Capability::kList), "/s/x"));  // a's deny wins for a
  EXPECT_TRUE(p->UniformFor("b", Bit(Capability::kList), "/s"));
  EXPECT_TRUE(p->UniformFor("b", Bit(Capability::kList), "/s/x/y"));
  // Mounted with a's slot: what a may not do is denied to every caller, so it is uniform.
  EXPECT_TRUE(p->UniformFor("a", kSee, "/m/d/f"));
  EXPECT_TRUE(p->UniformFor("a", Bit(Capability::kList), "/s/x"));
}

// Effective decision of a caller holding roles on a shared mount (as vfs::AccessControl decides).
bool Effective(const Policy& p, const std::vector<std::string>& roles,
               const std::string& mount_role, Capability cap, const std::string& path) {
  if (roles.empty()) return false;
  return p.Decide(roles, cap, path).allowed && p.Decide({mount_role}, cap, path).allowed;
}

TEST(UniformTest, AgreesWithBruteForceOverEveryRoleSet) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<std::string> patterns = {"/",    "/**",   "/a",    "/a/**", "/a/*",   "/*",
                                             "/*/b", "/a/b*", "/**/b", "/c/**", "/a/b/**"};
  const std::vector<std::string> paths = {"/",      "/a", "/a/b", "/a/bc",
                                          "/a/b/c", "/c", "/c/b", "/d/e/b"};
  const std::vector<std::string> roles = {"r0", "r1", "r2", "r3"};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int uniform_seen = 0, differing_seen = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string text = "version: 1\nroles:\n";
    for (const std::string& r : roles) {
      text += "  " + r + ":\n    rules:\n";
      const size_t n = pick(4);
      if (n == 0) text += "      []\n";
      for (size_t i = 0; i < n; ++i) {
        text += "      - paths: [\"" + patterns[pick(patterns.size())] + "\"]\n";
        text += std::string("        ") + (pick(3) == 0 ? "deny" : "allow") + ": [" +
                (pick(2) ? "list" : "read") + "]\n";
      }
    }
    // r0 is the mount's role; bindings name a random subset of the others, maybe with a default.
    std::vector<std::string> reachable;
    std::string bindings;
    for (size_t i = 0; i < roles.size(); ++i) {
      if (pick(2)) {
        bindings += "  - role: " + roles[i] + "\n    users: [u" + std::to_string(i) + "]\n";
        reachable.push_back(roles[i]);
      }
    }
    if (!bindings.empty()) text += "bindings:\n" + bindings;
    const bool with_default = pick(2) == 0;
    if (with_default) {
      const std::string& d = roles[pick(roles.size())];
      text += "default_role: " + d + "\n";
      if (std::find(reachable.begin(), reachable.end(), d) == reachable.end())
        reachable.push_back(d);
    }
    auto p = MustLoad(text);
    // Every role set a caller can hold: any non-empty subset of the reachable roles, and the
    // empty one when there is no default role.
    std::vector<std::vector<std::string>> sets;
    for (uint32_t mask = with_default ? 1 : 0; mask < (1u << reachable.size()); ++mask) {
      std::vector<std::string> s;
      for (size_t i = 0; i < reachable.size(); ++i) {
        if (mask & (1u << i)) s.push_back(reachable[i]);
      }
      sets.push_back(s);
    }
    for (const std::string& path : paths) {
      for (CapabilitySet caps : {Bit(Capability::kList), Bit(Capability::kRead), kSee}) {
        bool same = true;
        for (Capability cap : {Capability::kList, Capability::kRead}) {
          if ((caps & Bit(cap)) == 0) continue;
          for (const auto& s : sets) {
            same = same && Effective(*p, s, "r0", cap, path) ==
                               Effective(*p, sets.front(), "r0", cap, path);
          }
        }
        ASSERT_EQ(p->UniformFor("r0", caps, path), same)
            << text << "path " << path << " caps " << caps;
        (same ? uniform_seen : differing_seen)++;
      }
    }
  }
  EXPECT_GT(uniform_seen, 100);
  EXPECT_GT(differing_seen, 100);
}

}  // namespace
}  // namespace weightfs::policy
