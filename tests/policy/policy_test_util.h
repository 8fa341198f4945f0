// Fixtures shared by the policy tests: the issue's example policy, a way to grow it, and a name
// resolver that knows a few users and groups without asking this machine.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "weightfs/policy/policy.h"

namespace weightfs::policy::testing {

// The example policy from the issue, verbatim. Rule labels count its lines: admin's rule is on
// line 5, member's on lines 9, 11 and 13, guest's on line 17.
inline constexpr char kIssueExample[] = R"yaml(version: 1
roles:
  admin:
    rules:
      - paths: ["/**"]
        allow: [all]
  member:
    rules:
      - paths: ["/**"]
        allow: [list, read, history]
      - paths: ["/team/**"]
        allow: [create, update, delete, snapshot]
      - paths: ["/private/**"]
        deny: [all]
  guest:
    rules:
      - paths: ["/", "/public/**"]
        allow: [list, read]
bindings:
  - role: admin
    users: [alice, root]
  - role: member
    groups: [ml-team]
default_role: guest
)yaml";

// text with insert placed before its first line that starts with line_start (which must exist).
inline std::string InsertBeforeLine(std::string text, std::string_view line_start,
                                    std::string_view insert) {
  size_t at = text.starts_with(line_start) ? 0 : text.find("\n" + std::string(line_start));
  if (at == std::string::npos) {
    throw std::invalid_argument("no line starts with " + std::string(line_start));
  }
  text.insert(at == 0 ? 0 : at + 1, insert);
  return text;
}

// Users and groups by name, as the tests' machine would know them.
class FakeResolver : public NameResolver {
 public:
  std::map<std::string, uint32_t> users = {{"alice", 1000}, {"root", 0}, {"olga", 1004}};
  std::map<std::string, uint32_t> groups = {{"ml-team", 3000}};
  std::optional<uint32_t> UserId(const std::string& name) const override {
    return Find(users, name);
  }
  std::optional<uint32_t> GroupId(const std::string& name) const override {
    return Find(groups, name);
  }
  std::optional<std::string> UserName(uint32_t uid) const override {
    for (const auto& [name, id] : users) {
      if (id == uid) return name;
    }
    return std::nullopt;
  }

 private:
  static std::optional<uint32_t> Find(const std::map<std::string, uint32_t>& m,
                                      const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
};

}  // namespace weightfs::policy::testing
