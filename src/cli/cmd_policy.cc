// weightfs policy check|explain|show|set: the repository's access policy.
#include <grp.h>
#include <pwd.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.h"
#include "weightfs/policy/key_slot_auth.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/vfs/access.h"

namespace weightfs::cli {

Result<std::shared_ptr<const policy::Policy>> LoadPolicyFile(const std::string& path) {
  boost::system::error_code ec;
  if (!boost::filesystem::is_regular_file(path, ec))
    return NotFound(path + ": no such policy file");
  std::ifstream in(path, std::ios::binary);
  // At most one byte more than a policy may have, so a huge file is refused without reading it.
  std::string text(policy::kMaxPolicyBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return IoError("reading " + path + " failed");
  text.resize(static_cast<size_t>(in.gcount()));
  return policy::Policy::Load(text, path);
}

void PrintPolicyWarnings(const policy::Policy& p) {
  for (const std::string& w : p.Warnings(policy::SystemResolver())) std::cerr << w << "\n";
}

Status RequireAdmin(const repo::Repository& repo, const std::string& action) {
  ASSIGN_OR_RETURN(auto current, vfs::LoadRepositoryPolicy(repo));
  return policy::RequireAdmin(*current, repo, action);
}

namespace {

using policy::Capability;

struct PolicyArgs {
  std::string source;  // repository or policy file
  std::string file;
  UnlockOptions unlock;
  std::string user;
  int64_t uid = -1;
  std::string role;
  std::string mount_role;
  std::string op;
  std::string path;
  bool history = false;
  bool force = false;
  bool json = false;
};

std::string CapsText(policy::CapabilitySet caps) {
  if (caps == policy::kAllCapabilities) return "all";
  std::string out;
  for (int i = 0; i < policy::kCapabilityCount; ++i) {
    if (caps & (policy::CapabilitySet{1} << i)) {
      out += (out.empty() ? "" : ", ") +
             std::string(policy::CapabilityName(static_cast<Capability>(i)));
    }
  }
  return out;
}

std::string RuleText(const policy::Rule& r) {
  std::string paths;
  for (const auto& p : r.paths) paths += (paths.empty() ? "" : ", ") + p.text();
  return r.Label() + ": [" + paths + "] " + (r.deny ? "deny" : "allow") + " [" + CapsText(r.caps) +
         "]";
}

// A policy file, or the policy of the repository at source.
Result<std::shared_ptr<const policy::Policy>> PolicyFrom(const PolicyArgs& a) {
  boost::system::error_code ec;
  if (boost::filesystem::is_regular_file(a.source, ec)) return LoadPolicyFile(a.source);
  ASSIGN_OR_RETURN(auto repo, OpenRepository(a.source, a.unlock));
  return vfs::LoadRepositoryPolicy(*repo);
}

int RunCheck(const PolicyArgs& a) {
  auto p = LoadPolicyFile(a.source);
  if (!p.ok()) return Fail(p.status());
  PrintPolicyWarnings(**p);
  const auto roles = (*p)->RoleNames();
  std::string names;
  for (const auto& r : roles) names += (names.empty() ? "" : ", ") + r;
  std::cout << a.source << ": ok: " << roles.size() << " role(s) (" << names << "), "
            << (*p)->bindings().size() << " binding(s), default role "
            << ((*p)->default_role() ? *(*p)->default_role() : "none (no access)") << "\n";
  return kExitOk;
}

// The identity explain decides for: --role, or an OS user by name or uid with its groups.
Result<std::vector<policy::RoleGrant>> GrantsFor(const PolicyArgs& a, const policy::Policy& p) {
  const int given = !a.role.empty() + !a.user.empty() + (a.uid >= 0);
  if (given != 1) return InvalidArgument("give exactly one of --user NAME, --uid N or --role R");
  if (!a.role.empty()) {
    if (!p.HasRole(a.role)) return InvalidArgument("the policy defines no role \"" + a.role + "\"");
    return std::vector<policy::RoleGrant>{{a.role, "--role"}};
  }
  policy::Identity who;
  std::string name = a.user;
  const passwd* pw = nullptr;
  if (!a.user.empty()) {
    pw = ::getpwnam(a.user.c_str());
    if (!pw) return NotFound("user \"" + a.user + "\" is not known on this machine; use --uid N");
  } else {
    pw = ::getpwuid(static_cast<uid_t>(a.uid));
  }
  if (pw) {
    who.uid = pw->pw_uid;
    who.gid = pw->pw_gid;
    name = pw->pw_name;
    int n = 256;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    if (::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) == -1) {
      groups.resize(static_cast<size_t>(n));
      ::getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n);
    }
    for (int i = 0; i < n; ++i) who.groups.push_back(groups[static_cast<size_t>(i)]);
  } else {
    who.uid = static_cast<uint32_t>(a.uid);
    who.gid = UINT32_MAX;  // unknown: no group binding can match
  }
  return p.RolesFor(who, policy::SystemResolver());
}

int RunExplain(const PolicyArgs& a) {
  auto cap = policy::ParseCapability(a.op);
  if (!cap) {
    return Fail(InvalidArgument(
        "unknown capability \"" + a.op +
        "\" (expected list, read, create, update, delete, history, snapshot or admin)"));
  }
  auto path = policy::NormalizePath(a.path);
  if (!path.ok()) return Fail(path.status().WithContext("PATH"));
  auto p = PolicyFrom(a);
  if (!p.ok()) return Fail(p.status());
  auto grants = GrantsFor(a, **p);
  if (!grants.ok()) return Fail(grants.status());
  std::vector<std::string> roles;
  for (const auto& g : *grants) roles.push_back(g.role);
  const policy::Decision d = (*p)->Decide(roles, *cap, *path);
  // On a shared mount the mount's own role caps every caller.
  std::optional<policy::Decision> cap_d;
  if (!a.mount_role.empty()) {
    if (!(*p)->HasRole(a.mount_role)) {
      return Fail(
          InvalidArgument("the policy defines no role \"" + a.mount_role + "\" (--mount-role)"));
    }
    cap_d = (*p)->Decide({a.mount_role}, *cap, *path);
  }
  const bool allowed = d.allowed && (!cap_d || cap_d->allowed);
  const std::string reason = d.allowed && cap_d && !cap_d->allowed
                                 ? "mount role " + a.mount_role + ": " + cap_d->Reason()
                                 : d.Reason();
  if (a.json) {
    nlohmann::json j;
    j["decision"] = allowed ? "allow" : "deny";
    j["capability"] = a.op;
    j["path"] = *path;
    j["roles"] = roles;
    if (cap_d) j["mount_role"] = a.mount_role;
    j["rule"] = reason;
    j["allow_rules"] = nlohmann::json::array();
    j["deny_rules"] = nlohmann::json::array();
    for (const auto* r : d.allows) j["allow_rules"].push_back(r->Label());
    for (const auto* r : d.denies) j["deny_rules"].push_back(r->Label());
    std::cout << j.dump(2) << "\n";
    return allowed ? kExitOk : kExitFailure;
  }
  std::cout << (allowed ? "allow" : "deny") << ": " << a.op << " on " << *path << "\n";
  if (grants->empty()) {
    std::cout << "  roles: none (no binding matches and the policy has no default_role)\n";
  } else {
    for (const auto& g : *grants) std::cout << "  role " << g.role << " (" << g.because << ")\n";
  }
  for (const auto* r : d.denies) std::cout << "  deny rule:  " << RuleText(*r) << "\n";
  for (const auto* r : d.allows) std::cout << "  allow rule: " << RuleText(*r) << "\n";
  if (cap_d) {
    std::cout << "  capped by the mount role " << a.mount_role << ": "
              << (cap_d->allowed ? "allows" : "denies") << " (" << cap_d->Reason() << ")\n";
  }
  std::cout << "  decided by: " << reason << "\n";
  return allowed ? kExitOk : kExitFailure;
}

int RunShow(const PolicyArgs& a) {
  auto repo = OpenRepository(a.source, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto versions = (*repo)->policies().ListPolicies();
  if (!versions.ok()) return Fail(versions.status());
  if (a.history) {
    if (versions->empty()) std::cout << "no policy was ever set: the built-in policy applies\n";
    for (const auto& v : *versions) {
      std::cout << "policy #" << v.policy.seq << "  " << ShortId(v.id) << "  "
                << FormatTimeNs(v.policy.time_ns) << "  set by slot '" << v.policy.author
                << "' (role " << v.policy.author_role << ")\n";
    }
    return kExitOk;
  }
  if (versions->empty()) {
    std::cout << "# No policy set: the built-in policy applies (role admin may do everything, "
                 "other roles nothing).\n"
              << policy::Policy::BuiltIn()->text();
    return kExitOk;
  }
  const auto& v = versions->front();
  std::cout << "# policy #" << v.policy.seq << ", set " << FormatTimeNs(v.policy.time_ns)
            << " by key slot '" << v.policy.author << "' (role " << v.policy.author_role << ")\n"
            << v.policy.text;
  if (!v.policy.text.empty() && v.policy.text.back() != '\n') std::cout << "\n";
  return kExitOk;
}

int RunSet(const PolicyArgs& a) {
  auto next = LoadPolicyFile(a.file);
  if (!next.ok()) return Fail(next.status());
  PrintPolicyWarnings(**next);
  auto repo = OpenRepository(a.source, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  // A stored policy that no longer loads (or was lost or rolled back) may be replaced by a slot
  // whose role is named admin; otherwise the stored policy decides, and the new version is stored
  // only on top of the one that decided (a concurrent change is not overwritten).
  auto ref = (*repo)->policies().ReadPolicy();
  std::optional<std::optional<ObjectId>> decided_on;
  // (A Result made from an ok Status breaks its invariant: status.h asserts it is an error.)
  Result<std::shared_ptr<const policy::Policy>> current =
      ref.ok() ? vfs::LoadStoredPolicy(ref->value)
               : Result<std::shared_ptr<const policy::Policy>>(ref.status());
  if (ref.ok()) decided_on = ref->value ? std::optional<ObjectId>(ref->value->id) : std::nullopt;
  if (current.ok()) {
    if (Status s = policy::RequireAdmin(**current, **repo, "policy set"); !s.ok()) return Fail(s);
  } else if ((*repo)->role() != "admin") {
    return Fail(current.status().WithContext(
        "the stored policy cannot be checked, so only a slot with role admin "
        "may replace it"));
  } else {
    std::cerr << "weightfs: warning: replacing a stored policy that does not load: "
              << current.status().message() << "\n";
  }
  auto slots = (*repo)->key_slots().ListKeySlots();
  if (!slots.ok()) return Fail(slots.status());
  for (const auto& s : *slots) {
    if (!(*next)->HasRole(s.role)) {
      std::cerr
          << "weightfs: warning: key slot '" << s.name << "' has role '" << s.role
          << "', which this policy does not define: mounts unlocked with it will see nothing\n";
    }
  }
  if (!policy::SomeSlotMayAdmin(**next, *slots) && !a.force) {
    return Fail(PermissionDenied(
        "with this policy no key slot's role may administer (`admin` on /), so the policy could "
        "never be changed again; add such a role or pass --force"));
  }
  auto stored = current.ok() ? (*repo)->policies().SetPolicyIfCurrent((*next)->text(), *decided_on)
                             : (*repo)->policies().SetPolicy((*next)->text());
  if (!stored.ok()) return Fail(stored.status());
  if (Status s =
          repo::RecordPolicy(**repo, stored->policy.seq, stored->id, StateScopeFor(a.source));
      !s.ok()) {
    std::cerr << "weightfs: warning: could not record the policy version for rollback detection: "
              << s.message() << "\n";
  }
  std::cout << "policy #" << stored->policy.seq << " set (" << ShortId(stored->id)
            << "); running mounts apply it within 2 seconds\n";
  return kExitOk;
}

}  // namespace

void AddPolicyCommands(CLI::App* app, int* exit_code) {
  CLI::App* policy =
      app->add_subcommand("policy", "Check, explain, show and set the repository's access policy");
  policy->require_subcommand(1);
  auto finish = [exit_code](CLI::App* cmd, const std::shared_ptr<PolicyArgs>& args,
                            int (*run)(const PolicyArgs&)) {
    cmd->callback([exit_code, args, run] { *exit_code = run(*args); });
  };

  auto ca = std::make_shared<PolicyArgs>();
  CLI::App* check =
      policy->add_subcommand("check", "Validate a policy file (errors as FILE:LINE:COLUMN)");
  check->add_option("FILE", ca->source, "Policy YAML")->required();
  finish(check, ca, RunCheck);

  auto ea = std::make_shared<PolicyArgs>();
  CLI::App* explain = policy->add_subcommand(
      "explain", "Decide one request and show the rules behind it (exit 0: allowed, 1: denied)");
  explain->add_option("SOURCE", ea->source, "Repository directory or policy file")->required();
  explain->add_option("PATH", ea->path, "Path below the mount root, e.g. /team/model.safetensors")
      ->required();
  explain->add_option("--user", ea->user, "Decide for this OS user (with its groups)");
  explain->add_option("--uid", ea->uid, "Decide for this numeric user id")
      ->check(CLI::NonNegativeNumber);
  explain->add_option("--role", ea->role, "Decide for this role");
  explain->add_option(
      "--mount-role", ea->mount_role,
      "Cap the decision by this role, as a shared (--allow-other) mount of a slot with it does");
  explain
      ->add_option("--op", ea->op,
                   "Capability: list, read, create, update, delete, history, snapshot, admin")
      ->required();
  explain->add_flag("--json", ea->json, "Print JSON");
  ea->unlock.AddTo(explain);
  finish(explain, ea, RunExplain);

  auto sa = std::make_shared<PolicyArgs>();
  CLI::App* show =
      policy->add_subcommand("show", "Print the repository's policy (or the built-in one)");
  show->add_option("REPO", sa->source, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  show->add_flag("--history", sa->history, "List every policy version instead");
  sa->unlock.AddTo(show);
  finish(show, sa, RunShow);

  auto ta = std::make_shared<PolicyArgs>();
  CLI::App* set = policy->add_subcommand("set",
                                         "Store FILE as the repository's policy (needs a key slot "
                                         "whose role has admin; mounted or not)");
  set->add_option("REPO", ta->source, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  set->add_option("FILE", ta->file, "Policy YAML")->required();
  set->add_flag("--force", ta->force,
                "Store it even if no key slot could change the policy afterwards");
  ta->unlock.AddTo(set);
  finish(set, ta, RunSet);
}

}  // namespace weightfs::cli
