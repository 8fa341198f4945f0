// Per-path role policies in the VFS core: AccessControl on its own (roles from
// bindings or default_role, the mount role's ceiling, private mounts, the audit log, policy
// swaps) and a FileSystem that decides every operation per caller, as an --allow-other mount
// does: hidden paths are kNotFound, visible but forbidden ones kPermissionDenied, listings are
// filtered, rename checks the whole moved subtree, .versions needs history, snapshots snapshot.
#include "weightfs/vfs/access.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs {
static void PrintTo(Code c, std::ostream* os) {
  *os << CodeName(c);
}  // readable EXPECT_EQ failures
}  // namespace weightfs

namespace weightfs::vfs {
namespace {

using C = policy::Capability;
using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::SharedStore;

// Users and groups from maps (a policy::NameResolver for tests).
class MapResolver : public policy::NameResolver {
 public:
  using Ids = std::map<std::string, uint32_t>;
  Ids users{{"alice", 1000}, {"bob", 1001}, {"carol", 1002}, {"gus", 1003}, {"dave", 1004}};
  Ids groups{{"ml-team", 3000}};
  std::optional<uint32_t> UserId(const std::string& n) const override { return Find(users, n); }
  std::optional<uint32_t> GroupId(const std::string& n) const override { return Find(groups, n); }
  std::optional<std::string> UserName(uint32_t uid) const override {
    for (const auto& [name, id] : users) {
      if (id == uid) return name;
    }
    return std::nullopt;
  }
  static std::optional<uint32_t> Find(const Ids& m, const std::string& k) {
    return m.count(k) ? std::optional<uint32_t>(m.at(k)) : std::nullopt;
  }
};

// Rule labels count lines: the audit checks below match only their "ROLE rule N (line" prefix.
constexpr char kPolicy[] = R"yaml(version: 1
roles:
  admin:
    rules:
      - {paths: ["/**"], allow: [all]}
  member:
    rules:
      - {paths: ["/", "/public/**", "/team/**"], allow: [list, read, history]}
      - {paths: ["/team/**"], allow: [create, update, delete, snapshot]}
      - {paths: ["/team/**/frozen/**"], deny: [delete]}
      - {paths: ["/team/**/*.lock"], deny: [create]}
  guest:
    rules:
      - {paths: ["/", "/public/**", "/inbox"], allow: [list, read]}
      - {paths: ["/public/secret*"], deny: [read]}
      - {paths: ["/inbox/*"], allow: [create]}
  historian:
    rules:
      - {paths: ["/**"], allow: [list, read]}
      - {paths: ["/", "/public/**"], allow: [history]}
bindings:
  - {role: admin, users: [alice]}
  - {role: member, groups: [ml-team]}
  - {role: member, users: ["1005"]}
  - {role: historian, users: [dave]}
default_role: guest
)yaml";

const Caller kAlice{1000, 100, 1, {}};          // admin by user name
const Caller kBob{1001, 3000, 2, {}};           // member by primary group name
const Caller kCarol{1002, 100, 3, {50, 3000}};  // member by supplementary group
const Caller kGus{1003, 100, 4, {}};            // bound by nothing: default_role guest
const Caller kDave{1004, 100, 5, {}};           // historian
const Caller kNum{1005, 100, 6, {}};            // member by numeric uid

template <typename T>
Code CodeOf(const Result<T>& r) {
  return r.status().code();
}
Code CodeOf(const Status& s) { return s.code(); }

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string NoDefault() { return Replace(kPolicy, "default_role: guest\n", ""); }

std::shared_ptr<const policy::Policy> Load(const std::string& yaml) {
  auto p = policy::Policy::Load(yaml, "test.yaml");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : policy::Policy::BuiltIn();
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase("access"), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase("access")));
  }
  void TearDown() override {
    if (fs_) REPO_EXPECT_OK(fs_->Shutdown());
  }

  std::shared_ptr<AccessControl> Access(const std::string& mount_role, bool per_caller = true,
                                        const std::string& yaml = kPolicy, bool audit_all = false) {
    AccessControl::Options o;
    o.mount_role = mount_role;
    o.per_caller = per_caller;
    o.audit_all = audit_all;
    o.resolver = &resolver_;
    o.audit = [this](const std::string& line) {
      std::lock_guard lock(mu_);
      audit_.push_back(nlohmann::json::parse(line));
    };
    return std::make_shared<AccessControl>(Load(yaml), o);
  }
  std::vector<nlohmann::json> TakeAudit() {
    std::lock_guard lock(mu_);
    return std::exchange(audit_, {});
  }
  void Mount(std::shared_ptr<AccessControl> ac) {
    if (fs_) REPO_ASSERT_OK(fs_->Shutdown());
    fs_.reset();
    FsOptions o;
    o.commit_interval_s = 3600;
    o.entry_timeout_s = o.attr_timeout_s = 0;
    o.versions_dir = FsOptions::VersionsDir::kVisible;
    o.access = std::move(ac);
    REPO_ASSERT_OK_AND_ASSIGN(fs_, FileSystem::Create(repo_.get(), std::move(o)));
  }
  // Mounts as admin and lays out the tree (as alice).
  void Seed() {
    ASSERT_NO_FATAL_FAILURE(Mount(Access("admin")));
    for (const char* d : {"/public", "/public/empty", "/team", "/team/emptydir", "/team/tree",
                          "/team/tree/frozen", "/team/mv", "/team/frozen", "/private", "/inbox"}) {
      REPO_ASSERT_OK(fs_->Mkdir(kAlice, Ino(Parent(d)), Name(d), 0755).status());
    }
    for (const char* f :
         {"/public/model.bin", "/public/secret.bin", "/team/a.bin", "/team/del1", "/team/r1",
          "/team/r2", "/team/r3", "/team/tree/frozen/w.bin", "/team/mv/x.lock",
          "/team/frozen/t.bin", "/private/p.bin", "/private/p2", "/inbox/taken"}) {
      REPO_ASSERT_OK_AND_ASSIGN(auto created,
                                fs_->Create(kAlice, Ino(Parent(f)), Name(f), 0644, true));
      REPO_ASSERT_OK(
          fs_->Write(kAlice, created.first.attr.ino, created.second.handle, 0, AsBytes(f))
              .status());
      REPO_ASSERT_OK(fs_->Flush(kAlice, created.first.attr.ino, created.second.handle));
      REPO_ASSERT_OK(fs_->Release(created.first.attr.ino, created.second.handle));
    }
    REPO_ASSERT_OK(fs_->Symlink(kAlice, Ino("/public"), "link", "model.bin").status());
    for (const char* f : {"/public/model.bin", "/team/a.bin"}) {
      REPO_ASSERT_OK(fs_->SetXattr(kAlice, Ino(f), "user.k", AsBytes("v"), false, false));
    }
    REPO_ASSERT_OK(fs_->Commit());
  }

  static std::string Parent(const std::string& p) {
    const size_t slash = p.rfind('/');
    return slash == 0 ? "/" : p.substr(0, slash);
  }
  static std::string Name(const std::string& p) { return p.substr(p.rfind('/') + 1); }
  // The node at path, found by alice (who sees everything).
  NodeId Ino(const std::string& path, NodeId from = kRootNode) {
    NodeId ino = from;
    size_t at = 1;
    while (at < path.size()) {
      const size_t end = std::min(path.find('/', at), path.size());
      auto e = fs_->Lookup(kAlice, ino, path.substr(at, end - at));
      EXPECT_TRUE(e.ok()) << path << ": " << e.status().ToString();
      if (!e.ok()) return 0;
      ino = e->attr.ino;
      at = end + 1;
    }
    return ino;
  }
  bool Sees(const Caller& c, const std::string& path) {
    return fs_->Lookup(c, Ino(Parent(path)), Name(path)).ok();
  }
  // Names in a directory's listing for c (without "." and ".."); kNotFound etc. as a name.
  std::set<std::string> Names(const Caller& c, NodeId dir) {
    auto h = fs_->OpenDir(c, dir);
    if (!h.ok()) return {std::string("!") + CodeName(h.status().code())};
    auto entries = fs_->ReadDir(c, dir, *h, 0);
    EXPECT_TRUE(entries.ok());
    REPO_EXPECT_OK(fs_->ReleaseDir(dir, *h));
    std::set<std::string> out;
    for (const DirEntry& e : entries.ok() ? *entries : std::vector<DirEntry>{}) {
      if (e.name != "." && e.name != "..") out.insert(e.name);
    }
    return out;
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<FileSystem> fs_;
  MapResolver resolver_;
  std::mutex mu_;
  std::vector<nlohmann::json> audit_;
};

