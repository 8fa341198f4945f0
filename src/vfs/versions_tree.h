// VersionsTree: serves the requests routed to the read-only `.versions/` view (VersionsView):
// lookups, attributes, reads and listings of snapshots, decided by the policy as paths in their
// snapshot. Every change is refused (kReadOnly) except the two ways of making a snapshot:
// `mkdir .versions/tags/NAME` and setting kSnapshotXattr on .versions. Its public methods are
// the Tree interface, one per request (more than 25, see tree.h).
// Thread-safe; holds no lock of its own (VersionsView, DirHandles and the Authorizer lock
// themselves).
#pragma once

#include "vfs/tree.h"
#include "vfs/tree_context.h"

namespace weightfs::vfs {

class VersionsTree : public Tree {
 public:
  explicit VersionsTree(const TreeContext* ctx) : ctx_(ctx) {}

  Result<EntryOut> Lookup(const Caller& c, NodeId parent, const std::string& name) override;
  void Forget(NodeId ino, uint64_t nlookup) override {}  // the nodes live as long as the mount
  Result<Attr> GetAttr(const Caller& c, NodeId ino, double* attr_timeout) override;
  Result<Attr> SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                       double* attr_timeout) override;
  Result<std::string> ReadLink(const Caller& c, NodeId ino) override;
  Result<EntryOut> Mkdir(const Caller& c, NodeId parent, const std::string& name,
                         uint32_t mode) override;
  Result<EntryOut> Symlink(const Caller& c, NodeId parent, const std::string& name,
                           const std::string& target) override;
  Status Unlink(const Caller& c, NodeId parent, const std::string& name) override;
  Status Rmdir(const Caller& c, NodeId parent, const std::string& name) override;
  Result<EntryOut> Link(const Caller& c, NodeId ino, NodeId new_parent,
                        const std::string& new_name) override;
  Result<EntryOut> Mknod(const Caller& c, NodeId parent, const std::string& name, NodeType type,
                         uint32_t mode, uint64_t rdev) override;
  Status Rename(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                const std::string& new_name, uint32_t flags) override;
  Result<std::pair<EntryOut, OpenOut>> Create(const Caller& c, NodeId parent,
                                              const std::string& name, uint32_t mode,
                                              bool exclusive, bool read) override;
  Result<OpenOut> Open(const Caller& c, NodeId ino, bool write, bool truncate, bool read) override;
  Status Read(const Caller& c, NodeId ino, uint64_t offset, uint64_t size, PieceList* out) override;
  Result<uint64_t> Write(const Caller& c, NodeId ino, uint64_t offset, ByteView data) override;
  Status Flush(const Caller& c, NodeId ino) override { return Status::Ok(); }
  Status Release(NodeId ino) override { return Status::Ok(); }
  Status Fsync(const Caller& c, NodeId ino) override { return Status::Ok(); }
  Status Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) override;
  Result<std::optional<uint64_t>> SeekDataOrHole(const Caller& c, NodeId ino, uint64_t offset,
                                                 bool hole) override;
  Result<uint64_t> OpenDir(const Caller& c, NodeId ino) override;
  Result<std::vector<DirEntry>> ReadDir(NodeId ino, uint64_t handle, uint64_t offset,
                                        size_t max_entries) override;
  Result<Bytes> GetXattr(const Caller& c, NodeId ino, const std::string& name) override;
  Status SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                  bool create_only, bool replace_only) override;
  Result<std::vector<std::string>> ListXattr(const Caller& c, NodeId ino) override;
  Status RemoveXattr(const Caller& c, NodeId ino, const std::string& name) override;
  Status Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) override;

 private:
  // kReadOnly for a change of node ino, or of the entry name in parent (parent may be the
  // live root, where the name is .versions).
  static Status Refuse();
  static Status RefuseEntry(NodeId parent);
  // Mode bits (FsOptions::mode_check): a snapshot's entries keep their owners and modes; its
  // directories above are not checked again here (a lookup through them was).
  Status CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op);

  const TreeContext* const ctx_;
};

}  // namespace weightfs::vfs
