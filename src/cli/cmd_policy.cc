// weightfs policy check|explain|show|set: the repository's access policy.
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.h"
#include "weightfs/policy/key_slot_auth.h"
#include "weightfs/policy/policy.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/repo/writer_lock.h"
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

// What `policy check` adds for a policy with scopes: the scopes, then per role the scope keys its
// key slots will hold, what those keys keep from it and what only the daemon refuses it.
void PrintScopeReport(const policy::Policy& p) {
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  std::string scopes;
  for (const auto& s : p.scopes()) {
    std::vector<std::string> patterns;
    for (const auto& pattern : s.patterns) patterns.push_back(pattern.text());
    scopes += s.name + " (" + join(patterns) + "), ";
  }
  std::cout << "scopes: " << scopes << policy::kDefaultScope << " (everything else)\n";
  for (const auto& role : p.RoleNames()) {
    std::vector<std::string> held, missing, daemon_only, list_only;
    for (const auto& rs : p.RoleScopes(role)) {
      (rs.needs_key ? held : missing).push_back(rs.scope);
      if (rs.lists_without_key) list_only.push_back(rs.scope);
      daemon_only.insert(daemon_only.end(), rs.daemon_only.begin(), rs.daemon_only.end());
    }
    if (held.empty()) {
      std::cout << "role " << role << ": no keys (it may read or write nowhere)\n";
      continue;
    }
    std::cout << "role " << role << ": keys of " << join(held) << "\n";
    if (missing.empty()) {
      std::cout << "  enforced by keys: nothing (it holds the key of every scope)\n";
    } else {
      std::cout << "  enforced by keys: everything outside " << join(held) << " (it cannot decrypt "
                << join(missing) << ")\n";
    }
    if (daemon_only.empty()) {
      std::cout << "  daemon only: nothing (it may read the whole of each scope it holds)\n";
    }
    for (const auto& why : daemon_only) std::cout << "  daemon only: " << why << "\n";
    for (const auto& scope : list_only) {
      std::cout << "  lists in " << scope << " without its key: it sees only the names its keys "
                << "open there (the directories leading to what it holds)\n";
    }
  }
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
  if ((*p)->has_scopes()) PrintScopeReport(**p);
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
    j["scope"] = (*p)->ScopeOf(*path);
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
  std::cout << "  scope: " << (*p)->ScopeOf(*path) << "\n";
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

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Before a policy with scopes is stored: refuses one under which a slot would lack keys its role
// needs (unless force), warns about slots that hold more (the master secret), and gives every
// scope of next keys (the repository is reopened with them and writes go by next's scopes).
Status PrepareScopes(repo::Repository* repo, const std::shared_ptr<const policy::Policy>& policy,
                     const std::vector<repo::KeySlotInfo>& slots, bool force) {
  const policy::Policy& next = *policy;
  if (!repo->keyring().master) {
    return PermissionDenied(
        "setting a policy of a repository with scopes needs a key slot that "
        "holds the master secret (an administrator's); key slot '" +
        repo->slot_name() + "' holds only some scopes' keys");
  }
  std::vector<repo::ScopeKeyInfo> registry = repo->objects().registry();
  if (registry.empty()) registry = repo::FirstScopedRegistry();
  for (const std::string& s : next.ScopeNames()) repo::AddScope(&registry, s);
  std::vector<std::string> gaps;
  for (const repo::KeySlotInfo& slot : slots) {
    const auto want = policy::SlotKeysFor(next, slot.role, registry);
    const std::string who = "key slot '" + slot.name + "' (role " + slot.role + ")";
    if (!slot.key_ids) {
      if (want) {
        std::cerr << "weightfs: warning: " << who
                  << " holds the master secret, so it can decrypt every scope whatever the "
                     "policy says; to limit it to its role's scopes re-create it (weightfs key "
                     "remove "
                  << slot.name << "; weightfs key add " << slot.name << " --role " << slot.role
                  << ")\n";
      }
      continue;
    }
    if (!want) {
      gaps.push_back(who + " may administer but holds no master secret");
      continue;
    }
    std::vector<uint32_t> missing;
    std::set_difference(want->begin(), want->end(), slot.key_ids->begin(), slot.key_ids->end(),
                        std::back_inserter(missing));
    if (!missing.empty()) {
      gaps.push_back(who + " lacks the keys of " + Join(policy::ScopesOfKeys(missing, registry)));
    }
    std::vector<uint32_t> extra;
    std::set_difference(slot.key_ids->begin(), slot.key_ids->end(), want->begin(), want->end(),
                        std::back_inserter(extra));
    if (!extra.empty()) {
      std::cerr << "weightfs: warning: " << who << " still holds the keys of "
                << Join(policy::ScopesOfKeys(extra, registry))
                << ", which its role no longer needs; re-create it to drop them (and `weightfs "
                   "rekey` those scopes so that what is written from now on is closed to it)\n";
    }
  }
  if (!gaps.empty() && !force) {
    return PermissionDenied(
        Join(gaps) +
        ": this policy lets their roles read where their slots hold no key, so they could not. "
        "Re-create each such slot after the change (weightfs key remove NAME; weightfs key add "
        "NAME --role ROLE), or pass --force to set the policy anyway");
  }
  RETURN_IF_ERROR(repo->EnsureScopeKeys(next.ScopeNames()));
  // The new scopes decide where writes go from here (the policy is stored next).
  InstallScopes(repo, policy);
  return Status::Ok();
}

// Warns about slots whose role next does not define; refuses (unless force) a policy under which
// no slot may administer.
Status CheckSlotRoles(const policy::Policy& next, const std::vector<repo::KeySlotInfo>& slots,
                      bool force) {
  for (const auto& s : slots) {
    if (!next.HasRole(s.role)) {
      std::cerr
          << "weightfs: warning: key slot '" << s.name << "' has role '" << s.role
          << "', which this policy does not define: mounts unlocked with it will see nothing\n";
    }
  }
  if (!policy::SomeSlotMayAdmin(next, slots) && !force) {
    return PermissionDenied(
        "with this policy no key slot's role may administer (`admin` on /), so the policy could "
        "never be changed again; add such a role or pass --force");
  }
  return Status::Ok();
}

// After a policy with scopes is stored: the live tree sealed again under its scopes' keys, as a
// snapshot.
Status SealInScopes(repo::Repository* repo, const policy::Policy& next, uint64_t seq) {
  auto snap = repo->CommitSnapshot(
      [&](const repo::MainRef& main) { return repo->objects().Rescope(main.live_root, "/"); },
      "policy #" + std::to_string(seq) + ": the live tree sealed in its scopes");
  if (!snap.ok()) {
    return snap.status().WithContext(
        "the policy is set, but sealing the live tree under the scopes' keys failed; run "
        "`weightfs policy set` again");
  }
  std::cout << "the live tree is sealed under the keys of its scopes (" << Join(next.ScopeNames())
            << "); snapshot " << ShortId(snap->id) << "\n";
  return Status::Ok();
}

// weightfs rekey REPO SCOPE: new keys for a scope, the live tree sealed again under them.
int RunRekey(const PolicyArgs& a) {
  auto repo = OpenRepository(a.source, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  if (!(*repo)->objects().scoped()) {
    return Fail(InvalidArgument("the repository has no scopes; set a policy with scopes first"));
  }
  if (Status s = RequireAdmin(**repo, "rekey"); !s.ok()) return Fail(s);
  auto policy = vfs::LoadRepositoryPolicy(**repo);
  if (!policy.ok()) return Fail(policy.status());
  auto lock = LockLiveTree(repo->get(), "rekey",
                           "Unmount the read-write mount first: rekey seals the live tree again");
  if (!lock.ok()) return Fail(lock.status());
  auto made = (*repo)->RekeyScope(a.path);
  if (!made.ok()) return Fail(made.status());
  InstallScopes(repo->get(), *policy);
  auto snap = (*repo)->CommitSnapshot(
      [&](const repo::MainRef& main) { return (*repo)->objects().Rescope(main.live_root, "/"); },
      "rekey " + a.path + ": generation " + std::to_string(made->generation));
  if (!snap.ok()) {
    return Fail(snap.status().WithContext(
        "the new keys exist, but sealing the live tree under them failed; run `weightfs rekey` "
        "again"));
  }
  if (Status s = (*lock)->Release(); !s.ok()) return Fail(s);
  std::cout << "scope " << a.path << " has new keys (generation " << made->generation
            << "); the live tree is sealed under them; snapshot " << ShortId(snap->id) << "\n";
  auto slots = (*repo)->key_slots().ListKeySlots();
  if (!slots.ok()) return Fail(slots.status());
  for (const auto& s : *slots) {
    const auto want = policy::SlotKeysFor(**policy, s.role, (*repo)->objects().registry());
    if (s.key_ids && want && std::binary_search(want->begin(), want->end(), made->key_id)) {
      std::cout << "key slot '" << s.name << "' (role " << s.role
                << ") does not hold the new keys: re-create it to give them (weightfs key remove "
                << s.name << "; weightfs key add " << s.name << " --role " << s.role << ")\n";
    }
  }
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
  if (Status s = CheckSlotRoles(**next, *slots, a.force); !s.ok()) return Fail(s);
  // A policy with scopes (or any policy of a repository that has them): the scopes get keys and
  // the live tree is sealed again under them, under the writer lock, as a snapshot.
  const bool scoped = (*next)->has_scopes() || (*repo)->objects().scoped();
  std::unique_ptr<repo::WriterLock> lock;
  if (scoped) {
    auto locked = LockLiveTree(repo->get(), "policy set",
                               "Unmount the read-write mount first: setting a policy with scopes "
                               "seals the live tree again under the scopes' keys");
    if (!locked.ok()) return Fail(locked.status());
    lock = std::move(locked).value();
    if (Status s = PrepareScopes(repo->get(), *next, *slots, a.force); !s.ok()) return Fail(s);
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
  if (scoped) {
    if (Status s = SealInScopes(repo->get(), **next, stored->policy.seq); !s.ok()) return Fail(s);
    if (Status s = lock->Release(); !s.ok()) return Fail(s);
  }
  return kExitOk;
}

void AddRekeyCommand(CLI::App* app, int* exit_code) {
  auto ra = std::make_shared<PolicyArgs>();
  CLI::App* rekey = app->add_subcommand(
      "rekey", "Give a scope new keys and seal the live tree again under them (after key remove)");
  rekey->add_option("REPO", ra->source, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  rekey->add_option("SCOPE", ra->path, "Scope name (as the policy declares it, or default)")
      ->required();
  ra->unlock.AddTo(rekey);
  rekey->callback([exit_code, ra] { *exit_code = RunRekey(*ra); });
}

}  // namespace

void AddPolicyCommands(CLI::App* app, int* exit_code) {
  AddRekeyCommand(app, exit_code);
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