// The operations of the table below: on the node at a path, or (child) on a name in its parent.
struct OpDef {
  bool child;
  std::function<Status(FileSystem*, const Caller&, NodeId, const std::string&)> run;
};
#define WFS_OP(child, ...)                                                                      \
  OpDef {                                                                                       \
    child, [](FileSystem* fs, const Caller& c, NodeId ino, const std::string& name) -> Status { \
      __VA_ARGS__;                                                                              \
    }                                                                                           \
  }
Status Closed(FileSystem* fs, NodeId ino, const Result<OpenOut>& h) {
  return h.ok() ? fs->Release(ino, h->handle) : h.status();
}
const std::map<std::string, OpDef> kOps = {
    {"lookup", WFS_OP(true, return fs->Lookup(c, ino, name).status())},
    {"getattr", WFS_OP(false, return fs->GetAttr(c, ino).status())},
    {"open-r", WFS_OP(false, return Closed(fs, ino, fs->Open(c, ino, false, false, true)))},
    {"open-w", WFS_OP(false, return Closed(fs, ino, fs->Open(c, ino, true, false, false)))},
    {"open-trunc", WFS_OP(false, return Closed(fs, ino, fs->Open(c, ino, true, true, false)))},
    {"getxattr", WFS_OP(false, return fs->GetXattr(c, ino, "user.k").status())},
    {"listxattr", WFS_OP(false, return fs->ListXattr(c, ino).status())},
    {"setxattr", WFS_OP(false, return fs->SetXattr(c, ino, "user.t", AsBytes("x"), false, false))},
    {"removexattr", WFS_OP(false, return fs->RemoveXattr(c, ino, "user.k"))},
    {"chmod", WFS_OP(false, SetAttrRequest r; r.set_mode = true; r.mode = 0600;
                     return fs->SetAttr(c, ino, r).status())},
    {"readlink", WFS_OP(false, return fs->ReadLink(c, ino).status())},
    {"opendir", WFS_OP(false, auto h = fs->OpenDir(c, ino);
                       return h.ok() ? fs->ReleaseDir(ino, *h) : h.status())},
    {"create",
     WFS_OP(true, auto r = fs->Create(c, ino, name, 0644, true);
            return r.ok() ? fs->Release(r->first.attr.ino, r->second.handle) : r.status())},
    {"mkdir", WFS_OP(true, return fs->Mkdir(c, ino, name, 0755).status())},
    {"symlink", WFS_OP(true, return fs->Symlink(c, ino, name, "target").status())},
    {"unlink", WFS_OP(true, return fs->Unlink(c, ino, name))},
    {"rmdir", WFS_OP(true, return fs->Rmdir(c, ino, name))},
};
#undef WFS_OP

