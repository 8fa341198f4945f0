// Scopes: Pattern::Overlaps and Pattern::Contains (against a brute force over a small universe of
// paths that holds a witness for every overlap of the patterns it is used with), the loader's
// `scopes:` validation with exact SOURCE:LINE:COLUMN messages, ScopeOf, and the role key analysis
// (RoleScopes) on a policy with public, team, private and inbox scopes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Pattern P(std::string_view text) {
  Result<Pattern> p = Pattern::Parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().message();
  return p.ok() ? std::move(p).value() : *Pattern::Parse("/");
}

bool Overlap(std::string_view a, std::string_view b) { return P(a).Overlaps(P(b)); }
bool Holds(std::string_view a, std::string_view b) { return P(a).Contains(P(b)); }

TEST(PatternOverlapTest, Cases) {
  struct Case {
    const char* a;
    const char* b;
    bool overlap;
  };
  const Case cases[] = {
      {"/", "/", true},
      {"/", "/**", true},  // "/**" matches the root
      {"/", "/*", false},
      {"/", "/a/**", false},
      {"/a/**", "/a", true},  // "/a/**" matches /a itself
      {"/a/**", "/b/**", false},
      {"/a/**", "/ab/**", false},
      {"/a/**", "/a*/**", true},
      {"/*/x", "/y/*", true},  // /y/x
      {"/*/x", "/y/z", false},
      {"/a*b", "/*c", false},  // ends with b and with c
      {"/a*b", "/ac*", true},  // acb
      {"/a*", "/b*", false},
      {"/a*", "/*a", true},    // a
      {"/ab*", "/a*c", true},  // abc
      {"/a*b*c", "/*x*", true},
      {"/a*b*c", "/*d", false},
      {"/abc", "/a*c", true},
      {"/abc", "/a*d", false},
      {"/**/x", "/y/**", true},  // /y/x
      {"/**/x", "/**/y", false},
      {"/**/x/**", "/**/y/**", true},  // /x/y
      {"/a/**/b", "/a/b", true},
      {"/a/**/b", "/a/*/*/c", false},
      {"/a/*/**", "/a", false},  // "*" needs a segment
      {"/*", "/**/a/b", false},
      {"/**", "/anything/at/all", true},
      {"/public/**", "/team/**", false},
      {"/shared/team-*/**", "/shared/*-hr/**", true},  // /shared/team-hr
      {"/shared/team-*/**", "/shared/public", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Overlap(c.a, c.b), c.overlap) << c.a << " vs " << c.b;
    EXPECT_EQ(Overlap(c.b, c.a), c.overlap) << c.b << " vs " << c.a << " (swapped)";
  }
}

TEST(PatternContainsTest, Cases) {
  struct Case {
    const char* outer;
    const char* inner;
    bool holds;
  };
  const Case cases[] = {
      {"/**", "/", true},
      {"/**", "/**", true},
      {"/**", "/a/*/b*/**", true},
      {"/", "/**", false},  // "/**" matches /x too
      {"/", "/", true},
      {"/a/**", "/a", true},
      {"/a", "/a/**", false},
      {"/a/**", "/a/b/**", true},
      {"/a/b/**", "/a/**", false},
      {"/a/**", "/a*/**", false},  // /ab
      {"/*", "/a", true},
      {"/*", "/a*", true},
      {"/*", "/**", false},   // other's "**" against one segment
      {"/a*", "/ab", true},   // a glob holds a literal it matches
      {"/a*", "/ba", false},  //
      {"/a*", "/a*", true},   // textually equal
      {"/a*", "/b*", false},
      {"/*/x", "/y/x", true},
      {"/*/x", "/y/*", false},
      {"/**/x", "/a/b/x", true},
      {"/**/x", "/**/x", true},
      {"/**/x", "/x/**", false},
      {"/a/**/z", "/a/b/**/z", true},
      {"/team/**", "/team/hr/**", true},
      {"/public/**", "/team/**", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Holds(c.outer, c.inner), c.holds) << c.outer << " holds " << c.inner;
  }
  // Conservative: these hold, and Contains may say it cannot tell.
  EXPECT_FALSE(Holds("/a*", "/a*b"));
  EXPECT_FALSE(Holds("/**/*", "/*/**"));
}

