// CopyToReplica's refs: when the replica's refs may move to the copied ones, and moving them
// (each a compare-and-swap that checks again on the value it replaces).
#include "repo/records.h"
#include "repo/replica_internal.h"

namespace weightfs::repo::replica_internal {
namespace {

constexpr char kPolicyRef[] = "refs/policy";

std::string Short(const ObjectId& id) { return id.Hex().substr(0, 16); }

// Whether ancestor is descendant or one of its ancestors in repo's policy history.
Result<bool> IsPolicyAncestor(const Repository& repo, const ObjectId& ancestor,
                              const ObjectId& descendant) {
  std::optional<ObjectId> next = descendant;
  while (next) {
    if (*next == ancestor) return true;
    ASSIGN_OR_RETURN(PolicyObject p, repo.objects().LoadPolicy(*next));
    next = p.parent;
  }
  return false;
}

std::string Diverged(const std::string& what) {
  return "the replica's " + what +
         ". Copying would lose it; copy in the other direction, or into a new replica "
         "(`weightfs init DST --replica-of SRC`)";
}

}  // namespace

Result<bool> IsAncestor(const Repository& repo, const ObjectId& ancestor, uint64_t ancestor_seq,
                        const ObjectId& descendant) {
  std::optional<ObjectId> next = descendant;
  while (next) {
    if (*next == ancestor) return true;
    ASSIGN_OR_RETURN(SnapshotObject s, repo.objects().LoadSnapshot(*next));
    // Sequence numbers fall along the chain: below the ancestor's, it cannot come any more.
    if (s.seq <= ancestor_seq) return false;
    next = s.parent;
  }
  return false;
}

Status CheckMainCanMove(const Repository& src, const Repository& dst, const CopyPlan& plan,
                        const MainRef& dst_main, bool* moves) {
  *moves = false;
  if (!plan.target || dst_main.head == plan.target->id) return Status::Ok();
  const SnapshotInfo& target = *plan.target;
  ObjectId clean_root = dst.objects().EmptyTreeId();
  if (dst_main.head) {
    ASSIGN_OR_RETURN(SnapshotObject head, dst.objects().LoadSnapshot(*dst_main.head));
    // The replica has the target already, and newer snapshots: its main stays.
    ASSIGN_OR_RETURN(bool ahead, IsAncestor(dst, target.id, target.snapshot.seq, *dst_main.head));
    if (ahead) return Status::Ok();
    ASSIGN_OR_RETURN(bool behind, IsAncestor(src, *dst_main.head, head.seq, target.id));
    if (!behind) {
      return Conflict(Diverged("history diverged from the source's: its newest snapshot " +
                               Short(*dst_main.head) + " (#" + std::to_string(head.seq) +
                               ") is not in the history of " + Short(target.id) + " (#" +
                               std::to_string(target.snapshot.seq) + "), which is being copied"));
    }
    clean_root = head.root;
  }
  if (dst_main.live_root != clean_root) {
    return Conflict(
        "the replica's live tree has changes that are in no snapshot (something wrote to the "
        "replica); copying would discard them. Keep them with `weightfs snapshot` on the replica "
        "and copy it back into the source, or copy into a new replica");
  }
  *moves = true;
  return Status::Ok();
}

Status CheckPolicyCanMove(const Repository& src, const Repository& dst, const CopyPlan& plan,
                          const std::optional<ObjectId>& dst_policy, bool* moves) {
  *moves = false;
  // A source without a policy, or the same one: nothing to move.
  if (!plan.policy || dst_policy == plan.policy->id) return Status::Ok();
  if (dst_policy) {
    // The replica has the source's policy already, and newer versions: its refs/policy stays.
    ASSIGN_OR_RETURN(bool ahead, IsPolicyAncestor(dst, plan.policy->id, *dst_policy));
    if (ahead) return Status::Ok();
    ASSIGN_OR_RETURN(bool behind, IsPolicyAncestor(src, *dst_policy, plan.policy->id));
    if (!behind) {
      return Conflict(Diverged(
          "policy " + Short(*dst_policy) + " is not in the history of the source's policy #" +
          std::to_string(plan.policy->policy.seq) + " (" + Short(plan.policy->id) + ")"));
    }
  }
  *moves = true;
  return Status::Ok();
}

Status CheckTagsCanMerge(const CopyPlan& plan, const TagMap& dst_tags, int* added) {
  *added = 0;
  for (const auto& [name, id] : plan.tags) {
    auto it = dst_tags.find(name);
    if (it == dst_tags.end()) {
      ++*added;
    } else if (it->second != id) {
      return Conflict("tag '" + name + "' names snapshot " + Short(it->second) +
                      " in the replica but " + Short(id) +
                      " in the source; move or delete it in one of them (`weightfs tag`) and "
                      "copy again");
    }
  }
  return Status::Ok();
}

namespace {

// A policy the replica has in its history already (it is ahead) is left alone.
Status UpdatePolicy(const Repository& src, Repository* dst, const CopyPlan& plan,
                    CopyReport* report) {
  if (!plan.policy) return Status::Ok();
  return dst->refs().UpdateRef(
      kPolicyRef, [&](const std::optional<Bytes>& plain) -> Result<std::optional<Bytes>> {
        std::optional<ObjectId> current;
        if (plain) {
          ASSIGN_OR_RETURN(current, DecodePolicyRef(*plain));
        }
        RETURN_IF_ERROR(CheckPolicyCanMove(src, *dst, plan, current, &report->policy_moved));
        if (!report->policy_moved) return std::optional<Bytes>();
        return std::optional<Bytes>(EncodePolicyRef(plan.policy->id));
      });
}

Status UpdateTags(Repository* dst, const CopyPlan& plan, CopyReport* report) {
  if (plan.tags.empty()) return Status::Ok();
  return dst->refs().UpdateTags([&](TagMap* tags) -> Result<bool> {
    RETURN_IF_ERROR(CheckTagsCanMerge(plan, *tags, &report->tags_added));
    if (report->tags_added == 0) return false;
    for (const auto& [name, id] : plan.tags) tags->emplace(name, id);
    return true;
  });
}

Status UpdateMain(const Repository& src, Repository* dst, const CopyPlan& plan,
                  CopyReport* report) {
  RETURN_IF_ERROR(dst->refs().UpdateMain([&](MainRef* main) -> Result<bool> {
    RETURN_IF_ERROR(CheckMainCanMove(src, *dst, plan, *main, &report->main_moved));
    if (!report->main_moved) return false;
    main->head = plan.target->id;
    main->head_seq = plan.target->snapshot.seq;
    main->live_root = plan.target->snapshot.root;
    return true;
  }));
  ASSIGN_OR_RETURN(Versioned<MainRef> now, dst->refs().ReadMain());
  if (now.value.head) {
    ASSIGN_OR_RETURN(SnapshotInfo head, dst->ResolveVersion("latest"));
    report->head = std::move(head);
  }
  return Status::Ok();
}

}  // namespace

Status UpdateReplicaRefs(const Repository& src, Repository* dst, const CopyPlan& plan,
                         CopyReport* report) {
  // The policy first: a snapshot names the policy it was recorded under, and a refs/policy
  // older than the head's is read as a rollback.
  RETURN_IF_ERROR(
      UpdatePolicy(src, dst, plan, report).WithContext("updating the replica's policy"));
  RETURN_IF_ERROR(UpdateTags(dst, plan, report).WithContext("updating the replica's tags"));
  return UpdateMain(src, dst, plan, report).WithContext("updating the replica's main");
}

}  // namespace weightfs::repo::replica_internal
