// FileSystem namespace operations: mkdir, symlink, mknod, link, unlink, rmdir, rename,
// directories.
#include <algorithm>
#include <tuple>

#include "vfs/node.h"
#include "weightfs/core/clock.h"
#include "weightfs/repo/history.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

namespace {

Status ValidateNewName(const std::string& name) {
  if (name.size() > 255) return NameTooLong("name longer than 255 bytes");
  return repo::ValidateName(name);
}

}  // namespace

Status FileSystem::CheckNameLength(const std::string& name) {
  if (name.size() > 255) return NameTooLong("name longer than 255 bytes");
  return Status::Ok();
}

Result<FileSystem::Node*> FileSystem::DirForNewEntryLocked(std::unique_lock<std::mutex>& lock,
                                                           const Caller& c, NodeId parent,
                                                           const std::string& name,
                                                           const char* op) {
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, dir));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(parent));
  if (dir->children.count(name)) return AlreadyExists(name + " exists");
  RETURN_IF_ERROR(CheckAddLocked(c, dir, op));
  return dir;
}

Result<EntryOut> FileSystem::Mkdir(const Caller& c, NodeId parent, const std::string& name,
                                   uint32_t mode) {
  if (versions_ && versions_->IsTagsDir(parent)) {
    RETURN_IF_ERROR(AuthorizeTag(c, "mkdir"));
    return MakeTaggedSnapshot(name);
  }
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kCreate, "mkdir"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntryLocked(lock, c, parent, name, "mkdir"));
  Node* n = NewOwnedNodeLocked(c, repo::EntryType::kDirectory, dir, name, mode);
  n->loaded = true;
  MarkDirtyLocked(n);
  return EntryLocked(n);
}

Result<EntryOut> FileSystem::Symlink(const Caller& c, NodeId parent, const std::string& name,
                                     const std::string& target) {
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  if (target.empty() || target.size() > 4095) return InvalidArgument("invalid symlink target");
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kCreate, "symlink"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntryLocked(lock, c, parent, name, "symlink"));
  Node* n = NewOwnedNodeLocked(c, repo::EntryType::kSymlink, dir, name, 0777);
  n->mode = 0777;  // not the setgid directory's bit: a symlink's mode means nothing
  n->target = target;
  return EntryLocked(n);
}

void FileSystem::RemoveLinkLocked(Node* n, Node* dir, const std::string& name) {
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

void FileSystem::MoveLinkLocked(Node* n, Node* from, const std::string& name, Node* to,
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

Result<EntryOut> FileSystem::Link(const Caller& c, NodeId ino, NodeId new_parent,
                                  const std::string& new_name) {
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(RefuseInVersions(new_parent, new_name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(new_name));
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "link"));
  RETURN_IF_ERROR(AuthorizeChild(c, new_parent, new_name, policy::Capability::kCreate, "link"));
  std::unique_lock lock(tree_mu_);
  // Every name of every linked file is known before a new group id is chosen.
  RETURN_IF_ERROR(LoadAllLocked(lock));
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntryLocked(lock, c, new_parent, new_name, "link"));
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  if (n->type == repo::EntryType::kDirectory)
    return NotPermitted("directories cannot be hard-linked");
  if (!n->linked) return NotFound("the file was removed");
  RETURN_IF_ERROR(CheckLinkSourceLocked(c, n));
  if (n->link_group == 0) {
    do {
      n->link_group = repo::NewLinkGroup();
    } while (link_groups_.count(n->link_group));
    link_groups_[n->link_group] = n->ino;
  }
  dir->children[new_name] = n->ino;
  n->more_links.emplace_back(dir, new_name);
  n->ctime_ns = NowNs();
  TouchLocked(dir);
  MarkDirtyLocked(n);
  return EntryLocked(n);
}

Result<EntryOut> FileSystem::Mknod(const Caller& c, NodeId parent, const std::string& name,
                                   NodeType type, uint32_t mode, uint64_t rdev) {
  const repo::EntryType entry_type = EntryTypeOf(type);
  if (!repo::IsSpecial(entry_type))
    return InvalidArgument("mknod makes FIFOs, sockets and device nodes");
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  const bool device = type == NodeType::kCharDevice || type == NodeType::kBlockDevice;
  // As CAP_MKNOD: only root makes device nodes (and the mount's nodev keeps them from opening).
  if (device && c.uid != 0) return NotPermitted("only root may create device nodes");
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kCreate, "mknod"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntryLocked(lock, c, parent, name, "mknod"));
  Node* n = NewOwnedNodeLocked(c, entry_type, dir, name, mode);
  n->rdev = device ? rdev : 0;
  return EntryLocked(n);
}