// Every pattern of at most two segments drawn from kSegments. Their literal characters are a and
// b, so an overlap always has a witness made of the names in kNames (each side's literal names,
// or a head, an x and a tail: see SegmentsIntersect in pattern.cc) at most four segments deep
// (one segment per non-"**" segment of either side). On that universe the brute force is exact.
const char* const kSegments[] = {"a", "b", "*", "a*", "b*", "*a", "*b", "**", "a*b"};
const char* const kNames[] = {"a",   "b",   "x",   "ax",  "bx", "xa", "xb",
                              "axa", "axb", "bxa", "bxb", "ab", "ba"};

std::vector<std::string> AllPatterns() {
  std::vector<std::string> out = {"/"};
  for (const char* s : kSegments) {
    out.push_back(std::string("/") + s);
    for (const char* t : kSegments) out.push_back(std::string("/") + s + "/" + t);
  }
  return out;
}

std::vector<std::string> AllPaths() {
  std::vector<std::string> out = {"/"}, level = {""};
  for (int depth = 1; depth <= 4; ++depth) {
    std::vector<std::string> deeper;
    for (const std::string& prefix : level) {
      for (const char* n : kNames) deeper.push_back(prefix + "/" + n);
    }
    out.insert(out.end(), deeper.begin(), deeper.end());
    level = std::move(deeper);
  }
  return out;
}

TEST(PatternOverlapTest, AgreesWithBruteForce) {
  const std::vector<std::string> texts = AllPatterns();
  const std::vector<std::string> paths = AllPaths();
  std::vector<Pattern> patterns;
  std::vector<std::vector<bool>> matches;  // per pattern, per path
  for (const std::string& t : texts) {
    patterns.push_back(P(t));
    std::vector<bool> m;
    m.reserve(paths.size());
    for (const std::string& path : paths) m.push_back(patterns.back().Matches(path));
    matches.push_back(std::move(m));
  }
  int overlaps = 0, contained = 0, checked = 0;
  for (size_t i = 0; i < patterns.size(); ++i) {
    for (size_t j = 0; j < patterns.size(); ++j) {
      bool common = false, subset = true;
      for (size_t k = 0; k < paths.size(); ++k) {
        common = common || (matches[i][k] && matches[j][k]);
        subset = subset && (!matches[j][k] || matches[i][k]);
      }
      ++checked;
      const bool overlap = patterns[i].Overlaps(patterns[j]);
      EXPECT_EQ(overlap, common) << texts[i] << " vs " << texts[j];
      overlaps += overlap ? 1 : 0;
      // Contains is sound: it never claims what a path of the universe contradicts.
      if (patterns[i].Contains(patterns[j])) {
        EXPECT_TRUE(subset) << texts[i] << " claims to hold " << texts[j];
        ++contained;
      }
    }
  }
  // The universe is not degenerate: both answers occur, and Contains finds most inclusions.
  EXPECT_EQ(checked, 91 * 91);
  EXPECT_GT(overlaps, 1000);
  EXPECT_LT(overlaps, checked - 1000);
  EXPECT_GT(contained, 500);
}

// A policy whose scopes block starts at line 2 (its first scope on line 3); rules follow.
std::string WithScopes(const std::string& scopes) {
  return "version: 1\nscopes:\n" + scopes +
         "roles:\n  r:\n    rules:\n      - paths: [\"/**\"]\n        allow: [read]\n";
}

std::string LoadError(const std::string& yaml) {
  Result<std::shared_ptr<const Policy>> r = Policy::Load(yaml, "p.yaml");
  if (r.ok()) return "loaded";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().message();
  return r.status().message();
}