struct OpCase {
  const char* who;
  const char* op;
  const char* path;
  Code want;
};

TEST_F(AccessTest, OperationsAreDecidedPerCaller) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  constexpr Code OK = Code::kOk, HID = Code::kNotFound, DEN = Code::kPermissionDenied;
  const std::map<std::string, Caller> callers{{"alice", kAlice}, {"bob", kBob},   {"carol", kCarol},
                                              {"gus", kGus},     {"dave", kDave}, {"1005", kNum}};
  const OpCase cases[] = {
      {"gus", "lookup", "/public/model.bin", OK},
      {"gus", "lookup", "/team", HID},
      {"gus", "lookup", "/private/p.bin", HID},
      {"gus", "getattr", "/private/p.bin", HID},
      {"gus", "getattr", "/public/secret.bin", OK},
      {"gus", "open-r", "/public/model.bin", OK},
      {"gus", "open-r", "/public/secret.bin", DEN},
      {"gus", "open-r", "/private/p.bin", HID},
      {"gus", "open-w", "/public/model.bin", DEN},
      {"gus", "open-trunc", "/public/model.bin", DEN},
      {"gus", "getxattr", "/public/model.bin", OK},
      {"gus", "getxattr", "/public/secret.bin", DEN},
      {"gus", "listxattr", "/public/model.bin", OK},
      {"gus", "listxattr", "/private/p.bin", HID},
      {"gus", "setxattr", "/public/model.bin", DEN},
      {"gus", "removexattr", "/public/model.bin", DEN},
      {"gus", "chmod", "/public/model.bin", DEN},
      {"gus", "chmod", "/private/p.bin", HID},
      {"gus", "readlink", "/public/link", OK},
      {"gus", "opendir", "/public", OK},
      {"gus", "opendir", "/private", HID},
      {"gus", "create", "/public/new", DEN},
      {"gus", "create", "/private/new", DEN},  // nothing to hide for a new name
      {"gus", "mkdir", "/public/d", DEN},
      {"gus", "symlink", "/public/s", DEN},
      {"gus", "unlink", "/public/model.bin", DEN},
      {"gus", "unlink", "/private/p.bin", HID},
      {"gus", "rmdir", "/public/empty", DEN},
      {"gus", "rmdir", "/team/emptydir", HID},
      {"gus", "create", "/inbox/drop.bin", OK},  // create without list (a drop box)
      {"bob", "lookup", "/team/a.bin", OK},
      {"bob", "lookup", "/private", HID},
      {"bob", "open-r", "/public/secret.bin", OK},
      {"bob", "open-trunc", "/public/model.bin", DEN},
      {"bob", "open-w", "/team/a.bin", OK},
      {"bob", "chmod", "/team/a.bin", OK},
      {"bob", "setxattr", "/team/a.bin", OK},
      {"bob", "getxattr", "/team/a.bin", OK},
      {"bob", "removexattr", "/team/a.bin", OK},
      {"bob", "getxattr", "/private/p.bin", HID},
      {"bob", "create", "/team/new.bin", OK},
      {"bob", "create", "/team/new.lock", DEN},
      {"bob", "mkdir", "/team/newdir", OK},
      {"bob", "symlink", "/team/ln", OK},
      {"bob", "unlink", "/team/del1", OK},
      {"bob", "unlink", "/team/tree/frozen/w.bin", DEN},
      {"bob", "unlink", "/public/model.bin", DEN},
      {"bob", "rmdir", "/team/emptydir", OK},
      {"carol", "open-w", "/team/a.bin", OK},
      {"carol", "lookup", "/private", HID},
      {"1005", "create", "/team/num.bin", OK},
      {"dave", "lookup", "/private/p.bin", OK},
      {"dave", "open-w", "/private/p.bin", DEN},
      {"alice", "open-w", "/private/p.bin", OK},
      {"alice", "unlink", "/private/p2", OK},
      {"alice", "mkdir", "/private/d", OK},
  };
  for (const OpCase& k : cases) {
    SCOPED_TRACE(std::string(k.who) + " " + k.op + " " + k.path);
    const OpDef& op = kOps.at(k.op);
    const NodeId ino = Ino(op.child ? Parent(k.path) : k.path);
    ASSERT_NE(ino, 0u);
    const Status s = op.run(fs_.get(), callers.at(k.who), ino, Name(k.path));
    EXPECT_EQ(s.code(), k.want) << s.ToString();
  }
}

