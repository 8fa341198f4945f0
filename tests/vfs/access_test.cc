// Per-path role policies in the VFS core: a FileSystem that decides every operation per caller,
// as an --allow-other mount does: hidden paths are kNotFound, visible but forbidden ones
// kPermissionDenied, listings are filtered, rename checks the whole moved subtree, .versions needs
// history, snapshots snapshot. The fixture is in access_fixture.h; AccessControl on its own is
// tested in access_control_test.cc.
#include "weightfs/vfs/access.h"

#include <gtest/gtest.h>

#include "vfs/access_fixture.h"

namespace weightfs::vfs {
namespace {

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

// `weightfs snapshot MNT/team --tag X` (the xattr) and `mkdir .versions/tags/X`
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

}  // namespace
}  // namespace weightfs::vfs