TEST(ScopeLoadTest, ErrorsNameLineAndColumn) {
  EXPECT_EQ(LoadError(WithScopes("  public: [\"/**\"]\n  team: [\"/team/**\"]\n")),
            "p.yaml:4:10: scope team's pattern /team/** overlaps scope public's pattern /** "
            "(line 3): a path belongs to exactly one scope");
  EXPECT_EQ(LoadError(WithScopes("  a: [\"/a*\"]\n  b: [\"/b/**\", \"/*x\"]\n")),
            "p.yaml:4:16: scope b's pattern /*x overlaps scope a's pattern /a* (line 3): a path "
            "belongs to exactly one scope");
  EXPECT_EQ(LoadError(WithScopes("  default: [\"/x/**\"]\n")),
            "p.yaml:3:3: scope \"default\" cannot be declared: it is the scope of every path no "
            "scope pattern matches");
  EXPECT_EQ(LoadError(WithScopes("  \"a b\": [\"/x/**\"]\n")),
            "p.yaml:3:3: bad scope name \"a b\": use 1 to 64 letters, digits, '.', '_' or '-'");
  EXPECT_EQ(LoadError(WithScopes("  a: [\"/a/**\"]\n  b: [\"/b/**\"]\n  a: [\"/c/**\"]\n")),
            "p.yaml:5:3: scope \"a\" is declared twice (first at line 3); merge its patterns into "
            "one list");
  EXPECT_EQ(LoadError(WithScopes("  a: []\n")),
            "p.yaml:3:6: scope \"a\" must be a non-empty list of path patterns, like [\"/a/**\"]");
  EXPECT_EQ(LoadError(WithScopes("  a: /a/**\n")),
            "p.yaml:3:6: scope \"a\" must be a non-empty list of path patterns, like [\"/a/**\"]");
  EXPECT_EQ(LoadError(WithScopes("  a:\n")),
            "p.yaml:3:3: scope \"a\" must be a non-empty list of path patterns, like [\"/a/**\"]");
  EXPECT_EQ(LoadError(WithScopes("  a: [\"/a/**\", [\"/b\"]]\n")),
            "p.yaml:3:16: a path pattern must be a string, not a list");
  EXPECT_EQ(LoadError(WithScopes("  a: [\"/a/../b\"]\n")),
            "p.yaml:3:7: bad path pattern \"/a/../b\": \".\" and \"..\" segments are not allowed; "
            "write the normalized path");
  EXPECT_EQ(LoadError("version: 1\nscopes: [\"/a/**\"]\nroles: {r: {rules: []}}\n"),
            "p.yaml:2:9: scopes must be a mapping from scope name to a list of path patterns, "
            "like {public: [\"/public/**\"]}, not a list");
  EXPECT_EQ(LoadError("version: 1\nscopes:\nroles: {r: {rules: []}}\n"),
            "p.yaml:2:1: scopes must be a mapping from scope name to a list of path patterns, "
            "like {public: [\"/public/**\"]}, not nothing");
}