Result<std::string> FileSystem::ReadLink(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "readlink"));
  if (versions_ && VersionsView::Owns(ino)) return versions_->ReadLink(ino);
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  if (n->type != repo::EntryType::kSymlink) return InvalidArgument("not a symlink");
  return n->target;
}

Status FileSystem::Unlink(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckNameLength(name));
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kDelete, "unlink"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
  ASSIGN_OR_RETURN(Node * n, ChildLocked(lock, dir, name));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(parent));
  if (n->type == repo::EntryType::kDirectory) return IsDirectory(name + " is a directory");
  RETURN_IF_ERROR(CheckRemoveLocked(c, dir, n, "unlink"));
  dir->children.erase(name);
  RemoveLinkLocked(n, dir, name);
  const std::optional<ObjectId> still_read =
      n->open_count > 0 && !n->linked ? n->file_id : std::nullopt;
  n->ctime_ns = NowNs();
  TouchLocked(dir);
  MarkDirtyLocked(n);  // its other names (a link group of one is written as none)
  MaybeDropLocked(n);
  lock.unlock();
  KeepChunksForOpenHandles(still_read);
  return Status::Ok();
}

Status FileSystem::Rmdir(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckNameLength(name));
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kDelete, "rmdir"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
  ASSIGN_OR_RETURN(Node * n, ChildLocked(lock, dir, name));
  if (n->type != repo::EntryType::kDirectory) return NotDirectory(name + " is not a directory");
  const NodeId ino = n->ino;
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, n));
  ASSIGN_OR_RETURN(n, GetNodeLocked(ino));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(parent));
  RETURN_IF_ERROR(CheckRemoveLocked(c, dir, n, "rmdir"));
  if (!n->children.empty()) return NotEmpty(name + " is not empty");
  dir->children.erase(name);
  dir->subdirs--;
  n->linked = false;
  n->parent = nullptr;
  TouchLocked(dir);
  MaybeDropLocked(n);
  return Status::Ok();
}

Status FileSystem::Rename(const Caller& c, NodeId parent, const std::string& name,
                          NodeId new_parent, const std::string& new_name, uint32_t flags) {
  RETURN_IF_ERROR(CheckNameLength(name));
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(RefuseInVersions(new_parent, new_name));
  RETURN_IF_ERROR(CheckWritable());
  if (flags & ~kRenameNoReplace)
    return InvalidArgument("rename flags other than RENAME_NOREPLACE are not supported");
  RETURN_IF_ERROR(ValidateNewName(new_name));
  RETURN_IF_ERROR(AuthorizeMove(c, parent, name, new_parent, new_name));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * from_dir, GetNodeLocked(parent));
  ASSIGN_OR_RETURN(Node * n, ChildLocked(lock, from_dir, name));
  const NodeId src_ino = n->ino;
  ASSIGN_OR_RETURN(Node * to_dir, GetNodeLocked(new_parent));
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, to_dir));
  // Re-find everything: loading may have released the lock.
  ASSIGN_OR_RETURN(from_dir, GetNodeLocked(parent));
  ASSIGN_OR_RETURN(to_dir, GetNodeLocked(new_parent));
  ASSIGN_OR_RETURN(n, GetNodeLocked(src_ino));
  if (!n->HasLink(from_dir, name)) return NotFound(name + ": no such file or directory");
  // A directory cannot move below itself.
  for (Node* d = to_dir; d; d = d->parent) {
    if (d == n) return InvalidArgument("cannot move a directory into itself");
  }
  RETURN_IF_ERROR(CheckRenameLocked(c, from_dir, n, to_dir));
  Node* victim = nullptr;
  if (auto it = to_dir->children.find(new_name); it != to_dir->children.end()) {
    ASSIGN_OR_RETURN(victim, GetNodeLocked(it->second));
    if (victim == n) return Status::Ok();
    if (flags & kRenameNoReplace) return AlreadyExists(new_name + " exists");
    const bool src_dir = n->type == repo::EntryType::kDirectory;
    const bool dst_dir = victim->type == repo::EntryType::kDirectory;
    if (src_dir && !dst_dir) return NotDirectory(new_name + " is not a directory");
    if (!src_dir && dst_dir) return IsDirectory(new_name + " is a directory");
    if (dst_dir) {
      const NodeId victim_ino = victim->ino;
      RETURN_IF_ERROR(EnsureLoadedLocked(lock, victim));
      ASSIGN_OR_RETURN(victim, GetNodeLocked(victim_ino));
      ASSIGN_OR_RETURN(from_dir, GetNodeLocked(parent));
      ASSIGN_OR_RETURN(to_dir, GetNodeLocked(new_parent));
      ASSIGN_OR_RETURN(n, GetNodeLocked(src_ino));
      if (!victim->children.empty()) return NotEmpty(new_name + " is not empty");
    }
    RETURN_IF_ERROR(CheckRemoveLocked(c, to_dir, victim, "rename"));
  }
  std::optional<ObjectId> still_read;
  if (victim) {
    to_dir->children.erase(new_name);
    if (victim->type == repo::EntryType::kDirectory) to_dir->subdirs--;
    RemoveLinkLocked(victim, to_dir, new_name);
    victim->ctime_ns = NowNs();
    MarkDirtyLocked(victim);
    if (victim->open_count > 0 && !victim->linked) still_read = victim->file_id;
  }
  from_dir->children.erase(name);
  to_dir->children[new_name] = n->ino;
  if (n->type == repo::EntryType::kDirectory) {
    from_dir->subdirs--;
    to_dir->subdirs++;
  }
  MoveLinkLocked(n, from_dir, name, to_dir, new_name);
  n->ctime_ns = NowNs();
  TouchLocked(from_dir);
  TouchLocked(to_dir);
  if (n->type == repo::EntryType::kDirectory) MarkDirtyLocked(n);
  if (victim) MaybeDropLocked(victim);
  lock.unlock();
  KeepChunksForOpenHandles(still_read);
  return Status::Ok();
}

