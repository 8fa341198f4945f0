// FileSystem file operations (create, open, read, write, flush, fsync) and extended attributes.
#include "vfs/node.h"
#include "weightfs/core/clock.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

Result<std::shared_ptr<FileContent>> FileSystem::LoadContent(NodeId ino) {
  std::optional<ObjectId> file_id;
  {
    std::lock_guard lock(tree_mu_);
    ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
    if (n->type == repo::EntryType::kDirectory) return IsDirectory("is a directory");
    if (n->type != repo::EntryType::kFile) return InvalidArgument("not a regular file");
    if (n->content) return n->content;
    file_id = n->file_id;
  }
  repo::FileObject file;
  if (file_id) {
    auto loaded = repo_->objects().LoadFile(*file_id);
    if (!loaded.ok()) {
      Log("opening a file failed: " + loaded.status().message());
      return loaded.status();
    }
    file = std::move(loaded).value();
  }
  auto content =
      std::make_shared<FileContent>(repo_, std::move(file), &dirty_bytes_, write_pool_.get());
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  content->SetReader(reader_.get(), repo::IsWeightFileName(n->name));
  if (!n->content) {
    n->content = content;
    n->sealed_version = content->version();
  }
  return n->content;
}

Result<std::pair<EntryOut, OpenOut>> FileSystem::Create(const Caller& c, NodeId parent,
                                                        const std::string& name, uint32_t mode,
                                                        bool exclusive, bool read) {
  RETURN_IF_ERROR(RefuseInVersions(parent, name));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(repo::ValidateName(name));
  RETURN_IF_ERROR(AuthorizeChild(c, parent, name, policy::Capability::kCreate, "create"));
  std::unique_lock lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * dir, GetNodeLocked(parent));
  RETURN_IF_ERROR(EnsureLoadedLocked(lock, dir));
  ASSIGN_OR_RETURN(dir, GetNodeLocked(parent));
  if (auto it = dir->children.find(name); it != dir->children.end()) {
    if (exclusive) return AlreadyExists(name + " exists");
    ASSIGN_OR_RETURN(Node * existing, GetNodeLocked(it->second));
    const NodeId ino = existing->ino;
    lock.unlock();
    ASSIGN_OR_RETURN(OpenOut out, Open(c, ino, true, false, read));
    lock.lock();
    ASSIGN_OR_RETURN(existing, GetNodeLocked(ino));
    return std::make_pair(EntryLocked(existing), out);
  }
  RETURN_IF_ERROR(CheckAddLocked(c, dir, "create"));
  Node* n = NewOwnedNodeLocked(c, repo::EntryType::kFile, dir, name, mode);
  n->content =
      std::make_shared<FileContent>(repo_, repo::FileObject{}, &dirty_bytes_, write_pool_.get());
  n->content->SetReader(reader_.get(), repo::IsWeightFileName(name));
  // Never sealed: the first close seals it even if nothing was written.
  n->sealed_version = n->content->version();
  n->open_count++;
  OpenOut out;
  out.keep_cache = true;
  return std::make_pair(EntryLocked(n), out);
}

Result<OpenOut> FileSystem::Open(const Caller& c, NodeId ino, bool write, bool truncate,
                                 bool read) {
  if (versions_ && VersionsView::Owns(ino)) {
    if (write || truncate) return ReadOnly("everything below .versions is read-only");
    RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "open"));
    RETURN_IF_ERROR(CheckMode(c, ino, kWantRead, "open"));
    return versions_->Open(ino);
  }
  if (write || truncate) RETURN_IF_ERROR(CheckWritable());
  if (read || !(write || truncate))
    RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "open"));
  if (write || truncate) RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kUpdate, "open"));
  RETURN_IF_ERROR(
      CheckMode(c, ino, (read ? kWantRead : 0) | (write || truncate ? kWantWrite : 0), "open"));
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  if (truncate && content->size() > 0) RETURN_IF_ERROR(content->Truncate(0));
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  n->open_count++;
  if (truncate) n->mtime_ns = n->ctime_ns = NowNs();
  OpenOut out;
  // Every change to the content passes through this daemon, which keeps the kernel's page
  // cache coherent with it (writes go through it, truncates invalidate it).
  out.keep_cache = true;
  return out;
}

