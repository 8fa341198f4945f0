// Reachability: the set of objects that refs, snapshots, trees and policy versions reach. gc's
// mark phase and replica copies (replica.h) walk the same way, so there is one walk. Not part of
// the repo module's interface.
//
// Thread-compatible: one Marker per walk.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_set>

#include "weightfs/core/object_id.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/ref_updater.h"
#include "weightfs/repo/repository.h"

namespace weightfs::repo {

// Marking reads trees, file objects, snapshots and policy objects (each once, authenticated) but
// never a chunk: a file object lists its chunks' ids.
class Marker {
 public:
  explicit Marker(const Repository& repo) : repo_(repo) {}

  bool Marked(const ObjectId& id) const { return marked_.count(id) > 0; }
  const std::unordered_set<ObjectId, ObjectIdHash>& marked() const { return marked_; }

  // A tree and everything below it (the root of a read lease).
  Status MarkRoot(const ObjectId& id) { return MarkStoredTree(id); }
  // A snapshot and its ancestors, with their trees and the policy versions they name.
  Status MarkSnapshot(const ObjectId& id) { return MarkChain(id); }
  // The live tree, the snapshot chain of main and every tag's chain.
  Status MarkRefs(const MainRef& main, const std::map<std::string, ObjectId>& tags);
  // Every policy version of refs/policy's history (the history of who could do what is kept,
  // and each is small). Refuses when refs/policy was lost or rolled back.
  Status MarkPolicies();
  // A policy version and its ancestors.
  Status MarkPolicyChain(std::optional<ObjectId> next);

 private:
  // Once a snapshot is marked its ancestors are too, so the walk stops at the first marked one.
  Status MarkChain(std::optional<ObjectId> next);
  // A directory (a handle with scopes) and everything below it.
  Status MarkTree(const ObjectId& id);
  // A stored tree object and everything below it.
  Status MarkStoredTree(const ObjectId& id);
  Status MarkFile(const ObjectId& id);

  const Repository& repo_;
  std::unordered_set<ObjectId, ObjectIdHash> marked_;
};

}  // namespace weightfs::repo
