// NodeTable: building tree objects for a commit, and reading nodes (see node_table.h).
#include <algorithm>

#include "vfs/node_table.h"

namespace weightfs::vfs {

Result<std::optional<ObjectId>> NodeTable::BuildTreeIfDirty() {
  if (!tree_dirty_) return std::optional<ObjectId>();
  ASSIGN_OR_RETURN(Node * root, Get(kRootNode));
  ASSIGN_OR_RETURN(ObjectId id, BuildTree(root));
  tree_dirty_ = false;
  return std::optional<ObjectId>(id);
}

void NodeTable::MarkTreeDirty() {
  tree_dirty_ = true;  // the tree objects are already stored
  if (Node* root = Find(kRootNode)) root->dirty = true;
}

Result<ObjectId> NodeTable::BuildTree(Node* dir) {
  // A directory never loaded still has its stored children (changing one loads it first); a
  // change to its own mode, times, xattrs or place only dirties the entry in its parent. Its
  // empty `children` must not be written as its content.
  if (dir->tree_id && (!dir->dirty || !dir->loaded)) {
    dir->dirty = false;
    return *dir->tree_id;
  }
  repo::TreeObject tree;
  tree.entries.reserve(dir->children.size());
  for (const auto& [name, ino] : dir->children) {
    ASSIGN_OR_RETURN(Node * n, Get(ino));
    repo::TreeEntry e = EntryOf(name, n);
    switch (n->type) {
      case repo::EntryType::kFile:
        if (!n->file_id) continue;  // created but never closed: not committed yet
        e.id = *n->file_id;
        e.size = n->committed_size;
        e.hole_bytes = n->committed_hole_bytes;
        break;
      case repo::EntryType::kDirectory: {
        ASSIGN_OR_RETURN(e.id, BuildTree(n));
        break;
      }
      case repo::EntryType::kSymlink:
        e.target = n->target;
        e.size = n->target.size();
        break;
      default:  // special files: everything is in the entry
        break;
    }
    tree.entries.push_back(std::move(e));
  }
  // Small objects, so sealing them under the table lock keeps the commit consistent cheaply.
  // Its path decides the scopes its entries are split into (repositories with scopes).
  std::optional<std::string> path = PathOf(dir);
  if (!path) return Internal("a directory being committed has no path");
  ASSIGN_OR_RETURN(ObjectId id, repo_->objects().PutTree(tree, *path, dir->tree_id));
  dir->tree_id = id;
  dir->dirty = false;
  return id;
}

repo::TreeEntry NodeTable::EntryOf(const std::string& name, const Node* n) {
  repo::TreeEntry e;
  e.name = name;
  e.type = n->type;
  e.mode = n->mode;
  e.mtime_ns = n->mtime_ns;
  e.xattrs = n->xattrs;
  e.has_owner = n->has_owner;
  e.uid = n->has_owner ? n->uid : 0;
  e.gid = n->has_owner ? n->gid : 0;
  e.rdev = n->rdev;
  e.link_group = n->more_links.empty() ? 0 : n->link_group;
  return e;
}

Attr NodeTable::AttrOf(const Node* n) const {
  Attr a;
  a.ino = n->ino;
  a.type = NodeTypeOf(n->type);
  a.mode = n->mode;
  if (n->type == repo::EntryType::kDirectory) {
    // 2 + subdirectories; 1 ("not counted", as btrfs and find(1) understand it) until counted.
    const std::optional<uint32_t> subdirs = n->nlink_subdirs();
    a.nlink = subdirs ? 2 + *subdirs : 1;
  } else {
    a.nlink = n->nlink_names();
  }
  a.uid = n->uid;
  a.gid = n->gid;
  a.rdev = n->rdev;
  a.size = n->size();
  a.blocks = (a.size - std::min(n->hole_bytes(), a.size) + 511) / 512;
  a.mtime_ns = n->mtime_ns;
  a.ctime_ns = n->ctime_ns;
  a.atime_ns = n->atime_ns;
  return a;
}

std::optional<std::string> NodeTable::PathOf(const Node* n) const {
  std::string path;
  for (; n && n->ino != kRootNode; n = n->parent) {
    if (!n->linked || !n->parent) return std::nullopt;
    path = "/" + n->name + path;
  }
  if (!n) return std::nullopt;
  return path.empty() ? "/" : path;
}

std::optional<std::pair<NodeId, std::string>> NodeTable::EntryNameOf(NodeId ino) const {
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || !it->second->linked || !it->second->parent) return std::nullopt;
  return std::make_pair(it->second->parent->ino, it->second->name);
}

void NodeTable::CachedByKernel(bool deep, const std::string& extra_root_name,
                               std::vector<std::pair<NodeId, std::string>>* entries,
                               std::vector<NodeId>* nodes) const {
  auto it = nodes_.find(kRootNode);
  if (it != nodes_.end()) {
    for (const auto& [name, ino] : it->second->children) entries->emplace_back(kRootNode, name);
  }
  if (!extra_root_name.empty()) entries->emplace_back(kRootNode, extra_root_name);
  nodes->push_back(kRootNode);
  if (!deep) return;
  for (const auto& [ino, n] : nodes_) {
    if (n->nlookup == 0 || ino == kRootNode) continue;
    nodes->push_back(ino);
    if (n->linked && n->parent && n->parent->ino != kRootNode)
      entries->emplace_back(n->parent->ino, n->name);
    for (const auto& [dir, name] : n->more_links) entries->emplace_back(dir->ino, name);
  }
}

std::vector<std::pair<NodeId, std::shared_ptr<FileContent>>> NodeTable::Unsealed() const {
  std::vector<std::pair<NodeId, std::shared_ptr<FileContent>>> pending;
  for (const auto& [ino, n] : nodes_) {
    if (n->content && n->linked && (n->content->version() != n->sealed_version || !n->file_id)) {
      pending.emplace_back(ino, n->content);
    }
  }
  return pending;
}

}  // namespace weightfs::vfs