Status FileSystem::Read(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset,
                        uint64_t size, PieceList* out) {
  Status s;
  if (versions_ && VersionsView::Owns(ino)) {
    s = versions_->Read(ino, offset, size, out);
  } else {
    ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
    s = content->Read(offset, size, out);
  }
  if (!s.ok()) {
    out->Clear();
    Log("read failed at offset " + std::to_string(offset) + ": " + s.message());
  }
  return s;
}

Result<Bytes> FileSystem::Read(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset,
                               uint64_t size) {
  PieceList pieces;
  RETURN_IF_ERROR(Read(c, ino, handle, offset, size, &pieces));
  return pieces.Gather();
}

Result<uint64_t> FileSystem::Write(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset,
                                   ByteView data) {
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(CheckWritable());
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  Status s = content->Write(offset, data);
  if (!s.ok()) {
    Log("write failed at offset " + std::to_string(offset) + ": " + s.message());
    return s;
  }
  {
    std::lock_guard lock(tree_mu_);
    if (auto n = GetNodeLocked(ino); n.ok()) (*n)->mtime_ns = (*n)->ctime_ns = NowNs();
  }
  // Keep memory bounded: past the budget, this file's decided chunks are sealed now.
  if (dirty_bytes_.load() > options_.dirty_budget ||
      content->dirty_bytes() > options_.dirty_budget / 4) {
    RETURN_IF_ERROR(content->SealIdle());
  }
  return data.size();
}

Status FileSystem::SealFile(NodeId ino, const std::shared_ptr<FileContent>& content) {
  const uint64_t version = content->version();
  auto sealed = content->Seal();
  if (!sealed.ok()) {
    Log("sealing a file failed: " + sealed.status().message());
    return sealed.status();
  }
  std::lock_guard lock(tree_mu_);
  auto n = GetNodeLocked(ino);
  if (!n.ok()) return Status::Ok();  // gone meanwhile
  (*n)->file_id = sealed->first;
  (*n)->committed_size = sealed->second.size;
  (*n)->committed_hole_bytes = sealed->second.HoleBytes();
  (*n)->sealed_version = version;
  MarkDirtyLocked(*n);
  return Status::Ok();
}

Status FileSystem::Flush(const Caller& c, NodeId ino, uint64_t handle) {
  if (VersionsView::Owns(ino)) return Status::Ok();
  if (options_.read_only) return Status::Ok();
  std::shared_ptr<FileContent> content;
  {
    std::lock_guard lock(tree_mu_);
    ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
    if (!n->content || !n->linked) return Status::Ok();
    if (n->file_id && n->content->version() == n->sealed_version) return Status::Ok();
    content = n->content;
  }
  return SealFile(ino, content);
}

Status FileSystem::Release(NodeId ino, uint64_t handle) {
  if (VersionsView::Owns(ino)) return Status::Ok();
  std::lock_guard lock(tree_mu_);
  auto n = GetNodeLocked(ino);
  if (!n.ok()) return Status::Ok();
  if ((*n)->open_count > 0) (*n)->open_count--;
  // A closed file's clean content can be dropped; it reloads from its file object.
  if ((*n)->open_count == 0 && (*n)->content && (*n)->file_id &&
      (*n)->content->version() == (*n)->sealed_version && (*n)->content->dirty_bytes() == 0 &&
      !(*n)->content->dirty()) {
    (*n)->stored_size = (*n)->committed_size;
    (*n)->stored_hole_bytes = (*n)->committed_hole_bytes;
    (*n)->content.reset();
  }
  MaybeDropLocked(*n);
  return Status::Ok();
}

Status FileSystem::Fsync(const Caller& c, NodeId ino) {
  if (VersionsView::Owns(ino)) return Status::Ok();
  if (options_.read_only) return Status::Ok();
  RETURN_IF_ERROR(Flush(c, ino, 0));
  return Commit();
}

