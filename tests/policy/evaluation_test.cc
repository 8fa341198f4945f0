// Policy evaluation: who holds which roles, and what the rules of those roles decide for a path
// as the daemon would ask (raw path normalized first).

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy_test_util.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

using testing::FakeResolver;

// The issue's example with three more roles (lines 19-38) and their bindings (lines 44-49).
// Line numbers matter: the expected rule labels below name them.
constexpr char kMoreRoles[] = R"yaml(  auditor:
    rules:
      - paths: ["/public/secret*"]
        deny: [read]
      - paths: ["/public/**"]
        allow: [list, read, history]
  publisher:
    rules:
      - paths: ["/public/*.safetensors", "/public/*/*.safetensors"]
        allow: [create, update]
      - paths: ["/models/llama*"]
        allow: [list, read]
      - paths: ["/public/modèle.safetensors"]
        allow: [delete]
  ops:
    rules:
      - paths: ["/"]
        allow: [snapshot, admin]
      - paths: ["/**/checkpoints/**"]
        allow: [delete]
)yaml";
constexpr char kMoreBindings[] = R"yaml(  - role: publisher
    users: [1500]
  - role: auditor
    groups: ["2000"]
  - role: ops
    users: [olga]
)yaml";
const std::string kPolicy = testing::InsertBeforeLine(
    testing::InsertBeforeLine(testing::kIssueExample, "default_role:", kMoreBindings),
    "bindings:", kMoreRoles);

// Callers (uid, gid, supplementary groups).
const Identity kAlice{1000, 100, {}};          // admin by user name
const Identity kRoot{0, 0, {}};                // admin by user name "root"
const Identity kAliceInTeam{1000, 3000, {}};   // admin and member
const Identity kBob{1001, 3000, {}};           // member by primary group name
const Identity kCarol{1002, 100, {50, 3000}};  // member by supplementary group
const Identity kPub{1500, 100, {}};            // publisher by numeric uid
const Identity kAud{1600, 2000, {}};           // auditor by numeric gid
const Identity kOlga{1004, 100, {}};           // ops by user name
const Identity kDave{1003, 100, {7, 8}};       // nobody: default role

struct Caller {
  std::optional<Identity> who;     // resolved with RolesFor, or
  std::vector<std::string> roles;  // given directly
};
Caller As(const Identity& id) { return {id, {}}; }
Caller Roles(std::vector<std::string> r) { return {std::nullopt, std::move(r)}; }

struct Case {
  const char* what;
  Caller caller;
  Capability cap;
  const char* path;  // raw, as a caller might send it
  bool allowed;
  const char* reason;       // Decision::Reason(), or nullptr to skip that check
  bool no_default = false;  // evaluate against kPolicy without its default_role line
};

constexpr auto kList = Capability::kList, kRead = Capability::kRead, kCreate = Capability::kCreate,
               kUpdate = Capability::kUpdate, kDelete = Capability::kDelete,
               kHistory = Capability::kHistory, kSnapshot = Capability::kSnapshot,
               kAdmin = Capability::kAdmin;
constexpr bool Y = true, N = false;
constexpr char kNone[] = "no rule allows";

