// Per-scope keys (keyring.h, object_layer.h): a repository with public, team and private scopes,
// attacked with a guest's and a member's keys. The attacker links the library, unwraps its slot
// and tries every key it holds on every object file in the store, whatever key id the object's
// header names: only objects of its scopes (and snapshots) open; every other one fails
// authentication, and nothing it opens names a path of another scope.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "support/repo_fixtures.h"
#include "weightfs/crypto/object_cipher.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/keyring.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::repo {
namespace {

using testing::CommitFile;
using ::testing::ElementsAre;
using testing::FastInit;
using testing::Passphrase;
using testing::SharedStore;

constexpr char kAdmin[] = "admin pass";
constexpr char kGuest[] = "guest pass";
constexpr char kMember[] = "member pass";

// The policy's scopes, as its resolver would give them (policy.h does this for real).
std::string ScopeOfPath(std::string_view path) {
  for (const char* scope : {"public", "team", "private"}) {
    const std::string top = std::string("/") + scope;
    if (path == top || path.rfind(top + "/", 0) == 0) return scope;
  }
  return kDefaultScope;
}

uint32_t HeaderKeyId(const Bytes& sealed) {
  uint32_t id = 0;
  for (int i = 0; i < 4; ++i) id |= uint32_t{sealed[8 + i]} << (8 * i);
  return id;
}

class ScopeKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(Repository::Init(store_.get(), Passphrase(kAdmin), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
    // Written before the repository had scopes: all under the first keys.
    REPO_ASSERT_OK(CommitFile(admin.get(), "/private/old-plan.txt", AsBytes("old private plan"),
                              "before scopes")
                       .status());
    REPO_ASSERT_OK(admin->EnsureScopeKeys({"public", "team", "private"}));
    admin->objects().SetScopeResolver(ScopeOfPath);
    REPO_ASSERT_OK(
        admin
            ->CommitSnapshot(
                [&](const MainRef& m) { return admin->objects().Rescope(m.live_root, "/"); },
                "scopes")
            .status());
    for (const auto& [path, text] : kFiles) {
      // Snapshot messages are readable by every slot: they name no path here.
      REPO_ASSERT_OK(CommitFile(admin.get(), path, AsBytes(text), "add a file").status());
    }
    const auto& reg = admin->objects().registry();
    auto id_of = [&](const char* scope) { return NewestKeyOf(reg, scope)->key_id; };
    REPO_ASSERT_OK(
        admin->key_slots().AddKeySlot("guest", "guest", Passphrase(kGuest), kTestScrypt,
                                      std::vector<uint32_t>{kCommonKeyId, id_of("public")}));
    REPO_ASSERT_OK(admin->key_slots().AddKeySlot(
        "member", "member", Passphrase(kMember), kTestScrypt,
        std::vector<uint32_t>{kCommonKeyId, id_of("public"), id_of("team")}));
  }

  // Every object the holder of pass can open with any of its keys, tried under the key id the
  // header names (the keys as the attacker holds them, not as the library would use them).
  struct Attack {
    std::set<ObjectId> opened;
    std::set<ObjectId> refused;
    std::string plaintexts;  // everything opened, concatenated
    std::set<uint32_t> held;
  };
  Attack AttackWith(const char* pass) {
    Attack out;
    auto repo = store_.Open(Passphrase(pass));
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    if (!repo.ok()) return out;
    const Keyring& keys = (*repo)->keyring();
    EXPECT_FALSE(keys.master.has_value());
    for (const auto& [id, k] : keys.objects) out.held.insert(id);
    for (const auto& [id, sealed] : testing::AllObjects(store_.get())) {
      const uint32_t header_key = HeaderKeyId(sealed);
      bool opened = false;
      for (const auto& [key_id, k] : keys.objects) {
        std::map<uint32_t, SecretBytes> as_header;
        as_header.emplace(header_key, k.content.Clone());
        crypto::ObjectCipher cipher((*repo)->config().repo_id, std::move(as_header), header_key);
        for (uint8_t type = 1; type <= 5 && !opened; ++type) {
          auto plain = cipher.Open(type, id, sealed);
          if (plain.ok()) {
            opened = true;
            out.plaintexts.append(AsString(*plain));
          }
        }
      }
      (opened ? out.opened : out.refused).insert(id);
    }
    return out;
  }

  // The key id each object is sealed under, as the administrator (who holds all) sees it.
  std::map<ObjectId, uint32_t> KeyIds() {
    std::map<ObjectId, uint32_t> out;
    for (const auto& [id, sealed] : testing::AllObjects(store_.get()))
      out[id] = HeaderKeyId(sealed);
    return out;
  }

  std::vector<std::string> Listing(const char* pass, const std::string& dir) {
    auto repo = store_.Open(Passphrase(pass));
    EXPECT_TRUE(repo.ok());
    auto main = (*repo)->refs().ReadMain();
    EXPECT_TRUE(main.ok());
    auto entry = LookupPath(**repo, main->value.live_root, dir);
    if (!entry.ok()) return {"<" + entry.status().message() + ">"};
    auto tree = (*repo)->objects().LoadTree(entry->id);
    EXPECT_TRUE(tree.ok());
    std::vector<std::string> names;
    for (const TreeEntry& e : tree->entries) names.push_back(e.name);
    return names;
  }

  const std::map<std::string, std::string> kFiles = {
      {"/public/open-model.safetensors", "public weights"},
      {"/team/team-model.safetensors", "team weights"},
      {"/team/notes/meeting.txt", "team meeting notes"},
      {"/private/secret-model.safetensors", "private weights"},
      {"/README", "default readme"},
  };
  SharedStore store_;
};

TEST_F(ScopeKeysTest, EachSlotListsOnlyWhatItsKeysOpen) {
  EXPECT_THAT(Listing(kAdmin, "/"), ElementsAre("README", "private", "public", "team"));
  EXPECT_THAT(Listing(kMember, "/"), ElementsAre("public", "team"));
  EXPECT_THAT(Listing(kGuest, "/"), ElementsAre("public"));
  EXPECT_THAT(Listing(kMember, "/team"), ElementsAre("notes", "team-model.safetensors"));
  EXPECT_THAT(Listing(kGuest, "/team"), ElementsAre("</team: no such file or directory>"));
  EXPECT_THAT(Listing(kMember, "/private"), ElementsAre("</private: no such file or directory>"));
}

TEST_F(ScopeKeysTest, GuestKeysOpenOnlyPublicObjects) {
  const auto key_ids = KeyIds();
  const Attack guest = AttackWith(kGuest);
  ASSERT_EQ(guest.held.size(), 2u);
  size_t foreign = 0;
  for (const auto& [id, key_id] : key_ids) {
    const bool mine = guest.held.contains(key_id);
    EXPECT_EQ(guest.opened.contains(id), mine) << id.Hex() << " under key id " << key_id;
    foreign += mine ? 0 : 1;
  }
  EXPECT_GE(foreign, 10u);  // the team, private, default and pre-scope objects were tried
  // Nothing the guest opened names or holds another scope's data.
  for (const char* secret : {"team-model", "meeting", "secret-model", "old-plan", "README",
                             "team weights", "private weights", "default readme"}) {
    EXPECT_EQ(guest.plaintexts.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(guest.plaintexts.find("open-model.safetensors"), std::string::npos);
  EXPECT_NE(guest.plaintexts.find("public weights"), std::string::npos);
}

TEST_F(ScopeKeysTest, MemberKeysOpenNothingPrivate) {
  const auto key_ids = KeyIds();
  const Attack member = AttackWith(kMember);
  for (const auto& [id, key_id] : key_ids) {
    EXPECT_EQ(member.opened.contains(id), member.held.contains(key_id)) << id.Hex();
  }
  for (const char* secret : {"secret-model", "old-plan", "private weights", "old private plan"}) {
    EXPECT_EQ(member.plaintexts.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(member.plaintexts.find("team meeting notes"), std::string::npos);
}

TEST_F(ScopeKeysTest, TheLibraryRefusesOtherScopesAsPermissionDenied) {
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry secret, LookupPath(*admin, main.value.live_root,
                                                         "/private/secret-model.safetensors"));
  REPO_ASSERT_OK_AND_ASSIGN(auto guest, store_.Open(Passphrase(kGuest)));
  auto file = guest->objects().LoadFile(secret.id);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), Code::kPermissionDenied) << file.status().ToString();
}

TEST_F(ScopeKeysTest, SnapshotsBeforeScopesAreClosedToScopedSlots) {
  REPO_ASSERT_OK_AND_ASSIGN(auto guest, store_.Open(Passphrase(kGuest)));
  bool sealed_older = false;
  REPO_ASSERT_OK_AND_ASSIGN(auto snaps, guest->ListSnapshots(&sealed_older));
  EXPECT_TRUE(sealed_older);
  ASSERT_FALSE(snaps.empty());
  EXPECT_EQ(snaps.back().snapshot.message, "scopes");
  EXPECT_EQ(guest->ListSnapshots().status().code(), Code::kPermissionDenied);
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto all, admin->ListSnapshots(&sealed_older));
  EXPECT_FALSE(sealed_older);
  EXPECT_EQ(all.back().snapshot.message, "before scopes");
}

TEST_F(ScopeKeysTest, WritersWriteOnlyWhereTheyHoldKeysAndKeepWhatTheyCannotSee) {
  REPO_ASSERT_OK_AND_ASSIGN(auto member, store_.Open(Passphrase(kMember)));
  member->objects().SetScopeResolver(ScopeOfPath);
  EXPECT_EQ(member->objects().WriteKeyFor("/private/x").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(member->objects().WriteKeyFor("/README").status().code(), Code::kPermissionDenied);
  // A write to /team re-puts the root, whose default and private fragments the member cannot
  // open: they must survive.
  REPO_ASSERT_OK(
      CommitFile(member.get(), "/team/new.txt", AsBytes("new team file"), "member").status());
  EXPECT_THAT(Listing(kAdmin, "/"), ElementsAre("README", "private", "public", "team"));
  EXPECT_THAT(Listing(kAdmin, "/team"), ElementsAre("new.txt", "notes", "team-model.safetensors"));
  EXPECT_THAT(Listing(kAdmin, "/private"), ElementsAre("old-plan.txt", "secret-model.safetensors"));
}

TEST_F(ScopeKeysTest, AFileMovedToAnotherScopeIsSealedAgainUnderItsKeys) {
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
  admin->objects().SetScopeResolver(ScopeOfPath);
  REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(
      TreeEntry e, LookupPath(*admin, main.value.live_root, "/public/open-model.safetensors"));
  REPO_ASSERT_OK(admin
                     ->CommitSnapshot(
                         [&](const MainRef& m) {
                           return PutAtPath(admin.get(), m.live_root,
                                            {"private", "was-public.safetensors"}, e);
                         },
                         "move")
                     .status());
  REPO_ASSERT_OK_AND_ASSIGN(main, admin->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(
      TreeEntry moved, LookupPath(*admin, main.value.live_root, "/private/was-public.safetensors"));
  EXPECT_NE(moved.id, e.id);
  const auto key_ids = KeyIds();
  const uint32_t private_key = NewestKeyOf(admin->objects().registry(), "private")->key_id;
  EXPECT_EQ(key_ids.at(moved.id), private_key);
  REPO_ASSERT_OK_AND_ASSIGN(FileObject f, admin->objects().LoadFile(moved.id));
  for (const ChunkRef& c : f.chunks) EXPECT_EQ(key_ids.at(c.id), private_key);
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*admin, moved.id));
  EXPECT_EQ(AsString(content), "public weights");
  // The guest cannot open the moved copy.
  REPO_ASSERT_OK_AND_ASSIGN(auto guest, store_.Open(Passphrase(kGuest)));
  EXPECT_EQ(guest->objects().LoadFile(moved.id).status().code(), Code::kPermissionDenied);
}

TEST_F(ScopeKeysTest, GcKeepsEveryScopesTreesAndOnlyAFullSlotMayRunIt) {
  GcOptions now;
  now.grace_seconds = 0;
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto member, store_.Open(Passphrase(kMember)));
    EXPECT_EQ(CollectGarbage(member.get(), now).status().code(), Code::kPermissionDenied);
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(GcReport report, CollectGarbage(admin.get(), now));
  // Only trees replaced along the way (an empty fragment a later write filled) are garbage:
  // every stored fragment of every scope is reachable.
  EXPECT_LE(report.unreachable_objects, 2u);
  EXPECT_GE(report.reachable_objects, 20u);
  EXPECT_THAT(Listing(kAdmin, "/private"), ElementsAre("old-plan.txt", "secret-model.safetensors"));
  EXPECT_THAT(Listing(kGuest, "/public"), ElementsAre("open-model.safetensors"));
  REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
  for (const auto& [path, text] : kFiles) {
    REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e, LookupPath(*admin, main.value.live_root, path));
    REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*admin, e.id));
    EXPECT_EQ(AsString(content), text) << path;
  }
  // And the history from before scopes.
  bool sealed_older = true;
  REPO_ASSERT_OK_AND_ASSIGN(auto snaps, admin->ListSnapshots(&sealed_older));
  EXPECT_FALSE(sealed_older);
  REPO_ASSERT_OK_AND_ASSIGN(
      TreeEntry old, LookupPath(*admin, snaps.back().snapshot.root, "/private/old-plan.txt"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes plan, testing::ReadContent(*admin, old.id));
  EXPECT_EQ(AsString(plan), "old private plan");
}

