// NodeTable: lookups, lazy loading and changes of the live tree's nodes (see node_table.h).
// Building trees and the reading helpers live in node_table_build.cc.
#include "vfs/node_table.h"

#include <algorithm>
#include <tuple>

#include "vfs/posix.h"
#include "weightfs/core/clock.h"

namespace weightfs::vfs {

NodeTable::NodeTable(repo::Repository* repo, Options options, const ObjectId& root_id,
                     const repo::TreeObject& root_tree)
    : repo_(repo), options_(std::move(options)) {
  auto root = std::make_unique<Node>();
  root->ino = kRootNode;
  root->type = repo::EntryType::kDirectory;
  root->mode = 0755;
  root->uid = options_.uid;  // the root has no tree entry: it is the mounting user's
  root->gid = options_.gid;
  root->tree_id = root_id;
  root->mtime_ns = root->ctime_ns = root->atime_ns = NowNs();
  root->nlookup = 1;  // the kernel holds the root forever
  root->unloaded_subdirs = CountSubdirs(root_tree);
  MutexLock lock(&mu_);
  nodes_.emplace(kRootNode, std::move(root));
}

void NodeTable::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Result<Node*> NodeTable::Get(NodeId ino) {
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node " + std::to_string(ino));
  return it->second.get();
}

Node* NodeTable::Find(NodeId ino) {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : it->second.get();
}

Node* NodeTable::NewNode(repo::EntryType type, Node* parent, const std::string& name) {
  auto n = std::make_unique<Node>();
  n->ino = next_ino_++;
  n->type = type;
  n->parent = parent;
  n->name = name;
  Node* raw = n.get();
  nodes_.emplace(raw->ino, std::move(n));
  if (parent) {
    parent->children[name] = raw->ino;
    if (type == repo::EntryType::kDirectory) parent->subdirs++;
  }
  return raw;
}

uint32_t NodeTable::CountSubdirs(const repo::TreeObject& tree) {
  return static_cast<uint32_t>(std::count_if(
      tree.entries.begin(), tree.entries.end(),
      [](const repo::TreeEntry& e) { return e.type == repo::EntryType::kDirectory; }));
}

Status NodeTable::CountSubdirs(NodeId ino) {
  ASSIGN_OR_RETURN(Node * dir, Get(ino));
  if (dir->type != repo::EntryType::kDirectory || dir->nlink_subdirs() || !dir->tree_id)
    return Status::Ok();
  const ObjectId id = *dir->tree_id;
  // Counted without the table lock, like a load; the tree objects of directories are small.
  mu_.Unlock();
  auto tree = repo_->objects().LoadTree(id);
  mu_.Lock();
  if (!tree.ok()) {
    // The lookup itself stays possible (nlink 1: not counted); listing the directory fails.
    Log("reading directory failed: " + tree.status().message());
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(dir, Get(ino));
  if (!dir->loaded && dir->tree_id == id) dir->unloaded_subdirs = CountSubdirs(*tree);
  return Status::Ok();
}

Status NodeTable::EnsureLoaded(Node* dir) {
  RETURN_IF_ERROR(LoadDir(dir));
  if (links_seen_ && !all_loaded_) return LoadAll();
  return Status::Ok();
}

Status NodeTable::LoadAll() {
  if (all_loaded_) return Status::Ok();
  std::vector<NodeId> todo = {kRootNode};
  while (!todo.empty()) {
    const NodeId ino = todo.back();
    todo.pop_back();
    auto n = Get(ino);
    if (!n.ok() || (*n)->type != repo::EntryType::kDirectory) continue;
    RETURN_IF_ERROR(LoadDir(*n));  // may release the lock
    ASSIGN_OR_RETURN(Node * dir, Get(ino));
    for (const auto& [name, child] : dir->children) todo.push_back(child);
  }
  all_loaded_ = true;
  return Status::Ok();
}

Status NodeTable::LoadDir(Node* dir) {
  if (dir->type != repo::EntryType::kDirectory) return NotDirectory("not a directory");
  if (dir->loaded) return Status::Ok();
  if (!dir->tree_id) {
    dir->loaded = true;
    return Status::Ok();
  }
  const ObjectId id = *dir->tree_id;
  const NodeId ino = dir->ino;
  // Load without the table lock; another thread may load the same directory meanwhile.
  mu_.Unlock();
  auto tree = repo_->objects().LoadTree(id);
  mu_.Lock();
  if (!tree.ok()) {
    Log("reading directory failed: " + tree.status().message());
    return tree.status();
  }
  dir = Find(ino);
  if (!dir) return NotFound("directory was removed");
  if (dir->loaded) return Status::Ok();
  for (const repo::TreeEntry& e : tree->entries) LoadNode(dir, e);
  dir->loaded = true;
  return Status::Ok();
}

bool NodeTable::LoadLink(Node* dir, const repo::TreeEntry& e) {
  links_seen_ = true;
  auto it = link_groups_.find(e.link_group);
  if (it == link_groups_.end() || !nodes_.count(it->second)) return false;
  // Another name of a file already loaded: one node. Its entry here may predate a change made
  // through a name loaded before, so this directory is written again.
  Node* n = nodes_[it->second].get();
  dir->children[e.name] = n->ino;
  if (n->linked) {
    n->more_links.emplace_back(dir, e.name);
  } else {
    n->parent = dir;
    n->name = e.name;
    n->linked = true;
  }
  MarkDirty(n);
  return true;
}

void NodeTable::LoadNode(Node* dir, const repo::TreeEntry& e) {
  if (e.link_group != 0 && LoadLink(dir, e)) return;
  Node* n = NewNode(e.type, dir, e.name);
  if (e.link_group != 0) {
    n->link_group = e.link_group;
    link_groups_[e.link_group] = n->ino;
  }
  n->mode = e.mode;
  n->mtime_ns = n->ctime_ns = n->atime_ns = e.mtime_ns;
  n->xattrs = e.xattrs;
  n->has_owner = e.has_owner;
  n->uid = e.has_owner ? e.uid : options_.uid;
  n->gid = e.has_owner ? e.gid : options_.gid;
  n->rdev = e.rdev;
  switch (e.type) {
    case repo::EntryType::kDirectory:
      n->tree_id = e.id;
      break;
    case repo::EntryType::kSymlink:
      n->target = e.target;
      break;
    case repo::EntryType::kFile:
      n->file_id = e.id;
      n->stored_size = n->committed_size = e.size;
      n->stored_hole_bytes = n->committed_hole_bytes = e.hole_bytes;
      break;
    default:  // special files have no content
      break;
  }
}

Node* NodeTable::NewOwnedNode(const Caller& c, repo::EntryType type, Node* dir,
                              const std::string& name, uint32_t mode) {
  Node* n = NewNode(type, dir, name);
  n->has_owner = true;
  n->uid = c.uid;
  n->gid = c.gid;
  n->mode = mode & 07777;
  if (dir->mode & kSetGid) {
    // BSD group semantics in a setgid directory, which new subdirectories pass on.
    n->gid = dir->gid;
    if (type == repo::EntryType::kDirectory) n->mode |= kSetGid;
  } else if (type != repo::EntryType::kDirectory && (n->mode & kSetGid) && (n->mode & 0010) &&
             c.uid != 0 && !InGroup(c, n->gid)) {
    n->mode &= ~kSetGid;
  }
  n->mtime_ns = n->ctime_ns = n->atime_ns = NowNs();
  Touch(dir);
  return n;
}

void NodeTable::AssignLinkGroup(Node* n) {
  if (n->link_group != 0) return;
  do {
    n->link_group = repo::NewLinkGroup();
  } while (link_groups_.count(n->link_group));
  link_groups_[n->link_group] = n->ino;
}

Result<Node*> NodeTable::Child(Node* dir, const std::string& name) {
  const NodeId ino = dir->ino;
  RETURN_IF_ERROR(EnsureLoaded(dir));
  ASSIGN_OR_RETURN(dir, Get(ino));
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return NotFound(name + ": no such file or directory");
  return Get(it->second);
}

void NodeTable::RemoveLink(Node* n, Node* dir, const std::string& name) {
  auto& more = n->more_links;
  if (n->parent == dir && n->name == name) {
    if (more.empty()) {
      n->linked = false;
      n->parent = nullptr;
      return;
    }
    std::tie(n->parent, n->name) = more.back();  // another name becomes the first
    more.pop_back();
    return;
  }
  more.erase(std::remove(more.begin(), more.end(), std::make_pair(dir, name)), more.end());
}

void NodeTable::MoveLink(Node* n, Node* from, const std::string& name, Node* to,
                         const std::string& new_name) {
  if (n->parent == from && n->name == name) {
    n->parent = to;
    n->name = new_name;
    return;
  }
  for (auto& link : n->more_links) {
    if (link.first == from && link.second == name) link = {to, new_name};
  }
}

void NodeTable::MarkDirty(Node* n) {
  if (n->type != repo::EntryType::kDirectory && !n->linked) return;
  auto up = [](Node* d) {
    for (; d; d = d->parent) d->dirty = true;
  };
  up(n->type == repo::EntryType::kDirectory ? n : n->parent);
  for (const auto& [dir, name] : n->more_links) up(dir);  // every name of a hard-linked file
  tree_dirty_ = true;
}

void NodeTable::Touch(Node* dir) {
  dir->mtime_ns = dir->ctime_ns = NowNs();
  MarkDirty(dir);
}

void NodeTable::MaybeDrop(Node* n) {
  if (n->ino == kRootNode || n->linked || n->nlookup > 0 || n->open_count > 0) return;
  // An unlinked directory's loaded children go with it.
  if (n->type == repo::EntryType::kDirectory) {
    for (auto& [name, child_ino] : n->children) {
      Node* child = Find(child_ino);
      if (!child) continue;
      child->linked = false;
      child->parent = nullptr;
      MaybeDrop(child);
    }
  }
  nodes_.erase(n->ino);
}

void NodeTable::Forget(NodeId ino, uint64_t nlookup) {
  Node* n = Find(ino);
  if (!n) return;
  n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
  MaybeDrop(n);
}

}  // namespace weightfs::vfs
