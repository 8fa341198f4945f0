#include "vfs/authorizer.h"

#include <utility>
#include <vector>

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

Authorizer::Authorizer(AccessControl* access, repo::Repository* repo, NodeTable* table,
                       VersionsView* versions)
    : access_(access), repo_(repo), table_(table), versions_(versions) {}

Result<std::optional<std::string>> Authorizer::LivePath(NodeId ino) {
  MutexLock lock(table_->mu());
  Node* n = table_->Find(ino);
  if (!n) return NotFound("stale node");
  return table_->PathOf(n);
}

Status Authorizer::AuthorizePath(const Caller& c, const std::optional<std::string>& path,
                                 bool in_versions, Capability cap, const char* op) {
  AccessControl* ac = access_;
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

Status Authorizer::Authorize(const Caller& c, NodeId ino, Capability cap, const char* op) {
  if (!access_) return Status::Ok();
  // The mount root is always there; what may be done with it is decided like any path.
  if (ino == kRootNode && cap == Capability::kList) return Status::Ok();
  ASSIGN_OR_RETURN(std::optional<std::string> path, LivePath(ino));
  return AuthorizePath(c, PathForCaller(c, ino, cap, path), false, cap, op);
}

Status Authorizer::AuthorizeVersions(const Caller& c, NodeId ino, Capability cap, const char* op) {
  if (!access_) return Status::Ok();
  return AuthorizePath(c, versions_->PathInVersion(ino), true, cap, op);
}

std::optional<std::string> Authorizer::PathForCaller(const Caller& c, NodeId ino, Capability cap,
                                                     const std::optional<std::string>& path) {
  std::vector<std::string> others;
  {
    MutexLock lock(table_->mu());
    Node* n = table_->Find(ino);
    if (!n || n->more_links.empty()) return path;
    for (const auto& [dir, name] : n->more_links) {
      if (std::optional<std::string> d = table_->PathOf(dir)) others.push_back(ChildPath(*d, name));
    }
  }
  // Decided outside the table lock (names may resolve through NSS).
  if (path && access_->Peek(c, Capability::kList, *path) && access_->Peek(c, cap, *path))
    return path;
  for (const std::string& p : others) {
    if (access_->Peek(c, Capability::kList, p) && access_->Peek(c, cap, p)) return p;
  }
  return path;
}

Status Authorizer::AuthorizeChild(const Caller& c, NodeId parent, const std::string& name,
                                  Capability cap, const char* op) {
  if (!access_) return Status::Ok();
  ASSIGN_OR_RETURN(std::optional<std::string> dir, LivePath(parent));
  if (!dir) return Status::Ok();
  const std::string path = ChildPath(*dir, name);
  if (cap == Capability::kCreate) return AuthorizeCreate(c, parent, name, path, op);
  return AuthorizePath(c, path, false, cap, op);
}

Status Authorizer::AuthorizeCreate(const Caller& c, NodeId parent, const std::string& name,
                                   const std::string& path, const char* op) {
  if (!access_->Check(c, Capability::kCreate, path, op)) return Denied(path, Capability::kCreate);
  // A caller that may create but not list the name must not learn that it exists (EEXIST).
  if (!access_->Peek(c, Capability::kList, path)) {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * d, table_->Get(parent));
    RETURN_IF_ERROR(table_->EnsureLoaded(d));
    ASSIGN_OR_RETURN(d, table_->Get(parent));
    if (d->children.count(name)) return Denied(path, Capability::kList);
  }
  return Status::Ok();
}

Status Authorizer::AuthorizeVersionsChild(const Caller& c, NodeId parent, const std::string& name,
                                          Capability cap, const char* op) {
  if (!access_) return Status::Ok();
  // .versions itself, and below a listing node (ids/, tags/...) the snapshot roots, are shown
  // like the listings.
  if (parent == kRootNode) return AuthorizePath(c, std::nullopt, true, cap, op);
  const std::optional<std::string> dir = versions_->PathInVersion(parent);
  if (!dir) return AuthorizePath(c, std::nullopt, true, cap, op);
  return AuthorizePath(c, ChildPath(*dir, name), true, cap, op);
}

bool Authorizer::VisibleChild(const Caller& c, const std::optional<std::string>& dir,
                              bool in_versions, const std::string& name) {
  if (!access_) return true;
  if (!dir) return !in_versions || access_->MayEver(c, policy::Bit(Capability::kHistory));
  const std::string path = ChildPath(*dir, name);
  if (in_versions && !access_->Peek(c, Capability::kHistory, path)) return false;
  return access_->Peek(c, Capability::kList, path);
}

