// LiveTree: serves the requests routed to the live, read-write tree: namespace changes, file
// content, attributes and xattrs of the NodeTable's nodes, decided by the policy (Authorizer)
// and, with FsOptions::mode_check, by mode bits. Closing a file seals it through the Committer.
// Its public methods are the Tree interface, one per request (more than 25, see tree.h).
//
// Thread-safe. Each request takes the NodeTable's mutex (table_->mu()) for its lookups and
// changes; helpers marked REQUIRES(table_->mu()) need it held. It is never held while file
// content is read, written or sealed, nor while the Authorizer decides (the Authorize* calls
// come first, without it). Lock order: table_->mu() before a FileContent's locks.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "vfs/file_content.h"
#include "vfs/tree.h"
#include "vfs/tree_context.h"

namespace weightfs::vfs {

class LiveTree : public Tree {
 public:
  explicit LiveTree(const TreeContext* ctx) : ctx_(ctx), table_(ctx->table) {}

  Result<EntryOut> Lookup(const Caller& c, NodeId parent, const std::string& name) override;
  void Forget(NodeId ino, uint64_t nlookup) override;
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
  Status Flush(const Caller& c, NodeId ino) override;
  Status Release(NodeId ino) override;
  Status Fsync(const Caller& c, NodeId ino) override;
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
  Status CheckWritable() const;
  // The content of a file node, loading its file object on first use.
  Result<std::shared_ptr<FileContent>> LoadContent(NodeId ino) EXCLUDES(table_->mu());
  // The loaded directory parent, in which c may add the entry name (none of that name exists).
  Result<Node*> DirForNewEntry(const Caller& c, NodeId parent, const std::string& name,
                               const char* op) REQUIRES(table_->mu());
  // n's entry for the kernel (one more kernel reference).
  EntryOut EntryFor(Node* n) REQUIRES(table_->mu());
  // Whether the kernel may cache n's entry and attributes (the same for every caller).
  bool Cacheable(const Node* n) const REQUIRES(table_->mu());
  // SetAttr's changes of owner, mode and times (not the size).
  Status ApplySetAttr(const Caller& c, Node* n, const SetAttrRequest& req) REQUIRES(table_->mu());
  // SetAttr's truncate: content to req.size, sealed when no handle is open.
  Status TruncateForSetAttr(NodeId ino, const SetAttrRequest& req) EXCLUDES(table_->mu());
  // Rename's checks once both directories are loaded; *moved: the node to move (left null when
  // the entry is renamed onto itself: nothing to do), *victim: the entry it replaces (or null).
  Status CheckRename(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                     const std::string& new_name, uint32_t flags, Node** moved, Node** victim)
      REQUIRES(table_->mu());
  // Rename's change of the table; returns the file object an open handle still reads (see
  // KeepChunksForOpenHandles).
  std::optional<ObjectId> ApplyRename(NodeId parent, const std::string& name, NodeId new_parent,
                                      const std::string& new_name, Node* n, Node* victim)
      REQUIRES(table_->mu());
  // Touches the chunks of a file removed while open (see live_namespace.cc).
  void KeepChunksForOpenHandles(const std::optional<ObjectId>& file_id);
  // A snapshot asked for by setting kSnapshotXattr on a directory.
  Status SnapshotByXattr(const Caller& c, NodeId ino, ByteView value);

  // Mode bits (mode_check.cc); each is Ok when FsOptions::mode_check is off. kPermissionDenied
  // unless c may search every directory above n and do want (Want bits) on n.
  Status CheckMode(const Caller& c, const Node* n, uint32_t want, const char* op) const
      REQUIRES(table_->mu());
  // The same by node id (takes the table lock).
  Status CheckMode(const Caller& c, NodeId ino, uint32_t want, const char* op)
      EXCLUDES(table_->mu());
  // Adding an entry to dir: write and search on it.
  Status CheckAdd(const Caller& c, const Node* dir, const char* op) const REQUIRES(table_->mu());
  // Removing (or replacing) entry n of dir: write and search on dir, and the sticky bit's rule.
  Status CheckRemove(const Caller& c, const Node* dir, const Node* n, const char* op) const
      REQUIRES(table_->mu());
  // rename of n from from_dir to to_dir: removing from one, adding to the other, and a
  // directory moving elsewhere needs write on itself (its ".." changes).
  Status CheckRenameMode(const Caller& c, const Node* from_dir, const Node* n,
                         const Node* to_dir) const REQUIRES(table_->mu());
  // Linux's protected_hardlinks: a caller that does not own the file needs read and write on it,
  // and it must be a regular file without setuid (or executable setgid).
  Status CheckLinkSource(const Caller& c, const Node* n) const REQUIRES(table_->mu());
  // setattr's ownership, mode and time rules; applies chown's and chmod's effect on the mode.
  Status ApplyOwnership(const Caller& c, Node* n, const SetAttrRequest& req) const
      REQUIRES(table_->mu());

  const TreeContext* const ctx_;
  NodeTable* const table_;
};

}  // namespace weightfs::vfs
