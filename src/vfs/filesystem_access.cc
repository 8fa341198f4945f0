// FileSystem access control (issue #5): every operation asks here before it acts. A path the
// caller may not list does not exist for it (kNotFound); one it may list but not use as asked is
// kPermissionDenied. Below .versions/ the same rules apply to the path as it was in that
// snapshot, together with `history`.
#include "vfs/node.h"
#include "weightfs/vfs/access.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

using policy::Capability;

namespace {

std::string ChildPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

Status Hidden(const std::string& path) { return NotFound(path + ": no such file or directory"); }

Status Denied(const std::string& path, Capability cap) {
  return PermissionDenied(path + ": the policy does not allow " +
                          std::string(policy::CapabilityName(cap)) + " here");
}

}  // namespace

std::optional<std::string> FileSystem::PathLocked(const Node* n) const {
  std::string path;
  for (; n && n->ino != kRootNode; n = n->parent) {
    if (!n->linked || !n->parent) return std::nullopt;
    path = "/" + n->name + path;
  }
  if (!n) return std::nullopt;
  return path.empty() ? "/" : path;
}

Result<std::optional<std::string>> FileSystem::PathOf(NodeId ino) const {
  if (versions_ && VersionsView::Owns(ino)) return versions_->PathInVersion(ino);
  std::lock_guard lock(tree_mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return NotFound("stale node");
  return PathLocked(it->second.get());
}

Status FileSystem::AuthorizePath(const Caller& c, const std::optional<std::string>& path,
                                 bool in_versions, Capability cap, const char* op) {
  AccessControl* ac = options_.access.get();
  if (in_versions) {
    // A snapshot's root is shown like the listings above it, as the mount root always is.
    if (!path || (*path == "/" && cap == Capability::kList)) {
      // .versions itself and its listings: shown to callers that may see some history.
      if (!ac->CheckEver(c, Capability::kHistory, "/.versions", op)) return Hidden("/.versions");
      return Status::Ok();
    }
    if (!ac->Check(c, Capability::kHistory, *path, op) ||
        !ac->Check(c, Capability::kList, *path, op)) {
      return Hidden(*path);
    }
  } else {
    // An unlinked node has no path to decide on: only a caller that held it (an open handle, or
    // an inode it looked up before the unlink) can still reach it, and it keeps that access.
    if (!path) return Status::Ok();
    if (!ac->Check(c, Capability::kList, *path, op)) return Hidden(*path);
  }
  if (cap != Capability::kList && !ac->Check(c, cap, *path, op)) return Denied(*path, cap);
  return Status::Ok();
}

Status FileSystem::Authorize(const Caller& c, NodeId ino, Capability cap, const char* op) {
  if (!options_.access) return Status::Ok();
  // The mount root is always there; what may be done with it is decided like any path.
  if (ino == kRootNode && cap == Capability::kList) return Status::Ok();
  ASSIGN_OR_RETURN(std::optional<std::string> path, PathOf(ino));
  const bool in_versions = versions_ && VersionsView::Owns(ino);
  return AuthorizePath(c, in_versions ? path : PathForCaller(c, ino, cap, path), in_versions, cap,
                       op);
}

std::optional<std::string> FileSystem::PathForCaller(const Caller& c, NodeId ino, Capability cap,
                                                     const std::optional<std::string>& path) {
  std::vector<std::string> others;
  {
    std::lock_guard lock(tree_mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end() || it->second->more_links.empty()) return path;
    for (const auto& [dir, name] : it->second->more_links) {
      if (std::optional<std::string> d = PathLocked(dir)) others.push_back(ChildPath(*d, name));
    }
  }
  // Decided outside the table lock (names may resolve through NSS).
  if (path && options_.access->Peek(c, Capability::kList, *path) &&
      options_.access->Peek(c, cap, *path))
    return path;
  for (const std::string& p : others) {
    if (options_.access->Peek(c, Capability::kList, p) && options_.access->Peek(c, cap, p))
      return p;
  }
  return path;
}

Status FileSystem::AuthorizeChild(const Caller& c, NodeId parent, const std::string& name,
                                  Capability cap, const char* op) {
  if (!options_.access) return Status::Ok();
  if (versions_ && parent == kRootNode && name == VersionsView::kName) {
    return AuthorizePath(c, std::nullopt, true, cap, op);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> dir, PathOf(parent));
  const bool in_versions = versions_ && VersionsView::Owns(parent);
  // Below a listing node (ids/, tags/...) are snapshot roots, shown like the listings.
  if (!dir) return in_versions ? AuthorizePath(c, std::nullopt, true, cap, op) : Status::Ok();
  const std::string path = ChildPath(*dir, name);
  if (cap == Capability::kCreate) {
    if (!options_.access->Check(c, cap, path, op)) return Denied(path, cap);
    // A caller that may create but not list the name must not learn that it exists (EEXIST).
    if (!options_.access->Peek(c, Capability::kList, path)) {
      std::unique_lock lock(tree_mu_);
      ASSIGN_OR_RETURN(Node * d, GetNodeLocked(parent));
      RETURN_IF_ERROR(EnsureLoadedLocked(lock, d));
      ASSIGN_OR_RETURN(d, GetNodeLocked(parent));
      if (d->children.count(name)) return Denied(path, Capability::kList);
    }
    return Status::Ok();
  }
  return AuthorizePath(c, path, in_versions, cap, op);
}

bool FileSystem::VisibleChild(const Caller& c, const std::optional<std::string>& dir,
                              bool in_versions, const std::string& name) {
  if (!options_.access) return true;
  if (!dir) return !in_versions || options_.access->MayEver(c, policy::Bit(Capability::kHistory));
  const std::string path = ChildPath(*dir, name);
  if (in_versions && !options_.access->Peek(c, Capability::kHistory, path)) return false;
  return options_.access->Peek(c, Capability::kList, path);
}

Status FileSystem::AuthorizeMove(const Caller& c, NodeId parent, const std::string& name,
                                 NodeId new_parent, const std::string& new_name) {
  if (!options_.access) return Status::Ok();
  AccessControl* ac = options_.access.get();
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, Capability::kDelete, "rename"));
  ASSIGN_OR_RETURN(std::optional<std::string> from_dir, PathOf(parent));
  ASSIGN_OR_RETURN(std::optional<std::string> to_dir, PathOf(new_parent));
  if (!from_dir || !to_dir) return NotFound(name + ": no such file or directory");
  const std::string from = ChildPath(*from_dir, name);
  const std::string to = ChildPath(*to_dir, new_name);
  if (!ac->Check(c, Capability::kCreate, to, "rename")) return Denied(to, Capability::kCreate);

  // Everything below a moved directory changes its path too: each old path needs delete and
  // each new one create. A replaced destination is deleted.
  std::vector<std::string> below;
  std::vector<std::pair<std::string, ObjectId>>
      stored;  // unloaded directories, read outside the lock
  bool dest_exists = false;
  {
    std::unique_lock lock(tree_mu_);
    ASSIGN_OR_RETURN(Node * to_node, GetNodeLocked(new_parent));
    RETURN_IF_ERROR(EnsureLoadedLocked(lock, to_node));  // may release the lock
    ASSIGN_OR_RETURN(to_node, GetNodeLocked(new_parent));
    dest_exists = to_node->children.count(new_name) > 0;
    ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
    auto src = dir->children.find(name);
    if (src == dir->children.end()) return Status::Ok();  // the rename itself reports it
    std::vector<std::pair<std::string, const Node*>> todo;
    ASSIGN_OR_RETURN(Node * moved, GetNodeLocked(src->second));
    todo.emplace_back("", moved);
    while (!todo.empty()) {
      auto [rel, n] = todo.back();
      todo.pop_back();
      if (n->type != repo::EntryType::kDirectory) continue;
      if (!n->loaded) {
        if (n->tree_id) stored.emplace_back(rel, *n->tree_id);
        continue;
      }
      for (const auto& [child_name, child_ino] : n->children) {
        auto it = nodes_.find(child_ino);
        if (it == nodes_.end()) continue;
        below.push_back(rel + "/" + child_name);
        todo.emplace_back(rel + "/" + child_name, it->second.get());
      }
    }
  }
  while (!stored.empty()) {
    auto [rel, id] = stored.back();
    stored.pop_back();
    ASSIGN_OR_RETURN(repo::TreeObject tree, repo_->objects().LoadTree(id));
    for (const auto& e : tree.entries) {
      below.push_back(rel + "/" + e.name);
      if (e.type == repo::EntryType::kDirectory) stored.emplace_back(rel + "/" + e.name, e.id);
    }
  }
  if (dest_exists) {
    // Replacing an entry the caller may not see would reveal it (EEXIST, ENOTDIR) or destroy it.
    if (!ac->Peek(c, Capability::kList, to)) return Denied(to, Capability::kList);
    if (!ac->Check(c, Capability::kDelete, to, "rename")) return Denied(to, Capability::kDelete);
  }
  for (const std::string& rel : below) {
    if (!ac->Check(c, Capability::kDelete, from + rel, "rename"))
      return Denied(from + rel, Capability::kDelete);
    if (!ac->Check(c, Capability::kCreate, to + rel, "rename"))
      return Denied(to + rel, Capability::kCreate);
  }
  return Status::Ok();
}

