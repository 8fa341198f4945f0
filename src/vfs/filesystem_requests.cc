// FileSystem's request methods: each checks what holds for both trees and hands the request to
// the tree that serves it (filesystem.h, inode_range.h).
#include "vfs/inode_range.h"
#include "vfs/live_tree.h"
#include "vfs/versions_tree.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs::vfs {

namespace {

// No such name can exist; saying so first reveals nothing to a caller the policy hides things
// from.
Status CheckNameLength(const std::string& name) {
  if (name.size() > 255) return NameTooLong("name longer than 255 bytes");
  return Status::Ok();
}

}  // namespace

Result<EntryOut> FileSystem::Lookup(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckNameLength(name));
  return TreeOfChild(parent, name).Lookup(c, parent, name);
}

void FileSystem::Forget(NodeId ino, uint64_t nlookup) { TreeOf(ino).Forget(ino, nlookup); }

Result<Attr> FileSystem::GetAttr(const Caller& c, NodeId ino, double* attr_timeout) {
  return TreeOf(ino).GetAttr(c, ino, attr_timeout);
}

Result<Attr> FileSystem::SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                                 double* attr_timeout) {
  return TreeOf(ino).SetAttr(c, ino, req, attr_timeout);
}

Result<std::string> FileSystem::ReadLink(const Caller& c, NodeId ino) {
  return TreeOf(ino).ReadLink(c, ino);
}

Result<EntryOut> FileSystem::Mkdir(const Caller& c, NodeId parent, const std::string& name,
                                   uint32_t mode) {
  return TreeOfChild(parent, name).Mkdir(c, parent, name, mode);
}

Result<EntryOut> FileSystem::Symlink(const Caller& c, NodeId parent, const std::string& name,
                                     const std::string& target) {
  return TreeOfChild(parent, name).Symlink(c, parent, name, target);
}

Status FileSystem::Unlink(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckNameLength(name));
  return TreeOfChild(parent, name).Unlink(c, parent, name);
}

Status FileSystem::Rmdir(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(CheckNameLength(name));
  return TreeOfChild(parent, name).Rmdir(c, parent, name);
}

Result<EntryOut> FileSystem::Link(const Caller& c, NodeId ino, NodeId new_parent,
                                  const std::string& new_name) {
  return TreeOfEither(InVersions(ino), new_parent, new_name).Link(c, ino, new_parent, new_name);
}

Result<EntryOut> FileSystem::Mknod(const Caller& c, NodeId parent, const std::string& name,
                                   NodeType type, uint32_t mode, uint64_t rdev) {
  if (type == NodeType::kFile) {
    // An empty regular file, committed at once like a file created and closed.
    ASSIGN_OR_RETURN(auto created, Create(c, parent, name, mode, /*exclusive=*/true));
    const NodeId ino = created.first.attr.ino;
    Status flushed = Flush(c, ino, created.second.handle);
    Release(ino, created.second.handle).IgnoreError();
    RETURN_IF_ERROR(flushed);
    return created.first;
  }
  if (!repo::IsSpecial(EntryTypeOf(type)))
    return InvalidArgument("mknod makes regular files, FIFOs, sockets and device nodes");
  return TreeOfChild(parent, name).Mknod(c, parent, name, type, mode, rdev);
}

Status FileSystem::Rename(const Caller& c, NodeId parent, const std::string& name,
                          NodeId new_parent, const std::string& new_name, uint32_t flags) {
  RETURN_IF_ERROR(CheckNameLength(name));
  const bool from_versions = ctx_->router.SpaceOfChild(parent, name) == NodeSpace::kVersions;
  return TreeOfEither(from_versions, new_parent, new_name)
      .Rename(c, parent, name, new_parent, new_name, flags);
}

Result<std::pair<EntryOut, OpenOut>> FileSystem::Create(const Caller& c, NodeId parent,
                                                        const std::string& name, uint32_t mode,
                                                        bool exclusive, bool read) {
  return TreeOfChild(parent, name).Create(c, parent, name, mode, exclusive, read);
}

Result<OpenOut> FileSystem::Open(const Caller& c, NodeId ino, bool write, bool truncate,
                                 bool read) {
  return TreeOf(ino).Open(c, ino, write, truncate, read);
}

Status FileSystem::Read(const Caller& c, NodeId ino, uint64_t handle, uint64_t offset,
                        uint64_t size, PieceList* out) {
  // A failure is logged where it is answered (the FUSE adapter), not here.
  Status s = TreeOf(ino).Read(c, ino, offset, size, out);
  if (!s.ok()) out->Clear();
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
  return TreeOf(ino).Write(c, ino, offset, data);
}

Status FileSystem::Flush(const Caller& c, NodeId ino, uint64_t handle) {
  return TreeOf(ino).Flush(c, ino);
}

Status FileSystem::Release(NodeId ino, uint64_t handle) { return TreeOf(ino).Release(ino); }

Status FileSystem::Fsync(const Caller& c, NodeId ino) { return TreeOf(ino).Fsync(c, ino); }

Status FileSystem::Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) {
  return TreeOf(ino).Fallocate(c, ino, offset, length);
}

Result<std::optional<uint64_t>> FileSystem::SeekDataOrHole(const Caller& c, NodeId ino,
                                                           uint64_t offset, bool hole) {
  return TreeOf(ino).SeekDataOrHole(c, ino, offset, hole);
}

Result<uint64_t> FileSystem::OpenDir(const Caller& c, NodeId ino) {
  return TreeOf(ino).OpenDir(c, ino);
}

Result<std::vector<DirEntry>> FileSystem::ReadDir(const Caller& c, NodeId ino, uint64_t handle,
                                                  uint64_t offset, size_t max_entries) {
  return TreeOf(ino).ReadDir(ino, handle, offset, max_entries);
}

Status FileSystem::ReleaseDir(NodeId ino, uint64_t handle) {
  dir_handles_->Release(handle);
  return Status::Ok();
}

Status FileSystem::FsyncDir(const Caller& c, NodeId ino) {
  if (options_.read_only) return Status::Ok();
  return Commit();
}

Result<Bytes> FileSystem::GetXattr(const Caller& c, NodeId ino, const std::string& name) {
  return TreeOf(ino).GetXattr(c, ino, name);
}

Status FileSystem::SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                            bool create_only, bool replace_only) {
  return TreeOf(ino).SetXattr(c, ino, name, value, create_only, replace_only);
}

Result<std::vector<std::string>> FileSystem::ListXattr(const Caller& c, NodeId ino) {
  return TreeOf(ino).ListXattr(c, ino);
}

Status FileSystem::RemoveXattr(const Caller& c, NodeId ino, const std::string& name) {
  return TreeOf(ino).RemoveXattr(c, ino, name);
}

Status FileSystem::Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) {
  return TreeOf(ino).Access(c, ino, read, write, exec);
}

}  // namespace weightfs::vfs
