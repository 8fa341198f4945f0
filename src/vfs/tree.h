// Tree: one of the two trees a mount serves requests from, the live tree (LiveTree) or the
// read-only `.versions/` view (VersionsTree). FileSystem asks the InodeRouter (inode_range.h)
// which tree a request belongs to and hands it over whole, so neither tree tests for the other.
// It has one method per request that names a node, mirroring FileSystem's request interface
// (more than 25: one per FUSE operation is the contract of both). Implementations are
// thread-safe; each states its locks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "weightfs/core/bytes.h"
#include "weightfs/core/pieces.h"
#include "weightfs/core/status.h"
#include "weightfs/vfs/types.h"

namespace weightfs::vfs {

class Tree {
 public:
  virtual ~Tree() = default;

  // As FileSystem's methods of the same names (filesystem.h).
  virtual Result<EntryOut> Lookup(const Caller& c, NodeId parent, const std::string& name) = 0;
  virtual void Forget(NodeId ino, uint64_t nlookup) = 0;
  virtual Result<Attr> GetAttr(const Caller& c, NodeId ino, double* attr_timeout) = 0;
  virtual Result<Attr> SetAttr(const Caller& c, NodeId ino, const SetAttrRequest& req,
                               double* attr_timeout) = 0;
  virtual Result<std::string> ReadLink(const Caller& c, NodeId ino) = 0;
  virtual Result<EntryOut> Mkdir(const Caller& c, NodeId parent, const std::string& name,
                                 uint32_t mode) = 0;
  virtual Result<EntryOut> Symlink(const Caller& c, NodeId parent, const std::string& name,
                                   const std::string& target) = 0;
  virtual Status Unlink(const Caller& c, NodeId parent, const std::string& name) = 0;
  virtual Status Rmdir(const Caller& c, NodeId parent, const std::string& name) = 0;
  virtual Result<EntryOut> Link(const Caller& c, NodeId ino, NodeId new_parent,
                                const std::string& new_name) = 0;
  virtual Result<EntryOut> Mknod(const Caller& c, NodeId parent, const std::string& name,
                                 NodeType type, uint32_t mode, uint64_t rdev) = 0;
  virtual Status Rename(const Caller& c, NodeId parent, const std::string& name, NodeId new_parent,
                        const std::string& new_name, uint32_t flags) = 0;
  virtual Result<std::pair<EntryOut, OpenOut>> Create(const Caller& c, NodeId parent,
                                                      const std::string& name, uint32_t mode,
                                                      bool exclusive, bool read) = 0;
  virtual Result<OpenOut> Open(const Caller& c, NodeId ino, bool write, bool truncate,
                               bool read) = 0;
  virtual Status Read(const Caller& c, NodeId ino, uint64_t offset, uint64_t size,
                      PieceList* out) = 0;
  virtual Result<uint64_t> Write(const Caller& c, NodeId ino, uint64_t offset, ByteView data) = 0;
  virtual Status Flush(const Caller& c, NodeId ino) = 0;
  virtual Status Release(NodeId ino) = 0;
  virtual Status Fsync(const Caller& c, NodeId ino) = 0;
  virtual Status Fallocate(const Caller& c, NodeId ino, uint64_t offset, uint64_t length) = 0;
  virtual Result<std::optional<uint64_t>> SeekDataOrHole(const Caller& c, NodeId ino,
                                                         uint64_t offset, bool hole) = 0;
  virtual Result<uint64_t> OpenDir(const Caller& c, NodeId ino) = 0;
  virtual Result<std::vector<DirEntry>> ReadDir(NodeId ino, uint64_t handle, uint64_t offset,
                                                size_t max_entries) = 0;
  virtual Result<Bytes> GetXattr(const Caller& c, NodeId ino, const std::string& name) = 0;
  virtual Status SetXattr(const Caller& c, NodeId ino, const std::string& name, ByteView value,
                          bool create_only, bool replace_only) = 0;
  virtual Result<std::vector<std::string>> ListXattr(const Caller& c, NodeId ino) = 0;
  virtual Status RemoveXattr(const Caller& c, NodeId ino, const std::string& name) = 0;
  virtual Status Access(const Caller& c, NodeId ino, bool read, bool write, bool exec) = 0;
};

}  // namespace weightfs::vfs