Status FileSystem::AuthorizeSnapshot(const Caller& c, NodeId ino, const char* op) {
  if (!options_.access) return Status::Ok();
  std::optional<std::string> path = std::string("/");
  if (!(versions_ && VersionsView::Owns(ino))) {
    ASSIGN_OR_RETURN(path, PathOf(ino));
    if (!path) return NotFound("stale node");
  }
  if (!options_.access->Check(c, Capability::kSnapshot, *path, op))
    return Denied(*path, Capability::kSnapshot);
  return Status::Ok();
}

// Naming a snapshot (a tag) needs `snapshot` on `/`, however it is asked for (`mkdir
// .versions/tags/NAME`, or `weightfs snapshot DIR --tag NAME` through the xattr): tag names are
// shared by the whole repository, so a role that may snapshot only its own directory must not
// claim them (tag squatting).
Status FileSystem::AuthorizeTag(const Caller& c, const char* op) {
  if (!options_.access) return Status::Ok();
  if (!options_.access->Check(c, Capability::kSnapshot, "/", op))
    return Denied("/", Capability::kSnapshot);
  return Status::Ok();
}

Status FileSystem::Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) {
  RETURN_IF_ERROR(Authorize(c, ino, Capability::kList, "access"));
  if (write) {
    RETURN_IF_ERROR(RefuseInVersions(ino));
    RETURN_IF_ERROR(CheckWritable());
  }
  bool dir = VersionsView::Owns(ino);
  if (!dir) {
    std::lock_guard lock(tree_mu_);
    ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
    dir = n->type == repo::EntryType::kDirectory;
  }
  if ((read || exec) && !dir) RETURN_IF_ERROR(Authorize(c, ino, Capability::kRead, "access"));
  if (write)
    RETURN_IF_ERROR(Authorize(c, ino, dir ? Capability::kCreate : Capability::kUpdate, "access"));
  return CheckMode(
      c, ino, (read ? kWantRead : 0) | (write ? kWantWrite : 0) | (exec ? kWantExec : 0), "access");
}

