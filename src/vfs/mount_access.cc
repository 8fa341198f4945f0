#include "weightfs/vfs/mount_access.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "weightfs/policy/key_slot_auth.h"
#include "weightfs/policy/private_file.h"

namespace weightfs::vfs {
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

// The policy the mount enforces: the stored one, or the local override (for an admin slot).
Result<std::shared_ptr<const policy::Policy>> EffectivePolicy(
    const repo::Repository& repo, std::shared_ptr<const policy::Policy> stored,
    const MountAccessOptions& options, std::vector<std::string>* notes) {
  if (options.policy_file.empty()) return stored;
  const std::string& role = repo.role();
  if (!policy::RoleMayAdmin(*stored, role)) {
    return PermissionDenied("--policy needs a key slot whose role may administer; key slot '" +
                            repo.slot_name() + "' has role '" + role +
                            "'. Unlock with an admin slot (--slot NAME)");
  }
  ASSIGN_OR_RETURN(auto effective, policy::LoadPrivatePolicyFile(options.policy_file));
  notes->push_back("using the local policy " + options.policy_file +
                   " instead of the repository's (SIGHUP reloads it)");
  return effective;
}

// Whether the mount can do anything under effective, and be shared.
Status CheckUsable(const repo::Repository& repo, const policy::Policy& effective,
                   const MountAccessOptions& options) {
  const std::string& role = repo.role();
  if (!effective.HasRole(role)) {
    return PermissionDenied(
        "key slot '" + repo.slot_name() + "' has role '" + role +
        "', which the policy does not define: the mount could do nothing. Define the role "
        "(weightfs policy set) or use another slot (--slot)");
  }
  if (options.allow_other && effective.bindings().empty() && !effective.default_role()) {
    return InvalidArgument(
        "--allow-other needs a policy that says what other users may do (bindings or a "
        "default_role); the " +
        std::string(effective.built_in() ? "built-in policy" : "policy") +
        " has none. Set one with `weightfs policy set`, or mount without --allow-other");
  }
  return Status::Ok();
}

// The audit sink writing to path; failures are reported through *log.
Result<std::function<void(const std::string&)>> AuditSink(
    const std::string& path, std::shared_ptr<std::function<void(const std::string&)>> log) {
  ASSIGN_OR_RETURN(std::shared_ptr<AuditFile> file, AuditFile::Open(path));
  auto failures = std::make_shared<std::atomic<uint64_t>>(0);
  return std::function<void(const std::string&)>(
      [file, failures, log = std::move(log)](const std::string& line) {
        // Reported on the first failure and then every 1000th, not for every lost line.
        if (!file->Write(line) && (failures->fetch_add(1) % 1000 == 0) && *log) {
          (*log)("could not write to the audit log (disk full?): audit lines are being lost");
        }
      });
}

}  // namespace

Result<MountAccess> PrepareMountAccess(const repo::Repository& repo,
                                       const MountAccessOptions& options) {
  MountAccess out;
  // One read: the version enforced is the version the watcher compares against.
  ASSIGN_OR_RETURN(auto ref, repo.policies().ReadPolicy());
  out.policy_ref = ref.raw;
  out.policy_seq = ref.value ? ref.value->policy.seq : 0;
  ASSIGN_OR_RETURN(std::shared_ptr<const policy::Policy> stored, LoadStoredPolicy(ref.value));
  ASSIGN_OR_RETURN(std::shared_ptr<const policy::Policy> effective,
                   EffectivePolicy(repo, std::move(stored), options, &out.notes));
  for (const std::string& w : effective->Warnings(policy::SystemResolver())) out.notes.push_back(w);
  RETURN_IF_ERROR(CheckUsable(repo, *effective, options));
  // Recording a snapshot writes to the repository too.
  const std::string& role = repo.role();
  out.read_only = !effective->MayEverAllow(
      role, policy::kWriteCapabilities | policy::Bit(Capability::kSnapshot));
  if (out.read_only)
    out.notes.push_back("role '" + role + "' may write nowhere: mounted read-only");
  AccessControl::Options ao;
  ao.mount_role = role;
  ao.per_caller = options.allow_other;
  ao.audit_all = options.audit_all;
  if (!options.audit_log.empty()) {
    ASSIGN_OR_RETURN(ao.audit, AuditSink(options.audit_log, out.log));
  }
  out.access = std::make_shared<AccessControl>(effective, std::move(ao));
  return out;
}

}  // namespace weightfs::vfs
