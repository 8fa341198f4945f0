// LiveTree file operations (create, open, read, write, flush, fsync), directories and extended
// attributes.
#include "vfs/live_tree.h"
#include "vfs/posix.h"
#include "weightfs/core/clock.h"

namespace weightfs::vfs {

using policy::Capability;

Result<std::pair<EntryOut, OpenOut>> LiveTree::Create(const Caller& c, NodeId parent,
                                                      const std::string& name, uint32_t mode,
                                                      bool exclusive, bool read) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(repo::ValidateName(name));
  RETURN_IF_ERROR(ctx_->auth->AuthorizeChild(c, parent, name, Capability::kCreate, "create"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * dir, table_->Get(parent));
  RETURN_IF_ERROR(table_->EnsureLoaded(dir));
  ASSIGN_OR_RETURN(dir, table_->Get(parent));
  if (auto it = dir->children.find(name); it != dir->children.end()) {
    if (exclusive) return AlreadyExists(name + " exists");
    ASSIGN_OR_RETURN(Node * existing, table_->Get(it->second));
    const NodeId ino = existing->ino;
    lock.Unlock();
    ASSIGN_OR_RETURN(OpenOut out, Open(c, ino, true, false, read));
    lock.Lock();
    ASSIGN_OR_RETURN(existing, table_->Get(ino));
    return std::make_pair(EntryFor(existing), out);
  }
  RETURN_IF_ERROR(CheckAdd(c, dir, "create"));
  Node* n = table_->NewOwnedNode(c, repo::EntryType::kFile, dir, name, mode);
  n->content = std::make_shared<FileContent>(ctx_->repo, repo::FileObject{}, ctx_->dirty_bytes,
                                             ctx_->write_pool);
  n->content->SetReader(ctx_->reader, repo::IsWeightFileName(name));
  // Never sealed: the first close seals it even if nothing was written.
  n->sealed_version = n->content->version();
  n->open_count++;
  OpenOut out;
  out.keep_cache = true;
  return std::make_pair(EntryFor(n), out);
}

Result<OpenOut> LiveTree::Open(const Caller& c, NodeId ino, bool write, bool truncate, bool read) {
  if (write || truncate) RETURN_IF_ERROR(CheckWritable());
  if (read || !(write || truncate))
    RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "open"));
  if (write || truncate)
    RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kUpdate, "open"));
  RETURN_IF_ERROR(
      CheckMode(c, ino, (read ? kWantRead : 0) | (write || truncate ? kWantWrite : 0), "open"));
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  if (truncate && content->size() > 0) RETURN_IF_ERROR(content->Truncate(0));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  n->open_count++;
  if (truncate) n->mtime_ns = n->ctime_ns = NowNs();
  OpenOut out;
  // Every change to the content passes through this daemon, which keeps the kernel's page
  // cache coherent with it (writes go through it, truncates invalidate it).
  out.keep_cache = true;
  return out;
}

Status LiveTree::Read(const Caller& c, NodeId ino, uint64_t offset, uint64_t size, PieceList* out) {
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  return content->Read(offset, size, out);
}

Result<uint64_t> LiveTree::Write(const Caller& c, NodeId ino, uint64_t offset, ByteView data) {
  RETURN_IF_ERROR(CheckWritable());
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  // A failure is logged where it is answered (the FUSE adapter), not here.
  Status s = content->Write(offset, data);
  if (!s.ok()) return s;
  {
    MutexLock lock(table_->mu());
    if (Node* n = table_->Find(ino)) n->mtime_ns = n->ctime_ns = NowNs();
  }
  // Keep memory bounded: past the budget, this file's decided chunks are sealed now.
  const int64_t budget = ctx_->options->dirty_budget;
  if (ctx_->dirty_bytes->load() > budget || content->dirty_bytes() > budget / 4) {
    RETURN_IF_ERROR(content->SealIdle());
  }
  return data.size();
}

Status LiveTree::Flush(const Caller& c, NodeId ino) {
  if (ctx_->options->read_only) return Status::Ok();
  std::shared_ptr<FileContent> content;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
    if (!n->content || !n->linked) return Status::Ok();
    if (n->file_id && n->content->version() == n->sealed_version) return Status::Ok();
    content = n->content;
  }
  return ctx_->committer->SealFile(ino, content);
}

Status LiveTree::Release(NodeId ino) {
  MutexLock lock(table_->mu());
  Node* n = table_->Find(ino);
  if (!n) return Status::Ok();
  if (n->open_count > 0) n->open_count--;
  // A closed file's clean content can be dropped; it reloads from its file object.
  if (n->open_count == 0 && n->content && n->file_id &&
      n->content->version() == n->sealed_version && n->content->dirty_bytes() == 0 &&
      !n->content->dirty()) {
    n->stored_size = n->committed_size;
    n->stored_hole_bytes = n->committed_hole_bytes;
    n->content.reset();
  }
  table_->MaybeDrop(n);
  return Status::Ok();
}

Status LiveTree::Fsync(const Caller& c, NodeId ino) {
  if (ctx_->options->read_only) return Status::Ok();
  RETURN_IF_ERROR(Flush(c, ino));
  return ctx_->committer->Commit();
}

Status LiveTree::Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(CheckWritable());
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  if (offset + length > content->size()) RETURN_IF_ERROR(content->Truncate(offset + length));
  return Status::Ok();
}

Result<std::optional<uint64_t>> LiveTree::SeekDataOrHole(const Caller& c, NodeId ino,
                                                         uint64_t offset, bool hole) {
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  return content->Seek(offset, hole);
}