// A hard link is a new way to reach a file: it needs `read` on the file and `create` on the new
// name, so that nobody links what the policy hides from them into a place they may read.
TEST_F(AccessTest, HardLinksCannotEscapeThePolicy) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  ASSERT_NO_FATAL_FAILURE(Mount(Access("admin")));
  const NodeId secret = Ino("/public/secret.bin");  // gus may list it but not read it
  const NodeId hidden = Ino("/private/p.bin");      // bob may not even see it
  EXPECT_EQ(CodeOf(fs_->Link(kGus, secret, Ino("/inbox"), "s.bin")), Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->Link(kBob, hidden, Ino("/team"), "stolen.bin")), Code::kNotFound);
  EXPECT_FALSE(Sees(kAlice, "/team/stolen.bin"));
  EXPECT_EQ(CodeOf(fs_->Link(kGus, Ino("/public/model.bin"), Ino("/inbox"), "m.bin")), Code::kOk);
  EXPECT_EQ(CodeOf(fs_->Link(kBob, Ino("/team/a.bin"), Ino("/public"), "a.bin")),
            Code::kPermissionDenied);
  // A link the admin made is read through the name the caller may read; the other stays hidden.
  ASSERT_EQ(CodeOf(fs_->Link(kAlice, hidden, Ino("/team"), "shared.bin")), Code::kOk);
  EXPECT_EQ(CodeOf(fs_->Open(kBob, Ino("/team/shared.bin"), false, false)), Code::kOk);
  EXPECT_FALSE(Sees(kBob, "/private/p.bin"));
}

