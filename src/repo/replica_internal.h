// The pieces of CopyToReplica (replica.h), one file each: the plan (replica.cc), the object copy
// (replica_objects.cc) and the ref updates (replica_refs.cc). Not part of the repo module's
// interface.
#pragma once

#include <optional>
#include <vector>

#include "weightfs/repo/replica.h"

namespace weightfs::repo::replica_internal {

// What a copy transfers, decided from the source before anything is written.
struct CopyPlan {
  std::optional<SnapshotInfo> target;   // main's new head (nullopt: the source has none)
  std::vector<ObjectId> snapshots;      // every snapshot copied with its history
  TagMap tags;                          // tags to add to the replica
  std::optional<PolicyVersion> policy;  // the source's refs/policy (nullopt: none set)
};

// Whether `ancestor` is `descendant` or one of its ancestors in repo's snapshot chain (walking
// parents from descendant, down to ancestor_seq).
Result<bool> IsAncestor(const Repository& repo, const ObjectId& ancestor, uint64_t ancestor_seq,
                        const ObjectId& descendant);

// Refuses (kConflict) when the replica's refs diverged from the plan's; called before the copy
// and again inside each ref's compare-and-swap.
Status CheckMainCanMove(const Repository& src, const Repository& dst, const CopyPlan& plan,
                        const MainRef& dst_main, bool* moves);
Status CheckPolicyCanMove(const Repository& src, const Repository& dst, const CopyPlan& plan,
                          const std::optional<ObjectId>& dst_policy, bool* moves);
Status CheckTagsCanMerge(const CopyPlan& plan, const TagMap& dst_tags, int* added);

// Copies exactly the objects of ids that dst lacks (one listing of each store), jobs at a time;
// then syncs dst. Adds to report.
Status CopyMissingObjects(storage::ObjectStore* src, storage::ObjectStore* dst,
                          const std::vector<ObjectId>& ids, int jobs,
                          const CopyProgressFn& progress, CopyReport* report);

// Moves the replica's refs/policy, refs/tags and refs/main (in that order) to the plan's.
Status UpdateReplicaRefs(const Repository& src, Repository* dst, const CopyPlan& plan,
                         CopyReport* report);

}  // namespace weightfs::repo::replica_internal