const Case kCases[] = {
    // admin: "all" covers every capability, everywhere
    {"admin reads anything", As(kAlice), kRead, "/models/x", Y, "admin rule 1 (line 5)"},
    {"root bound by name deletes in /private", As(kRoot), kDelete, "/private/x", Y,
     "admin rule 1 (line 5)"},
    {"admin holds admin cap", As(kAlice), kAdmin, "/", Y, "admin rule 1 (line 5)"},
    {"admin holds history via all", As(kAlice), kHistory, "/private/x", Y, "admin rule 1 (line 5)"},
    {"admin holds snapshot via all", As(kAlice), kSnapshot, "/", Y, "admin rule 1 (line 5)"},
    // deny precedence across roles
    {"admin+member: member's deny beats admin's allow", Roles({"admin", "member"}), kRead,
     "/private/x", N, "member rule 3 (line 13)"},
    {"member+admin: role order does not matter", Roles({"member", "admin"}), kRead, "/private/x", N,
     "member rule 3 (line 13)"},
    {"alice in ml-team holds both roles, deny wins", As(kAliceInTeam), kDelete, "/private/w", N,
     "member rule 3 (line 13)"},
    {"alice in ml-team elsewhere: first allow in file order", As(kAliceInTeam), kCreate,
     "/public/x", Y, "admin rule 1 (line 5)"},
    // member by group name (primary gid)
    {"member reads everywhere", As(kBob), kRead, "/models/x", Y, "member rule 1 (line 9)"},
    {"member creates in /team", As(kBob), kCreate, "/team/new.bin", Y, "member rule 2 (line 11)"},
    {"member cannot create outside /team", As(kBob), kCreate, "/models/x", N, kNone},
    {"member denied /private", As(kBob), kRead, "/private/x", N, "member rule 3 (line 13)"},
    {"** matches zero segments: /private itself", As(kBob), kList, "/private", N,
     "member rule 3 (line 13)"},
    {"/privateer is not /private/**", As(kBob), kRead, "/privateer/x", Y, "member rule 1 (line 9)"},
    {"member history", As(kBob), kHistory, "/team/a", Y, "member rule 1 (line 9)"},
    {"deny all covers history", As(kBob), kHistory, "/private/x", N, "member rule 3 (line 13)"},
    {"member snapshot on /team", As(kBob), kSnapshot, "/team", Y, "member rule 2 (line 11)"},
    {"deny all covers snapshot", As(kBob), kSnapshot, "/private", N, "member rule 3 (line 13)"},
    {"member no snapshot at root", As(kBob), kSnapshot, "/", N, kNone},
    {"member no admin", As(kBob), kAdmin, "/", N, kNone},
    {"member deletes /team itself", As(kBob), kDelete, "/team", Y, "member rule 2 (line 11)"},
    // normalization tricks
    {".. out of /team into /private", As(kBob), kRead, "/team/../private/x", N,
     "member rule 3 (line 13)"},
    {"/public/../private/x", As(kBob), kRead, "/public/../private/x", N, "member rule 3 (line 13)"},
    {"/./ is dropped", As(kBob), kUpdate, "/team/./a", Y, "member rule 2 (line 11)"},
    {"doubled slashes and ..", As(kBob), kRead, "/team//..//private/y", N,
     "member rule 3 (line 13)"},
    {"/.. at root stays at root", As(kBob), kRead, "/../private/z", N, "member rule 3 (line 13)"},
    {"trailing slash dropped", As(kBob), kUpdate, "/team/x/", Y, "member rule 2 (line 11)"},
    {"many .. cannot climb above root", As(kBob), kCreate, "/../../team/../../team/a", Y,
     "member rule 2 (line 11)"},
    // member by supplementary group
    {"supplementary group gives member", As(kCarol), kRead, "/models/a", Y,
     "member rule 1 (line 9)"},
    {"supplementary member creates in /team", As(kCarol), kCreate, "/team/x", Y,
     "member rule 2 (line 11)"},
    {"supplementary member denied /private", As(kCarol), kRead, "/private/a", N,
     "member rule 3 (line 13)"},
    // the default role
    {"guest lists the root", As(kDave), kList, "/", Y, "guest rule 1 (line 17)"},
    {"guest reads /public/a.bin", As(kDave), kRead, "/public/a.bin", Y, "guest rule 1 (line 17)"},
    {"guest reads /public itself", As(kDave), kRead, "/public", Y, "guest rule 1 (line 17)"},
    {"guest reads deep under /public", As(kDave), kRead, "/public/./deep/er/x.bin", Y,
     "guest rule 1 (line 17)"},
    {"/publicity is not /public/**", As(kDave), kRead, "/publicity", N, kNone},
    {"/publicity/x is not /public/**", As(kDave), kRead, "/publicity/x", N, kNone},
    {"guest cannot read /models", As(kDave), kRead, "/models/x", N, kNone},
    {"guest cannot list /models", As(kDave), kList, "/models", N, kNone},
    {"guest cannot create in /public", As(kDave), kCreate, "/public/new", N, kNone},
    {"guest: /public/.. escapes to /private", As(kDave), kRead, "/public/../private/x", N, kNone},
    {"guest: doubled slashes collapse", As(kDave), kRead, "//public///a", Y,
     "guest rule 1 (line 17)"},
    {"guest: /private/.. lands in /public", As(kDave), kRead, "/private/../public/a", Y,
     "guest rule 1 (line 17)"},
    {"guest: /.. is the root", As(kDave), kList, "/..", Y, "guest rule 1 (line 17)"},
    {"guest: no history", As(kDave), kHistory, "/public/a", N, kNone},
    {"guest: root is not /** (no read below it)", As(kDave), kRead, "/x", N, kNone},
    // publisher by numeric uid: * stays within one segment
    {"*.safetensors in /public", As(kPub), kCreate, "/public/model.safetensors", Y,
     "publisher rule 1 (line 27)"},
    {"second pattern of the rule", As(kPub), kUpdate, "/public/sub/m.safetensors", Y,
     "publisher rule 1 (line 27)"},
    {"* does not cross /", As(kPub), kCreate, "/public/a/b/m.safetensors", N, kNone},
    {"suffix must match", As(kPub), kUpdate, "/public/model.bin", N, kNone},
    {"* may match nothing", As(kPub), kCreate, "/public/.safetensors", Y,
     "publisher rule 1 (line 27)"},
    {"llama* matches llama-7b", As(kPub), kRead, "/models/llama-7b", Y,
     "publisher rule 2 (line 29)"},
    {"no prefix matching below llama-7b", As(kPub), kRead, "/models/llama-7b/config.json", N,
     kNone},
    {"llama* matches llama", As(kPub), kRead, "/models/llama", Y, "publisher rule 2 (line 29)"},
    {"llama* does not match alpaca", As(kPub), kRead, "/models/alpaca", N, kNone},
    {"unicode NFC name matches", As(kPub), kDelete, "/public/mod\xC3\xA8le.safetensors", Y,
     "publisher rule 3 (line 31)"},
    {"unicode NFD name is another name", As(kPub), kDelete, "/public/mode\xCC\x80le.safetensors", N,
     kNone},
    {"a bound caller does not also get default_role", As(kPub), kRead, "/public/x", N, kNone},
    // auditor by numeric gid: deny listed before allow
    {"deny before allow still wins", As(kAud), kRead, "/public/secret-plan", N,
     "auditor rule 1 (line 21)"},
    {"deny only covers its capability", As(kAud), kList, "/public/secret-plan", Y,
     "auditor rule 2 (line 23)"},
    {"secret* is one segment", As(kAud), kRead, "/public/secrets/x", Y, "auditor rule 2 (line 23)"},
    {"auditor history", As(kAud), kHistory, "/public/a", Y, "auditor rule 2 (line 23)"},
    // ops by user name: "/" and several **
    {"snapshot on /", As(kOlga), kSnapshot, "/", Y, "ops rule 1 (line 35)"},
    {"admin cap on /", As(kOlga), kAdmin, "/", Y, "ops rule 1 (line 35)"},
    {"\"/\" matches only the root", As(kOlga), kAdmin, "/x", N, kNone},
    {"/**/checkpoints/**", As(kOlga), kDelete, "/a/checkpoints/step1", Y, "ops rule 2 (line 37)"},
    {"both ** empty", As(kOlga), kDelete, "/checkpoints", Y, "ops rule 2 (line 37)"},
    {"leading ** deep", As(kOlga), kDelete, "/a/b/c/checkpoints", Y, "ops rule 2 (line 37)"},
    {"checkpointsX is another segment", As(kOlga), kDelete, "/a/checkpointsX/y", N, kNone},
    {"ops cannot read", As(kOlga), kRead, "/", N, kNone},
    // role names given directly
    {"unknown role contributes nothing", Roles({"nosuchrole"}), kRead, "/public/a", N, kNone},
    {"unknown role next to a known one", Roles({"nosuchrole", "guest"}), kRead, "/public/a", Y,
     "guest rule 1 (line 17)"},
    {"no roles at all", Roles({}), kList, "/", N, kNone},
    {"role names are case sensitive", Roles({"Admin"}), kRead, "/x", N, kNone},
    // a policy without default_role
    {"no default role: stranger cannot list /", As(kDave), kList, "/", N, kNone, true},
    {"no default role: stranger cannot read /public", As(kDave), kRead, "/public/a", N, kNone,
     true},
    {"no default role: bindings still apply", As(kAlice), kRead, "/x", Y, "admin rule 1 (line 5)",
     true},
    {"no default role: group binding still applies", As(kCarol), kRead, "/x", Y,
     "member rule 1 (line 9)", true},
};