// A caller allowed to create in a directory it may not list must not learn which names exist
// there: Create(exclusive)/Mkdir/Symlink over an existing entry it may not list are refused
// (kPermissionDenied), never kAlreadyExists (through FUSE: LOOKUP answers ENOENT, so EEXIST from
// the following CREATE/MKDIR would reveal the hidden name).
TEST_F(AccessTest, CreateOverHiddenNameDoesNotRevealIt) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  const NodeId inbox = Ino("/inbox");
  EXPECT_EQ(CodeOf(fs_->Lookup(kGus, inbox, "taken")), Code::kNotFound);
  EXPECT_EQ(Names(kGus, inbox), std::set<std::string>{});
  EXPECT_NE(CodeOf(fs_->Create(kGus, inbox, "taken", 0644, true)), Code::kAlreadyExists);
  EXPECT_NE(CodeOf(fs_->Mkdir(kGus, inbox, "taken", 0755)), Code::kAlreadyExists);
  EXPECT_NE(CodeOf(fs_->Symlink(kGus, inbox, "taken", "x")), Code::kAlreadyExists);
}

// The same for rename: a drop box where the caller may create and delete, but list only its own
// names. Replacing a hidden entry would destroy it, and RENAME_NOREPLACE's EEXIST (or ENOTDIR for
// a directory moved onto a hidden file) would reveal it.
TEST_F(AccessTest, RenameOntoHiddenNameDoesNotRevealOrReplaceIt) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  const std::string drop_box =
      "{paths: [\"/inbox/*\"], allow: [create, delete]}\n"
      "      - {paths: [\"/inbox/mine\", \"/inbox/mydir\", \"/inbox/renamed\"], allow: [list]}";
  ASSERT_NO_FATAL_FAILURE(Mount(Access(
      "admin", true, Replace(kPolicy, "{paths: [\"/inbox/*\"], allow: [create]}", drop_box))));
  const NodeId inbox = Ino("/inbox");
  REPO_ASSERT_OK(fs_->Create(kGus, inbox, "mine", 0644, true).status());
  REPO_ASSERT_OK(fs_->Mkdir(kGus, inbox, "mydir", 0755).status());
  EXPECT_EQ(CodeOf(fs_->Rename(kGus, inbox, "mine", inbox, "taken", 0)), Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->Rename(kGus, inbox, "mine", inbox, "taken", FileSystem::kRenameNoReplace)),
            Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->Rename(kGus, inbox, "mydir", inbox, "taken", 0)), Code::kPermissionDenied);
  EXPECT_TRUE(Sees(kAlice, "/inbox/taken"));  // still there
  // A free name works: the drop box is usable.
  REPO_EXPECT_OK(fs_->Rename(kGus, inbox, "mine", inbox, "renamed", 0));
}

