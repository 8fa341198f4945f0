#include "weightfs/vfs/access.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "weightfs/core/clock.h"

namespace weightfs::vfs {
namespace {

using policy::Capability;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string IsoTime(int64_t ns) {
  char frac[16];
  std::snprintf(frac, sizeof(frac), ".%03dZ", static_cast<int>((ns / 1000000) % 1000));
  return FormatUtc(ns, "%Y-%m-%dT%H:%M:%S") + frac;
}

}  // namespace

AccessControl::AccessControl(std::shared_ptr<const policy::Policy> policy, Options options)
    : options_(std::move(options)), policy_(std::move(policy)) {
  if (!options_.resolver) options_.resolver = &policy::SystemResolver();
}

void AccessControl::SetPolicy(std::shared_ptr<const policy::Policy> policy) {
  MutexLock lock(&mu_);
  policy_ = std::move(policy);
  roles_cache_.clear();
}

std::shared_ptr<const policy::Policy> AccessControl::policy() const {
  MutexLock lock(&mu_);
  return policy_;
}

std::vector<std::string> AccessControl::RolesOf(const Caller& c, const policy::Policy& p) {
  if (!options_.per_caller) return {options_.mount_role};
  CallerKey key{c.uid, c.gid, c.groups};
  const auto now = std::chrono::steady_clock::now();
  {
    MutexLock lock(&mu_);
    auto it = roles_cache_.find(key);
    if (it != roles_cache_.end() && it->second.policy == &p && it->second.expires > now)
      return it->second.roles;
  }
  // Name lookups (NSS) happen outside the lock.
  policy::Identity who{c.uid, c.gid, c.groups};
  std::vector<std::string> roles;
  for (const auto& g : p.RolesFor(who, *options_.resolver)) roles.push_back(g.role);
  MutexLock lock(&mu_);
  if (roles_cache_.size() > 4096) roles_cache_.clear();
  roles_cache_[key] = CachedRoles{
      &p, roles,
      now + std::chrono::milliseconds(static_cast<int64_t>(options_.role_cache_s * 1000))};
  return roles;
}

AccessControl::Verdict AccessControl::Decide(const Caller& c, Capability cap,
                                             const std::string& path) {
  std::shared_ptr<const policy::Policy> p = policy();
  Verdict v;
  const std::vector<std::string> roles = RolesOf(c, *p);
  v.roles = roles.empty() ? "(none)" : Join(roles);
  if (roles.empty()) {
    v.rule = "no role: the caller has no binding and the policy has no default_role";
    return v;
  }
  policy::Decision d = p->Decide(roles, cap, path);
  if (!d.allowed) {
    v.rule = d.Reason();
    return v;
  }
  if (options_.per_caller) {
    policy::Decision ceiling = p->Decide({options_.mount_role}, cap, path);
    if (!ceiling.allowed) {
      v.rule = "mount role " + options_.mount_role + ": " + ceiling.Reason();
      return v;
    }
  }
  v.allowed = true;
  v.rule = d.Reason();
  return v;
}

bool AccessControl::Check(const Caller& c, Capability cap, const std::string& path,
                          const char* op) {
  Verdict v = Decide(c, cap, path);
  if (options_.audit && (!v.allowed || options_.audit_all)) Audit(c, v, cap, path, op);
  return v.allowed;
}

bool AccessControl::Peek(const Caller& c, Capability cap, const std::string& path) {
  return Decide(c, cap, path).allowed;
}

bool AccessControl::MayEver(const Caller& c, policy::CapabilitySet caps) {
  std::shared_ptr<const policy::Policy> p = policy();
  if (!p->MayEverAllow(options_.mount_role, caps)) return false;
  if (!options_.per_caller) return true;
  for (const auto& role : RolesOf(c, *p)) {
    if (p->MayEverAllow(role, caps)) return true;
  }
  return false;
}

bool AccessControl::CheckEver(const Caller& c, Capability cap, const std::string& path,
                              const char* op) {
  const bool allowed = MayEver(c, policy::Bit(cap));
  if (options_.audit && (!allowed || options_.audit_all)) {
    Verdict v;
    v.allowed = allowed;
    std::shared_ptr<const policy::Policy> p = policy();
    const std::vector<std::string> roles = RolesOf(c, *p);
    v.roles = roles.empty() ? "(none)" : Join(roles);
    v.rule = allowed
                 ? std::string("some rule allows ") + policy::CapabilityName(cap)
                 : std::string("no rule of the caller's roles allows ") +
                       policy::CapabilityName(cap) +
                       (options_.per_caller ? " (or of the mount role " + options_.mount_role + ")"
                                            : "");
    Audit(c, v, cap, path, op);
  }
  return allowed;
}

bool AccessControl::SameForEveryCaller(const std::string& path) const {
  if (!options_.per_caller) return true;
  return policy()->UniformFor(
      options_.mount_role, policy::Bit(Capability::kList) | policy::Bit(Capability::kRead), path);
}

void AccessControl::Audit(const Caller& c, const Verdict& v, Capability cap,
                          const std::string& path, const char* op) {
  std::string user;
  if (auto name = options_.resolver->UserName(c.uid)) user = *name;
  options_.audit(AuditLine(NowNs(), c.uid, user, v.roles, op, policy::CapabilityName(cap), path,
                           v.allowed, v.rule));
}

std::string AuditLine(int64_t time_ns, uint32_t uid, const std::string& user,
                      const std::string& role, const std::string& op, const std::string& capability,
                      const std::string& path, bool allowed, const std::string& rule) {
  nlohmann::ordered_json j;
  j["time"] = IsoTime(time_ns);
  j["uid"] = uid;
  j["user"] = user.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(user);
  j["role"] = role;
  j["op"] = op;
  j["capability"] = capability;
  j["path"] = path;
  j["decision"] = allowed ? "allow" : "deny";
  j["rule"] = rule;
  // Names are bytes, not necessarily UTF-8: replace what JSON cannot carry rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::shared_ptr<const policy::Policy>> LoadRepositoryPolicy(const repo::Repository& repo) {
  ASSIGN_OR_RETURN(auto current, repo.policies().ReadPolicy());
  return LoadStoredPolicy(current.value);
}

Result<std::shared_ptr<const policy::Policy>> LoadStoredPolicy(
    const std::optional<repo::Repository::PolicyVersion>& version) {
  if (!version) return policy::Policy::BuiltIn();
  const std::string source = "repository policy #" + std::to_string(version->policy.seq);
  auto loaded = policy::Policy::Load(version->policy.text, source);
  if (!loaded.ok()) {
    return Corruption(loaded.status().message() +
                      " (the stored policy does not load with this build; set a valid one with "
                      "`weightfs policy set`)");
  }
  return loaded;
}

}  // namespace weightfs::vfs