std::shared_ptr<const Policy> MustLoad(const std::string& text) {
  auto p = Policy::Load(text, "test.yaml");
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : Policy::BuiltIn();
}

TEST(EvaluationTest, Table) {
  ASSERT_GE(std::size(kCases), 60u);
  FakeResolver resolver;
  auto with_default = MustLoad(kPolicy);
  std::string text = kPolicy;
  text.erase(text.find("default_role: guest"));
  auto without_default = MustLoad(text);
  ASSERT_FALSE(without_default->default_role().has_value());
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    const Policy& policy = c.no_default ? *without_default : *with_default;
    std::vector<std::string> roles = c.caller.roles;
    if (c.caller.who) {
      for (const RoleGrant& g : policy.RolesFor(*c.caller.who, resolver)) roles.push_back(g.role);
    }
    Result<std::string> path = NormalizePath(c.path);
    ASSERT_TRUE(path.ok()) << path.status().message();
    Decision d = policy.Decide(roles, c.cap, *path);
    EXPECT_EQ(d.allowed, c.allowed)
        << CapabilityName(c.cap) << " " << *path << " decided by " << d.Reason();
    if (c.reason) {
      EXPECT_EQ(d.Reason(), c.reason);
    }
  }
}

TEST(EvaluationTest, RoleGrantsSayWhy) {
  FakeResolver resolver;
  auto p = MustLoad(kPolicy);
  auto grants = [&](const Identity& who) {
    std::string out;
    for (const RoleGrant& g : p->RolesFor(who, resolver)) out += g.role + ": " + g.because + "; ";
    return out;
  };
  EXPECT_EQ(grants(kAlice), "admin: user alice (line 40); ");
  EXPECT_EQ(grants(kAliceInTeam), "admin: user alice (line 40); member: group ml-team (line 42); ");
  EXPECT_EQ(grants(kCarol), "member: group ml-team (line 42); ");
  EXPECT_EQ(grants(kPub), "publisher: uid 1500 (line 44); ");
  EXPECT_EQ(grants(kAud), "auditor: gid 2000 (line 46); ");
  EXPECT_EQ(grants(kDave), "guest: default_role; ");
  // A name the resolver does not know binds nobody, and does not fail.
  resolver.users.erase("olga");
  EXPECT_EQ(grants(kOlga), "guest: default_role; ");
}