std::optional<std::pair<NodeId, std::string>> FileSystem::EntryNameOf(NodeId ino) const {
  std::lock_guard lock(tree_mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || !it->second->linked || !it->second->parent) return std::nullopt;
  return std::make_pair(it->second->parent->ino, it->second->name);
}

FileSystem::KernelNames FileSystem::CachedByKernel() const {
  std::lock_guard lock(tree_mu_);
  KernelNames out;
  auto it = nodes_.find(kRootNode);
  if (it != nodes_.end()) {
    for (const auto& [name, ino] : it->second->children) out.entries.emplace_back(kRootNode, name);
  }
  if (versions_) out.entries.emplace_back(kRootNode, VersionsView::kName);
  out.nodes.push_back(kRootNode);
  if (options_.access && options_.access->options().per_caller) {
    // Deeper entries were cached for everybody where the old policy decided the same for all;
    // the new one may not. Invalidating the root's names drops the unused ones below them, but
    // not those in use (a working directory, an open file), so each is named.
    for (const auto& [ino, n] : nodes_) {
      if (n->nlookup == 0 || ino == kRootNode) continue;
      out.nodes.push_back(ino);
      if (n->linked && n->parent && n->parent->ino != kRootNode)
        out.entries.emplace_back(n->parent->ino, n->name);
      for (const auto& [dir, name] : n->more_links) out.entries.emplace_back(dir->ino, name);
    }
  }
  return out;
}

}  // namespace weightfs::vfs
