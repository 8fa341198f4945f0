// LiveTree namespace operations: mkdir, symlink, mknod, link, unlink, rmdir, rename.
#include <algorithm>

#include "vfs/live_tree.h"
#include "vfs/posix.h"
#include "weightfs/core/clock.h"
#include "weightfs/repo/history.h"

namespace weightfs::vfs {

using policy::Capability;

namespace {

Status ValidateNewName(const std::string& name) {
  if (name.size() > 255) return NameTooLong("name longer than 255 bytes");
  return repo::ValidateName(name);
}

}  // namespace

Result<Node*> LiveTree::DirForNewEntry(const Caller& c, NodeId parent, const std::string& name,
                                       const char* op) {
  ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
  RETURN_IF_ERROR(table_->EnsureLoaded(dir));
  ASSIGN_OR_RETURN(dir, table_->Get(parent));
  if (dir->children.count(name)) return AlreadyExists(name + " exists");
  RETURN_IF_ERROR(CheckAdd(c, dir, op));
  return dir;
}

Result<EntryOut> LiveTree::Mkdir(const Caller& c, NodeId parent, const std::string& name,
                                 uint32_t mode) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kCreate, "mkdir"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntry(c, parent, name, "mkdir"));
  Node* n = table_->NewOwnedNode(c, repo::EntryType::kDirectory, dir, name, mode);
  n->loaded = true;
  table_->MarkDirty(n);
  return EntryFor(n);
}

Result<EntryOut> LiveTree::Symlink(const Caller& c, NodeId parent, const std::string& name,
                                   const std::string& target) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  if (target.empty() || target.size() > 4095) return InvalidArgument("invalid symlink target");
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kCreate, "symlink"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntry(c, parent, name, "symlink"));
  Node* n = table_->NewOwnedNode(c, repo::EntryType::kSymlink, dir, name, 0777);
  n->mode = 0777;  // not the setgid directory's bit: a symlink's mode means nothing
  n->target = target;
  return EntryFor(n);
}

Result<EntryOut> LiveTree::Link(const Caller& c, NodeId ino, NodeId new_parent,
                                const std::string& new_name) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(new_name));
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "link"));
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, new_parent, new_name, Capability::kCreate, "link"));
  MutexLock lock(table_->mu());
  // Every name of every linked file is known before a new group id is chosen.
  RETURN_IF_ERROR(table_->LoadAll());
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntry(c, new_parent, new_name, "link"));
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  if (n->type == repo::EntryType::kDirectory)
    return NotPermitted("directories cannot be hard-linked");
  if (!n->linked) return NotFound("the file was removed");
  RETURN_IF_ERROR(CheckLinkSource(c, n));
  table_->AssignLinkGroup(n);
  dir->children[new_name] = n->ino;
  n->more_links.emplace_back(dir, new_name);
  n->ctime_ns = NowNs();
  table_->Touch(dir);
  table_->MarkDirty(n);
  return EntryFor(n);
}

Result<EntryOut> LiveTree::Mknod(const Caller& c, NodeId parent, const std::string& name,
                                 NodeType type, uint32_t mode, uint64_t rdev) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ValidateNewName(name));
  const bool device = type == NodeType::kCharDevice || type == NodeType::kBlockDevice;
  // As CAP_MKNOD: only root makes device nodes (and the mount's nodev keeps them from opening).
  if (device && c.uid != 0) return NotPermitted("only root may create device nodes");
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kCreate, "mknod"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, DirForNewEntry(c, parent, name, "mknod"));
  Node* n = table_->NewOwnedNode(c, EntryTypeOf(type), dir, name, mode);
  n->rdev = device ? rdev : 0;
  return EntryFor(n);
}

Status LiveTree::Unlink(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kDelete, "unlink"));
  std::optional<ObjectId> still_read;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
    ASSIGN_OR_RETURN(Node * n, table_->Child(dir, name));
    ASSIGN_OR_RETURN(dir, table_->Get(parent));
    if (n->type == repo::EntryType::kDirectory) return IsDirectory(name + " is a directory");
    RETURN_IF_ERROR(CheckRemove(c, dir, n, "unlink"));
    dir->children.erase(name);
    table_->RemoveLink(n, dir, name);
    if (n->open_count > 0 && !n->linked) still_read = n->file_id;
    n->ctime_ns = NowNs();
    table_->Touch(dir);
    table_->MarkDirty(n);  // its other names (a link group of one is written as none)
    table_->MaybeDrop(n);
  }
  KeepChunksForOpenHandles(still_read);
  return Status::Ok();
}

Status LiveTree::Rmdir(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kDelete, "rmdir"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
  ASSIGN_OR_RETURN(Node * n, table_->Child(dir, name));
  if (n->type != repo::EntryType::kDirectory) return NotDirectory(name + " is not a directory");
  const NodeId ino = n->ino;
  RETURN_IF_ERROR(table_->EnsureLoaded(n));
  ASSIGN_OR_RETURN(n, table_->Get(ino));
  ASSIGN_OR_RETURN(dir, table_->Get(parent));
  RETURN_IF_ERROR(CheckRemove(c, dir, n, "rmdir"));
  if (!n->children.empty()) return NotEmpty(name + " is not empty");
  dir->children.erase(name);
  dir->subdirs--;
  n->linked = false;
  n->parent = nullptr;
  table_->Touch(dir);
  table_->MaybeDrop(n);
  return Status::Ok();
}

