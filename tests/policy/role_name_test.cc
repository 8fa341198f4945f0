// Role names in a policy follow the one role-name rule (ValidateRoleName, names.h) that key slots'
// roles follow too; tests/repo/ref_updater_test.cc checks the key slot side with the same table.
#include <gtest/gtest.h>

#include <string>

#include "weightfs/core/names.h"
#include "weightfs/policy/policy.h"

namespace weightfs::policy {
namespace {

struct RoleCase {
  const char* name;
  bool valid;
};
constexpr RoleCase kRoleCases[] = {
    {"admin", true},
    {"ml-team.readers_2", true},
    {".hidden", true},
    {"-dash", true},
    {"A", true},
    {"", false},
    {"a b", false},
    {"no/such", false},
    {"caf\xc3\xa9", false},
};

Result<std::shared_ptr<const Policy>> LoadWithRole(const std::string& role) {
  return Policy::Load("version: 1\nroles:\n  \"" + role + "\": {rules: []}\n", "p.yaml");
}

TEST(RoleNameTest, PolicyRolesFollowTheRoleNameRule) {
  for (const RoleCase& c : kRoleCases) {
    EXPECT_EQ(ValidateRoleName(c.name).ok(), c.valid) << c.name;
    auto loaded = LoadWithRole(c.name);
    EXPECT_EQ(loaded.ok(), c.valid) << c.name << ": " << loaded.status().ToString();
    if (!c.valid) {
      EXPECT_NE(loaded.status().message().find("bad role name"), std::string::npos)
          << loaded.status().message();
    }
  }
  EXPECT_TRUE(LoadWithRole(std::string(kMaxRoleNameLength, 'r')).ok());
  EXPECT_FALSE(LoadWithRole(std::string(kMaxRoleNameLength + 1, 'r')).ok());
}

}  // namespace
}  // namespace weightfs::policy