// An attacker holding the public scope plants, in the public tree, an entry that names a private
// file object. Whoever holds both and writes there next must not seal the private content again
// under the public keys.
TEST_F(ScopeKeysTest, AnEntryPointingIntoAnotherScopeIsNeverMovedThere) {
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry secret, LookupPath(*admin, main.value.live_root,
                                                         "/private/secret-model.safetensors"));
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto member, store_.Open(Passphrase(kMember)));
    const uint32_t pub = NewestKeyOf(member->objects().registry(), "public")->key_id;
    REPO_ASSERT_OK(member->refs().UpdateMain([&](MainRef* m) -> Result<bool> {
      ASSIGN_OR_RETURN(std::vector<ScopedRoot> roots, member->objects().RootsOf(m->live_root));
      for (ScopedRoot& r : roots) {
        if (r.key_id != pub) continue;
        ASSIGN_OR_RETURN(TreeObject root, member->objects().LoadStoredTree(r.id));
        for (TreeEntry& e : root.entries) {
          if (e.name != "public") continue;
          ASSIGN_OR_RETURN(TreeObject dir, member->objects().LoadStoredTree(e.id));
          TreeEntry leak = secret;
          leak.name = "leak.safetensors";
          dir.entries.push_back(leak);
          std::sort(dir.entries.begin(), dir.entries.end(),
                    [](const TreeEntry& x, const TreeEntry& y) { return x.name < y.name; });
          ASSIGN_OR_RETURN(e.id,
                           member->objects().PutObject(ObjectType::kTree, EncodeTree(dir), pub));
        }
        ASSIGN_OR_RETURN(r.id,
                         member->objects().PutObject(ObjectType::kTree, EncodeTree(root), pub));
      }
      m->live_root = member->objects().HandleOf(roots);
      return true;
    }));
  }
  const size_t objects_before = testing::AllObjects(store_.get()).size();
  REPO_ASSERT_OK_AND_ASSIGN(auto victim, store_.Open(Passphrase(kAdmin)));
  victim->objects().SetScopeResolver(ScopeOfPath);
  auto write = CommitFile(victim.get(), "/public/new.txt", AsBytes("new"), "a file");
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().code(), Code::kCorruption) << write.status().ToString();
  EXPECT_NE(write.status().message().find("/public/leak.safetensors"), std::string::npos);
  // Nothing of the private file was sealed under the public keys.
  const uint32_t pub = NewestKeyOf(victim->objects().registry(), "public")->key_id;
  for (const auto& [id, sealed] : testing::AllObjects(store_.get())) {
    if (HeaderKeyId(sealed) != pub) continue;
    auto plain = victim->objects().GetObject(ObjectType::kChunk, id);
    if (plain.ok()) EXPECT_EQ(AsString(*plain).find("private weights"), std::string::npos);
  }
  EXPECT_LE(testing::AllObjects(store_.get()).size(), objects_before + 4);
}

