// LiveTree: lookups, attributes and access(2) (see live_tree.h). Namespace changes live in
// live_namespace.cc, files, directories and xattrs in live_files.cc, mode bits in mode_check.cc.
#include "vfs/live_tree.h"

#include "vfs/posix.h"
#include "weightfs/core/clock.h"

namespace weightfs::vfs {

using policy::Capability;

Status LiveTree::CheckWritable() const {
  if (ctx_->options->read_only) return ReadOnly("the mount is read-only");
  return Status::Ok();
}

bool LiveTree::Cacheable(const Node* n) const {
  if (ctx_->options->mode_check) {
    // Below a directory that not everybody may search, each lookup must reach the daemon: the
    // kernel would otherwise let anybody walk the names some user looked up.
    for (const Node* d = n->parent; d; d = d->parent) {
      if ((d->mode & 0111) != 0111) return false;
    }
  }
  const AccessControl* ac = ctx_->auth->access();
  if (!ac || !ac->options().per_caller) return true;
  if (n->ino == kRootNode) return true;  // always there, the same attributes for everybody
  const std::optional<std::string> path = table_->PathOf(n);
  return path && ac->SameForEveryCaller(*path);
}

EntryOut LiveTree::EntryFor(Node* n) {
  n->nlookup++;
  EntryOut e;
  e.attr = table_->AttrOf(n);
  const bool cacheable = Cacheable(n);
  e.entry_timeout = cacheable ? ctx_->options->entry_timeout_s : 0;
  e.attr_timeout = cacheable ? ctx_->options->attr_timeout_s : 0;
  return e;
}

Result<std::shared_ptr<FileContent>> LiveTree::LoadContent(NodeId ino) {
  std::optional<ObjectId> file_id;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
    if (n->type == repo::EntryType::kDirectory) return IsDirectory("is a directory");
    if (n->type != repo::EntryType::kFile) return InvalidArgument("not a regular file");
    if (n->content) return n->content;
    file_id = n->file_id;
  }
  repo::FileObject file;
  if (file_id) {
    // A failure is logged where it is answered (the FUSE adapter).
    ASSIGN_OR_RETURN(file, ctx_->repo->objects().LoadFile(*file_id));
  }
  auto content = std::make_shared<FileContent>(ctx_->repo, std::move(file), ctx_->dirty_bytes,
                                               ctx_->write_pool);
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  content->SetReader(ctx_->reader, repo::IsWeightFileName(n->name));
  if (!n->content) {
    n->content = content;
    n->sealed_version = content->version();
  }
  return n->content;
}

Result<EntryOut> LiveTree::Lookup(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kList, "lookup"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
  RETURN_IF_ERROR(CheckMode(c, dir, kWantExec, "lookup"));
  ASSIGN_OR_RETURN(Node * n, table_->Child(dir, name));
  const NodeId ino = n->ino;
  RETURN_IF_ERROR(table_->CountSubdirs(ino));
  ASSIGN_OR_RETURN(n, table_->Get(ino));
  return EntryFor(n);
}

void LiveTree::Forget(NodeId ino, uint64_t nlookup) {
  MutexLock lock(table_->mu());
  table_->Forget(ino, nlookup);
}

Result<Attr> LiveTree::GetAttr(const Caller& c, NodeId ino, double* attr_timeout) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kList, "getattr"));
  MutexLock lock(table_->mu());
  RETURN_IF_ERROR(table_->CountSubdirs(ino));
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  if (attr_timeout) *attr_timeout = Cacheable(n) ? ctx_->options->attr_timeout_s : 0;
  return table_->AttrOf(n);
}

Status LiveTree::ApplySetAttr(const Caller& c, Node* n, const SetAttrRequest& req) {
  if (req.set_size) {
    if (n->type == repo::EntryType::kDirectory) return IsDirectory("cannot truncate a directory");
    if (n->type != repo::EntryType::kFile)
      return InvalidArgument("cannot truncate a symlink or special file");
    RETURN_IF_ERROR(CheckMode(c, n, kWantWrite, "truncate"));
  }
  RETURN_IF_ERROR(ApplyOwnership(c, n, req));
  if (req.set_mtime) n->mtime_ns = req.mtime_ns;
  if (req.set_atime) n->atime_ns = req.atime_ns;
  // A truncate changes the times only if it changes the size (TruncateForSetAttr), as on ext4
  // and as POSIX says; open(O_TRUNC) asks for the new mtime itself.
  if (req.set_mode || req.set_mtime || req.set_atime || req.set_uid || req.set_gid)
    n->ctime_ns = NowNs();
  if (req.set_mode || req.set_mtime || req.set_uid || req.set_gid) table_->MarkDirty(n);
  return Status::Ok();
}

Status LiveTree::TruncateForSetAttr(NodeId ino, const SetAttrRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  const uint64_t version = content->version();
  RETURN_IF_ERROR(content->Truncate(req.size));
  bool seal = false;
  if (content->version() != version) {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
    n->ctime_ns = NowNs();
    if (!req.set_mtime) n->mtime_ns = n->ctime_ns;
    // A truncate outside an open handle (truncate(2)) has no close to seal it. Growing adds a
    // hole, so this costs O(1) whatever the size.
    seal = n->open_count == 0;
  }
  if (seal) RETURN_IF_ERROR(ctx_->committer->SealFile(ino, content));
  return Status::Ok();
}

Result<Attr> LiveTree::SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                               double* attr_timeout) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kUpdate, "setattr"));
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
    RETURN_IF_ERROR(ApplySetAttr(c, n, req));
  }
  if (req.set_size) RETURN_IF_ERROR(TruncateForSetAttr(ino, req));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  if (attr_timeout) *attr_timeout = Cacheable(n) ? ctx_->options->attr_timeout_s : 0;
  return table_->AttrOf(n);
}

Result<std::string> LiveTree::ReadLink(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "readlink"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  if (n->type != repo::EntryType::kSymlink) return InvalidArgument("not a symlink");
  return n->target;
}

Status LiveTree::Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kList, "access"));
  if (write) RETURN_IF_ERROR(CheckWritable());
  bool dir = false;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
    dir = n->type == repo::EntryType::kDirectory;
  }
  if ((read || exec) && !dir)
    RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "access"));
  if (write) {
    RETURN_IF_ERROR(
        ctx_->auth->Authorize(c, ino, dir ? Capability::kCreate : Capability::kUpdate, "access"));
  }
  return CheckMode(
      c, ino, (read ? kWantRead : 0) | (write ? kWantWrite : 0) | (exec ? kWantExec : 0), "access");
}

}  // namespace weightfs::vfs