TEST_F(AccessTest, ListingsLeaveOutWhatTheCallerMayNotList) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  using S = std::set<std::string>;
  EXPECT_EQ(Names(kGus, kRootNode), (S{"inbox", "public"}));
  EXPECT_EQ(Names(kBob, kRootNode), (S{"public", "team", ".versions"}));
  EXPECT_EQ(Names(kAlice, kRootNode), (S{"inbox", "private", "public", "team", ".versions"}));
  EXPECT_EQ(Names(kDave, kRootNode), (S{"inbox", "private", "public", "team", ".versions"}));
  EXPECT_EQ(Names(kGus, Ino("/public")), (S{"empty", "link", "model.bin", "secret.bin"}));
  EXPECT_EQ(Names(kGus, Ino("/team")), (S{std::string("!") + CodeName(Code::kNotFound)}));
  EXPECT_EQ(CodeOf(fs_->OpenDir(kGus, Ino("/team"))), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs_->OpenDir(kBob, Ino("/private"))), Code::kNotFound);
  // Left-out entries are not requests: nothing was audited for these listings.
  for (const auto& j : TakeAudit()) EXPECT_NE(j["op"], "readdir") << j.dump();
}

TEST_F(AccessTest, VersionsNeedHistoryOnThePathAsItWas) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  REPO_ASSERT_OK(
      fs_->SetXattr(kAlice, kRootNode, kSnapshotXattr, AsBytes("v1\nfirst"), false, false));
  using S = std::set<std::string>;
  // Guests have no history anywhere: no .versions at all.
  EXPECT_EQ(CodeOf(fs_->Lookup(kGus, kRootNode, ".versions")), Code::kNotFound);
  const NodeId top = Ino("/.versions");
  EXPECT_EQ(CodeOf(fs_->GetAttr(kGus, top)), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs_->OpenDir(kGus, top)), Code::kNotFound);
  const NodeId snap = Ino("/.versions/tags/v1");
  EXPECT_EQ(CodeOf(fs_->Lookup(kGus, Ino("/.versions/tags"), "v1")), Code::kNotFound);
  // Members: history and list on /, /public, /team.
  for (const char* p : {"/.versions", "/.versions/tags", "/.versions/tags/v1"})
    EXPECT_TRUE(Sees(kBob, p)) << p;
  EXPECT_EQ(Names(kBob, snap), (S{"public", "team"}));
  EXPECT_EQ(CodeOf(fs_->Lookup(kBob, snap, "private")), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs_->GetAttr(kBob, Ino("/private/p.bin", snap))), Code::kNotFound);
  const NodeId old_model = Ino("/public/model.bin", snap);
  REPO_ASSERT_OK_AND_ASSIGN(OpenOut h, fs_->Open(kBob, old_model, false, false));
  REPO_EXPECT_OK(fs_->Release(old_model, h.handle));
  EXPECT_EQ(CodeOf(fs_->Open(kBob, old_model, true, false)), Code::kReadOnly);
  // The historian lists everything live but has history only on / and /public.
  EXPECT_TRUE(Sees(kDave, "/team"));
  EXPECT_EQ(CodeOf(fs_->Lookup(kDave, snap, "team")), Code::kNotFound);
  EXPECT_EQ(Names(kDave, snap), (S{"public"}));
  EXPECT_TRUE(fs_->Lookup(kDave, snap, "public").ok());
}