TEST_F(ScopeKeysTest, RestoringTheRootNeedsEveryKey) {
  REPO_ASSERT_OK_AND_ASSIGN(auto member, store_.Open(Passphrase(kMember)));
  member->objects().SetScopeResolver(ScopeOfPath);
  auto r = RestoreToLive(member.get(), "latest", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << r.status().ToString();
}

// Scopes below directories of another scope: a writer that holds only the inner scope still
// writes there (the outer directories are named by its scope's fragments alone).
TEST(ScopeKeysNestedTest, AWriterOfAnInnerScopeWritesBelowDirectoriesItCannotOpen) {
  SharedStore store;
  REPO_ASSERT_OK(Repository::Init(store.get(), Passphrase(kAdmin), FastInit()));
  auto inner = [](std::string_view path) -> std::string {
    // /orgs/NAME/public and below
    const std::string p(path);
    if (p.rfind("/orgs/", 0) != 0) return kDefaultScope;
    const size_t slash = p.find('/', 6);
    if (slash == std::string::npos) return kDefaultScope;
    const std::string rest = p.substr(slash);
    return rest == "/public" || rest.rfind("/public/", 0) == 0 ? "public" : kDefaultScope;
  };
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto admin, store.Open(Passphrase(kAdmin)));
    REPO_ASSERT_OK(admin->EnsureScopeKeys({"public"}));
    admin->objects().SetScopeResolver(inner);
    REPO_ASSERT_OK(CommitFile(admin.get(), "/orgs/acme/secret.txt", AsBytes("s"), "a").status());
    const uint32_t pub = NewestKeyOf(admin->objects().registry(), "public")->key_id;
    REPO_ASSERT_OK(admin->key_slots().AddKeySlot("pub", "writer", Passphrase(kGuest), kTestScrypt,
                                                 std::vector<uint32_t>{kCommonKeyId, pub}));
  }
  REPO_ASSERT_OK_AND_ASSIGN(auto writer, store.Open(Passphrase(kGuest)));
  writer->objects().SetScopeResolver(inner);
  REPO_ASSERT_OK(
      CommitFile(writer.get(), "/orgs/acme/public/w.bin", AsBytes("weights"), "w").status());
  REPO_ASSERT_OK_AND_ASSIGN(auto admin, store.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry acme, LookupPath(*admin, main.value.live_root, "/orgs/acme"));
  REPO_ASSERT_OK_AND_ASSIGN(TreeObject t, admin->objects().LoadTree(acme.id));
  std::vector<std::string> names;
  for (const TreeEntry& e : t.entries) names.push_back(e.name);
  EXPECT_THAT(names, ElementsAre("public", "secret.txt"));
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry w,
                            LookupPath(*admin, main.value.live_root, "/orgs/acme/public/w.bin"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*admin, w.id));
  EXPECT_EQ(AsString(content), "weights");
}

