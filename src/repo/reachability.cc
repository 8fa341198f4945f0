#include "repo/reachability.h"

namespace weightfs::repo {

Status Marker::MarkRefs(const MainRef& main, const std::map<std::string, ObjectId>& tags) {
  RETURN_IF_ERROR(MarkTree(main.live_root).WithContext("marking the live tree"));
  RETURN_IF_ERROR(MarkChain(main.head).WithContext("marking the snapshot chain"));
  for (const auto& [name, id] : tags)
    RETURN_IF_ERROR(MarkChain(id).WithContext("marking tag '" + name + "'"));
  return Status::Ok();
}

Status Marker::MarkPolicies() {
  ASSIGN_OR_RETURN(auto policies, repo_.policies().ListPolicies());
  for (const auto& p : policies) marked_.insert(p.id);
  return Status::Ok();
}

Status Marker::MarkPolicyChain(std::optional<ObjectId> next) {
  while (next && marked_.insert(*next).second) {
    ASSIGN_OR_RETURN(PolicyObject p, repo_.objects().LoadPolicy(*next));
    next = p.parent;
  }
  return Status::Ok();
}

Status Marker::MarkChain(std::optional<ObjectId> next) {
  while (next && marked_.insert(*next).second) {
    ASSIGN_OR_RETURN(SnapshotObject s, repo_.objects().LoadSnapshot(*next));
    RETURN_IF_ERROR(MarkTree(s.root).WithContext("snapshot " + next->Hex().substr(0, 16)));
    if (s.policy) RETURN_IF_ERROR(MarkPolicyChain(*s.policy));
    next = s.parent;
  }
  return Status::Ok();
}

Status Marker::MarkTree(const ObjectId& id) {
  // With scopes, id is a handle: what is stored is its fragments, each a tree of one scope.
  ASSIGN_OR_RETURN(std::vector<ScopedRoot> fragments, repo_.objects().FragmentsOf(id));
  for (const ScopedRoot& f : fragments) RETURN_IF_ERROR(MarkStoredTree(f.id));
  return Status::Ok();
}

Status Marker::MarkStoredTree(const ObjectId& id) {
  if (!marked_.insert(id).second) return Status::Ok();
  ASSIGN_OR_RETURN(TreeObject tree, repo_.objects().LoadStoredTree(id));
  for (const TreeEntry& e : tree.entries) {
    if (e.type == EntryType::kDirectory) RETURN_IF_ERROR(MarkStoredTree(e.id).WithContext(e.name));
    if (e.type == EntryType::kFile) RETURN_IF_ERROR(MarkFile(e.id).WithContext(e.name));
  }
  return Status::Ok();
}

Status Marker::MarkFile(const ObjectId& id) {
  if (!marked_.insert(id).second) return Status::Ok();
  ASSIGN_OR_RETURN(FileObject file, repo_.objects().LoadFile(id));
  for (const ChunkRef& c : file.chunks) marked_.insert(c.id);
  return Status::Ok();
}

}  // namespace weightfs::repo