Status FileSystem::Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(CheckWritable());
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, LoadContent(ino));
  if (offset + length > content->size()) RETURN_IF_ERROR(content->Truncate(offset + length));
  return Status::Ok();
}

Result<std::optional<uint64_t>> FileSystem::SeekDataOrHole(const Caller& c, NodeId ino,
                                                           uint64_t offset, bool hole) {
  std::shared_ptr<FileContent> content;
  if (versions_ && VersionsView::Owns(ino)) {
    ASSIGN_OR_RETURN(content, versions_->Content(ino));
  } else {
    ASSIGN_OR_RETURN(content, LoadContent(ino));
  }
  return content->Seek(offset, hole);
}

namespace {

Status CheckXattrName(const std::string& name) {
  if (name.rfind("user.", 0) != 0)
    return Unsupported("only user.* extended attributes are supported");
  if (name.size() > 255) return NameTooLong("attribute name too long");
  return Status::Ok();
}

}  // namespace

Result<Bytes> FileSystem::GetXattr(const Caller& c, NodeId ino, const std::string& name) {
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "getxattr"));
  if (versions_ && VersionsView::Owns(ino)) return versions_->GetXattr(ino, name);
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  RETURN_IF_ERROR(CheckModeLocked(c, n, kWantRead, "getxattr"));
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return NotFound("no attribute " + name);
  return it->second;
}

Status FileSystem::SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                            bool create_only, bool replace_only) {
  const bool live_dir = !InVersions(ino) && [&] {
    std::lock_guard lock(tree_mu_);
    auto it = nodes_.find(ino);
    return it != nodes_.end() && it->second->type == repo::EntryType::kDirectory;
  }();
  if (name == kSnapshotXattr && ((versions_ && ino == VersionsView::kTop) || live_dir)) {
    RETURN_IF_ERROR(AuthorizeSnapshot(c, ino, "snapshot"));
    // The value is "TAG\nMESSAGE" (either may be empty).
    const std::string v(AsString(value));
    const size_t nl = v.find('\n');
    // The tag comes first; "\nMESSAGE" or a value without a newline names none.
    if (nl != std::string::npos && nl > 0) RETURN_IF_ERROR(AuthorizeTag(c, "snapshot --tag"));
    return MakeSnapshot(nl == std::string::npos ? v : v.substr(nl + 1),
                        nl == std::string::npos ? "" : v.substr(0, nl))
        .status();
  }
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(CheckXattrName(name));
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kUpdate, "setxattr"));
  if (value.size() > 64 * 1024) return NoSpace("attribute value larger than 64 KiB");
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  RETURN_IF_ERROR(CheckModeLocked(c, n, kWantWrite, "setxattr"));
  const bool exists = n->xattrs.count(name) > 0;
  if (create_only && exists) return AlreadyExists("attribute " + name + " exists");
  if (replace_only && !exists) return NotFound("no attribute " + name);
  n->xattrs[name] = Bytes(value.begin(), value.end());
  n->ctime_ns = NowNs();
  MarkDirtyLocked(n);
  return Status::Ok();
}

Result<std::vector<std::string>> FileSystem::ListXattr(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kRead, "listxattr"));
  if (versions_ && VersionsView::Owns(ino)) return versions_->ListXattr(ino);
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  std::vector<std::string> out;
  for (const auto& [k, v] : n->xattrs) out.push_back(k);
  return out;
}

Status FileSystem::RemoveXattr(const Caller& c, NodeId ino, const std::string& name) {
  RETURN_IF_ERROR(RefuseInVersions(ino));
  RETURN_IF_ERROR(CheckWritable());
  RETURN_IF_ERROR(Authorize(c, ino, policy::Capability::kUpdate, "removexattr"));
  std::lock_guard lock(tree_mu_);
  ASSIGN_OR_RETURN(Node * n, GetNodeLocked(ino));
  RETURN_IF_ERROR(CheckModeLocked(c, n, kWantWrite, "removexattr"));
  if (n->xattrs.erase(name) == 0) return NotFound("no attribute " + name);
  n->ctime_ns = NowNs();
  MarkDirtyLocked(n);
  return Status::Ok();
}

}  // namespace weightfs::vfs