Status LiveTree::Rename(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                        const std::string& new_name, uint32_t flags) {
  RETURN_IF_ERROR(CheckWritable());
  if (flags & ~FileSystem::kRenameNoReplace)
    return InvalidArgument("rename flags other than RENAME_NOREPLACE are not supported");
  RETURN_IF_ERROR(ValidateNewName(new_name));
  RETURN_IF_ERROR(ctx_->auth->AuthorizeMove(c, parent, name, new_parent, new_name));
  std::optional<ObjectId> still_read;
  {
    MutexLock lock(table_->mu());
    Node* moved = nullptr;
    Node* victim = nullptr;
    RETURN_IF_ERROR(CheckRename(c, parent, name, new_parent, new_name, flags, &moved, &victim));
    if (!moved) return Status::Ok();
    still_read = ApplyRename(parent, name, new_parent, new_name, moved, victim);
  }
  KeepChunksForOpenHandles(still_read);
  return Status::Ok();
}

Status LiveTree::CheckRename(const Caller& c, NodeId parent, const std::string& name,
                             NodeId new_parent, const std::string& new_name, uint32_t flags,
                             Node** moved, Node** victim) {
  ASSIGN_OR_RETURN(Node * from_dir, table_->Get(parent));
  ASSIGN_OR_RETURN(Node * n, table_->Child(from_dir, name));
  const NodeId src_ino = n->ino;
  ASSIGN_OR_RETURN(Node * to_dir, table_->Get(new_parent));
  RETURN_IF_ERROR(table_->EnsureLoaded(to_dir));
  // Re-find everything: loading may have released the lock.
  ASSIGN_OR_RETURN(from_dir, table_->Get(parent));
  ASSIGN_OR_RETURN(to_dir, table_->Get(new_parent));
  ASSIGN_OR_RETURN(n, table_->Get(src_ino));
  if (!n->HasLink(from_dir, name)) return NotFound(name + ": no such file or directory");
  // A directory cannot move below itself.
  for (Node* d = to_dir; d; d = d->parent) {
    if (d == n) return InvalidArgument("cannot move a directory into itself");
  }
  RETURN_IF_ERROR(CheckRenameMode(c, from_dir, n, to_dir));
  auto it = to_dir->children.find(new_name);
  if (it == to_dir->children.end()) {
    *moved = n;
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(Node * v, table_->Get(it->second));
  if (v == n) return Status::Ok();  // renamed onto itself: nothing to do
  if (flags & FileSystem::kRenameNoReplace) return AlreadyExists(new_name + " exists");
  const bool src_dir = n->type == repo::EntryType::kDirectory;
  const bool dst_dir = v->type == repo::EntryType::kDirectory;
  if (src_dir && !dst_dir) return NotDirectory(new_name + " is not a directory");
  if (!src_dir && dst_dir) return IsDirectory(new_name + " is a directory");
  if (dst_dir) {
    const NodeId victim_ino = v->ino;
    RETURN_IF_ERROR(table_->EnsureLoaded(v));
    ASSIGN_OR_RETURN(v, table_->Get(victim_ino));
    ASSIGN_OR_RETURN(to_dir, table_->Get(new_parent));
    RETURN_IF_ERROR(table_->Get(parent).status());
    ASSIGN_OR_RETURN(n, table_->Get(src_ino));
    if (!v->children.empty()) return NotEmpty(new_name + " is not empty");
  }
  RETURN_IF_ERROR(CheckRemove(c, to_dir, v, "rename"));
  *moved = n;
  *victim = v;
  return Status::Ok();
}

std::optional<ObjectId> LiveTree::ApplyRename(NodeId parent, const std::string& name,
                                              NodeId new_parent, const std::string& new_name,
                                              Node* n, Node* victim) {
  // CheckRename found all of them, and nothing released the lock since.
  Node* from_dir = table_->Find(parent);
  Node* to_dir = table_->Find(new_parent);
  std::optional<ObjectId> still_read;
  if (victim) {
    to_dir->children.erase(new_name);
    if (victim->type == repo::EntryType::kDirectory) to_dir->subdirs--;
    table_->RemoveLink(victim, to_dir, new_name);
    victim->ctime_ns = NowNs();
    table_->MarkDirty(victim);
    if (victim->open_count > 0 && !victim->linked) still_read = victim->file_id;
  }
  from_dir->children.erase(name);
  to_dir->children[new_name] = n->ino;
  if (n->type == repo::EntryType::kDirectory) {
    from_dir->subdirs--;
    to_dir->subdirs++;
  }
  table_->MoveLink(n, from_dir, name, to_dir, new_name);
  n->ctime_ns = NowNs();
  table_->Touch(from_dir);
  table_->Touch(to_dir);
  if (n->type == repo::EntryType::kDirectory) table_->MarkDirty(n);
  if (victim) table_->MaybeDrop(victim);
  return still_read;
}

void LiveTree::KeepChunksForOpenHandles(const std::optional<ObjectId>& file_id) {
  if (!file_id) return;
  // No ref reaches an unlinked file, so gc would collect its chunks while handles still read
  // them: touched, they look freshly written, and gc's grace period keeps them. Best effort.
  auto file = ctx_->repo->objects().LoadFile(*file_id);
  if (!file.ok()) return;
  for (const repo::ChunkRef& c : file->chunks) {
    if (!c.hole) ctx_->repo->store()->Touch(c.id).IgnoreError();
  }
}

}  // namespace weightfs::vfs