// Denials of .versions itself and of its listing nodes (decided by whether the caller may have
// history anywhere) are audited like every other denial (access.h, README "Audit log").
TEST_F(AccessTest, DeniedVersionsLookupIsAudited) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  TakeAudit();
  EXPECT_EQ(CodeOf(fs_->Lookup(kGus, kRootNode, ".versions")), Code::kNotFound);
  const auto lines = TakeAudit();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["op"], "lookup");
  EXPECT_EQ(lines[0]["path"], "/.versions");
  EXPECT_EQ(lines[0]["decision"], "deny");
}

TEST_F(AccessTest, SnapshotsNeedSnapshotOnTheDirectory) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->ListSnapshots());
  const NodeId top = Ino("/.versions"), tags = Ino("/.versions/tags");
  EXPECT_EQ(CodeOf(fs_->SetXattr(kBob, kRootNode, kSnapshotXattr, AsBytes("\nm"), false, false)),
            Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->SetXattr(kBob, top, kSnapshotXattr, AsBytes("\nm"), false, false)),
            Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->SetXattr(kGus, Ino("/public"), kSnapshotXattr, AsBytes(""), false, false)),
            Code::kPermissionDenied);
  REPO_EXPECT_OK(
      fs_->SetXattr(kBob, Ino("/team"), kSnapshotXattr, AsBytes("\nteam"), false, false));
  EXPECT_EQ(CodeOf(fs_->Mkdir(kBob, tags, "t2", 0755)), Code::kPermissionDenied);  // needs it on /
  REPO_EXPECT_OK(fs_->Mkdir(kAlice, tags, "t3", 0755).status());
  REPO_ASSERT_OK_AND_ASSIGN(auto after, repo_->ListSnapshots());
  EXPECT_EQ(after.size(), before.size() + 2);
  REPO_ASSERT_OK_AND_ASSIGN(auto tag_map, repo_->refs().ReadTags());
  EXPECT_EQ(tag_map.value.count("t2"), 0u);
  EXPECT_EQ(tag_map.value.count("t3"), 1u);
}

// Issue #10 item 12: `weightfs snapshot MNT/team --tag X` (the xattr) and `mkdir .versions/tags/X`
// follow one rule, `snapshot` on /, so a member who may snapshot only /team cannot squat tags.
TEST_F(AccessTest, TagsNeedSnapshotOnRootHoweverAsked) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  REPO_ASSERT_OK_AND_ASSIGN(auto before, repo_->ListSnapshots());
  EXPECT_EQ(CodeOf(fs_->SetXattr(kBob, Ino("/team"), kSnapshotXattr, AsBytes("release\nsquat"),
                                 false, false)),
            Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->Mkdir(kBob, Ino("/.versions/tags"), "release", 0755)),
            Code::kPermissionDenied);
  REPO_ASSERT_OK_AND_ASSIGN(auto tag_map, repo_->refs().ReadTags());
  EXPECT_EQ(tag_map.value.count("release"), 0u);
  REPO_ASSERT_OK_AND_ASSIGN(auto unchanged, repo_->ListSnapshots());
  EXPECT_EQ(unchanged.size(), before.size());  // refused before any snapshot was recorded
  // Untagged snapshots of /team stay allowed; an admin may tag from any directory.
  REPO_EXPECT_OK(
      fs_->SetXattr(kBob, Ino("/team"), kSnapshotXattr, AsBytes("\nteam"), false, false));
  REPO_EXPECT_OK(fs_->SetXattr(kAlice, Ino("/team"), kSnapshotXattr, AsBytes("release\nby admin"),
                               false, false));
  REPO_ASSERT_OK_AND_ASSIGN(tag_map, repo_->refs().ReadTags());
  EXPECT_EQ(tag_map.value.count("release"), 1u);
}

