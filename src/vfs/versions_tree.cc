#include "vfs/versions_tree.h"

#include "vfs/file_content.h"
#include "vfs/posix.h"

namespace weightfs::vfs {

using policy::Capability;

Status VersionsTree::Refuse() { return ReadOnly("everything below .versions is read-only"); }

Status VersionsTree::RefuseEntry(NodeId parent) {
  if (parent == kRootNode) return ReadOnly(".versions is reserved for the read-only snapshot tree");
  return Refuse();
}

Status VersionsTree::CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op) {
  if (!ctx_->options->mode_check) return Status::Ok();
  ASSIGN_OR_RETURN(Attr a, ctx_->versions->GetAttr(ino));
  return vfs::CheckMode(c, Owned{a.uid, a.gid, a.mode, a.type == NodeType::kDirectory}, want, op);
}

Result<EntryOut> VersionsTree::Lookup(const Caller& c, NodeId parent, const std::string& name) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersionsChild(c, parent, name, Capability::kList, "lookup"));
  if (parent == kRootNode) return ctx_->versions->LookupTop();  // .versions itself
  RETURN_IF_ERROR(CheckMode(c, parent, kWantExec, "lookup"));
  return ctx_->versions->Lookup(parent, name);
}

Result<Attr> VersionsTree::GetAttr(const Caller& c, NodeId ino, double* attr_timeout) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kList, "getattr"));
  if (attr_timeout) {
    const AccessControl* ac = ctx_->auth->access();
    *attr_timeout = ac && ac->options().per_caller ? 0 : ctx_->options->attr_timeout_s;
  }
  return ctx_->versions->GetAttr(ino);
}

Result<Attr> VersionsTree::SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                                   double* attr_timeout) {
  return Refuse();
}

Result<std::string> VersionsTree::ReadLink(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kRead, "readlink"));
  return ctx_->versions->ReadLink(ino);
}

Result<EntryOut> VersionsTree::Mkdir(const Caller& c, NodeId parent, const std::string& name,
                                     uint32_t mode) {
  if (!ctx_->versions->IsTagsDir(parent)) return RefuseEntry(parent);
  // mkdir .versions/tags/NAME makes a snapshot tagged NAME.
  RETURN_IF_ERROR(ctx_->auth->AuthorizeTag(c, "mkdir"));
  ASSIGN_OR_RETURN(repo::SnapshotInfo info, ctx_->snapshots->MakeSnapshot("", name));
  (void)info;
  return ctx_->versions->LookupTag(name);
}

Result<EntryOut> VersionsTree::Symlink(const Caller& c, NodeId parent, const std::string& name,
                                       const std::string& target) {
  return RefuseEntry(parent);
}

Status VersionsTree::Unlink(const Caller& c, NodeId parent, const std::string& name) {
  return RefuseEntry(parent);
}

Status VersionsTree::Rmdir(const Caller& c, NodeId parent, const std::string& name) {
  return RefuseEntry(parent);
}

Result<EntryOut> VersionsTree::Link(const Caller& c, NodeId ino, NodeId new_parent,
                                    const std::string& new_name) {
  if (ctx_->router.SpaceOf(ino) == NodeSpace::kVersions) return Refuse();
  return RefuseEntry(new_parent);
}

Result<EntryOut> VersionsTree::Mknod(const Caller& c, NodeId parent, const std::string& name,
                                     NodeType type, uint32_t mode, uint64_t rdev) {
  return RefuseEntry(parent);
}

Status VersionsTree::Rename(const Caller& c, NodeId parent, const std::string& name,
                            NodeId new_parent, const std::string& new_name, uint32_t flags) {
  if (ctx_->router.SpaceOfChild(parent, name) == NodeSpace::kVersions) return RefuseEntry(parent);
  return RefuseEntry(new_parent);
}

Result<std::pair<EntryOut, OpenOut>> VersionsTree::Create(const Caller& c, NodeId parent,
                                                          const std::string& name, uint32_t mode,
                                                          bool exclusive, bool read) {
  return RefuseEntry(parent);
}

Result<OpenOut> VersionsTree::Open(const Caller& c, NodeId ino, bool write, bool truncate,
                                   bool read) {
  if (write || truncate) return Refuse();
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kRead, "open"));
  RETURN_IF_ERROR(CheckMode(c, ino, kWantRead, "open"));
  return ctx_->versions->Open(ino);
}

Status VersionsTree::Read(const Caller& c, NodeId ino, uint64_t offset, uint64_t size,
                          PieceList* out) {
  return ctx_->versions->Read(ino, offset, size, out);
}

Result<uint64_t> VersionsTree::Write(const Caller& c, NodeId ino, uint64_t offset, ByteView data) {
  return Refuse();
}

Status VersionsTree::Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) {
  return Refuse();
}

Result<std::optional<uint64_t>> VersionsTree::SeekDataOrHole(const Caller& c, NodeId ino,
                                                             uint64_t offset, bool hole) {
  ASSIGN_OR_RETURN(std::shared_ptr<FileContent> content, ctx_->versions->Content(ino));
  return content->Seek(offset, hole);
}

Result<uint64_t> VersionsTree::OpenDir(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kList, "opendir"));
  RETURN_IF_ERROR(CheckMode(c, ino, kWantRead, "opendir"));
  ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ctx_->versions->List(ino));
  DirHandle h;
  if (ctx_->auth->enabled()) {
    const std::optional<std::string> path = ctx_->versions->PathInVersion(ino);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i < 2 || ctx_->auth->VisibleChild(c, path, true, entries[i].name))
        h.fixed.push_back(std::move(entries[i]));
    }
    for (size_t i = 0; i < h.fixed.size(); ++i) h.fixed[i].next_offset = i + 1;
  } else {
    h.fixed = std::move(entries);
  }
  return ctx_->dir_handles->Add(std::move(h));
}

Result<std::vector<DirEntry>> VersionsTree::ReadDir(NodeId ino, uint64_t handle, uint64_t offset,
                                                    size_t max_entries) {
  std::shared_ptr<const DirHandle> h = ctx_->dir_handles->Get(handle);
  if (!h) return InvalidArgument("bad directory handle");
  return FixedEntries(*h, offset, max_entries);
}

Result<Bytes> VersionsTree::GetXattr(const Caller& c, NodeId ino, const std::string& name) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kRead, "getxattr"));
  return ctx_->versions->GetXattr(ino, name);
}

Status VersionsTree::SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                              bool create_only, bool replace_only) {
  if (name != kSnapshotXattr || ino != VersionsView::kTop) return Refuse();
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersionsSnapshot(c, "snapshot"));
  return ctx_->snapshots->SnapshotFromXattr(
      value, [&] { return ctx_->auth->AuthorizeTag(c, "snapshot --tag"); });
}

Result<std::vector<std::string>> VersionsTree::ListXattr(const Caller& c, NodeId ino) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kRead, "listxattr"));
  return ctx_->versions->ListXattr(ino);
}

Status VersionsTree::RemoveXattr(const Caller& c, NodeId ino, const std::string& name) {
  return Refuse();
}

Status VersionsTree::Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) {
  RETURN_IF_ERROR(ctx_->auth->AuthorizeVersions(c, ino, Capability::kList, "access"));
  if (write) return Refuse();
  return CheckMode(c, ino, (read ? kWantRead : 0) | (exec ? kWantExec : 0), "access");
}

}  // namespace weightfs::vfs