void FileSystem::KeepChunksForOpenHandles(const std::optional<ObjectId>& file_id) {
  if (!file_id) return;
  // No ref reaches an unlinked file, so gc would collect its chunks while handles still read
  // them: touched, they look freshly written, and gc's grace period keeps them. Best effort.
  auto file = repo_->objects().LoadFile(*file_id);
  if (!file.ok()) return;
  for (const repo::ChunkRef& c : file->chunks) {
    if (!c.hole) repo_->store()->Touch(c.id).IgnoreError();
  }
}

Result<uint64_t> FileSystem::OpenDir(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kList, "opendir"));
  if (versions_ && VersionsView::Owns(ino)) return OpenVersionsDir(c, ino);
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(ino));
  RETURN_IF_ERROR(CheckModeLocked(c, dir, kWantRead, "opendir"));
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, dir));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(ino));
  auto h = std::make_unique<DirHandle>();
  h->entries.reserve(dir->children.size() + 2);
  h->entries.emplace_back(".", dir->ino);
  h->entries.emplace_back("..", dir->parent ? dir->parent->ino : dir->ino);
  for (const auto& [name, child] : dir->children) h->entries.emplace_back(name, child);
  if (ino == kRootNode && versions_ && options_.versions_dir == FsOptions::VersionsDir::kVisible) {
    h->entries.emplace_back(VersionsView::kName, VersionsView::kTop);
  }
  if (options_.access) {
    // Leave out what the caller may not list; decided outside the table lock (names may be
    // resolved through NSS).
    const std::optional<std::string> path = PathLocked(dir);
    lock.unlock();
    std::vector<std::pair<std::string, NodeId>> shown;
    for (size_t i = 0; i < h->entries.size(); ++i) {
      const auto& [name, child] = h->entries[i];
      const bool versions_entry = VersionsView::Owns(child);
      if (i < 2 || VisibleChild(c, versions_entry ? std::nullopt : path, versions_entry, name)) {
        shown.push_back(h->entries[i]);
      }
    }
    h->entries = std::move(shown);
    lock.lock();
  }
  uint64_t handle = next_handle_++;
  dir_handles_.emplace(handle, std::move(h));
  return handle;
}

