// NodeTable: refreshing a read-only mount's tree to a newer live root (see node_table.h).
// Trees are content-addressed, so a directory whose tree id did not change is skipped whole and a
// refresh costs the changed directories only.
#include <deque>

#include "vfs/node_table.h"

namespace weightfs::vfs {

struct NodeTable::RefreshOut {
  std::vector<std::pair<NodeId, std::string>>* entries;
  std::vector<NodeId>* nodes;
  size_t changed = 0;
};

namespace {

// The entry a non-directory node was loaded from (what an unchanged entry in the new tree equals).
repo::TreeEntry StoredEntryOf(repo::TreeEntry e, const Node* n) {
  e.link_group = n->link_group;
  switch (n->type) {
    case repo::EntryType::kFile:
      if (n->file_id) e.id = *n->file_id;
      e.size = n->committed_size;
      e.hole_bytes = n->committed_hole_bytes;
      break;
    case repo::EntryType::kSymlink:
      e.target = n->target;
      e.size = n->target.size();
      break;
    default:
      break;
  }
  return e;
}

}  // namespace

std::unordered_map<std::string, ObjectId> NodeTable::LoadedDirs() const {
  std::unordered_map<std::string, ObjectId> out;
  std::vector<std::pair<const Node*, std::string>> todo = {{nodes_.at(kRootNode).get(), ""}};
  while (!todo.empty()) {
    auto [dir, path] = todo.back();
    todo.pop_back();
    if (!dir->loaded || !dir->tree_id) continue;
    out.emplace(path, *dir->tree_id);
    for (const auto& [name, ino] : dir->children) {
      auto it = nodes_.find(ino);
      if (it != nodes_.end() && it->second->type == repo::EntryType::kDirectory)
        todo.emplace_back(it->second.get(), path + "/" + name);
    }
  }
  return out;
}

Result<NodeTable::TreeMap> NodeTable::ReadChangedTrees(
    const repo::Repository& repo, const ObjectId& root_id,
    const std::unordered_map<std::string, ObjectId>& loaded) {
  TreeMap trees;
  std::deque<std::pair<std::string, ObjectId>> todo = {{"", root_id}};
  while (!todo.empty()) {
    auto [path, id] = todo.front();
    todo.pop_front();
    auto was = loaded.find(path);
    if (was == loaded.end() || was->second == id || trees.contains(id)) continue;
    ASSIGN_OR_RETURN(repo::TreeObject tree, repo.objects().LoadTree(id));
    for (const repo::TreeEntry& e : tree.entries) {
      if (e.type == repo::EntryType::kDirectory) todo.emplace_back(path + "/" + e.name, e.id);
    }
    trees.emplace(id, std::move(tree));
  }
  return trees;
}

Result<size_t> NodeTable::Refresh(const ObjectId& root_id, const TreeMap& trees,
                                  std::vector<std::pair<NodeId, std::string>>* entries,
                                  std::vector<NodeId>* nodes) {
  RefreshOut out{entries, nodes};
  RETURN_IF_ERROR(RefreshDir(nodes_.at(kRootNode).get(), root_id, trees, &out));
  // A tree with hard links is kept whole in memory (see EnsureLoaded): load what came new.
  if (links_seen_) {
    all_loaded_ = false;
    RETURN_IF_ERROR(LoadAll());
  }
  return out.changed;
}

void NodeTable::DropName(Node* dir, const std::string& name, Node* n) {
  dir->children.erase(name);
  if (n == nullptr) return;
  if (n->type == repo::EntryType::kDirectory && dir->subdirs > 0) dir->subdirs--;
  // A replaced linked file must not take the new entries of its group.
  if (n->link_group != 0) {
    auto g = link_groups_.find(n->link_group);
    if (g != link_groups_.end() && g->second == n->ino) link_groups_.erase(g);
  }
  RemoveLink(n, dir, name);
  MaybeDrop(n);
}

bool NodeTable::TakeDirAttrs(Node* n, const repo::TreeEntry& e) {
  const bool changed = n->mode != e.mode || n->mtime_ns != e.mtime_ns || n->xattrs != e.xattrs ||
                       n->has_owner != e.has_owner ||
                       (e.has_owner && (n->uid != e.uid || n->gid != e.gid));
  n->mode = e.mode;
  n->mtime_ns = n->ctime_ns = e.mtime_ns;
  n->xattrs = e.xattrs;
  if (e.has_owner) {
    n->has_owner = true;
    n->uid = e.uid;
    n->gid = e.gid;
  }
  return changed;
}

Status NodeTable::RefreshDir(Node* dir, const ObjectId& new_id, const TreeMap& trees,
                             RefreshOut* out) {
  if (dir->tree_id == new_id) return Status::Ok();
  out->nodes->push_back(dir->ino);
  if (!dir->loaded) {  // loads from the new tree when first used
    dir->tree_id = new_id;
    dir->unloaded_subdirs.reset();
    return Status::Ok();
  }
  repo::TreeObject read;
  auto found = trees.find(new_id);
  if (found == trees.end()) {
    ASSIGN_OR_RETURN(read, repo_->objects().LoadTree(new_id));
  }
  const repo::TreeObject& tree = found == trees.end() ? read : found->second;
  std::unordered_map<std::string, const repo::TreeEntry*> next;
  for (const repo::TreeEntry& e : tree.entries) next.emplace(e.name, &e);
  const std::map<std::string, NodeId> before = dir->children;
  for (const auto& [name, ino] : before) {
    Node* n = Find(ino);
    auto e = next.find(name);
    if (n != nullptr && e != next.end() && n->type == e->second->type) {
      if (n->type == repo::EntryType::kDirectory) {
        if (TakeDirAttrs(n, *e->second)) out->nodes->push_back(n->ino);
        RETURN_IF_ERROR(RefreshDir(n, e->second->id, trees, out));
        continue;
      }
      if (StoredEntryOf(EntryOf(name, n), n) == *e->second) continue;
    }
    DropName(dir, name, n);
    out->entries->emplace_back(dir->ino, name);
    out->changed++;
  }
  for (const repo::TreeEntry& e : tree.entries) {
    if (dir->children.contains(e.name)) continue;
    LoadNode(dir, e);
    if (!before.contains(e.name)) {
      out->entries->emplace_back(dir->ino, e.name);  // a negative entry the kernel may hold
      out->changed++;
    }
  }
  // Last: a refresh that failed below leaves the old id, so the next one walks here again.
  dir->tree_id = new_id;
  return Status::Ok();
}

}  // namespace weightfs::vfs
