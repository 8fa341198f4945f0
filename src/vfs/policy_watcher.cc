#include "weightfs/vfs/policy_watcher.h"

#include "weightfs/policy/private_file.h"

namespace weightfs::vfs {

PolicyWatcher::PolicyWatcher(const repo::Repository* repo, std::shared_ptr<AccessControl> access,
                             Options options)
    : repo_(repo),
      access_(std::move(access)),
      options_(std::move(options)),
      applied_seq_(options_.policy_seq) {
  thread_ = std::thread([this] { Loop(); });
}

PolicyWatcher::~PolicyWatcher() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void PolicyWatcher::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void PolicyWatcher::Apply(std::shared_ptr<const policy::Policy> next, const std::string& what) {
  for (const std::string& w : next->Warnings(policy::SystemResolver())) Log(w);
  const std::string& role = access_->options().mount_role;
  if (!next->HasRole(role)) {
    Log(what + " does not define this mount's role '" + role + "': every request is now denied");
  }
  access_->SetPolicy(std::move(next));
  // Decisions the kernel cached (entries, attributes) were made under the old policy.
  if (options_.on_change) options_.on_change();
  Log("applied " + what);
}

void PolicyWatcher::PollRepository() {
  auto ref = repo_->policies().ReadPolicy();
  if (!ref.ok()) {
    const std::string error =
        "reading refs/policy failed (keeping the current policy): " + ref.status().message();
    if (error != last_error_) Log(error);
    last_error_ = error;
    return;
  }
  last_error_.clear();
  if (ref->raw == options_.policy_ref) return;
  const uint64_t seq = ref->value ? ref->value->policy.seq : 0;
  if (seq <= applied_seq_) {
    // Versions only grow: an older or missing one was rolled back or deleted.
    options_.policy_ref = ref->raw;  // said once
    Log("refs/policy now holds " +
        (seq ? "policy #" + std::to_string(seq) : std::string("no policy")) +
        ", not newer than the applied #" + std::to_string(applied_seq_) +
        ": keeping the current policy (someone may have rolled the repository's files back)");
    return;
  }
  auto next = LoadStoredPolicy(ref->value);
  if (!next.ok()) {
    // The newer version may revoke access, so enforcing the one it replaced would fail open:
    // deny everything until it loads (tried again on every poll).
    if (!denying_) {
      Log("policy #" + std::to_string(seq) +
          " does not load, denying every request until it does: " + next.status().message());
      auto deny_all =
          policy::Policy::Load("version: 1\nroles:\n  none:\n    rules: []\n", "deny-all");
      if (deny_all.ok()) Apply(*deny_all, "a deny-all policy");
      denying_ = true;
    }
    return;
  }
  options_.policy_ref = ref->raw;
  applied_seq_ = seq;
  denying_ = false;
  Apply(*next, "repository policy #" + std::to_string(seq));
}

void PolicyWatcher::ReloadFile() {
  auto next = policy::LoadPrivatePolicyFile(options_.policy_file);
  if (next.ok()) {
    Apply(*next, "the local policy " + options_.policy_file);
  } else {
    Log("SIGHUP: keeping the current policy: " + next.status().message());
  }
}

void PolicyWatcher::Poll() {
  const bool hup = options_.hangup && options_.hangup->exchange(false);
  if (options_.policy_file.empty()) {
    PollRepository();
  } else if (hup) {
    ReloadFile();
  }
}

void PolicyWatcher::Loop() {
  MutexLock lock(&mu_);
  while (!stop_) {
    // The predicate runs with mu_ held (inside WaitFor), which the analysis cannot see.
    cv_.WaitFor(options_.poll_interval, [this]() NO_THREAD_SAFETY_ANALYSIS { return stop_; });
    if (stop_) break;
    lock.Unlock();
    Poll();
    lock.Lock();
  }
}

}  // namespace weightfs::vfs
