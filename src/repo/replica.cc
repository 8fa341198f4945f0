// Replicas: creating one, checking a pair, and planning and running a copy (see replica.h).
#include "weightfs/repo/replica.h"

#include <algorithm>

#include "repo/reachability.h"
#include "repo/replica_internal.h"
#include "weightfs/repo/keys.h"

namespace weightfs::repo {
namespace {

using replica_internal::CopyPlan;

constexpr char kConfigFile[] = "config";
constexpr char kKeysDir[] = "keys";
constexpr char kReplicaHint[] = "create the replica with `weightfs init DST --replica-of SRC`";

// kAlreadyExists naming the first thing found when dst holds anything of a repository.
Status RequireEmpty(storage::ObjectStore* dst) {
  ASSIGN_OR_RETURN(std::optional<Bytes> config, dst->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
  if (config) {
    return AlreadyExists(
        "the destination already holds a repository; a replica is created in an empty place");
  }
  for (const char* dir : {kKeysDir, "refs"}) {
    ASSIGN_OR_RETURN(std::vector<std::string> files, dst->ListFiles(dir));
    if (!files.empty()) {
      return AlreadyExists("the destination is not empty (it holds " + files.front() +
                           "); a replica is created in an empty place");
    }
  }
  bool has_objects = false;
  Status s = dst->ForEach([&](const ObjectId&, uint64_t) {
    has_objects = true;
    return AlreadyExists("stop at the first object");
  });
  if (!s.ok() && !has_objects) return s;
  if (has_objects) {
    return AlreadyExists(
        "the destination is not empty (it holds objects); a replica is created in an empty place");
  }
  return Status::Ok();
}

// Whether every version to copy is the target or one of its ancestors (kInvalidArgument if not).
Status RequireOneLine(const Repository& src, const std::vector<SnapshotInfo>& versions,
                      const SnapshotInfo& target) {
  for (const SnapshotInfo& v : versions) {
    ASSIGN_OR_RETURN(bool in_line,
                     replica_internal::IsAncestor(src, v.id, v.snapshot.seq, target.id));
    if (!in_line) {
      return InvalidArgument("version " + v.id.Hex().substr(0, 16) + " is not an ancestor of " +
                             target.id.Hex().substr(0, 16) +
                             ", the newest version asked for: copy them one at a time");
    }
  }
  return Status::Ok();
}

Result<CopyPlan> MakePlan(const Repository& src, const CopyOptions& options) {
  CopyPlan plan;
  std::vector<SnapshotInfo> versions;
  if (options.versions.empty()) {
    ASSIGN_OR_RETURN(Versioned<MainRef> main, src.refs().ReadMain());
    if (main.value.head) {
      ASSIGN_OR_RETURN(SnapshotInfo head, src.ResolveVersion("latest"));
      versions.push_back(std::move(head));
    }
  }
  for (const std::string& v : options.versions) {
    auto resolved = src.ResolveVersion(v);
    if (!resolved.ok()) return resolved.status().WithContext("version '" + v + "' of the source");
    versions.push_back(std::move(resolved).value());
  }
  if (!versions.empty()) {
    plan.target = *std::max_element(versions.begin(), versions.end(),
                                    [](const SnapshotInfo& a, const SnapshotInfo& b) {
                                      return a.snapshot.seq < b.snapshot.seq;
                                    });
    RETURN_IF_ERROR(RequireOneLine(src, versions, *plan.target));
    plan.snapshots.push_back(plan.target->id);
  }
  if (options.tags) {
    ASSIGN_OR_RETURN(auto tags, src.refs().ReadTags());
    plan.tags = std::move(tags.value);
    for (const auto& [name, id] : plan.tags) plan.snapshots.push_back(id);
  }
  ASSIGN_OR_RETURN(auto policy, src.policies().ReadPolicy());
  plan.policy = std::move(policy.value);
  return plan;
}

// Refuses before anything is written when the replica's refs diverged.
Status CheckRefs(const Repository& src, const Repository& dst, const CopyPlan& plan) {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, dst.refs().ReadMain());
  bool moves = false;
  RETURN_IF_ERROR(replica_internal::CheckMainCanMove(src, dst, plan, main.value, &moves));
  ASSIGN_OR_RETURN(auto policy, dst.refs().ReadPolicyRef());
  RETURN_IF_ERROR(replica_internal::CheckPolicyCanMove(src, dst, plan, policy.value, &moves));
  ASSIGN_OR_RETURN(auto tags, dst.refs().ReadTags());
  int added = 0;
  return replica_internal::CheckTagsCanMerge(plan, tags.value, &added);
}

// The objects the plan's snapshots and policy history reach in the source.
Result<std::vector<ObjectId>> Reachable(const Repository& src, const CopyPlan& plan) {
  Marker marker(src);
  for (const ObjectId& id : plan.snapshots) {
    RETURN_IF_ERROR(
        marker.MarkSnapshot(id).WithContext("walking snapshot " + id.Hex().substr(0, 16)));
  }
  if (plan.policy) RETURN_IF_ERROR(marker.MarkPolicyChain(plan.policy->id));
  return std::vector<ObjectId>(marker.marked().begin(), marker.marked().end());
}

}  // namespace

Status InitReplica(const Repository& src, storage::ObjectStore* dst) {
  RETURN_IF_ERROR(RequireEmpty(dst));
  storage::ObjectStore* from = src.store();
  ASSIGN_OR_RETURN(std::optional<Bytes> config, from->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
  if (!config) return NotFound("the source repository lost its config file while it was open");
  // The config is what was authenticated when src was opened (a changed one would not parse
  // the same): refuse a config replaced meanwhile.
  ASSIGN_OR_RETURN(RepoConfig parsed, ParseConfig(*config));
  if (parsed.repo_id != src.config().repo_id) {
    return Corruption("the source's config changed while it was open; run the command again");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> slots, from->ListFiles(kKeysDir));
  // Slots first, config last, as Repository::Init: a store with a config is a repository.
  for (const std::string& slot : slots) {
    ASSIGN_OR_RETURN(std::optional<Bytes> bytes, from->ReadFileAtMost(slot, kMaxKeySlotBytes));
    if (!bytes) continue;  // removed meanwhile
    RETURN_IF_ERROR(dst->WriteFile(slot, *bytes).WithContext("writing " + slot));
  }
  return dst->WriteFile(kConfigFile, *config).WithContext("writing the config");
}

Status CheckIsReplica(const Repository& src, storage::ObjectStore* dst) {
  ASSIGN_OR_RETURN(std::optional<Bytes> config, dst->ReadFileAtMost(kConfigFile, kMaxConfigBytes));
  if (!config) {
    return NotFound(std::string("the destination is not a repository yet: ") + kReplicaHint);
  }
  ASSIGN_OR_RETURN(RepoConfig parsed, ParseConfig(*config));
  if (parsed.repo_id != src.config().repo_id) {
    return InvalidArgument("the destination is another repository (id " + ToHex(parsed.repo_id) +
                           ", the source's is " + ToHex(src.config().repo_id) +
                           "), not a replica of the source: " + kReplicaHint);
  }
  return Status::Ok();
}

Result<CopyReport> CopyToReplica(Repository* src, Repository* dst, const CopyOptions& options,
                                 const CopyProgressFn& progress) {
  if (options.jobs < 1) return InvalidArgument("--jobs must be at least 1");
  if (src->config().repo_id != dst->config().repo_id) {
    return InvalidArgument("the destination is another repository (id " +
                           ToHex(dst->config().repo_id) +
                           "), not a replica of the source: " + kReplicaHint);
  }
  ASSIGN_OR_RETURN(CopyPlan plan, MakePlan(*src, options));
  RETURN_IF_ERROR(CheckRefs(*src, *dst, plan));
  CopyReport report;
  ASSIGN_OR_RETURN(std::vector<ObjectId> ids, Reachable(*src, plan));
  report.reachable_objects = ids.size();
  // The replica's write lease keeps a gc there from deleting what is copied before a ref names
  // it.
  RETURN_IF_ERROR(dst->EnsureWriteLease());
  RETURN_IF_ERROR(replica_internal::CopyMissingObjects(src->store(), dst->store(), ids,
                                                       options.jobs, progress, &report));
  RETURN_IF_ERROR(replica_internal::UpdateReplicaRefs(*src, dst, plan, &report));
  return report;
}

}  // namespace weightfs::repo