TEST(ScopeLoadTest, AtMost63Scopes) {
  std::string scopes;
  for (int i = 1; i <= kMaxScopes; ++i) {
    scopes += "  s" + std::to_string(i) + ": [\"/d" + std::to_string(i) + "/**\"]\n";
  }
  Result<std::shared_ptr<const Policy>> ok = Policy::Load(WithScopes(scopes), "p.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)->scopes().size(), 63u);
  EXPECT_EQ((*ok)->ScopeNames().size(), 64u);
  EXPECT_EQ((*ok)->ScopeOf("/d63/x"), "s63");
  scopes += "  s64: [\"/d64/**\"]\n";
  EXPECT_EQ(LoadError(WithScopes(scopes)),
            "p.yaml:66:3: more than 63 scopes; a policy may declare at most 63 (and default)");
}

TEST(ScopeLoadTest, BoundsTheScopePatterns) {
  std::string many = "  a: [";
  for (size_t i = 0; i <= kMaxScopePatterns; ++i) many += (i ? ", " : "") + std::string("/a");
  EXPECT_THAT(LoadError(WithScopes(many + "]\n")),
              ::testing::StartsWith("p.yaml:3:4103: the scope patterns are too many: at most 1024 "
                                    "patterns of 16384 bytes together"));
  const std::string long_pattern = "/" + std::string(kMaxScopePatternBytes, 'x');
  EXPECT_THAT(LoadError(WithScopes("  a: [\"" + long_pattern + "\"]\n")),
              ::testing::StartsWith("p.yaml:3:7: the scope patterns are too many"));
}

TEST(ScopeLoadTest, OwnPatternsMayOverlapAndOtherKeysStillWork) {
  Result<std::shared_ptr<const Policy>> r =
      Policy::Load(WithScopes("  team: [\"/team/**\", \"/team/a/**\", \"/shared/team-*/**\"]\n"
                              "  public: [\"/public/**\", \"/shared/public\"]\n"),
                   "p.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Policy& p = **r;
  EXPECT_TRUE(p.has_scopes());
  ASSERT_EQ(p.scopes().size(), 2u);
  EXPECT_EQ(p.scopes()[0].name, "team");  // declared order
  EXPECT_EQ(p.scopes()[0].line, 3);
  ASSERT_EQ(p.scopes()[0].patterns.size(), 3u);
  EXPECT_EQ(p.scopes()[0].patterns[2].text(), "/shared/team-*/**");
  EXPECT_EQ(p.scopes()[1].name, "public");
  EXPECT_EQ(p.scopes()[1].line, 4);
  EXPECT_THAT(p.ScopeNames(), ElementsAre("default", "public", "team"));
  EXPECT_EQ(p.ScopeOf("/team"), "team");  // "/team/**" matches /team itself
  EXPECT_EQ(p.ScopeOf("/team/a/b"), "team");
  EXPECT_EQ(p.ScopeOf("/shared/team-x"), "team");
  EXPECT_EQ(p.ScopeOf("/shared/team-x/w.bin"), "team");
  EXPECT_EQ(p.ScopeOf("/shared/public"), "public");
  EXPECT_EQ(p.ScopeOf("/shared/public/x"), "default");
  EXPECT_EQ(p.ScopeOf("/shared"), "default");
  EXPECT_EQ(p.ScopeOf("/"), "default");
  EXPECT_EQ(p.ScopeOf("/teams"), "default");
}

TEST(ScopeLoadTest, WithoutScopesEverythingIsDefault) {
  for (const std::shared_ptr<const Policy>& p :
       {Policy::BuiltIn(), *Policy::Load(WithScopes("  {}\n"), "p.yaml")}) {
    EXPECT_FALSE(p->has_scopes());
    EXPECT_THAT(p->scopes(), IsEmpty());
    EXPECT_THAT(p->ScopeNames(), ElementsAre("default"));
    EXPECT_EQ(p->ScopeOf("/"), "default");
    EXPECT_EQ(p->ScopeOf("/public/x"), "default");
  }
}

// public, team, private and inbox scopes; line numbers matter (rule labels name them).
constexpr char kScoped[] = R"yaml(version: 1
scopes:
  public: ["/public/**"]
  team: ["/team/**"]
  private: ["/private/**"]
  inbox: ["/inbox/**"]
roles:
  guest:
    rules:
      - paths: ["/public/**"]
        allow: [list, read]
  member:
    rules:
      - paths: ["/public/**", "/team/**"]
        allow: [list, read, history]
      - paths: ["/team/hr/**"]
        deny: [read]
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  writer:
    rules:
      - paths: ["/inbox/**"]
        allow: [create]
  auditor:
    rules:
      - paths: ["/team/reports/**"]
        allow: [read]
      - paths: ["/public/**"]
        allow: [snapshot]
  lister:
    rules:
      - paths: ["/"]
        allow: [list]
      - paths: ["/public/**"]
        allow: [read]
      - paths: ["/public/drafts/**"]
        deny: [all]
  roamer:
    rules:
      - paths: ["/*"]
        allow: [read]
  nobody:
    rules:
      - paths: ["/**"]
        allow: [snapshot, admin]
)yaml";

// "scope: key/whole" for the scopes a role needs, e.g. "team: key" or "public: key, whole".
std::vector<std::string> Needed(const Policy& p, const std::string& role) {
  std::vector<std::string> out;
  for (const RoleScope& rs : p.RoleScopes(role)) {
    EXPECT_TRUE(rs.needs_key || rs.daemon_only.empty()) << role << " in " << rs.scope;
    EXPECT_EQ(rs.needs_key, !rs.because.empty()) << role << " in " << rs.scope;
    if (rs.needs_key) out.push_back(rs.scope + (rs.readable_whole ? ": key, whole" : ": key"));
  }
  return out;
}

std::vector<std::string> DaemonOnly(const Policy& p, const std::string& role,
                                    const std::string& scope) {
  for (const RoleScope& rs : p.RoleScopes(role)) {
    if (rs.scope == scope) return rs.daemon_only;
  }
  ADD_FAILURE() << "no scope " << scope << " for " << role;
  return {};
}

std::vector<std::string> Because(const Policy& p, const std::string& role,
                                 const std::string& scope) {
  std::vector<std::string> out;
  for (const RoleScope& rs : p.RoleScopes(role)) {
    if (rs.scope != scope) continue;
    for (const Rule* r : rs.because) out.push_back(r->Label());
  }
  return out;
}

class RoleScopesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::shared_ptr<const Policy>> r = Policy::Load(kScoped, "scoped.yaml");
    ASSERT_TRUE(r.ok()) << r.status().message();
    p_ = *r;
  }
  std::shared_ptr<const Policy> p_;
};

