#include "cli/mount_policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "cli/common.h"

namespace weightfs::cli {
namespace {

using policy::Capability;

// The audit log: one line per write(2) on an O_APPEND descriptor, so lines from concurrent
// requests never interleave and each is on disk (in the page cache) when the request is answered.
class AuditFile {
 public:
  static Result<std::shared_ptr<AuditFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(errno, "opening the audit log " + path);
    return std::make_shared<AuditFile>(fd);
  }
  explicit AuditFile(int fd) : fd_(fd) {}
  ~AuditFile() { ::close(fd_); }
  AuditFile(const AuditFile&) = delete;
  AuditFile& operator=(const AuditFile&) = delete;
  // Returns false when the line could not be written whole (a full disk): the caller logs it.
  bool Write(const std::string& line) {
    std::string l = line + "\n";
    return ::write(fd_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
  }

 private:
  int fd_;
};

// Whether st (of what path names) could be changed by someone other than root and this user:
// empty when not, else why.
std::string OthersMayChange(const struct stat& st, bool directory) {
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return "belongs to uid " + std::to_string(st.st_uid);
  // In a sticky directory (/tmp) others may add entries but not replace ours, and every entry
  // on the way must be ours or root's anyway.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(directory && (st.st_mode & S_ISVTX))) {
    return "is writable by group or others";
  }
  return "";
}

// Every directory from / down to path's parent, as path spells them (following symlinks).
Status CheckDirectoriesAbove(const std::string& path, const std::string& file) {
  size_t slash = 0;
  while ((slash = path.find('/', slash)) != std::string::npos) {
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    ++slash;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "checking " + dir);
    if (std::string why = OthersMayChange(st, true); !why.empty()) {
      return PermissionDenied("the directory " + dir + " above the policy file " + file + " " +
                              why +
                              ": whoever can change it could replace the policy; chmod go-w it "
                              "or keep the policy elsewhere");
    }
  }
  return Status::Ok();
}

}  // namespace

// A local policy file decides who may do what on a shared mount: someone who could edit or
// replace it could give themselves any role. So the file and every directory above it (as
// named and after resolving symlinks) must be changeable by root and this user only, checked on
// every load (the mount and every SIGHUP reload), on the very file that is then read.
Result<std::shared_ptr<const policy::Policy>> LoadPrivatePolicyFile(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return ErrnoStatus(errno, "policy file " + path);
  const std::string canonical = resolved;
  std::free(resolved);
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof(cwd))) return ErrnoStatus(errno, "getcwd");
    absolute = std::string(cwd) + "/" + path;
  }
  RETURN_IF_ERROR(CheckDirectoriesAbove(absolute, path));
  if (canonical != absolute) RETURN_IF_ERROR(CheckDirectoriesAbove(canonical, path));
  int fd = ::open(canonical.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "opening policy file " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "policy file " + path);
  }
  std::string why = !S_ISREG(st.st_mode) ? "is not a regular file" : OthersMayChange(st, false);
  if (why.empty() && st.st_size > static_cast<off_t>(policy::kMaxPolicyBytes)) {
    why = "is larger than a policy may be (" + std::to_string(policy::kMaxPolicyBytes) + " bytes)";
  }
  std::string text;
  if (why.empty()) {
    text.resize(static_cast<size_t>(st.st_size) + 1);
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got > static_cast<size_t>(st.st_size)) why = "changed while it was read";
    text.resize(std::min(got, static_cast<size_t>(st.st_size)));
  }
  ::close(fd);
  if (!why.empty()) {
    return Status(
        Code::kPermissionDenied,
        "policy file " + path + " " + why +
            (why.find("writable") != std::string::npos || why.find("uid") != std::string::npos
                 ? ": whoever can change it could give themselves any role; chmod go-w it (owned "
                   "by root "
                   "or the mounting user)"
                 : ""));
  }
  return policy::Policy::Load(text, path);
}