TEST(EvaluationTest, DecisionListsEveryMatchingRuleInFileOrder) {
  auto p = MustLoad(kPolicy);
  Decision d = p->Decide({"member", "admin", "auditor"}, Capability::kRead, "/private/x");
  ASSERT_EQ(d.allows.size(), 2u);
  EXPECT_EQ(d.allows[0]->Label(), "admin rule 1 (line 5)");
  EXPECT_EQ(d.allows[1]->Label(), "member rule 1 (line 9)");
  ASSERT_EQ(d.denies.size(), 1u);
  EXPECT_EQ(d.deciding(), d.denies[0]);
  EXPECT_FALSE(d.allowed);
  Decision none = p->Decide({"guest"}, Capability::kDelete, "/public/x");
  EXPECT_EQ(none.deciding(), nullptr);
  EXPECT_EQ(none.Reason(), "no rule allows");
}

TEST(EvaluationTest, MayEverAllowIgnoresDenies) {
  auto p = MustLoad(kPolicy);
  EXPECT_FALSE(p->MayEverAllow("guest", kWriteCapabilities));
  EXPECT_TRUE(p->MayEverAllow("guest", Bit(Capability::kRead)));
  EXPECT_TRUE(p->MayEverAllow("member", kWriteCapabilities));
  EXPECT_FALSE(p->MayEverAllow("auditor", kWriteCapabilities));  // its deny does not count
  EXPECT_TRUE(p->MayEverAllow("admin", Bit(Capability::kAdmin)));
  EXPECT_FALSE(p->MayEverAllow("member", Bit(Capability::kAdmin)));
  EXPECT_FALSE(p->MayEverAllow("nosuchrole", kAllCapabilities));
}

}  // namespace
}  // namespace weightfs::policy