TEST_F(RoleScopesTest, OneEntryPerScopeInOrder) {
  std::vector<std::string> names;
  for (const RoleScope& rs : p_->RoleScopes("guest")) names.push_back(rs.scope);
  EXPECT_THAT(names, ElementsAre("default", "inbox", "private", "public", "team"));
  EXPECT_THAT(p_->RoleScopes("stranger"), IsEmpty());
}

TEST_F(RoleScopesTest, GuestHoldsOnlyPublic) {
  EXPECT_THAT(Needed(*p_, "guest"), ElementsAre("public: key, whole"));
  EXPECT_THAT(Because(*p_, "guest", "public"), ElementsAre("guest rule 1 (line 10)"));
  EXPECT_THAT(DaemonOnly(*p_, "guest", "public"), IsEmpty());
}

TEST_F(RoleScopesTest, MemberHoldsTeamWhoseDenyOnlyTheDaemonEnforces) {
  EXPECT_THAT(Needed(*p_, "member"), ElementsAre("public: key, whole", "team: key"));
  EXPECT_THAT(Because(*p_, "member", "team"), ElementsAre("member rule 1 (line 14)"));
  EXPECT_THAT(DaemonOnly(*p_, "member", "team"),
              ElementsAre("member rule 2 (line 16) denies read on /team/hr/** inside scope team: "
                          "enforced by the daemon only, the key opens it"));
  EXPECT_THAT(DaemonOnly(*p_, "member", "public"), IsEmpty());
  EXPECT_THAT(DaemonOnly(*p_, "member", "private"), IsEmpty());
}

TEST_F(RoleScopesTest, AdminHoldsEverythingWhole) {
  EXPECT_THAT(Needed(*p_, "admin"),
              ElementsAre("default: key, whole", "inbox: key, whole", "private: key, whole",
                          "public: key, whole", "team: key, whole"));
  for (const RoleScope& rs : p_->RoleScopes("admin")) EXPECT_THAT(rs.daemon_only, IsEmpty());
}

TEST_F(RoleScopesTest, WriterHoldsTheInboxKeyAndCouldReadIt) {
  EXPECT_THAT(Needed(*p_, "writer"), ElementsAre("inbox: key"));
  EXPECT_THAT(DaemonOnly(*p_, "writer", "inbox"),
              ElementsAre("may write in scope inbox but not read it: holding the key to write "
                          "lets it decrypt inbox, which the daemon alone refuses"));
}

