// Policy evaluation (IAM style: any matching deny wins, else any matching allow, else deny),
// the caller-to-role mapping, the built-in policy and the system name resolver. Loading lives in
// loader.cc, the only file that sees yaml-cpp.

#include "weightfs/policy/policy.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>
#include <vector>

namespace weightfs::policy {
namespace {

// Binding entries made only of digits are numeric ids; the loader rejects ones past uint32.
std::optional<uint32_t> NumericId(const std::string& s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool UserMatches(const std::string& entry, const Identity& who, const NameResolver& resolver) {
  if (auto id = NumericId(entry)) return *id == who.uid;
  auto id = resolver.UserId(entry);
  return id && *id == who.uid;
}

bool GroupMatches(const std::string& entry, const Identity& who, const NameResolver& resolver) {
  std::optional<uint32_t> id = NumericId(entry);
  if (!id) id = resolver.GroupId(entry);
  if (!id) return false;
  return *id == who.gid || std::find(who.groups.begin(), who.groups.end(), *id) != who.groups.end();
}

std::string Because(bool group, const std::string& entry, int line) {
  const bool numeric = NumericId(entry).has_value();
  const char* kind = group ? (numeric ? "gid" : "group") : (numeric ? "uid" : "user");
  return std::string(kind) + " " + entry + " (line " + std::to_string(line) + ")";
}

constexpr char kBuiltInText[] =
    "# The built-in policy of a repository without one: role \"admin\" may do everything,\n"
    "# other roles nothing. No user or group is bound to it.\n"
    "version: 1\n"
    "roles:\n"
    "  admin:\n"
    "    rules:\n"
    "      - paths: [\"/**\"]\n"
    "        allow: [all]\n";

// getpw*_r/getgr*_r want a caller buffer whose needed size sysconf only hints at: start from the
// hint and double on ERANGE, up to a bound that no sane database entry reaches.
constexpr size_t kMaxNssBuffer = size_t{1} << 20;

size_t InitialBuffer(int which) {
  long hint = sysconf(which);
  return hint > 0 ? static_cast<size_t>(hint) : 1024;
}

class SystemNameResolver final : public NameResolver {
 public:
  std::optional<uint32_t> UserId(const std::string& name) const override {
    std::optional<uint32_t> out;
    Lookup<passwd>(_SC_GETPW_R_SIZE_MAX, [&](passwd* pw, char* buf, size_t len, passwd** res) {
      int rc = getpwnam_r(name.c_str(), pw, buf, len, res);
      if (rc == 0 && *res) out = (*res)->pw_uid;
      return rc;
    });
    return out;
  }
  std::optional<uint32_t> GroupId(const std::string& name) const override {
    std::optional<uint32_t> out;
    Lookup<group>(_SC_GETGR_R_SIZE_MAX, [&](group* gr, char* buf, size_t len, group** res) {
      int rc = getgrnam_r(name.c_str(), gr, buf, len, res);
      if (rc == 0 && *res) out = (*res)->gr_gid;
      return rc;
    });
    return out;
  }
  std::optional<std::string> UserName(uint32_t uid) const override {
    std::optional<std::string> out;
    Lookup<passwd>(_SC_GETPW_R_SIZE_MAX, [&](passwd* pw, char* buf, size_t len, passwd** res) {
      int rc = getpwuid_r(uid, pw, buf, len, res);
      if (rc == 0 && *res) out = std::string((*res)->pw_name);
      return rc;
    });
    return out;
  }

 private:
  // Calls fn(entry, buffer, size, &result) with growing buffers while it reports ERANGE. Any
  // other failure (or "no such entry") leaves the caller's result unset.
  template <typename Entry, typename Fn>
  static void Lookup(int size_hint, Fn fn) {
    std::vector<char> buf(InitialBuffer(size_hint));
    while (true) {
      Entry entry{};
      Entry* result = nullptr;
      int rc = fn(&entry, buf.data(), buf.size(), &result);
      if (rc != ERANGE || buf.size() >= kMaxNssBuffer) return;
      buf.resize(buf.size() * 2);
    }
  }
};

}  // namespace

std::string Rule::Label() const {
  std::string where = line > 0 ? "line " + std::to_string(line) : "built-in";
  return role + " rule " + std::to_string(index + 1) + " (" + where + ")";
}

const Rule* Decision::deciding() const {
  if (!denies.empty()) return denies.front();
  if (!allows.empty()) return allows.front();
  return nullptr;
}

std::string Decision::Reason() const {
  const Rule* r = deciding();
  return r ? r->Label() : "no rule allows";
}

std::shared_ptr<const Policy> Policy::BuiltIn() {
  static const std::shared_ptr<const Policy> built_in = [] {
    std::shared_ptr<Policy> p(new Policy());
    p->text_ = kBuiltInText;
    p->built_in_ = true;
    p->source_ = "built-in";
    p->role_names_ = {"admin"};
    Rule rule;
    rule.role = "admin";
    rule.index = 0;
    rule.line = 0;
    rule.paths.push_back(*Pattern::Parse("/**"));
    rule.caps = kAllCapabilities;
    rule.deny = false;
    p->rules_.push_back(std::move(rule));
    p->Finish();
    return p;
  }();
  return built_in;
}

bool Policy::HasRole(const std::string& role) const {
  return std::find(role_names_.begin(), role_names_.end(), role) != role_names_.end();
}

std::vector<std::string> Policy::RoleNames() const {
  std::vector<std::string> names = role_names_;
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Policy::Warnings(const NameResolver& resolver) const {
  std::vector<std::string> out;
  for (const NameRef& n : names_) {
    bool known =
        n.group ? resolver.GroupId(n.name).has_value() : resolver.UserId(n.name).has_value();
    if (known) continue;
    out.push_back(source_ + ":" + std::to_string(n.line) + ":" + std::to_string(n.column) +
                  ": warning: " + (n.group ? "group" : "user") + " \"" + n.name +
                  "\" is not known on this machine; the binding applies once it exists");
  }
  return out;
}

std::vector<RoleGrant> Policy::RolesFor(const Identity& who, const NameResolver& resolver) const {
  std::vector<RoleGrant> out;
  auto granted = [&](const std::string& role) {
    return std::any_of(out.begin(), out.end(), [&](const RoleGrant& g) { return g.role == role; });
  };
  for (const Binding& b : bindings_) {
    if (granted(b.role)) continue;  // the first reason in file order stands; skip the lookups
    std::optional<std::string> because;
    for (const std::string& u : b.users) {
      if (UserMatches(u, who, resolver)) {
        because = Because(false, u, b.line);
        break;
      }
    }
    for (size_t i = 0; !because && i < b.groups.size(); ++i) {
      if (GroupMatches(b.groups[i], who, resolver)) because = Because(true, b.groups[i], b.line);
    }
    if (because) out.push_back({b.role, std::move(*because)});
  }
  if (out.empty() && default_role_) out.push_back({*default_role_, "default_role"});
  std::sort(out.begin(), out.end(),
            [](const RoleGrant& a, const RoleGrant& b) { return a.role < b.role; });
  return out;
}

Decision Policy::Decide(const std::vector<std::string>& roles, Capability cap,
                        std::string_view path) const {
  Decision d;
  for (const Rule& rule : rules_) {
    if ((rule.caps & Bit(cap)) == 0) continue;
    if (std::find(roles.begin(), roles.end(), rule.role) == roles.end()) continue;
    bool matches = std::any_of(rule.paths.begin(), rule.paths.end(),
                               [&](const Pattern& p) { return p.Matches(path); });
    if (!matches) continue;
    (rule.deny ? d.denies : d.allows).push_back(&rule);
  }
  d.allowed = d.denies.empty() && !d.allows.empty();
  return d;
}

bool Policy::MayEverAllow(const std::string& role, CapabilitySet caps) const {
  return std::any_of(rules_.begin(), rules_.end(), [&](const Rule& r) {
    return !r.deny && r.role == role && (r.caps & caps) != 0;
  });
}

void Policy::Finish() {
  reachable_roles_.clear();
  for (const Binding& b : bindings_) reachable_roles_.push_back(b.role);
  if (default_role_) reachable_roles_.push_back(*default_role_);
  std::sort(reachable_roles_.begin(), reachable_roles_.end());
  reachable_roles_.erase(std::unique(reachable_roles_.begin(), reachable_roles_.end()),
                         reachable_roles_.end());
}

bool Policy::UniformFor(const std::string& mount_role, CapabilitySet caps,
                        std::string_view path) const {
  for (int i = 0; i < kCapabilityCount; ++i) {
    const auto cap = static_cast<Capability>(i);
    if ((caps & Bit(cap)) == 0) continue;
    // Decide() without the vectors of matching rules: this runs on every lookup of a shared mount.
    auto allowed = [&](const std::string& role) {
      bool allow = false;
      for (const Rule& rule : rules_) {
        if ((rule.caps & Bit(cap)) == 0 || rule.role != role) continue;
        if (!rule.deny && allow) continue;  // another allow adds nothing
        if (!std::any_of(rule.paths.begin(), rule.paths.end(),
                         [&](const Pattern& p) { return p.Matches(path); })) {
          continue;
        }
        if (rule.deny) return false;
        allow = true;
      }
      return allow;
    };
    if (!allowed(mount_role)) continue;  // every caller is capped to deny
    std::optional<bool> seen;
    if (reachable_empty()) seen = false;  // a caller without a role is denied
    for (const std::string& role : reachable_roles_) {
      const bool v = allowed(role);
      if (seen && *seen != v) return false;
      seen = v;
    }
  }
  return true;
}

const NameResolver& SystemResolver() {
  static const SystemNameResolver resolver;
  return resolver;
}

}  // namespace weightfs::policy
