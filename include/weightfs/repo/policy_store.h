// PolicyStore: the repository's policy versions. Each version is a policy object (the YAML text,
// its author and a sequence number) naming its parent; refs/policy names the current one.
// Every snapshot names the policy in force when it was recorded, which anchors refs/policy in
// the snapshot chain: a refs/policy that is missing, or older than (or diverging from) the policy
// the head snapshot names, was deleted or rolled back. The store keeps and checks versions; it
// does not evaluate policies, and authorization (may this slot's role administer?) is the
// caller's job.
//
// Thread-safe: all methods may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/object_layer.h"
#include "weightfs/repo/objects.h"
#include "weightfs/repo/ref_updater.h"

namespace weightfs::repo {

struct PolicyVersion {
  ObjectId id;
  PolicyObject policy;
};

class PolicyStore {
 public:
  // objects and refs must outlive this; author and author_role are recorded in new versions.
  PolicyStore(ObjectLayer* objects, RefUpdater* refs, std::string author, std::string author_role);

  // The current policy (nullopt when none was ever set) with the raw ref. kCorruption when
  // refs/policy is missing, rolled back or replaced relative to the head snapshot's policy.
  Result<Versioned<std::optional<PolicyVersion>>> ReadPolicy() const;
  // Stores text as the next policy version (parent: the current one, or the head snapshot's
  // policy if refs/policy was lost or rolled back, which this repairs; a damaged history it does
  // not repair) and publishes it on refs/policy with RefUpdater::UpdateRef, so a version another
  // writer published meanwhile becomes the parent.
  Result<PolicyVersion> SetPolicy(const std::string& text);
  // The same, but only on top of expected_current (the version the caller decided against;
  // nullopt: none set): kConflict, saying who changed it, if another version came in meanwhile.
  Result<PolicyVersion> SetPolicyIfCurrent(const std::string& text,
                                           const std::optional<ObjectId>& expected_current);
  // Policy versions from the current back to the first, newest first.
  Result<std::vector<PolicyVersion>> ListPolicies() const;

 private:
  // refs/policy as stored, with its object loaded, without the anchor check.
  Result<Versioned<std::optional<PolicyVersion>>> ReadPolicyRef() const;
  Result<std::optional<PolicyVersion>> LoadRefValue(const std::optional<ObjectId>& id) const;
  // The policy the head snapshot was recorded under, if any.
  Result<std::optional<PolicyVersion>> PolicyAnchor() const;
  // The error when the stored refs/policy does not continue anchor's history (Ok when it does).
  Status CheckAnchored(const std::optional<PolicyVersion>& current,
                       const PolicyVersion& anchor) const;
  // The next version's object on top of current (or on the anchor, see SetPolicy).
  Result<PolicyVersion> StoreNext(const std::optional<PolicyVersion>& current,
                                  const std::string& text);
  // expected: nullopt for any base, else the id (or none) refs/policy must still hold.
  Result<PolicyVersion> SetPolicyOn(const std::string& text,
                                    const std::optional<std::optional<ObjectId>>& expected);

  ObjectLayer* const objects_;
  RefUpdater* const refs_;
  const std::string author_;
  const std::string author_role_;
};

}  // namespace weightfs::repo