Result<std::vector<DirEntry>> FileSystem::ReadDir(const Caller& c, NodeId ino, uint64_t handle,
                                                  uint64_t offset, size_t max_entries) {
  std::lock_guard lock(tree_mu_);
  auto it = dir_handles_.find(handle);
  if (it == dir_handles_.end()) return InvalidArgument("bad directory handle");
  std::vector<DirEntry> out;
  if (!it->second->fixed.empty()) {
    const auto& fixed = it->second->fixed;
    for (uint64_t i = offset; i < fixed.size() && out.size() < max_entries; ++i)
      out.push_back(fixed[i]);
    return out;
  }
  const auto& entries = it->second->entries;
  // The kernel asks for a buffer's worth at a time: building every remaining entry on each call
  // made listing a directory quadratic in its size.
  for (uint64_t i = offset; i < entries.size() && out.size() < max_entries; ++i) {
    if (VersionsView::Owns(entries[i].second) && versions_) {
      auto a = versions_->GetAttr(entries[i].second);
      if (a.ok()) out.push_back(DirEntry{entries[i].first, *a, i + 1});
      continue;
    }
    auto n = nodes_.find(entries[i].second);
    if (n == nodes_.end()) continue;  // removed since opendir
    auto dir = nodes_.find(ino);
    const Node* d = dir == nodes_.end() ? nullptr : dir->second.get();
    if (i >= 2 && !n->second->HasLink(d, entries[i].first)) continue;
    out.push_back(DirEntry{entries[i].first, AttrLocked(n->second.get()), i + 1});
  }
  return out;
}

Status FileSystem::ReleaseDir(NodeId ino, uint64_t handle) {
  std::lock_guard lock(tree_mu_);
  dir_handles_.erase(handle);
  return Status::Ok();
}

Status FileSystem::FsyncDir(const Caller& c, NodeId ino) {
  if (options_.read_only) return Status::Ok();
  return Commit();
}

}  // namespace weightfs::vfs

namespace weightfs::vfs {

bool FileSystem::InVersions(NodeId ino) const { return versions_ && VersionsView::Owns(ino); }

Status FileSystem::RefuseInVersions(NodeId ino) const {
  if (versions_ && VersionsView::Owns(ino))
    return ReadOnly("everything below .versions is read-only");
  return Status::Ok();
}

Status FileSystem::RefuseInVersions(NodeId parent, const std::string& name) const {
  RETURN_IF_ERROR(RefuseInVersions(parent));
  if (versions_ && parent == kRootNode && name == VersionsView::kName) {
    return ReadOnly(".versions is reserved for the read-only snapshot tree");
  }
  return Status::Ok();
}

Result<uint64_t> FileSystem::OpenVersionsDir(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(CheckMode(c, ino, kWantRead, "opendir"));
  ASSIGN_OR_RETURN(std::vector<DirEntry> entries, versions_->List(ino));
  auto h = std::make_unique<DirHandle>();
  if (options_.access) {
    const std::optional<std::string> path = versions_->PathInVersion(ino);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i < 2 || VisibleChild(c, path, true, entries[i].name))
        h->fixed.push_back(std::move(entries[i]));
    }
    for (size_t i = 0; i < h->fixed.size(); ++i) h->fixed[i].next_offset = i + 1;
  } else {
    h->fixed = std::move(entries);
  }
  std::lock_guard lock(tree_mu_);
  uint64_t handle = next_handle_++;
  dir_handles_.emplace(handle, std::move(h));
  return handle;
}

Result<repo::SnapshotInfo> FileSystem::MakeSnapshot(const std::string& message,
                                                    const std::string& tag) {
  RETURN_IF_ERROR(CheckWritable());
  if (!tag.empty()) RETURN_IF_ERROR(repo::ValidateTagName(tag));
  RETURN_IF_ERROR(Commit());
  repo::SnapshotOptions options;
  options.message = message.empty() ? (tag.empty() ? "snapshot" : "snapshot " + tag) : message;
  options.tag = tag;
  auto info = repo::SnapshotLive(repo_, options);
  if (!info.ok()) {
    Log("snapshot failed: " + info.status().message());
    return info.status();
  }
  if (versions_) versions_->Invalidate();
  Log("snapshot " + info->id.Hex() + (tag.empty() ? "" : " tagged " + tag));
  return info;
}

Result<EntryOut> FileSystem::MakeTaggedSnapshot(const std::string& tag) {
  ASSIGN_OR_RETURN(repo::SnapshotInfo info, MakeSnapshot("", tag));
  (void)info;
  return versions_->Lookup(VersionsView::kTop + 2, tag);
}

}  // namespace weightfs::vfs