Result<uint64_t> LiveTree::OpenDir(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kList, "opendir"));
  DirHandle h;
  std::optional<std::string> path;
  {
    MutexLock lock(table_->mu());
    ASSIGN_OR_RETURN(Node * dir, table_->Get(ino));
    RETURN_IF_ERROR(CheckMode(c, dir, kWantRead, "opendir"));
    RETURN_IF_ERROR(table_->EnsureLoaded(dir));
    ASSIGN_OR_RETURN(dir, table_->Get(ino));
    h.entries.reserve(dir->children.size() + 2);
    h.entries.emplace_back(".", dir->ino);
    h.entries.emplace_back("..", dir->parent ? dir->parent->ino : dir->ino);
    for (const auto& [name, child] : dir->children) h.entries.emplace_back(name, child);
    path = table_->PathOf(dir);
  }
  // Leave out what the caller may not list; decided outside the table lock (names may be
  // resolved through NSS).
  if (ctx_->auth->enabled()) {
    std::vector<std::pair<std::string, NodeId>> shown;
    for (size_t i = 0; i < h.entries.size(); ++i) {
      if (i < 2 || ctx_->auth->VisibleChild(c, path, false, h.entries[i].first))
        shown.push_back(h.entries[i]);
    }
    h.entries = std::move(shown);
  }
  const bool show_versions = ino == kRootNode && ctx_->versions &&
                             ctx_->options->versions_dir == FsOptions::VersionsDir::kVisible;
  if (show_versions && ctx_->auth->VisibleChild(c, std::nullopt, true, kVersionsName)) {
    auto a = ctx_->versions->GetAttr(VersionsView::kTop);
    if (a.ok()) h.fixed.push_back(DirEntry{kVersionsName, *a, h.entries.size() + 1});
  }
  return ctx_->dir_handles->Add(std::move(h));
}

Result<std::vector<DirEntry>> LiveTree::ReadDir(NodeId ino, uint64_t handle, uint64_t offset,
                                                size_t max_entries) {
  std::shared_ptr<const DirHandle> h = ctx_->dir_handles->Get(handle);
  if (!h) return InvalidArgument("bad directory handle");
  std::vector<DirEntry> out;
  {
    MutexLock lock(table_->mu());
    const Node* dir = table_->Find(ino);
    // The kernel asks for a buffer's worth at a time: only the entries asked for are built.
    for (uint64_t i = offset; i < h->entries.size() && out.size() < max_entries; ++i) {
      const auto& [name, child] = h->entries[i];
      const Node* n = table_->Find(child);
      if (!n) continue;                                // removed since opendir
      if (i >= 2 && !n->HasLink(dir, name)) continue;  // renamed or unlinked since
      out.push_back(DirEntry{name, table_->AttrOf(n), i + 1});
    }
  }
  for (DirEntry& e : FixedEntries(*h, offset, max_entries - out.size())) out.push_back(e);
  return out;
}

namespace {

Status CheckXattrName(const std::string& name) {
  if (name.rfind("user.", 0) != 0)
    return Unsupported("only user.* extended attributes are supported");
  if (name.size() > 255) return NameTooLong("attribute name too long");
  return Status::Ok();
}

}  // namespace

Result<Bytes> LiveTree::GetXattr(const Caller& c, NodeId ino, const std::string& name) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "getxattr"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  RETURN_IF_ERROR(CheckMode(c, n, kWantRead, "getxattr"));
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return NotFound("no attribute " + name);
  return it->second;
}

Status LiveTree::SnapshotByXattr(const Caller& c, NodeId ino, ByteView value) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeSnapshot(c, ino, "snapshot"));
  return ctx_->snapshots->SnapshotFromXattr(
      value, [&] { return ctx_->auth->AuthorizeTag(c, "snapshot --tag"); });
}

Status LiveTree::SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                          bool create_only, bool replace_only) {
  if (name == kSnapshotXattr) {
    bool dir = false;
    {
      MutexLock lock(table_->mu());
      const Node* n = table_->Find(ino);
      dir = n && n->type == repo::EntryType::kDirectory;
    }
    if (dir) return SnapshotByXattr(c, ino, value);
  }
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(CheckXattrName(name));
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kUpdate, "setxattr"));
  if (value.size() > 64 * 1024) return NoSpace("attribute value larger than 64 KiB");
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  RETURN_IF_ERROR(CheckMode(c, n, kWantWrite, "setxattr"));
  const bool exists = n->xattrs.count(name) > 0;
  if (create_only && exists) return AlreadyExists("attribute " + name + " exists");
  if (replace_only && !exists) return NotFound("no attribute " + name);
  n->xattrs[name] = Bytes(value.begin(), value.end());
  n->ctime_ns = NowNs();
  table_->MarkDirty(n);
  return Status::Ok();
}

Result<std::vector<std::string>> LiveTree::ListXattr(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kRead, "listxattr"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  std::vector<std::string> out;
  for (const auto& [k, v] : n->xattrs) out.push_back(k);
  return out;
}

Status LiveTree::RemoveXattr(const Caller& c, NodeId ino, const std::string& name) {
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(ctx_->auth->Authorize(c, ino, Capability::kUpdate, "removexattr"));
  MutexLock lock(table_->mu());
  ASSIGN_OR_RETURN(Node * n, table_->Get(ino));
  RETURN_IF_ERROR(CheckMode(c, n, kWantWrite, "removexattr"));
  if (n->xattrs.erase(name) == 0) return NotFound("no attribute " + name);
  n->ctime_ns = NowNs();
  table_->MarkDirty(n);
  return Status::Ok();
}

}  // namespace weightfs::vfs