Result<MountPolicy> PrepareMountPolicy(const repo::Repository& repo, const MountPolicyArgs& args) {
  MountPolicy out;
  // One read: the version enforced is the version the watcher compares against.
  ASSIGN_OR_RETURN(auto ref, repo.policies().ReadPolicy());
  out.policy_ref = ref.raw;
  out.policy_seq = ref.value ? ref.value->policy.seq : 0;
  ASSIGN_OR_RETURN(std::shared_ptr<const policy::Policy> stored, vfs::LoadStoredPolicy(ref.value));
  std::shared_ptr<const policy::Policy> effective = stored;
  const std::string& role = repo.role();
  if (!args.policy_file.empty()) {
    if (!stored->Decide({role}, Capability::kAdmin, "/").allowed) {
      return PermissionDenied("--policy needs a key slot whose role may administer; key slot '" +
                              repo.slot_name() + "' has role '" + role +
                              "'. Unlock with an admin slot (--slot NAME)");
    }
    ASSIGN_OR_RETURN(effective, LoadPrivatePolicyFile(args.policy_file));
    out.notes.push_back("using the local policy " + args.policy_file +
                        " instead of the repository's (SIGHUP reloads it)");
  }
  for (const std::string& w : effective->Warnings(policy::SystemResolver())) out.notes.push_back(w);
  if (!effective->HasRole(role)) {
    return Status(
        Code::kPermissionDenied,
        "key slot '" + repo.slot_name() + "' has role '" + role +
            "', which the policy does not define: the mount could do nothing. Define the role "
            "(weightfs policy set) or use another slot (--slot)");
  }
  if (args.allow_other && effective->bindings().empty() && !effective->default_role()) {
    return InvalidArgument(
        "--allow-other needs a policy that says what other users may do (bindings or a "
        "default_role); "
        "the " +
        std::string(effective->built_in() ? "built-in policy" : "policy") +
        " has none. Set one with `weightfs policy set`, or mount without --allow-other");
  }
  // Recording a snapshot writes to the repository too.
  out.read_only = !effective->MayEverAllow(
      role, policy::kWriteCapabilities | policy::Bit(Capability::kSnapshot));
  if (out.read_only)
    out.notes.push_back("role '" + role + "' may write nowhere: mounted read-only");

  vfs::AccessControl::Options ao;
  ao.mount_role = role;
  ao.per_caller = args.allow_other;
  ao.audit_all = args.audit_all;
  if (!args.audit_log.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<AuditFile> file, AuditFile::Open(args.audit_log));
    auto failures = std::make_shared<std::atomic<uint64_t>>(0);
    ao.audit = [file, failures, log = out.log](const std::string& line) {
      // Reported on the first failure and then every 1000th, not for every lost line.
      if (!file->Write(line) && (failures->fetch_add(1) % 1000 == 0) && *log) {
        (*log)("could not write to the audit log (disk full?): audit lines are being lost");
      }
    };
  }
  out.access = std::make_shared<vfs::AccessControl>(effective, std::move(ao));
  return out;
}

PolicyWatcher::PolicyWatcher(const repo::Repository* repo, MountPolicyArgs args,
                             MountPolicy* policy, fuse::Session* session, vfs::FileSystem* fs,
                             std::atomic<bool>* hangup, std::function<void(const std::string&)> log)
    : repo_(repo),
      args_(std::move(args)),
      policy_(policy),
      session_(session),
      fs_(fs),
      hangup_(hangup),
      log_(std::move(log)),
      applied_seq_(policy->policy_seq) {
  thread_ = std::thread([this] { Loop(); });
}

PolicyWatcher::~PolicyWatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PolicyWatcher::Apply(std::shared_ptr<const policy::Policy> next, const std::string& what) {
  for (const std::string& w : next->Warnings(policy::SystemResolver())) log_(w);
  if (!next->HasRole(policy_->access->options().mount_role)) {
    log_(what + " does not define this mount's role '" + policy_->access->options().mount_role +
         "': every request is now denied");
  }
  policy_->access->SetPolicy(std::move(next));
  // Decisions the kernel cached (entries, attributes) were made under the old policy.
  session_->InvalidateCache(fs_->CachedByKernel());
  log_("applied " + what);
}

void PolicyWatcher::PollRepository() {
  auto ref = repo_->policies().ReadPolicy();
  if (!ref.ok()) {
    const std::string error =
        "reading refs/policy failed (keeping the current policy): " + ref.status().message();
    if (error != last_error_) log_(error);
    last_error_ = error;
    return;
  }
  last_error_.clear();
  if (ref->raw == policy_->policy_ref) return;
  const uint64_t seq = ref->value ? ref->value->policy.seq : 0;
  if (seq <= applied_seq_) {
    // Versions only grow: an older or missing one was rolled back or deleted.
    policy_->policy_ref = ref->raw;  // said once
    log_("refs/policy now holds " +
         (seq ? "policy #" + std::to_string(seq) : std::string("no policy")) +
         ", not newer than the applied #" + std::to_string(applied_seq_) +
         ": keeping the current policy (someone may have rolled the repository's files back)");
    return;
  }
  auto next = vfs::LoadStoredPolicy(ref->value);
  if (!next.ok()) {
    // The newer version may revoke access, so enforcing the one it replaced would fail open:
    // deny everything until it loads (tried again on every poll).
    if (!denying_) {
      log_("policy #" + std::to_string(seq) +
           " does not load, denying every request until it does: " + next.status().message());
      auto deny_all =
          policy::Policy::Load("version: 1\nroles:\n  none:\n    rules: []\n", "deny-all");
      if (deny_all.ok()) Apply(*deny_all, "a deny-all policy");
      denying_ = true;
    }
    return;
  }
  policy_->policy_ref = ref->raw;
  applied_seq_ = seq;
  denying_ = false;
  Apply(*next, "repository policy #" + std::to_string(seq));
}

void PolicyWatcher::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(400));
    if (stop_) break;
    lock.unlock();
    const bool hup = hangup_ && hangup_->exchange(false);
    if (args_.policy_file.empty()) {
      PollRepository();
    } else if (hup) {
      auto next = LoadPrivatePolicyFile(args_.policy_file);
      if (next.ok()) {
        Apply(*next, "the local policy " + args_.policy_file);
      } else {
        log_("SIGHUP: keeping the current policy: " + next.status().message());
      }
    }
    lock.lock();
  }
}

}  // namespace weightfs::cli
