// Key-slot authorization: which key slot roles may administer under a policy, RequireAdmin's
// refusal naming the slot and role, and SomeSlotMayAdmin's guard against locking every
// administrator out.
#include "weightfs/policy/key_slot_auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "weightfs/storage/memory_store.h"

namespace weightfs::policy {
namespace {

constexpr char kPolicy[] =
    "version: 1\n"
    "roles:\n"
    "  admin:\n"
    "    rules:\n"
    "      - paths: [\"/**\"]\n"
    "        allow: [all]\n"
    "  reader:\n"
    "    rules:\n"
    "      - paths: [\"/**\"]\n"
    "        allow: [list, read]\n";

std::shared_ptr<const Policy> LoadTestPolicy() {
  auto p = Policy::Load(kPolicy, "test.yaml");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : nullptr;
}

repo::KeySlotInfo Slot(const std::string& name, const std::string& role) {
  repo::KeySlotInfo s;
  s.name = name;
  s.role = role;
  s.kind = "passphrase";
  return s;
}

// A repository in memory unlocked with a slot of the given role.
std::unique_ptr<repo::Repository> RepositoryWithRole(const std::string& slot,
                                                     const std::string& role) {
  auto store = storage::NewMemoryStore();
  repo::Credential c;
  c.kind = repo::Credential::Kind::kPassphrase;
  c.secret = SecretBytes(AsBytes(std::string("key slot auth test")));
  repo::InitOptions init;
  init.slot_name = slot;
  init.role = role;
  init.scrypt = repo::kTestScrypt;
  init.allow_weak_kdf = true;
  const Status s = repo::Repository::Init(store.get(), c, init);
  EXPECT_TRUE(s.ok()) << s.ToString();
  auto r = repo::Repository::Open(std::move(store), c, "");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(KeySlotAuthTest, RoleMayAdmin) {
  auto p = LoadTestPolicy();
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(RoleMayAdmin(*p, "admin"));
  EXPECT_FALSE(RoleMayAdmin(*p, "reader"));
  EXPECT_FALSE(RoleMayAdmin(*p, "undefined"));
}

TEST(KeySlotAuthTest, RequireAdminAllowsAnAdminSlot) {
  auto p = LoadTestPolicy();
  auto repo = RepositoryWithRole("ops", "admin");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(repo, nullptr);
  EXPECT_TRUE(RequireAdmin(*p, *repo, "policy set").ok());
}

TEST(KeySlotAuthTest, RequireAdminRefusesOtherRolesNamingSlotAndRole) {
  auto p = LoadTestPolicy();
  auto repo = RepositoryWithRole("ci", "reader");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(repo, nullptr);
  const Status s = RequireAdmin(*p, *repo, "adding a key slot");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "adding a key slot needs a key slot whose role may administer (`admin` on /); key "
            "slot 'ci' has role 'reader'. Unlock with an admin slot (--slot NAME)");
}

TEST(KeySlotAuthTest, SomeSlotMayAdmin) {
  auto p = LoadTestPolicy();
  ASSERT_NE(p, nullptr);
  const std::vector<repo::KeySlotInfo> slots = {Slot("ops", "admin"), Slot("ci", "reader")};
  EXPECT_TRUE(SomeSlotMayAdmin(*p, slots));
  EXPECT_TRUE(SomeSlotMayAdmin(*p, slots, "ci"));
  EXPECT_FALSE(SomeSlotMayAdmin(*p, slots, "ops"));  // removing the only admin slot
  EXPECT_FALSE(SomeSlotMayAdmin(*p, {Slot("ci", "reader")}));
  EXPECT_FALSE(SomeSlotMayAdmin(*p, {}));
}

}  // namespace
}  // namespace weightfs::policy