// After `key remove` of a member, `rekey team`: what the live tree holds of team is sealed under
// new keys, which the old slot does not hold; the snapshots it could read stay readable to it.
TEST_F(ScopeKeysTest, RekeyClosesTheLiveTreeToSlotsWithTheOldKeys) {
  REPO_ASSERT_OK_AND_ASSIGN(auto before, store_.Open(Passphrase(kAdmin)));
  REPO_ASSERT_OK_AND_ASSIGN(auto old_main, before->refs().ReadMain());
  const ObjectId old_head = *old_main.value.head;
  {
    REPO_ASSERT_OK_AND_ASSIGN(auto admin, store_.Open(Passphrase(kAdmin)));
    REPO_ASSERT_OK_AND_ASSIGN(ScopeKeyInfo made, admin->RekeyScope("team"));
    EXPECT_EQ(made.generation, 2u);
    admin->objects().SetScopeResolver(ScopeOfPath);
    REPO_ASSERT_OK(
        admin
            ->CommitSnapshot(
                [&](const MainRef& m) { return admin->objects().Rescope(m.live_root, "/"); },
                "rekey")
            .status());
    REPO_ASSERT_OK_AND_ASSIGN(auto main, admin->refs().ReadMain());
    REPO_ASSERT_OK_AND_ASSIGN(
        TreeEntry e, LookupPath(*admin, main.value.live_root, "/team/team-model.safetensors"));
    EXPECT_EQ(KeyIds().at(e.id), made.key_id);
    REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*admin, e.id));
    EXPECT_EQ(AsString(content), "team weights");
  }
  EXPECT_THAT(Listing(kMember, "/"), ElementsAre("public"));
  EXPECT_THAT(Listing(kAdmin, "/team"), ElementsAre("notes", "team-model.safetensors"));
  // The snapshot from before still opens with the old keys.
  REPO_ASSERT_OK_AND_ASSIGN(auto member, store_.Open(Passphrase(kMember)));
  REPO_ASSERT_OK_AND_ASSIGN(SnapshotObject old, member->objects().LoadSnapshot(old_head));
  REPO_ASSERT_OK_AND_ASSIGN(TreeEntry e,
                            LookupPath(*member, old.root, "/team/team-model.safetensors"));
  REPO_ASSERT_OK_AND_ASSIGN(Bytes content, testing::ReadContent(*member, e.id));
  EXPECT_EQ(AsString(content), "team weights");
}

TEST_F(ScopeKeysTest, AnEditedKeyListMakesTheSlotUnusable) {
  REPO_ASSERT_OK_AND_ASSIGN(auto slot, store_.get()->ReadFile("keys/guest"));
  ASSERT_TRUE(slot.has_value());
  std::string text(AsString(*slot));
  const size_t at = text.find("\"key_ids\": [");
  ASSERT_NE(at, std::string::npos) << text;
  // Claim key id 2 too (the scopes' ids are 2, 3, 4): the wrap no longer opens.
  const size_t first = text.find('0', at);
  text.replace(first, 1, "0,\n    2");
  REPO_ASSERT_OK(store_.get()->WriteFile("keys/guest", AsBytes(text)));
  auto r = store_.Open(Passphrase(kGuest));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
}

}  // namespace
}  // namespace weightfs::repo