Status Authorizer::AuthorizeMove(const Caller& c, NodeId parent, const std::string& name,
                                 NodeId new_parent, const std::string& new_name) {
  if (!access_) return Status::Ok();
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, Capability::kDelete, "rename"));
  ASSIGN_OR_RETURN(std::optional<std::string> from_dir, LivePath(parent));
  ASSIGN_OR_RETURN(std::optional<std::string> to_dir, LivePath(new_parent));
  if (!from_dir || !to_dir) return NotFound(name + ": no such file or directory");
  const std::string from = ChildPath(*from_dir, name);
  const std::string to = ChildPath(*to_dir, new_name);
  if (!access_->Check(c, Capability::kCreate, to, "rename")) return Denied(to, Capability::kCreate);
  // Everything below a moved directory changes its path too: each old path needs delete and
  // each new one create. A replaced destination is deleted.
  std::vector<std::string> below;
  bool dest_exists = false;
  RETURN_IF_ERROR(PathsBelow(parent, name, new_parent, new_name, &below, &dest_exists));
  if (dest_exists) {
    // Replacing an entry the caller may not see would reveal it (EEXIST, ENOTDIR) or destroy it.
    if (!access_->Peek(c, Capability::kList, to)) return Denied(to, Capability::kList);
    if (!access_->Check(c, Capability::kDelete, to, "rename"))
      return Denied(to, Capability::kDelete);
  }
  for (const std::string& rel : below) {
    if (!access_->Check(c, Capability::kDelete, from + rel, "rename"))
      return Denied(from + rel, Capability::kDelete);
    if (!access_->Check(c, Capability::kCreate, to + rel, "rename"))
      return Denied(to + rel, Capability::kCreate);
  }
  return Status::Ok();
}

Status Authorizer::PathsBelow(NodeId parent, const std::string& name, NodeId new_parent,
                              const std::string& new_name, std::vector<std::string>* below,
                              bool* dest_exists) {
  std::vector<std::pair<std::string, ObjectId>> stored;  // unloaded directories, read unlocked
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * to_node, table_->Get(new_parent));
    RETURN_IF_ERROR(table_->EnsureLoaded(to_node));  // may release the lock
    ASSIGN_OR_RETURN(to_node, table_->Get(new_parent));
    *dest_exists = to_node->children.count(new_name) > 0;
    ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
    auto src = dir->children.find(name);
    if (src == dir->children.end()) return Status::Ok();  // the rename itself reports it
    std::vector<std::pair<std::string, const Node*>> todo;
    ASSIGN_OR_RETURN(Node * moved, table_->Get(src->second));
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
        const Node* child = table_->Find(child_ino);
        if (!child) continue;
        below->push_back(rel + "/" + child_name);
        todo.emplace_back(rel + "/" + child_name, child);
      }
    }
  }
  while (!stored.empty()) {
    auto [rel, id] = stored.back();
    stored.pop_back();
    ASSIGN_OR_RETURN(repo::TreeObject tree, repo_->objects().LoadTree(id));
    for (const auto& e : tree.entries) {
      below->push_back(rel + "/" + e.name);
      if (e.type == repo::EntryType::kDirectory) stored.emplace_back(rel + "/" + e.name, e.id);
    }
  }
  return Status::Ok();
}

Status Authorizer::AuthorizeSnapshot(const Caller& c, NodeId ino, const char* op) {
  if (!access_) return Status::Ok();
  ASSIGN_OR_RETURN(std::optional<std::string> path, LivePath(ino));
  if (!path) return NotFound("stale node");
  if (!access_->Check(c, Capability::kSnapshot, *path, op))
    return Denied(*path, Capability::kSnapshot);
  return Status::Ok();
}

Status Authorizer::AuthorizeVersionsSnapshot(const Caller& c, const char* op) {
  if (!access_) return Status::Ok();
  if (!access_->Check(c, Capability::kSnapshot, "/", op)) return Denied("/", Capability::kSnapshot);
  return Status::Ok();
}

// Naming a snapshot (a tag) needs `snapshot` on `/`, however it is asked for (`mkdir
// .versions/tags/NAME`, or `weightfs snapshot DIR --tag NAME` through the xattr): tag names are
// shared by the whole repository, so a role that may snapshot only its own directory must not
// claim them (tag squatting).
Status Authorizer::AuthorizeTag(const Caller& c, const char* op) {
  if (!access_) return Status::Ok();
  if (!access_->Check(c, Capability::kSnapshot, "/", op)) return Denied("/", Capability::kSnapshot);
  return Status::Ok();
}

}  // namespace weightfs::vfs