TEST_F(RoleScopesTest, PartialReadersAndListers) {
  // snapshot takes no key: auditor needs team only.
  EXPECT_THAT(Needed(*p_, "auditor"), ElementsAre("team: key"));
  EXPECT_THAT(DaemonOnly(*p_, "auditor", "team"),
              ElementsAre("its allow rules cover only part of scope team (/team/reports/**); the "
                          "rest of team is denied by the daemon only"));
  // Listing the root takes no key (a slot lists what its keys open): lister lists in default
  // without its key. The deny of all inside public reaches into public.
  EXPECT_THAT(Needed(*p_, "lister"), ElementsAre("public: key"));
  EXPECT_THAT(DaemonOnly(*p_, "lister", "default"), IsEmpty());
  for (const RoleScope& rs : p_->RoleScopes("lister")) {
    EXPECT_EQ(rs.lists_without_key, rs.scope == "default") << rs.scope;
  }
  EXPECT_THAT(DaemonOnly(*p_, "lister", "public"),
              ElementsAre("lister rule 3 (line 38) denies list, read on /public/drafts/** inside "
                          "scope public: enforced by the daemon only, the key opens it"));
  // "/*" reaches every scope's top directory and default too.
  EXPECT_THAT(Needed(*p_, "roamer"), ElementsAre("default: key", "inbox: key", "private: key",
                                                 "public: key", "team: key"));
  EXPECT_THAT(DaemonOnly(*p_, "roamer", "private"),
              ElementsAre("its allow rules cover only part of scope private (/*); the rest of "
                          "private is denied by the daemon only"));
  EXPECT_THAT(Needed(*p_, "nobody"), IsEmpty());
}

TEST(RoleScopesBuiltInTest, AdminNeedsDefaultAndNobodyElse) {
  const std::shared_ptr<const Policy> p = Policy::BuiltIn();
  std::vector<RoleScope> admin = p->RoleScopes("admin");
  ASSERT_EQ(admin.size(), 1u);
  EXPECT_EQ(admin[0].scope, "default");
  EXPECT_TRUE(admin[0].needs_key);
  EXPECT_TRUE(admin[0].readable_whole);
  EXPECT_THAT(admin[0].daemon_only, IsEmpty());
  ASSERT_EQ(admin[0].because.size(), 1u);
  EXPECT_EQ(admin[0].because[0]->Label(), "admin rule 1 (built-in)");
  EXPECT_THAT(p->RoleScopes("guest"), IsEmpty());
  EXPECT_THAT(p->RoleScopes("member"), IsEmpty());
}

TEST(RoleScopesDefaultTest, ConservativeAboutDefault) {
  // "/pub*/**" overlaps public and may match /pubs (default); "/public/a*" lies inside public.
  Result<std::shared_ptr<const Policy>> r = Policy::Load(R"yaml(version: 1
scopes:
  public: ["/public/**"]
roles:
  wide:
    rules:
      - paths: ["/pub*/**"]
        allow: [read]
  narrow:
    rules:
      - paths: ["/public/a*"]
        allow: [read]
  whole:
    rules:
      - paths: ["/**"]
        allow: [read]
      - paths: ["/tmp/**"]
        deny: [list]
)yaml",
                                                         "d.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(Needed(**r, "wide"), ElementsAre("default: key", "public: key, whole"));
  EXPECT_THAT(Needed(**r, "narrow"), ElementsAre("public: key"));
  // A deny of list outside every scope makes default not whole, and names the rule.
  EXPECT_THAT(Needed(**r, "whole"), ElementsAre("default: key", "public: key, whole"));
  EXPECT_THAT(DaemonOnly(**r, "whole", "default"),
              ElementsAre("whole rule 2 (line 17) denies list on /tmp/** inside scope default: "
                          "enforced by the daemon only, the key opens it"));
}

}  // namespace
}  // namespace weightfs::policy