TEST_F(AccessTest, RenameChecksBothEndsAndEverythingMoved) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  // A fresh mount: /team/tree and /team/mv are not loaded, so their contents come from storage.
  ASSERT_NO_FATAL_FAILURE(Mount(Access("admin")));
  const NodeId team = Ino("/team"), pub = Ino("/public"), priv = Ino("/private"),
               frozen = Ino("/team/frozen");
  auto mv = [&](const Caller& c, NodeId a, const char* n, NodeId b, const char* m) {
    return CodeOf(fs_->Rename(c, a, n, b, m, 0));
  };
  EXPECT_EQ(mv(kBob, team, "tree", team, "tree2"),
            Code::kPermissionDenied);  // delete /team/tree/frozen/**
  EXPECT_EQ(mv(kBob, team, "mv", team, "mv2"), Code::kPermissionDenied);  // create /team/mv2/x.lock
  Ino("/team/tree/frozen/w.bin");  // loaded now: the same answer from the node table
  EXPECT_EQ(mv(kBob, team, "tree", team, "tree2"), Code::kPermissionDenied);
  EXPECT_EQ(mv(kBob, team, "r2", pub, "r2"), Code::kPermissionDenied);  // no create in /public
  EXPECT_EQ(mv(kBob, pub, "model.bin", team, "m"),
            Code::kPermissionDenied);                              // no delete in /public
  EXPECT_EQ(mv(kBob, priv, "p.bin", team, "p"), Code::kNotFound);  // hidden source
  Ino("/team/frozen/t.bin");  // (see RenameOverAnEntryOfAnUnloadedDirectoryChecksDelete)
  EXPECT_EQ(mv(kBob, team, "r3", frozen, "t.bin"),
            Code::kPermissionDenied);  // replaced target is frozen
  EXPECT_EQ(mv(kBob, team, "r3", frozen, "new.bin"), Code::kOk);
  EXPECT_EQ(mv(kBob, team, "r1", team, "r1b"), Code::kOk);
  EXPECT_EQ(mv(kAlice, team, "tree", priv, "tree"), Code::kOk);
  EXPECT_TRUE(Sees(kAlice, "/private/tree/frozen/w.bin"));
  EXPECT_TRUE(Sees(kBob, "/team/r1b") && Sees(kBob, "/team/frozen/new.bin"));
}

// A rename that replaces an entry of a directory not yet loaded (fresh mount, nothing looked up
// below it) still checks `delete` on the replaced entry: the destination directory is loaded
// before deciding.
TEST_F(AccessTest, RenameOverAnEntryOfAnUnloadedDirectoryChecksDelete) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  ASSERT_NO_FATAL_FAILURE(Mount(Access("admin")));
  const NodeId team = Ino("/team"),
               frozen = Ino("/team/frozen");  // frozen's entries are not loaded
  EXPECT_EQ(CodeOf(fs_->Rename(kBob, team, "r3", frozen, "t.bin", 0)), Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(fs_->Unlink(kBob, frozen, "t.bin")),
            Code::kPermissionDenied);  // what rename must match
}

TEST_F(AccessTest, MountRoleCapsEveryCaller) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  ASSERT_NO_FATAL_FAILURE(
      Mount(Access("member")));  // alice is bound to admin; the mount is a member's
  TakeAudit();
  EXPECT_EQ(CodeOf(fs_->Lookup(kAlice, kRootNode, "private")), Code::kNotFound);
  EXPECT_EQ(CodeOf(fs_->Open(kAlice, Ino("/public/model.bin"), true, false)),
            Code::kPermissionDenied);
  EXPECT_EQ(Names(kAlice, kRootNode), (std::set<std::string>{"public", "team", ".versions"}));
  REPO_EXPECT_OK(fs_->Unlink(kAlice, Ino("/team"), "r1"));
  const auto lines = TakeAudit();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["role"], "admin");
  EXPECT_EQ(lines[1]["capability"], "update");
  EXPECT_EQ(lines[1]["rule"].get<std::string>().rfind("mount role member: ", 0), 0u) << lines[1];
}

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
